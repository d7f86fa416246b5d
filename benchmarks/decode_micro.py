"""Decode micro-benchmark: the product's PodMetricsList decoder vs ``json.loads`` on a generated 150,000-pod
body (~60 MB, ~240,000 containers).

Each variant runs as its own process (``python -m benchmarks.decode_micro --variant V --body FILE``) so that
peak RSS is that variant's alone; the variants are alternated in the same run. The ``read`` variant only
reads the body: its RSS is the floor every other variant starts from. CPU seconds include interpreter start
and reading the file (the same for all); "decode CPU" subtracts the ``read`` variant's.
"""

from __future__ import annotations

import argparse
import gc
import json
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.harness import Command, alternate, table, write_result

VARIANTS = ("read", "json.loads", "json.loads, gc off", "decode_pod_metrics_list")


def _child(variant: str, body_path: str) -> int:
    body = Path(body_path).read_bytes()
    start = time.process_time()
    if variant == "json.loads":
        data = json.loads(body)
        count = len(data["items"])
    elif variant == "json.loads, gc off":
        gc.disable()
        data = json.loads(body)
        gc.enable()
        count = len(data["items"])
    elif variant == "decode_pod_metrics_list":
        from metrics_guard.decode.metrics import decode_pod_metrics_list

        count = len(decode_pod_metrics_list(body))
    else:
        count = 0
    print(f"{variant}: {count} items, {time.process_time() - start:.3f} s CPU")
    return 0


def run(*, rounds: int = 5) -> dict[str, object]:
    from benchmarks.data import Scale, pod_metrics_list

    root = str(Path(__file__).resolve().parents[1])
    with tempfile.TemporaryDirectory() as tmp:
        body_path = Path(tmp) / "pods.json"
        body = pod_metrics_list(Scale())
        body_path.write_bytes(body)
        size_mb = len(body) / 1e6
        del body
        commands = [
            Command(
                v,
                [sys.executable, "-m", "benchmarks.decode_micro", "--variant", v, "--body", str(body_path)],
                cwd=root,
            )
            for v in VARIANTS
        ]
        summaries = alternate(commands, rounds=rounds)
    floor = summaries["read"]
    rows = [["variant", "CPU s (process)", "decode CPU s", "wall s", "peak RSS MiB", "RSS over read MiB"]]
    for v in VARIANTS:
        s = summaries[v]
        rows.append(
            [
                v,
                f"{s.cpu_median_s:.3f}",
                f"{s.cpu_median_s - floor.cpu_median_s:.3f}",
                f"{s.wall_median_s:.3f}",
                f"{s.rss_median_mib:.0f}",
                f"{s.rss_median_mib - floor.rss_median_mib:.0f}",
            ]
        )
    text = f"decode micro-benchmark: PodMetricsList of 150,000 pods, {size_mb:.1f} MB ({rounds} alternated rounds)\n{table(rows)}"
    payload: dict[str, object] = {"body_mb": size_mb, "rounds": rounds, "summaries": summaries}
    write_result("decode_micro", payload, text)
    print(text, flush=True)
    return payload


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decode_micro")
    parser.add_argument("--variant", choices=VARIANTS)
    parser.add_argument("--body")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.variant:
        return _child(args.variant, args.body)
    run(rounds=args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
