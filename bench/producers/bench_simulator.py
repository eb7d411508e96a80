"""How many messages per second the traffic simulator sustains (default 20,000 aircraft).

    .venv/bin/python -m bench.producers.bench_simulator                 # broker from settings if it listens
    .venv/bin/python -m bench.producers.bench_simulator --start-stack   # own throw-away Kafka on free ports
    .venv/bin/python -m bench.producers.bench_simulator --aircraft 2000 --ticks 10

Phases, each timed over the same ticks: physics (numpy step), building + serialising the messages
(orjson), handing them to the Kafka producer, and the sustained loop tick -> produce -> delivered.
Without a broker the produce phase still goes through a real ``confluent_kafka.Producer`` whose
messages stay queued (nothing is delivered), which measures our per-message cost only.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Iterator

from producers.output import KafkaOutput
from producers.simulator import TrafficSimulator
from skyrisk.contracts import FLIGHT_STATES
from skyrisk.services import is_listening
from skyrisk.settings import Settings, load_settings

START = 1_795_255_200.0


@contextlib.contextmanager
def broker(settings: Settings, start_stack: bool) -> Iterator[Settings | None]:
    if not start_stack:
        yield settings if is_listening(*settings.kafka_host_port) else None
        return
    from infra.stack import throwaway_stack

    with throwaway_stack("bench-producers-") as throwaway:
        yield throwaway


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--aircraft", type=int, default=20_000)
    parser.add_argument("--ticks", type=int, default=20, help="simulated seconds per phase")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--start-stack", action="store_true", help="start an own throw-away broker on free ports")
    args = parser.parse_args()
    settings = load_settings()

    started = time.perf_counter()
    sim = TrafficSimulator(settings, START, aircraft=args.aircraft, seed=args.seed)
    setup_s = time.perf_counter() - started

    step_s = records_s = 0.0
    messages = 0
    for _ in range(args.ticks):
        t0 = time.perf_counter()
        sim.step(1.0)
        t1 = time.perf_counter()
        records = sim.records()
        t2 = time.perf_counter()
        step_s += t1 - t0
        records_s += t2 - t1
        messages += len(records)
    per_tick = messages / args.ticks
    generation_rate = messages / (step_s + records_s)

    with broker(settings, args.start_stack) as live:
        if live is None:
            target = "no broker: produce() into a real Producer whose queue is never delivered"
            output = KafkaOutput(settings.model_copy(update={"kafka_bootstrap_servers": "127.0.0.1:1"}),
                                 extra_config={"queue.buffering.max.messages": 2_000_000,
                                               "queue.buffering.max.kbytes": 2_000_000, "log_level": 0})
        else:
            target = f"real broker at {live.kafka_bootstrap_servers}"
            output = KafkaOutput(live)

        produce_s = 0.0
        produced = 0
        loop_started = time.perf_counter()
        for _ in range(args.ticks):
            batch = sim.tick(1.0)
            t0 = time.perf_counter()
            output.publish(batch)
            produce_s += time.perf_counter() - t0
            produced += len(batch.records)
        publish_loop_s = time.perf_counter() - loop_started
        if live is not None:
            t0 = time.perf_counter()
            output.flush(120)
            flush_s = time.perf_counter() - t0
            delivered = output.counters.delivered
        else:
            output.producer.purge()
            flush_s, delivered = 0.0, 0
        total_s = publish_loop_s + flush_s
        failed = output.counters.failed
        del output  # before a throw-away broker stops, so the client does not log reconnect attempts

    print(f"\nsimulator benchmark: {args.aircraft:,} aircraft, {args.ticks} ticks of 1 s, topic {FLIGHT_STATES.name}")
    print(f"  setup (routes, addresses)           {setup_s:8.2f} s")
    print(f"  messages per tick (inside the box)  {per_tick:10,.0f}")
    print(f"  physics (numpy step)                {step_s / args.ticks * 1000:8.1f} ms/tick")
    print(f"  build + orjson serialise            {records_s / args.ticks * 1000:8.1f} ms/tick")
    print(f"  generation + serialisation          {generation_rate:10,.0f} msg/s")
    print(f"  produce() incl. poll(0)             {produce_s / args.ticks * 1000:8.1f} ms/tick "
          f"({produced / produce_s:,.0f} msg/s)")
    print(f"  target                              {target}")
    print(f"  sustained tick->produce loop        {produced / publish_loop_s:10,.0f} msg/s "
          f"({publish_loop_s / args.ticks * 1000:.0f} ms per simulated second)")
    if live is not None:
        print(f"  incl. flush until delivered         {produced / total_s:10,.0f} msg/s "
              f"(delivered {delivered:,} of {produced:,}, errors {failed})")
    print(f"  1 Hz for {args.aircraft:,} aircraft needs {per_tick:,.0f} msg/s: "
          f"{'sustained' if produced / total_s >= per_tick else 'NOT sustained'} "
          f"(headroom x{produced / total_s / per_tick:.1f})")


if __name__ == "__main__":
    main()
