"""`make bench`: every benchmark against one devcluster; tables printed and written to benchmarks/results/."""

from __future__ import annotations

import argparse
import sys

from benchmarks import probe_overhead
from benchmarks.cluster import running_cluster


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--only", choices=["probe-overhead"], action="append")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    chosen = set(args.only or ["probe-overhead"])
    with running_cluster() as state:
        if "probe-overhead" in chosen:
            probe_overhead.run(state, rounds=args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
