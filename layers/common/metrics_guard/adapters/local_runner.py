"""Local runs of the responder: the same node script against devcluster node roots, and in-memory state.

* :class:`LocalCommandRunner` runs ``install_proxy_cert.sh`` once per node, in order, stopping at the first
  failure (what SSM's ``MaxConcurrency=1`` / ``MaxErrors=0`` do), in a background thread so that
  :meth:`wait` behaves like polling SSM. Paths are rebased with ``--root <node root>``; "restart" is a hook
  command (default ``devcluster restart-apiserver I``) passed as ``--restart-command``.
* :class:`LocalMaterialStore` plays the SecureString parameter: a 0600 file in a 0700 directory whose path is
  given to the script with ``--material-file`` (the path is visible in ``ps``, the content never is).
* :class:`InMemoryRolloutStore` implements the rollout store for tests and local runs.
* :class:`DevclusterNodeResolver` reads ``devcluster status -o json``.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import tempfile
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

from metrics_guard.errors import CommandFailed, ConfigError
from metrics_guard.model import Json
from metrics_guard.ports import NodeRef
from metrics_guard.service.remediate_ports import (
    CommandProgress,
    CommandState,
    InvocationState,
    NodeOutcome,
    Rollout,
    RolloutCommand,
    ScriptResult,
)


def script_path() -> Path:
    """The packaged node script (a real file in an installed or editable package)."""
    return Path(str(resources.files("metrics_guard.remediation").joinpath("install_proxy_cert.sh")))


# --------------------------------------------------------------------------------------------- material


class LocalMaterialStore:
    def __init__(self, directory: Path | None = None) -> None:
        self._dir = directory or Path(tempfile.mkdtemp(prefix="metrics-guard-material-"))
        self._dir.mkdir(parents=True, exist_ok=True)
        self._dir.chmod(0o700)

    def path_for(self, name: str) -> Path:
        return self._dir / hashlib.sha256(name.encode()).hexdigest()[:32]

    def put(self, name: str, value: str) -> None:
        path = self.path_for(name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(value)

    def delete(self, name: str) -> None:
        self.path_for(name).unlink(missing_ok=True)

    def names(self) -> list[Path]:
        return sorted(self._dir.iterdir())


# ----------------------------------------------------------------------------------------------- runner


@dataclass
class _Run:
    command: RolloutCommand
    outcomes: list[NodeOutcome]
    state: CommandState = CommandState.IN_PROGRESS
    thread: threading.Thread | None = None
    outputs: dict[int, str] = field(default_factory=dict)


class LocalCommandRunner:
    def __init__(
        self,
        materials: LocalMaterialStore,
        *,
        kubeconfig: str | None = None,
        kubeconfig_for: Callable[[NodeRef], str] | None = None,
        restart_command: Callable[[NodeRef], str] = lambda n: f"devcluster restart-apiserver {n.index}",
        script: Path | None = None,
        extra_args: Sequence[str] = (),
        env: dict[str, str] | None = None,
        on_output: Callable[[NodeRef, str], None] | None = None,
    ) -> None:
        self._materials = materials
        self._kubeconfig = kubeconfig
        self._kubeconfig_for = kubeconfig_for
        self._restart = restart_command
        self._script = script or script_path()
        self._extra = tuple(extra_args)
        self._env = env
        self._on_output = on_output
        self._runs: dict[str, _Run] = {}
        self._lock = threading.Lock()
        self._counter = 0
        #: Every node the script ran on, in order, across all commands (tests: "no node touched twice").
        self.executions: list[tuple[str, int]] = []

    def start(self, command: RolloutCommand) -> str:
        for node in command.nodes:
            if not node.node_root:
                raise ConfigError(f"node {node.name} has no node root for a local run")
        with self._lock:
            self._counter += 1
            command_id = f"local-{command.rollout_id}-{self._counter}"
            run = _Run(command, [NodeOutcome(n, InvocationState.PENDING) for n in command.nodes])
            self._runs[command_id] = run
        run.thread = threading.Thread(target=self._run_all, args=(command_id, run), daemon=True)
        run.thread.start()
        return command_id

    def wait(self, command_id: str, nodes: Sequence[NodeRef], *, timeout_s: float) -> CommandProgress:
        run = self._runs.get(command_id)
        if run is None:
            raise CommandFailed(f"unknown local command {command_id}")
        if run.thread is not None:
            run.thread.join(timeout=max(0.0, timeout_s))
        with self._lock:
            return CommandProgress(command_id, run.state, tuple(run.outcomes))

    def output(self, command_id: str, index: int) -> str:
        return self._runs[command_id].outputs.get(index, "")

    def argv(self, command: RolloutCommand, node: NodeRef) -> list[str]:
        argv = [
            "bash",
            str(self._script),
            "--material-file",
            str(self._materials.path_for(command.parameter_name)),
            "--expected-sha256",
            command.expected_sha256,
            "--strategy",
            command.strategy,
            "--layout",
            command.layout,
            "--apiserver-url",
            node.apiserver_url or command.apiserver_url,
            "--timeout",
            str(command.node_timeout_s),
            "--reload-wait",
            str(command.reload_wait_s),
            "--root",
            str(node.node_root),
            "--restart-command",
            self._restart(node),
        ]
        kubeconfig = (
            self._kubeconfig_for(node)
            if self._kubeconfig_for
            else self._kubeconfig or command.kubeconfig_path
        )
        if kubeconfig:
            argv += ["--kubeconfig", kubeconfig]
        return argv + list(self._extra)

    def _run_all(self, command_id: str, run: _Run) -> None:
        command = run.command
        final = CommandState.SUCCESS
        for position, node in enumerate(command.nodes):
            with self._lock:
                run.outcomes[position] = NodeOutcome(node, InvocationState.IN_PROGRESS)
            self.executions.append((command_id, node.index))
            limit = command.node_timeout_s * 3 + command.reload_wait_s + 60
            try:
                proc = subprocess.run(
                    self.argv(command, node),
                    capture_output=True,
                    text=True,
                    timeout=limit,
                    env=self._env,
                    check=False,
                )
                output, rc = proc.stdout, proc.returncode
                state = InvocationState.SUCCESS if rc == 0 else InvocationState.FAILED
                detail = None if rc == 0 else (proc.stderr.strip().splitlines() or [f"exit status {rc}"])[-1]
            except subprocess.TimeoutExpired as exc:
                out = exc.stdout
                output = out.decode(errors="replace") if isinstance(out, bytes) else (out or "")
                state, detail = InvocationState.TIMED_OUT, f"node script did not finish within {limit}s"
            run.outputs[node.index] = output
            if self._on_output is not None:
                self._on_output(node, output)
            with self._lock:
                run.outcomes[position] = NodeOutcome(node, state, ScriptResult.parse(output), detail)
            if state is not InvocationState.SUCCESS:
                final = CommandState.FAILED if state is InvocationState.FAILED else CommandState.TIMED_OUT
                with self._lock:
                    for rest in range(position + 1, len(command.nodes)):
                        run.outcomes[rest] = NodeOutcome(
                            command.nodes[rest],
                            InvocationState.NOT_RUN,
                            detail="not run: an earlier node failed",
                        )
                break
        with self._lock:
            run.state = final


# ------------------------------------------------------------------------------------------ rollout store


class InMemoryRolloutStore:
    """The rollout store in memory: locks with expiry, idempotency claims with expiry, rollouts, audit."""

    def __init__(self, now: Callable[[], datetime]) -> None:
        self._now = now
        self._mutex = threading.Lock()
        self.locks: dict[str, tuple[str, datetime]] = {}
        self.claims: dict[str, datetime] = {}
        self.rollouts: dict[str, Rollout] = {}
        self.audit_log: list[tuple[str, str, dict[str, Json]]] = []

    def acquire_lock(self, name: str, owner: str, ttl: timedelta) -> bool:
        with self._mutex:
            now = self._now()
            held = self.locks.get(name)
            if held is not None and held[1] > now and held[0] != owner:
                return False
            self.locks[name] = (owner, now + ttl)
            return True

    def release_lock(self, name: str, owner: str) -> None:
        with self._mutex:
            held = self.locks.get(name)
            if held is not None and held[0] == owner:
                del self.locks[name]

    def claim(self, key: str, ttl: timedelta) -> bool:
        with self._mutex:
            now = self._now()
            expires = self.claims.get(key)
            if expires is not None and expires > now:
                return False
            self.claims[key] = now + ttl
            return True

    def save_rollout(self, rollout: Rollout) -> None:
        with self._mutex:
            self.rollouts[rollout.rollout_id] = rollout

    def get_rollout(self, rollout_id: str) -> Rollout | None:
        return self.rollouts.get(rollout_id)

    def rollout_for_command(self, command_id: str) -> Rollout | None:
        return next((r for r in self.rollouts.values() if r.command_id == command_id), None)

    def rollouts_since(self, cluster: str, since: datetime) -> Sequence[Rollout]:
        return [r for r in self.rollouts.values() if r.cluster == cluster and r.started_at >= since]

    def audit(self, cluster: str, kind: str, details: dict[str, Json]) -> None:
        with self._mutex:
            self.audit_log.append((cluster, kind, details))


# ---------------------------------------------------------------------------------------------- devcluster


class DevclusterNodeResolver:
    """The devcluster's apiservers as NodeRefs (``apiserver-I``, its URL and node root)."""

    def __init__(
        self, devcluster: Sequence[str] = ("devcluster",), env: dict[str, str] | None = None
    ) -> None:
        self._cmd = list(devcluster)
        self._env = env

    def resolve(self, cluster: str) -> Sequence[NodeRef]:
        proc = subprocess.run(
            [*self._cmd, "status", "-o", "json"], capture_output=True, text=True, env=self._env, check=False
        )
        if proc.returncode != 0:
            raise ConfigError(f"devcluster status failed: {proc.stderr.strip()[:200]}")
        status = json.loads(proc.stdout)
        return [
            NodeRef(
                index=int(a["index"]),
                name=f"apiserver-{int(a['index'])}",
                apiserver_url=str(a["url"]),
                node_root=str(a["node_root"]),
            )
            for a in sorted(status.get("apiservers", []), key=lambda a: int(a["index"]))
        ]


def devcluster_restart(devcluster: Sequence[str] = ("devcluster",)) -> Callable[[NodeRef], str]:
    """The restart hook for a devcluster node: ``devcluster restart-apiserver I``."""
    prefix = " ".join(shlex.quote(part) for part in devcluster)
    return lambda node: f"{prefix} restart-apiserver {node.index}"
