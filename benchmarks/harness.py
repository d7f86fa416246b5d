"""Measure whole processes: wall time, CPU seconds and peak RSS of each run, candidates alternated with
their baseline in the same run so that machine load affects both alike."""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
#: Bytecode for every measured Python process, outside the repository. An installed product has its .pyc
#: (pip compiles at install; the Lambda layer is precompiled); the Makefile's PYTHONDONTWRITEBYTECODE=1
#: would make every run recompile metrics_guard from source (~60 ms) and measure that instead.
PYCACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "metrics-guard" / "bench-pycache"


def process_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = {**os.environ, "PYTHONPYCACHEPREFIX": str(PYCACHE), **(extra or {})}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


@dataclass(frozen=True, slots=True)
class Run:
    wall_s: float
    cpu_s: float
    peak_rss_mib: float
    exit_code: int


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    argv: Sequence[str]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    ok_exit_codes: tuple[int, ...] = (0,)


def run_once(command: Command, *, timeout_s: float = 600.0) -> Run:
    env = process_env(command.env)
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(command.argv), env=env, cwd=command.cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    deadline = start + timeout_s
    hwm_kib = 0
    while True:
        hwm_kib = max(hwm_kib, _vm_hwm_kib(proc.pid))
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            proc.kill()
            pid, status, usage = os.wait4(proc.pid, 0)
            break
        time.sleep(0.002)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if code not in command.ok_exit_codes:
        tail = stderr.strip().splitlines()[-5:]
        raise RuntimeError(f"{command.name} exited {code}: " + " | ".join(tail))
    # ru_maxrss is not used: Linux carries the pre-exec RSS of the forked parent into it (exec_mmap), so a
    # parent holding a big body would inflate every child. VmHWM is the child's own address space's peak.
    peak_kib = hwm_kib or usage.ru_maxrss
    return Run(wall, usage.ru_utime + usage.ru_stime, peak_kib / 1024, code)


def _vm_hwm_kib(pid: int) -> int:
    try:
        with Path(f"/proc/{pid}/status").open("rb") as status:
            for line in status:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


@dataclass(frozen=True, slots=True)
class Summary:
    name: str
    runs: int
    wall_median_s: float
    wall_min_s: float
    wall_max_s: float
    cpu_median_s: float
    rss_median_mib: float

    @classmethod
    def of(cls, name: str, runs: Sequence[Run]) -> Summary:
        walls = [r.wall_s for r in runs]
        return cls(
            name=name,
            runs=len(runs),
            wall_median_s=statistics.median(walls),
            wall_min_s=min(walls),
            wall_max_s=max(walls),
            cpu_median_s=statistics.median(r.cpu_s for r in runs),
            rss_median_mib=statistics.median(r.peak_rss_mib for r in runs),
        )


def alternate(commands: Sequence[Command], *, rounds: int, warmup: int = 1) -> dict[str, Summary]:
    """Run each command ``warmup`` times unmeasured, then ``rounds`` rounds of A, B, A, B ..."""
    for _ in range(warmup):
        for command in commands:
            run_once(command)
    measured: dict[str, list[Run]] = {c.name: [] for c in commands}
    for i in range(rounds):
        order = commands if i % 2 == 0 else list(reversed(commands))
        for command in order:
            measured[command.name].append(run_once(command))
    return {name: Summary.of(name, runs) for name, runs in measured.items()}


def load_average() -> float:
    try:
        return float(Path("/proc/loadavg").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return float("nan")


def table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)) for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def write_result(name: str, payload: Mapping[str, object], text: str) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    document = {"benchmark": name, "at": stamp, "load_average": load_average(), **payload}
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(document, indent=2, default=_default) + "\n", encoding="utf-8")
    (RESULTS / f"{name}.txt").write_text(text + "\n", encoding="utf-8")
    return path


def _default(value: object) -> object:
    if isinstance(value, Summary | Run):
        return asdict(value)
    raise TypeError(type(value).__name__)
