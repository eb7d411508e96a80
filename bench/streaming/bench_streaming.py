"""Streaming throughput: the enrichment alone, then the whole job on a throw-away stack.

    .venv/bin/python -m bench.streaming.bench_streaming transforms              # no services
    .venv/bin/python -m bench.streaming.bench_streaming pipeline --duration 60  # own stack on free ports

``transforms`` times one micro-batch of the job's pure path (parse -> weather join -> risk, phase,
anomaly -> newest per aircraft) on simulator states at increasing batch sizes, and compares the
chosen weather lookup (one row per cell with a short array, broadcast, no shuffle) with the
obvious alternative (a range join on exploded observations, then a window to keep the newest).

``pipeline`` starts Kafka, MinIO and FerretDB on free ports, runs the streaming job in this
process and a simulator producer in a thread, for each fleet size (aircraft at 1 Hz) for
``--duration`` seconds, and reports produced/s, processed/s, the Kafka lag trend, batch
durations, p50/p95 freshness of sampled aircraft in flights_live, and CPU/RSS of the Python
and JVM processes. The issue asks for >= 10 minutes per size; the duration is a flag.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import threading
import time

from skyrisk.settings import Settings, load_settings

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


def percentile(sorted_values: list, q: float):
    """Nearest-rank percentile of an already sorted, non-empty list."""
    return sorted_values[min(len(sorted_values) - 1, max(0, int(round(q * len(sorted_values))) - 1))]


def timed(action) -> float:
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def bench_transforms(settings: Settings, sizes: list[int]) -> None:
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from skyrisk.contracts import FlightState, WeatherObservation
    from skyrisk.phase import bootstrap_phase_model
    from skyrisk.spark import create_spark_session
    from streaming import transforms as tf

    spark = create_spark_session(settings, "bench-streaming")
    model = bootstrap_phase_model(spark)
    observations = tf.valid_rows(
        tf.parse_messages(spark.createDataFrame(weather_rows(settings, START), "key string, value string"), WeatherObservation),
        WeatherObservation,
    )
    table = tf.merge_weather_table(tf.empty_weather_table(spark), observations, settings.weather_max_age_minutes).localCheckpoint()
    exploded = table.select("cell_id", F.explode("observations").alias("w")).localCheckpoint()
    print(f"weather table: {table.count()} cells, {exploded.count()} observations")
    print(f"{'rows':>8} {'array lookup + enrich':>24} {'range join + window':>22} {'lookup only':>14}")

    aircraft = min(20_000, max(sizes))
    all_records = simulator_records(settings, aircraft, -(-max(sizes) // aircraft) + 1)
    for size in sizes:
        raw = spark.createDataFrame([(k, v.decode()) for k, v in all_records[:size]], "key string, value string").cache()
        raw.count()
        flights = tf.valid_rows(tf.parse_messages(raw, FlightState), FlightState)

        def chosen():
            joined = tf.join_latest_weather(flights, table, settings.weather_grid_deg, settings.weather_max_age_minutes)
            tf.newest_per_aircraft(tf.enrich(joined, model)).write.format("noop").mode("overwrite").save()

        def lookup_only():
            joined = tf.join_latest_weather(flights, table, settings.weather_grid_deg, settings.weather_max_age_minutes)
            joined.write.format("noop").mode("overwrite").save()

        def range_join():
            from skyrisk.geo import cell_id_column

            with_cell = flights.withColumn("cell_id", cell_id_column(F.col("latitude"), F.col("longitude"), settings.weather_grid_deg))
            max_age = settings.weather_max_age_minutes * 60.0
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


_PROCESSES: dict[int, object] = {}


def process_usage() -> dict[str, tuple[float, float]]:
    """CPU % (since the previous call) and RSS MB of this process and its children (JVM, services)."""
    import psutil

    me = psutil.Process()
    usage = {}
    for found in [me, *me.children(recursive=True)]:
        proc = _PROCESSES.setdefault(found.pid, found)  # cpu_percent needs the same object between calls
        with contextlib.suppress(psutil.Error):
            name = "jvm" if "java" in proc.name() else ("python" if proc.pid == me.pid else proc.name())
            usage[name] = (proc.cpu_percent(None), proc.memory_info().rss / 2**20)
    return usage


def bench_pipeline(sizes: list[int], duration_s: float) -> None:
    from confluent_kafka import Producer
    from pymongo import MongoClient

    from producers.simulator import TrafficSimulator
    from skyrisk.contracts import FLIGHT_STATES, WEATHER
    from skyrisk.spark import create_spark_session
    from streaming.app import StreamingJob

    from infra.stack import throwaway_stack

    with throwaway_stack("bench-streaming-", spark_master="local[2]", spark_shuffle_partitions=2) as base:
        spark = create_spark_session(base, "bench-streaming-pipeline")
        for aircraft in sizes:
            settings = base.model_copy(update={"checkpoint_dir": tempfile.mkdtemp(prefix="bench-chk-"),
                                               "mongo_database": f"bench_{aircraft}", "trigger_seconds": 1.0})
            from infra.stack import create_collections

            create_collections(settings, echo=lambda _m: None)
            producer = Producer({"bootstrap.servers": settings.kafka_bootstrap_servers, "enable.idempotence": True,
                                 "acks": "all", "compression.type": "zstd", "linger.ms": 50,
                                 "queue.buffering.max.messages": 1_000_000})
            now = time.time()
            for key, value in weather_rows(settings, now):
                producer.produce(WEATHER.name, key=key, value=value)
            producer.flush(60)
            newest_sent: dict[str, float] = {}
            produced = [0]
            stop = threading.Event()

            def produce_loop():
                import orjson

                sim = TrafficSimulator(settings, time.time(), aircraft=aircraft)
                next_tick = time.monotonic()
                while not stop.is_set():
                    batch = sim.tick()
                    stamp = time.time()
                    for key, value in batch.records:
                        # restamp to wall time so freshness is measured against now
                        message = orjson.loads(value)
                        message["event_time"] = message["snapshot_time"] = message["last_contact"] = stamp
                        producer.produce(FLIGHT_STATES.name, key=key, value=orjson.dumps(message))
                        newest_sent[key] = stamp
                        produced[0] += 1
                    producer.poll(0)
                    next_tick += 1.0
                    time.sleep(max(0.0, next_tick - time.monotonic()))

            job = StreamingJob(spark, settings)
            db = MongoClient(settings.mongo_uri.get_secret_value())[settings.mongo_database]
            job.start()
            producer_thread = threading.Thread(target=produce_loop, daemon=True)
            producer_thread.start()
            process_usage()
            freshness, usage_samples = [], []
            started = time.monotonic()
            while time.monotonic() - started < duration_s:
                time.sleep(5)
                sample = list(newest_sent.items())[:: max(1, len(newest_sent) // 50)]
                docs = {d["_id"]: d["event_time"] for d in db["flights_live"].find({"_id": {"$in": [k for k, _ in sample]}}, {"event_time": 1})}
                freshness += [sent - docs[k] for k, sent in sample if k in docs]
                usage_samples.append(process_usage())
            stop.set()
            producer_thread.join()
            produced_span = time.monotonic() - started
            producer.flush(30)
            job.close()
            progress = list(db["stream_progress"].find({"query": "flights"}).sort("batch_id", 1))
            rows = sum(p["num_input_rows"] for p in progress)
            span = (progress[-1]["timestamp"] - progress[0]["timestamp"]) if len(progress) > 1 else duration_s
            durations = sorted(p["batch_duration_ms"] for p in progress) or [0]
            lags = [p["kafka_lag"].get("flights_states", 0) for p in progress]
            fresh = sorted(freshness) or [float("nan")]
            print(f"\n== {aircraft} aircraft at 1 Hz, {duration_s:.0f} s ==")
            print(f"produced      {produced[0] / produced_span:,.0f} msg/s ({produced[0]} messages)")
            print(f"flights_live  {db['flights_live'].count_documents({})} documents at the end")
            print(f"processed     {rows / max(span, 1e-9):,.0f} rows/s over {len(progress)} batches ({rows} rows)")
            print(f"batch ms      p50 {percentile(durations, 0.5)}  p95 {percentile(durations, 0.95)}  max {durations[-1]}")
            print(f"kafka lag     first {lags[:3]} ... last {lags[-3:]}")
            print(f"freshness s   p50 {percentile(fresh, 0.5):.1f}  p95 {percentile(fresh, 0.95):.1f}  ({len(fresh)} samples)")
            for name in sorted({n for u in usage_samples for n in u}):
                cpu = [u[name][0] for u in usage_samples if name in u]
                rss = [u[name][1] for u in usage_samples if name in u]
                print(f"{name:<13} CPU mean {statistics.fmean(cpu):.0f}%  RSS max {max(rss):.0f} MB")
        spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    t = sub.add_parser("transforms")
    t.add_argument("--sizes", default="20000,100000,200000")
    p = sub.add_parser("pipeline")
    p.add_argument("--aircraft", default="2000,10000,20000")
    p.add_argument("--duration", type=float, default=600.0, help="seconds per fleet size")
    args = parser.parse_args()
    if args.what == "transforms":
        settings = load_settings(_env_file=None, spark_master="local[2]", spark_shuffle_partitions=2, spark_ui_port=0)
        bench_transforms(settings, [int(s) for s in args.sizes.split(",")])
    else:
        import logging

        logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
        logging.getLogger("py4j").setLevel(logging.WARNING)
        bench_pipeline([int(s) for s in args.aircraft.split(",")], args.duration)


if __name__ == "__main__":
    main()
