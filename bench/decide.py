"""Validation plus decision per submission, on a realistic mix (issue: at most 30 us each).

Run: .venv/bin/python bench/decide.py [--count N]
Prints the median and p99 per-submission cost of parse+decide, and, as a baseline measured in the same
run, the cost of orjson.loads alone on the same payloads (the ratio shows what the policy adds).
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime

import orjson

from bus.policy import DEFAULT_REFERENCE, decide_payload, load_reference, load_ruleset
from bus.samples import realistic_mix


def _per_item(fn: object, payloads: list[bytes], rounds: int) -> list[float]:
    costs = []
    for _ in range(rounds):
        for raw in payloads:
            start = time.perf_counter_ns()
            fn(raw)  # type: ignore[operator]
            costs.append((time.perf_counter_ns() - start) / 1000)
    return costs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    ruleset = load_ruleset()
    reference = load_reference(DEFAULT_REFERENCE, ruleset.team_ids)
    payloads = [orjson.dumps(sub) for sub in realistic_mix(args.count)]
    now = datetime.now(UTC)
    sizes = sorted(len(p) for p in payloads)
    deliveries = sum(len(decide_payload(p, ruleset, reference, now)[0].deliveries) for p in payloads)
    decide_costs = _per_item(lambda raw: decide_payload(raw, ruleset, reference, now), payloads, args.rounds)
    base_costs = _per_item(orjson.loads, payloads, args.rounds)
    med, base = statistics.median(decide_costs), statistics.median(base_costs)
    p99 = statistics.quantiles(decide_costs, n=100)[98]
    print(f"payloads: {len(payloads)} (median {sizes[len(sizes) // 2]} B), "
          f"{deliveries / len(payloads):.2f} deliveries each")
    print(f"parse+decide: median {med:.1f} us, p99 {p99:.1f} us per submission (target <= 30 us)")
    print(f"baseline orjson.loads: median {base:.2f} us; parse+decide = {med / base:.1f}x the baseline")


if __name__ == "__main__":
    main()
