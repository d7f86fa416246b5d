"""The responder's ports: running the node script, keeping rollout state, reading the CA, finding nodes.

Value types that cross these ports live here too. Adapters: ``adapters/ssm_runner.py`` (SSM Run Command,
SecureString parameters, EC2 tags), ``adapters/local_runner.py`` (the devcluster's node roots, in-memory
state); the DynamoDB rollout store follows the item layout in ``docs/responder.md``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Final, Literal, Protocol, TypeAlias

from metrics_guard.model import Json
from metrics_guard.ports import NodeRef

Strategy: TypeAlias = Literal["reload-then-restart", "restart"]
NodeLayout: TypeAlias = Literal["binary", "kubeadm"]


# --------------------------------------------------------------------------------------- the command


@dataclass(frozen=True, slots=True)
class RolloutCommand:
    """One command for one rollout: the node script on ``nodes``, one at a time, in this order.

    Carries no key material: the script reads it from ``parameter_name`` (an SSM SecureString, or the file
    the local runner wrote) and checks it against ``expected_sha256``.
    """

    rollout_id: str
    cluster: str
    nodes: tuple[NodeRef, ...]
    parameter_name: str
    expected_sha256: str
    strategy: Strategy = "reload-then-restart"
    layout: NodeLayout = "binary"
    kubeconfig_path: str = "/etc/kubernetes/admin.conf"
    apiserver_url: str = "https://127.0.0.1:6443"
    node_timeout_s: int = 300
    reload_wait_s: int = 90


class InvocationState(StrEnum):
    """One node's run of the script (SSM's invocation statuses, plus NOT_RUN for nodes never started)."""

    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    SUCCESS = "Success"
    FAILED = "Failed"
    TIMED_OUT = "TimedOut"
    CANCELLED = "Cancelled"
    NOT_RUN = "NotRun"

    @property
    def terminal(self) -> bool:
        return self not in {InvocationState.PENDING, InvocationState.IN_PROGRESS}


class CommandState(StrEnum):
    PENDING = "Pending"
    IN_PROGRESS = "InProgress"
    SUCCESS = "Success"
    FAILED = "Failed"
    TIMED_OUT = "TimedOut"
    CANCELLED = "Cancelled"

    @property
    def terminal(self) -> bool:
        return self not in {CommandState.PENDING, CommandState.IN_PROGRESS}


_RESULT_RE: Final = re.compile(r"^metrics-guard-result (?P<fields>(?:\w+=\S* )*)reason=(?P<reason>.*)$")


@dataclass(frozen=True, slots=True)
class ScriptResult:
    """The script's last stdout line: ``metrics-guard-result status=… node=… changed=… restarted=… …``."""

    status: str
    changed: bool
    restarted: bool
    cert_sha256: str | None
    reason: str

    @classmethod
    def parse(cls, output: str) -> ScriptResult | None:
        for line in reversed(output.splitlines()):
            match = _RESULT_RE.match(line.strip())
            if match is None:
                continue
            fields = dict(item.split("=", 1) for item in match["fields"].split())
            sha = fields.get("cert_sha256")
            return cls(
                status=fields.get("status", "unknown"),
                changed=fields.get("changed") == "yes",
                restarted=fields.get("restarted") == "yes",
                cert_sha256=None if sha in {None, "none"} else sha,
                reason=match["reason"].strip(),
            )
        return None


@dataclass(frozen=True, slots=True)
class NodeOutcome:
    node: NodeRef
    state: InvocationState
    result: ScriptResult | None = None
    #: One line when the script printed no result (timed out, cancelled, agent error).
    detail: str | None = None

    def to_json(self) -> dict[str, Json]:
        return {
            "node": self.node.name,
            "index": self.node.index,
            "instance_id": self.node.instance_id,
            "state": self.state.value,
            "status": self.result.status if self.result else None,
            "restarted": self.result.restarted if self.result else None,
            "reason": self.result.reason if self.result else self.detail,
        }


