"""Plain helpers of the batch job's wiring (no services)."""

from __future__ import annotations

import pytest

from batch import job


@pytest.mark.parametrize(
    ("rows", "cores", "files"),
    [(29, 2, 1), (2_000_000, 8, 1), (2_000_001, 2, 2), (5_000_000, 2, 4), (34_905_987, 2, 18), (34_905_987, 8, 24)],
)
def test_curated_files_are_about_rows_per_file_in_whole_waves_of_tasks(rows, cores, files):
    assert job.ROWS_PER_FILE == 2_000_000  # the figures below are worked out for it
    assert job.curated_files(rows, cores) == files
