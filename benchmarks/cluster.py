"""The devcluster the benchmarks run against: the one of $DEVCLUSTER_HOME if it is up, else one brought up
for the run (and brought down afterwards)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent


def devcluster(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "devcluster"), *args], check=check, capture_output=True, text=True)


def status() -> dict[str, Any] | None:
    result = devcluster("status", "-o", "json", check=False)
    if result.returncode != 0:
        return None
    data: dict[str, Any] = json.loads(result.stdout)
    return data


@contextmanager
def running_cluster() -> Iterator[dict[str, Any]]:
    current = status()
    started = False
    if current is None or not all(a.get("healthy") for a in current.get("apiservers", [])):
        print("bringing the devcluster up ...", flush=True)
        subprocess.run([str(BIN / "devcluster"), "up"], check=True)
        started = True
        current = status()
    if current is None:
        raise RuntimeError("devcluster did not come up")
    try:
        yield current
    finally:
        if started:
            devcluster("down", check=False)


def diagnose_argv(state: dict[str, Any], *, output: str = "json") -> list[str]:
    endpoints = ",".join(a["url"] for a in state["apiservers"])
    argv = [
        str(BIN / "metrics-guard"),
        "diagnose",
        "--kubeconfig",
        state["kubeconfigs"]["metrics-guard"],
        "--endpoints",
        endpoints,
        "-o",
        output,
    ]
    for apiserver in state["apiservers"]:
        argv += ["--node-root", apiserver["node_root"]]
    return argv
