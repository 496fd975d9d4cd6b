"""Screening throughput (issue 13): 20,000 realistic SARs (``bus.samples.sar_backlog``) screened into a work
list, against ``orjson.loads`` of the same lines in the same run (the floor: reading the JSON at all).

Run: .venv/bin/python bench/screen.py [--count 20000] [--repeat 5]

Reports the median of ``--repeat`` runs of each, in-process (the command's start-up, policy loading and
report writing are timed apart): screening's seconds and µs per SAR, the ratio to ``orjson.loads``, and the
time to write the CSV files and the HTML report with its two charts. Target: screening under 1.5 s.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bus.cli.screen import screen_lines, write_report
from bus.policy import load_policy
from bus.samples import sar_backlog

NOW = datetime(2026, 12, 17, 10, tzinfo=UTC)


def timed(repeat: int, run: Callable[[], object]) -> list[float]:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    started = time.perf_counter()
    ruleset, reference = load_policy(None, None)
    loading = time.perf_counter() - started
    lines = [orjson.dumps(sar) for sar in sar_backlog(args.count, NOW)]
    quiet = io.StringIO()
    floor = statistics.median(timed(args.repeat, lambda: [orjson.loads(line) for line in lines]))
    screening = timed(args.repeat, lambda: screen_lines(lines, ruleset, reference, NOW, err=quiet))
    work = screen_lines(lines, ruleset, reference, NOW, err=quiet)
    with tempfile.TemporaryDirectory() as folder:
        report = timed(min(args.repeat, 3), lambda: write_report(work, Path(folder)))
    median = statistics.median(screening)
    per_sar = median / args.count * 1e6
    print(f"{args.count} SARs (sar_backlog, median {statistics.median(map(len, lines))} B); policy loaded in "
          f"{loading:.2f} s; median of {args.repeat} runs")
    print(f"  orjson.loads alone     {floor:6.3f} s  {floor / args.count * 1e6:6.1f} us/SAR")
    print(f"  screening              {median:6.3f} s  {per_sar:6.1f} us/SAR  ({median / floor:.0f}x orjson.loads; "
          f"min {min(screening):.3f}, max {max(screening):.3f}); target < 1.5 s: "
          f"{'met' if median < 1.5 else 'NOT met'}")
    print(f"  CSV files + report.html {statistics.median(report):5.3f} s")
    print(f"  found: {len(work.links)} strong links, {len(work.possible)} possible matches, {len(work.deadlines)} "
          f"DAMLs, {len(work.safeguarding)} safeguarding referrals, {len(work.quarantined)} quarantined")


if __name__ == "__main__":
    main()
