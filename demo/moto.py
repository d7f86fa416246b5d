"""A moto server on loopback, started as a subprocess and stopped by its PID (never by name)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

from metrics_guard.errors import MetricsGuardError


class MotoError(MetricsGuardError):
    """The moto server did not start."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def moto_binary() -> str:
    """``moto_server`` next to the running interpreter (the project's venv)."""
    candidate = Path(sys.executable).parent / "moto_server"
    return str(candidate) if candidate.exists() else "moto_server"


class MotoServer:
    """``with MotoServer() as moto: moto.url`` — http://127.0.0.1:PORT, gone after the block."""

    def __init__(self, port: int | None = None, *, log: Path | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._log = log
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def start(self, timeout_s: float = 30.0) -> MotoServer:
        out = self._log.open("ab") if self._log is not None else subprocess.DEVNULL
        try:
            self._proc = subprocess.Popen(
                [moto_binary(), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        finally:
            if self._log is not None and not isinstance(out, int):
                out.close()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise MotoError(f"moto_server exited with status {self._proc.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1) as response:  # noqa: S310
                    response.read()
                    return self
            except (urllib.error.URLError, OSError):
                time.sleep(0.2)
        self.stop()
        raise MotoError(f"moto_server did not answer on {self.url} within {timeout_s:.0f}s")

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        os.kill(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def env(self) -> dict[str, str]:
        """Environment that points every boto3 client at this server (dummy credentials)."""
        return {
            "AWS_ENDPOINT_URL": self.url,
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_REGION": "us-east-1",
        }

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
