"""`make bench`: every benchmark against one devcluster; tables printed and written to benchmarks/results/.

python -m benchmarks [--only probe-overhead|decode|scale|cold-start ...] [--rounds N]
"""

from __future__ import annotations

import argparse
import sys

from benchmarks import decode_micro, probe_overhead, scale
from benchmarks.cluster import running_cluster

CHOICES = ("probe-overhead", "decode", "scale", "cold-start")


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--only", choices=CHOICES, action="append")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    chosen = set(args.only or CHOICES)
    if "decode" in chosen:
        decode_micro.run(rounds=args.rounds)
    if chosen & {"probe-overhead", "scale", "cold-start"}:
        with running_cluster() as state:
            # probe overhead first: the scale run leaves 155,000 objects in the cluster
            if "probe-overhead" in chosen:
                probe_overhead.run(state, rounds=args.rounds)
            # --- cold start (issue 4 §6, benchmarks/cold_start.py): before scale, on the clean cluster
            if "cold-start" in chosen:
                from benchmarks import cold_start

                cold_start.run(state, rounds=args.rounds)
            # --- end cold start
            if "scale" in chosen:
                scale.run(state, rounds=min(args.rounds, 5))
    return 0


if __name__ == "__main__":
    sys.exit(main())
