"""Streaming throughput of the enrichment alone (the whole pipeline under load is ``bench.e2e``).

    .venv/bin/python -m bench.streaming.bench_streaming transforms              # no services

``transforms`` times one micro-batch of the job's pure path (parse -> weather join -> risk, phase,
anomaly -> newest per aircraft) on simulator states at increasing batch sizes, and compares the
chosen weather lookup (one row per cell with a short array, broadcast, no shuffle) with the
obvious alternative (a range join on exploded observations, then a window to keep the newest).
"""

from __future__ import annotations

import argparse
import time

from skyrisk.settings import Settings, load_settings
from skyrisk.weather import max_age_minutes

START = 1_795_255_200.0
GRID_OBSERVATIONS_PER_CELL = 4


def simulator_records(settings: Settings, aircraft: int, ticks: int) -> list[tuple[str, bytes]]:
    from producers.simulator import TrafficSimulator

    sim = TrafficSimulator(settings, START, aircraft=aircraft)
    records: list[tuple[str, bytes]] = []
    for _ in range(ticks):
        records.extend(sim.tick().records)
    return records


def weather_rows(settings: Settings, now: float) -> list[tuple[str, str]]:
    from skyrisk.contracts import WeatherObservation
    from skyrisk.geo import grid_cells

    rows = []
    for cell, lat, lon in grid_cells(settings.bbox, settings.weather_grid_deg):
        for k in range(GRID_OBSERVATIONS_PER_CELL):
            obs = WeatherObservation(
                source="sim", cell_id=cell, cell_latitude=lat, cell_longitude=lon, observation_time=now - 900 * k,
                fetched_time=now - 900 * k + 5, wind_gusts_10m=float(k * 20), precipitation=0.5, cloud_cover=60.0,
                weather_code=95 if (hash(cell) + k) % 50 == 0 else 3, visibility=10_000.0,
            )
            rows.append((cell, obs.model_dump_json()))
    return rows


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_transforms(settings: Settings, sizes: list[int]) -> None:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from skyrisk.contracts import FlightState, WeatherObservation
    from skyrisk.behaviour import empty_context_table
    from skyrisk.phase import bootstrap_phase_model
    from skyrisk.spark import create_spark_session
    from streaming import transforms as tf

    spark = create_spark_session(settings, "bench-streaming")
    model = bootstrap_phase_model(spark)
    observations = tf.valid_rows(
        tf.parse_messages(spark.createDataFrame(weather_rows(settings, START), "key string, value string"), WeatherObservation),
        WeatherObservation,
    )
    table = tf.merge_weather_table(tf.empty_weather_table(spark), observations, max_age_minutes(settings)).localCheckpoint()
    exploded = table.select("cell_id", F.explode("observations").alias("w")).localCheckpoint()
    print(f"weather table: {table.count()} cells, {exploded.count()} observations")
    print(f"{'rows':>8} {'array lookup + enrich':>24} {'range join + window':>22} {'lookup only':>14}")

    aircraft = min(20_000, max(sizes))
    context = empty_context_table(spark)  # every aircraft new: the batch path with no history
    all_records = simulator_records(settings, aircraft, -(-max(sizes) // aircraft) + 1)
    for size in sizes:
        raw = spark.createDataFrame([(k, v.decode()) for k, v in all_records[:size]], "key string, value string").cache()
        raw.count()
        flights = tf.valid_rows(tf.parse_messages(raw, FlightState), FlightState)

        def chosen():
            joined = tf.join_latest_weather(flights, table, settings.weather_grid_deg, max_age_minutes(settings))
            tf.newest_per_aircraft(tf.enrich(joined, model, context)).write.format("noop").mode("overwrite").save()

        def lookup_only():
            joined = tf.join_latest_weather(flights, table, settings.weather_grid_deg, max_age_minutes(settings))
            joined.write.format("noop").mode("overwrite").save()

        def range_join():
            from skyrisk.geo import cell_id_column

            with_cell = flights.withColumn("cell_id", cell_id_column(F.col("latitude"), F.col("longitude"), settings.weather_grid_deg))
            max_age = max_age_minutes(settings) * 60.0
            observation = exploded.withColumnRenamed("cell_id", "weather_cell")
            joined = with_cell.join(observation, on=(
                (with_cell.cell_id == F.col("weather_cell"))
                & (F.col("w.observation_time") <= with_cell.event_time)
                & (F.col("w.observation_time") >= with_cell.event_time - F.lit(max_age))
            ), how="left")
            newest = Window.partitionBy("icao24", "event_time").orderBy(F.col("w.observation_time").desc_nulls_last())
            joined.withColumn("r", F.row_number().over(newest)).where("r = 1").write.format("noop").mode("overwrite").save()

        for action in (chosen, range_join, lookup_only):  # warm-up: code generation, JIT
            action()
        t_chosen = min(timed(chosen) for _ in range(2))
        t_range = min(timed(range_join) for _ in range(2))
        t_lookup = min(timed(lookup_only) for _ in range(2))
        print(f"{size:>8} {size / t_chosen:>17,.0f} rows/s {size / t_range:>15,.0f} rows/s {size / t_lookup:>9,.0f} rows/s")
        raw.unpersist()
    spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("transforms")
    t.add_argument("--sizes", default="20000,100000,200000")
    args = parser.parse_args()
    settings = load_settings(_env_file=None, spark_master="local[2]", spark_shuffle_partitions=2, spark_ui_port=0)
    bench_transforms(settings, [int(s) for s in args.sizes.split(",")])


if __name__ == "__main__":
    main()
