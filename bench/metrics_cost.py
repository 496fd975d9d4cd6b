"""What the router's /metrics costs it (issue 16: scraped, at least 97% of the rate without), measured in
pairs: the router with the endpoint off and with it on and scraped every ``--every`` seconds, alternately,
``--pairs`` times, on the same backlog (``bench/router.py``'s workload and private Redis, no persistence).

Run: .venv/bin/python bench/metrics_cost.py [--count 20000] [--pairs 7] [--every 0.5]

Prints each pair's ratio (scraped rate / unscraped rate, each pair run back to back so a slow spell of the
machine hits both) and their median, with the router process's CPU per submission either way.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import statistics

from router import real_router
from router_workload import PrivateRedis, build_workload

from bus.policy import load_policy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20_000, help="submissions in each run's backlog")
    parser.add_argument("--pairs", type=int, default=7)
    parser.add_argument("--every", type=float, default=0.5, help="seconds between scrapes (Prometheus: 15-60)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    ruleset, reference = load_policy(None, None)
    workload = build_workload(args.count, ruleset, reference)
    server = PrivateRedis()
    runs: dict[str, list[tuple[float, float]]] = {"off": [], "scraped": []}
    try:
        for n in range(args.pairs):
            order = ("off", "scraped") if n % 2 == 0 else ("scraped", "off")  # neither always goes first
            for name in order:
                server.prepare(workload, args.count)
                gc.collect()
                every = args.every if name == "scraped" else None
                runs[name].append(asyncio.run(real_router(server.url, args.count, ruleset, reference, 200,
                                                          metrics_every=every)))
    finally:
        server.stop()
    ratios = [off[0] / scraped[0] for off, scraped in zip(runs["off"], runs["scraped"], strict=True)]
    print(f"router on {args.count:,} submissions (realistic_mix), /metrics off vs on and scraped every "
          f"{args.every} s, {args.pairs} pairs run back to back (order alternating)")
    for name, values in runs.items():
        seconds = [s for s, _ in values]
        cpu = statistics.median(c for _, c in values) / args.count * 1e6
        print(f"  {name:<8} median {statistics.median(seconds):.2f} s ({args.count / statistics.median(seconds):,.0f}"
              f" subs/s), {cpu:.0f} us CPU per submission; runs: " + ", ".join(f"{s:.2f}" for s in seconds))
    median = statistics.median(ratios)
    print(f"scraped / off, per pair: {', '.join(f'{r:.3f}' for r in ratios)}; median {median:.3f} "
          f"(target >= 0.97: {'met' if median >= 0.97 else 'NOT met'})")


if __name__ == "__main__":
    main()
