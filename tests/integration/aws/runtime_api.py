"""A small stand-in for the Lambda Runtime API (2018-06-01) on loopback: hands out queued events on
``GET /runtime/invocation/next`` and records what the runtime posts to ``/response`` and ``/error``.

Also how a ``sam build`` output is started as the Lambda python3.13 runtime would start it (shared by the
built-artifact test and the cold-start benchmark): :func:`python313`, :func:`runtime_packages` (awslambdaric
and boto3, what the runtime brings) and :func:`handler_argv_env`.
"""

from __future__ import annotations

import http.server
import json
import os
import queue
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "/2018-06-01/runtime"
RUNTIME_CACHE = Path.home() / ".cache" / "metrics-guard" / "lambda-runtime-py313"
PINS = ("awslambdaric==4.2.2", "boto3==1.44.8")


@dataclass
class Answer:
    request_id: str
    kind: str  # "response" | "error" | "init-error"
    body: Any


@dataclass
class RuntimeApi:
    function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:metrics-guard-artifact"
    timeout_s: float = 60.0
    events: queue.Queue[tuple[str, Any]] = field(default_factory=queue.Queue)
    answers: queue.Queue[Answer] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _reply(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                if self.path != f"{PREFIX}/invocation/next":
                    self._reply(404)
                    return
                request_id, event = api.events.get()  # blocks like the real API between invocations
                deadline_ms = int((time.time() + api.timeout_s) * 1000)
                self._reply(
                    200,
                    json.dumps(event).encode(),
                    {
                        "Content-Type": "application/json",
                        "Lambda-Runtime-Aws-Request-Id": request_id,
                        "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                        "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                        "Lambda-Runtime-Trace-Id": "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=0",
                    },
                )

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0") or 0)
                raw = self.rfile.read(length) if length else b""
                body: Any = json.loads(raw) if raw else None
                parts = self.path.removeprefix(PREFIX).strip("/").split("/")
                if parts[:2] == ["init", "error"]:
                    api.answers.put(Answer("", "init-error", body))
                elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in ("response", "error"):
                    api.answers.put(Answer(parts[1], parts[2], body))
                else:
                    self._reply(404)
                    return
                self._reply(202, b'{"status":"OK"}', {"Content-Type": "application/json"})

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        # A runtime killed while it waits on /next drops its connection: expected, not worth a traceback.
        self._server.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.address = f"127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def invoke(self, event: Any) -> str:
        request_id = str(uuid.uuid4())
        self.events.put((request_id, event))
        return request_id

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def python313() -> Path | None:
    """The python3.13 interpreter (pyenv's first, else PATH's), or None."""
    for candidate in sorted(
        Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")).glob("versions/3.13*/bin/python3.13")
    ):
        return candidate
    found = shutil.which("python3.13")
    return Path(found) if found else None


def runtime_packages(python: Path) -> Path:
    """awslambdaric and boto3 for python3.13: what the Lambda python3.13 runtime brings (cached)."""
    stamp = RUNTIME_CACHE / ".pins"
    if not stamp.exists() or stamp.read_text() != "\n".join(PINS):
        shutil.rmtree(RUNTIME_CACHE, ignore_errors=True)
        subprocess.run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--root-user-action=ignore",
                "--only-binary=:all:",
                "--target",
                str(RUNTIME_CACHE),
                *PINS,
            ],
            check=True,
            timeout=600,
        )
        stamp.write_text("\n".join(PINS))
    return RUNTIME_CACHE


def handler_argv_env(
    *,
    python: Path,
    task: Path,
    opt: Path,
    packages: Path,
    api: RuntimeApi,
    function: str,
    env: Mapping[str, str],
) -> tuple[list[str], dict[str, str]]:
    """argv and environment of one execution environment: awslambdaric running ``app.lambda_handler`` of
    ``task`` with the layer at ``<opt>/python`` (as Lambda mounts it) and the runtime's own packages."""
    argv = [str(python), "-s", "-m", "awslambdaric", "app.lambda_handler"]
    return argv, {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": os.pathsep.join([str(task), str(opt / "python"), str(packages)]),
        "PYTHONDONTWRITEBYTECODE": "1",
        "AWS_LAMBDA_RUNTIME_API": api.address,
        "LAMBDA_TASK_ROOT": str(task),
        "_HANDLER": "app.lambda_handler",
        "AWS_LAMBDA_FUNCTION_NAME": function,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "512",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "POWERTOOLS_TRACE_DISABLED": "true",
        **env,
    }
