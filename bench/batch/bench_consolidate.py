"""Time the nightly consolidation of one day, stage by stage.

    .venv/bin/python -m bench.batch.bench_consolidate                       # 2,000 aircraft, 24 h, every 5 s
    .venv/bin/python -m bench.batch.bench_consolidate --aircraft 500 --hours 6   # a fraction of it

A throw-away stack (MinIO, FerretDB, Kafka) is started on free ports in a temporary directory.
The day is generated inside Spark (no Python per row): every aircraft flies 2-hour cycles
(taxi, climb, cruise, descent, taxi; back and forth along its own heading), sampled every
``--interval`` seconds, with about 1 % of the reports delivered twice, written to
``enriched/flights/date=D/hour=H`` as the streaming job would. The reference airports are the
~7,900 IATA airports of the ``airportsdata`` package. Then ``consolidate_day`` runs with its
own per-stage progress, and a summary prints rows/s and wall time per stage.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator

from batch import job, transforms
from skyrisk.contracts import EnrichedState, ReferenceRecord, spark_schema
from skyrisk.settings import Settings, load_settings

DAY = "2026-11-20"
DAY_START = 1_795_132_800  # 2026-11-20T00:00:00Z
CYCLE_S = 7200
TARGET_S = 300.0
AIRLINES = ("DLH", "RYR", "EZY", "AFR", "BAW", "KLM", "SAS", "EWG")


@contextlib.contextmanager
def throwaway_stack(driver_memory: str, shuffle_partitions: int) -> Iterator[Settings]:
    """The producers bench's throw-away stack, with this bench's Spark sizing."""
    from bench.producers.bench_simulator import broker

    with broker(load_settings(), start_stack=True) as base:
        yield base.model_copy(
            update={
                "spark_master": "local[*]",
                "spark_driver_memory": driver_memory,
                "spark_shuffle_partitions": shuffle_partitions,
                "spark_ui_port": 0,
            }
        )


def generated_day(spark, aircraft: int, hours: int, interval_s: int):
    """The day's enriched rows as a lazy DataFrame (see the module doc)."""
    from pyspark.sql import functions as F

    samples = hours * 3600 // interval_s
    col = F.col
    ids = spark.range(aircraft).withColumnRenamed("id", "a")
    ticks = spark.range(samples).withColumnRenamed("id", "k")
    df = ids.crossJoin(ticks).repartition(max(2, hours * 2), "k")
    tau_raw = (col("k") * interval_s + (col("a") * 1237) % CYCLE_S) % CYCLE_S
    clamp = lambda x, hi: F.least(F.greatest(x, F.lit(0.0)), F.lit(float(hi)))  # noqa: E731
    along = lambda t: 150 * clamp(t - 600, 900) + 230 * clamp(t - 1500, 4200) + 150 * clamp(t - 5700, 900)  # noqa: E731
    cycle_m = 150 * 900 + 230 * 4200 + 150 * 900
    cycle_no = F.floor((col("k") * interval_s + (col("a") * 1237) % CYCLE_S) / CYCLE_S)
    heading = F.radians((col("a") * 37) % 360)
    lat0 = F.lit(40.0) + (col("a") * 7919 % 2000) / 100.0
    lon0 = F.lit(-5.0) + (col("a") * 104729 % 3000) / 100.0
    df = (
        df.withColumn("tau", tau_raw.cast("double"))
        .withColumn("s", F.when(cycle_no % 2 == 0, along(col("tau"))).otherwise(F.lit(cycle_m) - along(col("tau"))))
        .withColumn("latitude", lat0 + col("s") * F.cos(heading) / 111_195.0)
        .withColumn("longitude", lon0 + col("s") * F.sin(heading) / (111_195.0 * F.cos(F.radians(lat0))))
        .withColumn(
            "baro_altitude",
            F.when(col("tau") < 600, 0.0)
            .when(col("tau") < 1500, (col("tau") - 600) * 11000 / 900)
            .when(col("tau") < 5700, 11000.0)
            .when(col("tau") < 6600, (6600 - col("tau")) * 11000 / 900)
            .otherwise(0.0)
            + (col("a") % 50),
        )
        .withColumn("on_ground", (col("tau") < 600) | (col("tau") >= 6600))
        .withColumn(
            "velocity",
            F.when(col("on_ground"), 8.0).when((col("tau") < 1500) | (col("tau") >= 5700), 150.0).otherwise(230.0),
        )
        .withColumn(
            "vertical_rate",
            F.when(col("on_ground"), 0.0).when(col("tau") < 1500, 12.2).when(col("tau") >= 5700, -12.2).otherwise(0.0),
        )
        .withColumn("h", F.abs(F.hash("a", "k")) % 10_000)
        .withColumn("risk_score", (col("h") % 100).cast("long"))
    )
    icao24 = F.lower(F.lpad(F.hex(col("a") + 0x3C0000), 6, "0"))
    callsign = F.concat(F.element_at(F.array(*[F.lit(x) for x in AIRLINES]), (col("a") % len(AIRLINES) + 1).cast("int")),
                        (col("a") % 9000 + 100).cast("string"))
    cell = F.concat_ws(":", F.floor(col("latitude") / 0.5).cast("string"), F.floor(col("longitude") / 0.5).cast("string"))
    risky = col("risk_score") >= 70
    rows = df.select(
        icao24.alias("icao24"),
        callsign.alias("callsign"),
        F.substring(callsign, 1, 3).alias("airline_icao"),
        F.lit("Germany").alias("origin_country"),
        F.lit("sim").alias("source"),
        (F.lit(DAY_START) + col("k") * interval_s + col("a") % interval_s).cast("double").alias("event_time"),
        "latitude",
        "longitude",
        "baro_altitude",
        (col("baro_altitude") + 40).alias("geo_altitude"),
        "velocity",
        F.degrees(heading).alias("true_track"),
        "vertical_rate",
        "on_ground",
        F.when(col("h") == 7, F.lit("7700")).otherwise(F.lit("2000")).alias("squawk"),
        cell.alias("cell_id"),
        F.struct(
            cell.alias("cell_id"),
            (F.lit(DAY_START) + F.floor(col("k") * interval_s / 900) * 900).cast("double").alias("observation_time"),
            (F.lit(5.0) + col("h") % 20).alias("temperature_2m"),
            (col("h") % 60).cast("double").alias("wind_speed_10m"),
            (col("h") % 90).cast("double").alias("wind_gusts_10m"),
            F.lit(0.0).alias("precipitation"),
            (col("h") % 100).cast("double").alias("cloud_cover"),
            F.lit(3).cast("long").alias("weather_code"),
            F.lit(10000.0).alias("visibility"),
        ).alias("weather"),
        F.lit(False).alias("weather_missing"),
        "risk_score",
        F.when(col("risk_score") >= 85, "HIGH").when(risky, "MEDIUM").otherwise("LOW").alias("risk_category"),
        F.when(risky, F.array(F.lit("wind"))).otherwise(F.array().cast("array<string>")).alias("risk_factors"),
        F.when(col("on_ground"), "Ground").when(col("vertical_rate") != 0, "Climb/Descent").otherwise("Cruise").alias("phase"),
        (col("h") < 10).alias("anomaly"),
        (col("h") / 1000.0).alias("anomaly_score"),
        F.when(col("h") < 10, F.array(F.lit("distance"))).otherwise(F.array().cast("array<string>")).alias("anomaly_reasons"),
        F.when(col("h") == 7, F.lit("7700 emergency")).alias("emergency"),
        F.lit("bootstrap-bench").alias("model_version"),
        (col("k") * interval_s / 3600).cast("int").alias("hour"),
        # ~1 % of the reports arrive twice (Kafka redelivery)
        F.when(col("h") % 100 == 3, F.array(F.lit(1), F.lit(2))).otherwise(F.array(F.lit(1))).alias("copies"),
    )
    rows = rows.withColumn("copy", F.explode("copies")).drop("copies", "copy")
    from pyspark.sql import types as T

    schema = spark_schema(EnrichedState)
    return transforms.conform(rows, T.StructType([*schema.fields, T.StructField("hour", T.IntegerType())]))


