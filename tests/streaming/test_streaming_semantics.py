"""Event-time semantics of the flight stream, with deterministic inputs and two runs of one query.

A text-file stream stands in for Kafka (same ``value`` column); each run is ``availableNow``, so
the watermark reached by run 1 (newest event 10 min after T0, minus 2 min) is restored from the
checkpoint for run 2.
"""

from __future__ import annotations

import pytest

from skyrisk.contracts import FlightState
from streaming import transforms as tf
from tests.streaming.messages import T0, flight

pytestmark = pytest.mark.integration


def run_once(spark, source_dir, checkpoint) -> list[tuple[str, float]]:
    seen: list[tuple[str, float]] = []

    def collect(batch, _batch_id):
        seen.extend((r.icao24, r.event_time) for r in batch.collect())

    parsed = tf.parse_messages(spark.readStream.text(str(source_dir)), FlightState)
    deduped = tf.deduplicate_flights(tf.with_event_timestamp(tf.valid_rows(parsed, FlightState)))
    query = deduped.writeStream.foreachBatch(collect).option("checkpointLocation", str(checkpoint)).trigger(availableNow=True).start()
    query.awaitTermination(120)
    assert query.exception() is None
    return sorted(seen)


def write_lines(path, states) -> None:
    path.write_text("".join(s.model_dump_json() + "\n" for s in states))


def test_duplicates_and_late_states_are_dropped_across_batches(spark, tmp_path):
    source, checkpoint = tmp_path / "in", tmp_path / "chk"
    source.mkdir()
    write_lines(
        source / "1.json",
        [flight("aaaaaa", t=T0 + 600), flight("aaaaaa", t=T0 + 600), flight("bbbbbb", t=T0 + 300)],
    )
    assert run_once(spark, source, checkpoint) == [("aaaaaa", T0 + 600), ("bbbbbb", T0 + 300)]

    write_lines(
        source / "2.json",
        [
            flight("aaaaaa", t=T0 + 600),  # redelivered: duplicate of run 1, inside the watermark
            flight("cccccc", t=T0 + 100),  # 8 min behind the newest state: beyond the 2 min watermark
            flight("dddddd", t=T0 + 500),  # 100 s behind: on time
            flight("aaaaaa", t=T0 + 610),  # the next state of a known aircraft
        ],
    )
    assert run_once(spark, source, checkpoint) == [("aaaaaa", T0 + 610), ("dddddd", T0 + 500)]
