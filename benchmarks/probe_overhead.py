"""Probe overhead: a whole `metrics-guard diagnose` process against the devcluster vs a bare urllib3 process
making the same HTTP GETs (recorded from a diagnose run), alternated in the same run. Target <= 1.3x."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.harness import Command, alternate, run_once, table, write_result

TARGET_RATIO = 1.3


def run(state: dict[str, Any], *, rounds: int = 7) -> dict[str, object]:
    from benchmarks.cluster import diagnose_argv

    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "requests.jsonl"
        argv = diagnose_argv(state)
        record = Command(
            "record", argv, env={"METRICS_GUARD_TRACE_REQUESTS": str(trace)}, ok_exit_codes=(0, 1, 2)
        )
        run_once(record)
        requests = len(trace.read_text(encoding="utf-8").splitlines())
        diagnose = Command("metrics-guard diagnose", argv, ok_exit_codes=(0, 1, 2))
        bare = Command(
            "bare urllib3 replay",
            [
                sys.executable,
                "-m",
                "benchmarks.bare_client",
                state["kubeconfigs"]["metrics-guard"],
                str(trace),
            ],
            cwd=str(Path(__file__).resolve().parents[1]),
            env={
                "PYTHONPATH": str(Path(__file__).resolve().parents[1])
                + os.pathsep
                + os.environ.get("PYTHONPATH", "")
            },
        )
        summaries = alternate([diagnose, bare], rounds=rounds)
    d, b = summaries[diagnose.name], summaries[bare.name]
    ratio_wall = d.wall_median_s / b.wall_median_s
    ratio_cpu = d.cpu_median_s / b.cpu_median_s
    rows = [
        ["process", "wall median s", "wall min-max s", "CPU s", "peak RSS MiB"],
        *[
            [
                s.name,
                f"{s.wall_median_s:.3f}",
                f"{s.wall_min_s:.3f}-{s.wall_max_s:.3f}",
                f"{s.cpu_median_s:.3f}",
                f"{s.rss_median_mib:.0f}",
            ]
            for s in (d, b)
        ],
    ]
    verdict = "met" if ratio_wall <= TARGET_RATIO else "MISSED"
    text = (
        f"probe overhead ({requests} GETs, {rounds} alternated rounds)\n{table(rows)}\n"
        f"ratio wall {ratio_wall:.2f}x, CPU {ratio_cpu:.2f}x (target <= {TARGET_RATIO}x wall: {verdict})"
    )
    payload: dict[str, object] = {
        "requests": requests,
        "rounds": rounds,
        "summaries": summaries,
        "ratio_wall": ratio_wall,
        "ratio_cpu": ratio_cpu,
        "target_ratio": TARGET_RATIO,
        "verdict": verdict,
    }
    write_result("probe_overhead", payload, text)
    print(text, flush=True)
    return payload