def load_references(settings: Settings) -> int:
    import airportsdata
    from pymongo import MongoClient

    db = MongoClient(settings.mongo_uri.get_secret_value())[settings.mongo_database]
    docs = [
        {"_id": code, **ReferenceRecord(source="sim", type="airport", code=code, latitude=a["lat"], longitude=a["lon"],
                                        location_type="Airport", fetched_time=0.0).model_dump()}
        for code, a in airportsdata.load("IATA").items()
    ]
    db["airports"].insert_many(docs)
    db["airlines"].insert_one(
        {"_id": "LH", **ReferenceRecord(source="sim", type="airline", code="LH", icao_code="DLH", name="Lufthansa",
                                        fetched_time=0.0).model_dump()}
    )
    return len(docs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--aircraft", type=int, default=2000)
    parser.add_argument("--hours", type=int, default=24, help="hours of the day generated (a fraction of it if < 24)")
    parser.add_argument("--interval", type=int, default=5, help="seconds between two reports of an aircraft")
    parser.add_argument("--driver-memory", default="6g")
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--no-model", action="store_true")
    args = parser.parse_args()

    from skyrisk.spark import create_spark_session

    with throwaway_stack(args.driver_memory, args.shuffle_partitions) as settings:
        spark = create_spark_session(settings, "bench-batch")
        airports = load_references(settings)
        started = time.perf_counter()
        day = generated_day(spark, args.aircraft, args.hours, args.interval)
        # a few files per hour, like a compacted streaming output
        day.repartition(args.hours * 2, "hour").write.partitionBy("hour").parquet(job.enriched_day_url(settings, DAY))
        generate_s = time.perf_counter() - started
        print(f"generated {args.aircraft} aircraft x {args.hours} h every {args.interval} s in {generate_s:.1f} s; "
              f"{airports} reference airports", flush=True)

        from pymongo import MongoClient

        db = MongoClient(settings.mongo_uri.get_secret_value())[settings.mongo_database]
        started = time.perf_counter()
        progress = job.Progress()
        progress.start_day(DAY)
        result = job.consolidate_day(spark, settings, db, DAY, progress, retrain_model=not args.no_model)
        wall = time.perf_counter() - started
        spark.stop()

    print("\nstage                   rows in    seconds         rows/s     rows out")
    for stage in result.stages:
        print(f"{stage.name:<20} {stage.rows:>12,} {stage.seconds:>10.1f} {stage.rows_per_second:>14,.0f} {stage.output_rows:>12,}")
    input_rows = result.rows["input"]
    print(f"{'whole day':<20} {input_rows:>12,} {wall:>10.1f} {input_rows / wall:>14,.0f}")
    print(f"rows: {result.rows}")
    full_day = 2000 * 86400 // 5
    print(f"input is {input_rows / full_day:.1%} of the full 2,000-aircraft day ({full_day:,} positions); "
          f"target {TARGET_S:.0f} s for the full day: {'met' if wall <= TARGET_S and input_rows >= full_day else 'not shown by this run' if input_rows < full_day else 'missed'}")


if __name__ == "__main__":
    main()
