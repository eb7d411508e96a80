"""The model store on the real MinIO: which stored model the streaming job loads."""

from __future__ import annotations

import time
import uuid

import pytest

from skyrisk.model_store import load_latest_phase_model, save_phase_model, trained_version
from skyrisk.phase import PhaseModel
from skyrisk.s3 import s3_client

pytestmark = pytest.mark.integration


def _model(version: str, *, bootstrap: bool) -> PhaseModel:
    return PhaseModel(
        version=version, mode="rules", feature_means=[0.0, 0.0, 0.0], feature_stds=[1.0, 1.0, 1.0],
        centroids=[], labels=[], threshold=None, metrics={}, trained_at=time.time(), bootstrap=bootstrap,
    )


@pytest.fixture
def models_bucket(stack):
    """A bucket of its own: other tests' models must not compete with these."""
    settings = stack.model_copy(update={"lake_bucket": f"models-{uuid.uuid4().hex[:10]}"})
    s3_client(settings).make_bucket(settings.lake_bucket)
    return settings


def test_the_newest_data_day_wins_even_when_an_older_day_is_rerun_later(models_bucket):
    save_phase_model(_model(trained_version("2026-11-20"), bootstrap=False), models_bucket)
    time.sleep(1.1)  # S3 modification times have one-second resolution
    save_phase_model(_model(trained_version("2026-11-19"), bootstrap=False), models_bucket)  # rerun of an older day
    save_phase_model(_model("bootstrap-99", bootstrap=True), models_bucket)

    loaded = load_latest_phase_model(models_bucket)

    assert loaded is not None and loaded.version == "batch-2026-11-20"


def test_without_a_trained_model_the_newest_bootstrap_model_is_used(models_bucket):
    assert load_latest_phase_model(models_bucket) is None
    save_phase_model(_model("bootstrap-1", bootstrap=True), models_bucket)
    time.sleep(1.1)
    save_phase_model(_model("bootstrap-2", bootstrap=True), models_bucket)

    loaded = load_latest_phase_model(models_bucket)

    assert loaded is not None and loaded.bootstrap and loaded.version == "bootstrap-2"


def test_an_unusable_model_file_is_skipped_and_the_next_one_serves(models_bucket):
    """Before: a stored kmeans model with ``centroids: []`` loaded fine and failed every flights batch."""
    import dataclasses

    save_phase_model(_model(trained_version("2026-11-20"), bootstrap=False), models_bucket)
    time.sleep(1.1)
    broken = dataclasses.replace(_model(trained_version("2026-11-21"), bootstrap=False), mode="kmeans", threshold=1.0)
    save_phase_model(broken, models_bucket)

    loaded = load_latest_phase_model(models_bucket)

    assert loaded is not None and loaded.version == "batch-2026-11-20"


def test_a_model_that_cannot_score_is_refused_when_read():
    import dataclasses

    good = _model("x", bootstrap=False)
    assert PhaseModel.from_json(good.to_json()) == good
    for broken in (dataclasses.replace(good, mode="kmeans"), dataclasses.replace(good, feature_stds=[1.0, 0.0, 1.0]),
                   dataclasses.replace(good, feature_means=[0.0, float("nan"), 0.0])):
        with pytest.raises(ValueError):
            PhaseModel.from_json(broken.to_json())
    with pytest.raises(ValueError):
        PhaseModel.from_json('{"version": "x"}')
