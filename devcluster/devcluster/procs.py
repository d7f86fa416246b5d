"""Starting and stopping the cluster's processes, recorded by PID and start time (never by name)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TypedDict


class ProcRecord(TypedDict):
    pid: int
    start_time: int
    argv: list[str]
    log: str


def _stat(pid: int) -> tuple[str, int] | None:
    """(state letter, start time in clock ticks) of a process, None when it does not exist."""
    try:
        data = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = data[data.rfind(")") + 2 :].split()
    return rest[0], int(rest[19])


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def start(
    argv: Sequence[str],
    log: Path,
    *,
    netns: str | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> ProcRecord:
    """Start a process in its own session with output appended to `log`."""
    full = ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as fh:
        fh.write(f"---- {time.strftime('%Y-%m-%dT%H:%M:%S')} start: {' '.join(full)}\n".encode())
        fh.flush()
        proc = subprocess.Popen(
            full,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env={**os.environ, **(env or {})},
            cwd=cwd,
        )
    st = _stat(proc.pid)
    return {"pid": proc.pid, "start_time": st[1] if st else 0, "argv": list(argv), "log": str(log)}


def state(rec: ProcRecord | None) -> str | None:
    """The process's state letter (R, S, T for stopped...) or None when it is gone (or a zombie)."""
    if not rec:
        return None
    _reap(rec["pid"])
    st = _stat(rec["pid"])
    if st is None or st[1] != rec["start_time"] or st[0] in ("Z", "X"):
        return None
    return st[0]


def alive(rec: ProcRecord | None) -> bool:
    return state(rec) is not None


def signal_proc(rec: ProcRecord | None, sig: int) -> bool:
    if not alive(rec) or rec is None:
        return False
    with contextlib.suppress(ProcessLookupError):
        os.kill(rec["pid"], sig)
    return True


def stop(rec: ProcRecord | None, *, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after `timeout`; a frozen (SIGSTOP) process is continued first."""
    if not alive(rec) or rec is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(rec["pid"], signal.SIGTERM)
        os.kill(rec["pid"], signal.SIGCONT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(rec):
            return
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError):
        os.kill(rec["pid"], signal.SIGKILL)
    deadline = time.monotonic() + 5
    while alive(rec) and time.monotonic() < deadline:
        time.sleep(0.1)