@dataclass(frozen=True, slots=True)
class CommandProgress:
    command_id: str
    state: CommandState
    nodes: tuple[NodeOutcome, ...]

    @property
    def done(self) -> bool:
        return self.state.terminal

    @property
    def succeeded(self) -> bool:
        return self.state is CommandState.SUCCESS and all(
            n.state is InvocationState.SUCCESS for n in self.nodes
        )


class CommandRunner(Protocol):
    """Runs the node script on a rollout's nodes, one at a time, stopping at the first failure."""

    def start(self, command: RolloutCommand) -> str:
        """Send the one command of this rollout; returns its id. Never called twice for one rollout."""
        ...

    def wait(self, command_id: str, nodes: Sequence[NodeRef], *, timeout_s: float) -> CommandProgress:
        """Poll until the command is terminal or ``timeout_s`` elapsed; return what is known then."""
        ...


class MaterialStore(Protocol):
    """Where the new certificate and key wait for the nodes (an SSM SecureString parameter)."""

    def put(self, name: str, value: str) -> None: ...

    def delete(self, name: str) -> None: ...


# ------------------------------------------------------------------------------------------ the state


class RolloutPhase(StrEnum):
    STARTING = "starting"  # recorded before the command is sent
    RUNNING = "running"  # command id known
    VERIFYING = "verifying"
    REMEDIATED = "remediated"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Rollout:
    """A rollout as stored between invocations (no key material)."""

    rollout_id: str
    cluster: str
    fingerprint: str
    started_at: datetime
    phase: RolloutPhase
    nodes: tuple[NodeRef, ...]
    parameter_name: str
    cert_sha256: str
    strategy: Strategy
    lock_owner: str
    command_id: str | None = None
    outcomes: tuple[NodeOutcome, ...] = field(default_factory=tuple)
    finished_at: datetime | None = None

    def with_(self, **changes: object) -> Rollout:
        return replace(self, **changes)  # type: ignore[arg-type]


class RolloutStore(Protocol):
    """Locks, idempotency, rollout records and the audit trail (DynamoDB in the cloud, memory locally)."""

    def acquire_lock(self, name: str, owner: str, ttl: timedelta) -> bool:
        """Conditional put: True when the lock was free or expired, False when someone else holds it."""
        ...

    def release_lock(self, name: str, owner: str) -> None: ...

    def claim(self, key: str, ttl: timedelta) -> bool:
        """Idempotency: True the first time ``key`` is claimed within ``ttl``, False afterwards."""
        ...

    def save_rollout(self, rollout: Rollout) -> None: ...

    def get_rollout(self, rollout_id: str) -> Rollout | None: ...

    def rollout_for_command(self, command_id: str) -> Rollout | None: ...

    def rollouts_since(self, cluster: str, since: datetime) -> Sequence[Rollout]:
        """Rollouts of ``cluster`` started at or after ``since`` (for the cooldown and the daily budget)."""
        ...

    def audit(self, cluster: str, kind: str, details: dict[str, Json]) -> None: ...


class CaSource(Protocol):
    """The requestheader CA's secret (Secrets Manager): its SecretString, parsed by ``pki.issue``."""

    def secret_string(self, arn: str) -> str: ...


class NodeResolver(Protocol):
    """The cluster's control-plane nodes with what the runner needs (instance ids, node roots)."""

    def resolve(self, cluster: str) -> Sequence[NodeRef]: ...


@dataclass(frozen=True, slots=True)
class RequestheaderConfig:
    """From ``kube-system/extension-apiserver-authentication``: the CA bundles and the allowed names."""

    ca_pems: tuple[str, ...]
    allowed_names: tuple[str, ...]


class RequestheaderReader(Protocol):
    def read(self, cluster: str) -> RequestheaderConfig: ...


@dataclass(frozen=True, slots=True)
class RolloutStep:
    """A step of a rollout, for the operator (notification) and the audit trail."""

    cluster: str
    rollout_id: str | None
    step: str
    message: str
    details: dict[str, Json] = field(default_factory=dict)


class StepNotifier(Protocol):
    def step(self, step: RolloutStep) -> None: ...
