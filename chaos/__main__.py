"""``python -m chaos [NAMES...] [--quick] [--list]``: run fault scenarios, each on a fresh stack.

Prints progress while a scenario runs, then one table row per scenario (verdict, counts,
detail); exits 1 when any scenario failed.
"""

from __future__ import annotations

import argparse
import sys

from chaos.core import Scenario, Verdict, discover, run_scenario

# The counts worth a column, in this order; the rest stay in the detail of a failure.
COUNT_COLUMNS = (
    ("sent", "in"),
    ("parquet_rows", "out"),
    ("missing", "missing"),
    ("duplicates", "dup"),
    ("delivered", "delivered"),
    ("producer_errors", "errors"),
    ("streaming_crashes", "crashes"),
)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m chaos", description=__doc__.splitlines()[0])
    p.add_argument("names", nargs="*", help="scenarios to run (default: all)")
    p.add_argument("--quick", action="store_true", help="only the scenarios that fit in a few minutes")
    p.add_argument("--list", action="store_true", help="list the scenarios and exit")
    p.add_argument("--keep", action="store_true", help="keep every scenario's scratch folder (logs, checkpoints)")
    return p


def choose(scenarios: list[Scenario], names: list[str], quick: bool) -> list[Scenario]:
    known = {s.name for s in scenarios}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise SystemExit(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
    chosen = [s for s in scenarios if not names or s.name in names]
    return [s for s in chosen if s.quick] if quick else chosen


def format_counts(counts: dict[str, float]) -> str:
    return " ".join(f"{label}={int(counts[key])}" for key, label in COUNT_COLUMNS if key in counts)


def table(rows: list[tuple[Verdict, float]]) -> str:
    lines = [("scenario", "verdict", "time", "counts", "detail")]
    for verdict, took in rows:
        lines.append((verdict.scenario, "PASS" if verdict.passed else "FAIL", f"{took:.0f}s",
                      format_counts(verdict.counts), verdict.detail))
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line[:4], widths)) + "  " + line[4]
                     for line in lines)


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    scenarios = discover()
    if args.list:
        for s in scenarios:
            print(f"{s.name:20s} {'quick' if s.quick else '     '}  {s.description}")
        return 0
    chosen = choose(scenarios, args.names, args.quick)
    if not chosen:
        print("no scenario chosen", file=sys.stderr)
        return 2
    print(f"chaos: {len(chosen)} scenario(s): {', '.join(s.name for s in chosen)}", flush=True)
    results = []
    for scenario in chosen:
        print(f"\n== {scenario.name}: {scenario.description}", flush=True)
        results.append(run_scenario(scenario, keep_workdir=args.keep))
    print("\n" + table(results), flush=True)
    return 0 if all(v.passed for v, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
