"""Run `metrics-guard diagnose` against the test devcluster and assert on its findings document.

The fault matrix calls these inside the same break/heal cycle as the raw-symptom assertions, so that each
fault is produced once and checked twice: what the real components do, and what metrics-guard says.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.integration.conftest import DevclusterHandle

CLI = str(Path(sys.executable).parent / "metrics-guard")


@dataclass(frozen=True)
class Diagnosis:
    exit_code: int
    document: dict[str, Any]

    @property
    def problems(self) -> list[dict[str, Any]]:
        return [f for f in self.document["findings"] if f["status"] != "ok"]

    def codes(self) -> set[str]:
        return {f["code"] for f in self.problems}

    def targets_with(self, code: str) -> set[str]:
        return {f["target"] for f in self.problems if f["code"] == code}

    def proxy_cert_targets(self, code: str) -> set[str]:
        """The per-node certificate findings with ``code`` (symptom findings recoded to it are not counted)."""
        return {t for t in self.targets_with(code) if t.startswith("cert/proxy-client@")}

    def summary(self) -> str:
        return "; ".join(f"{f['status']} {f['code']} {f['target']}: {f['summary']}" for f in self.problems)


def diagnose(h: DevclusterHandle, *, timeout_s: int = 45) -> Diagnosis:
    argv = [
        CLI,
        "diagnose",
        "--kubeconfig",
        str(h.kubeconfig_metrics_guard),
        "--endpoints",
        ",".join(h.apiserver_urls),
        "-o",
        "json",
        "--timeout",
        str(timeout_s),
    ]
    for root in h.node_roots:
        argv += ["--node-root", str(root)]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s + 30, check=False)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode in (0, 1, 2), f"diagnose could not run ({result.returncode}): {result.stderr}"
    return Diagnosis(result.returncode, json.loads(result.stdout))


def expect_diagnosis(
    h: DevclusterHandle,
    code: str | Collection[str],
    *,
    allowed: Collection[str] = (),
    target: str | None = None,
    timeout_s: float = 90.0,
) -> Diagnosis:
    """Poll diagnose until one of ``code`` is reported (on ``target`` when given) and every non-ok finding
    carries a code among ``code`` and ``allowed``; fail with the last document's problems otherwise."""
    wanted = {code} if isinstance(code, str) else set(code)
    permitted = wanted | set(allowed)
    deadline = time.monotonic() + timeout_s
    last: Diagnosis | None = None
    while True:
        last = diagnose(h)
        found = last.codes() & wanted
        on_target = target is None or any(target in t for c in found for t in last.targets_with(c))
        if found and on_target and last.codes() <= permitted:
            assert last.exit_code in (1, 2)
            return last
        if time.monotonic() > deadline:
            raise AssertionError(
                f"expected {sorted(wanted)} (allowed {sorted(allowed)}), got: {last.summary()}"
            )
        time.sleep(3)


def expect_all_ok(h: DevclusterHandle, *, timeout_s: float = 60.0) -> Diagnosis:
    deadline = time.monotonic() + timeout_s
    while True:
        last = diagnose(h)
        if last.exit_code == 0 and not last.problems:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"expected every check ok, got: {last.summary()}")
        time.sleep(3)
