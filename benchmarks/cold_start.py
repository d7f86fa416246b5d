"""Cold start of metrics_probe from the ``sam build`` output (issue 4 §6), against its baseline.

One measured run is one whole execution environment: ``python3.13 -m awslambdaric app.lambda_handler``
started with the built layer at ``<opt>/python`` (as Lambda mounts it) and the runtime's own packages
(awslambdaric, boto3), against the stand-in Runtime API of the built-artifact test, with the function's
environment pointed at a moto server (registry parameter, credentials secret holding a ServiceAccount
token, the bus) and the devcluster. Wall time runs from the spawn to the first invocation's response
(interpreter start, imports, init, the probe of three apiservers, PutEvents). CPU is the process's user +
system time at that moment, RSS its peak (VmHWM).

The baseline (``benchmarks/baseline_probe/app.py``) makes the same calls with the typed kubernetes client
and eager imports, started the same way from the same layer; the two alternate in the same run, with X-Ray
tracing off and on (``POWERTOOLS_TRACE_DISABLED``: the template's ``XRayTracing`` parameter).

python -m benchmarks.cold_start [--rounds N] [--importtime]
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import Run, Summary, load_average, table, write_result
from tests.integration.aws.runtime_api import (
    RuntimeApi,
    handler_argv_env,
    python313,
    runtime_packages,
)
from tests.moto_server import FAKE_ENV, MotoServer

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / ".aws-sam" / "build"
BASELINE = Path(__file__).resolve().parent / "baseline_probe"
EVENT = {"action": "probe", "probe": "metrics", "clusters": ["*"]}
TARGET_RATIO = 0.5
TARGET_WALL_S = 0.450
TARGET_LAYER_MB = 130
CLUSTER = "devcluster"


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    task: Path
    env: Mapping[str, str]


def ensure_build() -> None:
    if (BUILD / "template.yaml").exists():
        return
    print("no sam build output: make build ...", flush=True)
    subprocess.run(["make", "--no-print-directory", "build"], cwd=ROOT, check=True)


def layer_mb(layer: Path) -> float:
    done = subprocess.run(["du", "-sk", str(layer)], capture_output=True, text=True, check=True)
    return int(done.stdout.split()[0]) / 1024


@contextmanager
def artifact() -> Iterator[Path]:
    """A private copy of the build output (others may rebuild .aws-sam meanwhile): <dir>/opt/python, tasks."""
    with tempfile.TemporaryDirectory(prefix="mg-cold-start-") as tmp:
        base = Path(tmp)
        shutil.copytree(BUILD / "CommonLayer" / "python", base / "opt" / "python", symlinks=True)
        shutil.copytree(BUILD / "MetricsProbeFunction", base / "MetricsProbeFunction", symlinks=True)
        shutil.copytree(BASELINE, base / "BaselineProbe", ignore=shutil.ignore_patterns("__pycache__"))
        yield base


def aws_setup(moto: MotoServer, state: Mapping[str, Any], token: str) -> dict[str, str]:
    """Registry parameter, credentials secret and bus in moto; the function environment pointing at them."""
    ca_pem = Path(state["ca_file"]).read_text()
    secret = moto.client("secretsmanager").create_secret(
        Name=f"metrics-guard/clusters/{CLUSTER}", SecretString=json.dumps({"token": token, "ca_pem": ca_pem})
    )
    registry = [
        {
            "name": CLUSTER,
            "endpoint": state["front_url"],
            "layout": "binary",
            "credentials_secret_arn": secret["ARN"],
            "control_plane": {
                "instances": [
                    {"instance_id": f"i-{a['index']:017x}", "apiserver_endpoint": a["url"]}
                    for a in state["apiservers"]
                ]
            },
        }
    ]
    moto.client("ssm").put_parameter(Name="/bench/clusters", Type="String", Value=json.dumps(registry))
    moto.client("events").create_event_bus(Name="bench-findings")
    return {
        **FAKE_ENV,
        "AWS_ENDPOINT_URL": moto.endpoint,
        "REGISTRY_PARAMETER": "/bench/clusters",
        "EVENT_BUS_NAME": "bench-findings",
        "POWERTOOLS_SERVICE_NAME": "metrics-guard",
        "POWERTOOLS_METRICS_NAMESPACE": "MetricsGuard",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def _proc_cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _hwm_kib(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def cold_start(
    variant: Variant, *, opt: Path, packages: Path, python: Path, extra_args: tuple[str, ...] = ()
) -> tuple[Run, Any, str]:
    """One execution environment, spawn to first response; (run, response body, stderr)."""
    api = RuntimeApi()
    try:
        argv, env = handler_argv_env(
            python=python,
            task=variant.task,
            opt=opt,
            packages=packages,
            api=api,
            function=variant.name,
            env=variant.env,
        )
        if extra_args:
            argv = [argv[0], *extra_args, *argv[1:]]
        api.invoke(EVENT)
        with tempfile.TemporaryFile() as errors:
            start = time.perf_counter()
            process = subprocess.Popen(
                argv, env=env, cwd=variant.task, stdout=subprocess.DEVNULL, stderr=errors
            )
            hwm = 0
            answer = None
            while answer is None:
                try:
                    answer = api.answers.get(timeout=0.002)
                except queue.Empty:
                    hwm = max(hwm, _hwm_kib(process.pid))
                    if process.poll() is not None:
                        break
                    if time.perf_counter() - start > 120:
                        break
            wall = time.perf_counter() - start
            cpu = _proc_cpu_s(process.pid)
            hwm = max(hwm, _hwm_kib(process.pid))
            process.kill()
            process.wait(timeout=10)
            errors.seek(0)
            stderr = errors.read().decode(errors="replace")
    finally:
        api.close()
    if answer is None or answer.kind != "response":
        raise RuntimeError(f"{variant.name}: no response ({answer!r}): {stderr[-2000:]}")
    body = answer.body
    if not (
        isinstance(body, dict) and body.get("ok") and body.get("status") == "ok" and body.get("published")
    ):
        raise RuntimeError(f"{variant.name}: unexpected answer {body!r}")
    return Run(wall, cpu, hwm / 1024, 0), body, stderr


def importtime(
    variant: Variant, *, opt: Path, packages: Path, python: Path, top: int = 12
) -> list[tuple[str, float]]:
    """``-X importtime`` of one cold start: cumulative ms per top-level package, largest first."""
    _, _, stderr = cold_start(
        variant, opt=opt, packages=packages, python=python, extra_args=("-X", "importtime")
    )
    per_package: dict[str, float] = defaultdict(float)
    line_re = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")
    for line in stderr.splitlines():
        match = line_re.match(line)
        if match and match.group(3) == " ":  # top level of an import chain: its cumulative time
            per_package[match.group(4).split(".")[0]] += int(match.group(2)) / 1000
    return sorted(per_package.items(), key=lambda kv: -kv[1])[:top]


def service_account_token() -> str:
    from demo.run import service_account_token as mint
    from devcluster.api import Cluster

    token = mint(Cluster())
    if not token:
        raise RuntimeError("the devcluster could not mint a ServiceAccount token")
    return token


def run(state: Mapping[str, Any], *, rounds: int = 7, show_importtime: bool = True) -> dict[str, Any]:
    ensure_build()
    python = python313()
    if python is None:
        raise RuntimeError("python3.13 is not installed")
    packages = runtime_packages(python)
    token = service_account_token()
    layer = layer_mb(BUILD / "CommonLayer")
    with MotoServer() as moto, artifact() as base:
        opt = base / "opt"
        env = aws_setup(moto, state, token)
        variants = [
            Variant(f"{who}, tracing {tracing}", base / task, {**env, "POWERTOOLS_TRACE_DISABLED": disabled})
            for tracing, disabled in (("off", "true"), ("on", "false"))
            for who, task in (("metrics_probe", "MetricsProbeFunction"), ("baseline", "BaselineProbe"))
        ]
        for variant in variants:  # warm-up: page cache, moto's first requests
            cold_start(variant, opt=opt, packages=packages, python=python)
        measured: dict[str, list[Run]] = {v.name: [] for v in variants}
        load_before = load_average()
        for i in range(rounds):
            for variant in variants if i % 2 == 0 else list(reversed(variants)):
                measured[variant.name].append(
                    cold_start(variant, opt=opt, packages=packages, python=python)[0]
                )
        load_after = load_average()
        summaries = {name: Summary.of(name, runs) for name, runs in measured.items()}
        imports = (
            {v.name: importtime(v, opt=opt, packages=packages, python=python) for v in variants[:2]}
            if show_importtime
            else {}
        )
    rows = [
        [
            "variant",
            "wall median",
            "min",
            "max",
            "cpu median",
            "peak RSS",
            "wall vs base",
            "cpu vs base",
            "target",
        ]
    ]
    ratios: dict[str, float] = {}
    cpu_ratios: dict[str, float] = {}
    for tracing in ("off", "on"):
        product = summaries[f"metrics_probe, tracing {tracing}"]
        baseline = summaries[f"baseline, tracing {tracing}"]
        ratios[tracing] = product.wall_median_s / baseline.wall_median_s
        cpu_ratios[tracing] = product.cpu_median_s / baseline.cpu_median_s
        for summary in (product, baseline):
            is_product = summary is product
            met = ratios[tracing] <= TARGET_RATIO and product.wall_median_s <= TARGET_WALL_S
            rows.append(
                [
                    summary.name,
                    f"{summary.wall_median_s * 1000:.0f} ms",
                    f"{summary.wall_min_s * 1000:.0f} ms",
                    f"{summary.wall_max_s * 1000:.0f} ms",
                    f"{summary.cpu_median_s * 1000:.0f} ms",
                    f"{summary.rss_median_mib:.0f} MiB",
                    f"{ratios[tracing]:.2f}x" if is_product else "1.00x",
                    f"{cpu_ratios[tracing]:.2f}x" if is_product else "1.00x",
                    ("met" if met else "MISSED") + " (<= 0.5x, <= 450 ms)" if is_product else "",
                ]
            )
    text = (
        f"cold start: metrics_probe from .aws-sam/build under awslambdaric (python3.13), spawn to first "
        f"response, {rounds} alternated rounds; load average {load_before:.2f} -> {load_after:.2f} "
        f"({os.cpu_count()} CPUs)\n"
        + table(rows)
        + f"\nlayer unzipped: {layer:.0f} MB (target <= {TARGET_LAYER_MB} MB: "
        + ("met" if layer <= TARGET_LAYER_MB else "MISSED")
        + ")"
    )
    for name, packages_ms in imports.items():
        text += f"\n-X importtime, {name} (cumulative ms per top-level import): " + ", ".join(
            f"{pkg} {ms:.0f}" for pkg, ms in packages_ms
        )
    print(text, flush=True)
    payload = {
        "rounds": rounds,
        "load_average_before": load_before,
        "load_average_after": load_after,
        "summaries": summaries,
        "ratios": ratios,
        "cpu_ratios": cpu_ratios,
        "layer_mb": layer,
        "targets": {"ratio": TARGET_RATIO, "wall_s": TARGET_WALL_S, "layer_mb": TARGET_LAYER_MB},
        "importtime_ms": imports,
    }
    write_result("cold_start", payload, text)
    return payload


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.cold_start")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--no-importtime", action="store_true")
    args = parser.parse_args()
    from benchmarks.cluster import running_cluster

    with running_cluster() as state:
        run(state, rounds=args.rounds, show_importtime=not args.no_importtime)
    return 0


if __name__ == "__main__":
    sys.exit(main())
