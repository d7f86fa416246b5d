"""SSM Run Command for the responder: the command runner, the SecureString material store, node resolution.

* :class:`SsmCommandRunner` sends ONE command per rollout: the project's own document, ``InstanceIds`` in the
  rollout's order, ``MaxConcurrency=1`` and ``MaxErrors=0`` (SSM's rate control stops at the first failed
  node). Parameters carry a parameter name, a hash, paths and a URL: never key material. Progress is read
  with ``list_commands`` (the command's status) and ``get_command_invocation`` (each node's status and
  output, whose last line is the node script's ``metrics-guard-result``).
* :class:`SsmMaterialStore` writes the new certificate + key as a SecureString before the command and deletes
  it when the command ends; the node script reads it with the instance role.
* :class:`Ec2NodeResolver` turns the registry's ``control_plane`` (a target tag and/or instance ids) into
  NodeRefs in a deterministic order (tag ``metrics-guard:apiserver-index`` when present, else the listed
  position, else instance id).

Note: SSM does not document that targets given as ``InstanceIds`` run in list order under
``MaxConcurrency=1``; the order is what we ask for, each node's outcome is read back per instance either way.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Final, cast

from botocore.exceptions import BotoCoreError, ClientError

from metrics_guard.errors import AwsError
from metrics_guard.ports import NodeRef
from metrics_guard.remediation.document import command_parameters
from metrics_guard.service.remediate_ports import (
    CommandProgress,
    CommandState,
    InvocationState,
    NodeOutcome,
    RolloutCommand,
    ScriptResult,
)

if TYPE_CHECKING:
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_ssm.literals import ParameterTierType

    from metrics_guard.config import ControlPlane

INDEX_TAG: Final = "metrics-guard:apiserver-index"
STANDARD_TIER_BYTES: Final = 4096

_COMMAND_STATES: Final = {
    "Pending": CommandState.PENDING,
    "InProgress": CommandState.IN_PROGRESS,
    "Cancelling": CommandState.IN_PROGRESS,
    "Success": CommandState.SUCCESS,
    "Failed": CommandState.FAILED,
    "TimedOut": CommandState.TIMED_OUT,
    "Cancelled": CommandState.CANCELLED,
}
_INVOCATION_STATES: Final = {
    "Pending": InvocationState.PENDING,
    "Delayed": InvocationState.PENDING,
    "InProgress": InvocationState.IN_PROGRESS,
    "Cancelling": InvocationState.IN_PROGRESS,
    "Success": InvocationState.SUCCESS,
    "Failed": InvocationState.FAILED,
    "TimedOut": InvocationState.TIMED_OUT,
    "Cancelled": InvocationState.CANCELLED,
}


def _code(exc: ClientError | BotoCoreError) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", "ClientError"))
    return type(exc).__name__


def _aws_error(action: str, exc: ClientError | BotoCoreError) -> AwsError:
    code = _code(exc)
    return AwsError(f"SSM {action} failed: {code}", code=code)


class SsmCommandRunner:
    def __init__(
        self,
        client: SSMClient,
        document_name: str,
        *,
        poll_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        document_version: str = "$DEFAULT",
        output_log_group: str | None = None,
    ) -> None:
        self._client = client
        self._document = document_name
        self._version = document_version
        self._interval = poll_interval_s
        self._clock = clock
        self._sleep = sleep
        self._log_group = output_log_group

    def start(self, command: RolloutCommand) -> str:
        ids = [n.instance_id for n in command.nodes]
        if not ids or any(i is None for i in ids):
            raise AwsError("every node of an SSM rollout needs an instance id")
        extra: dict[str, object] = {}
        if self._log_group is not None:
            extra["CloudWatchOutputConfig"] = {
                "CloudWatchLogGroupName": self._log_group,
                "CloudWatchOutputEnabled": True,
            }
        try:
            response = self._client.send_command(
                DocumentName=self._document,
                DocumentVersion=self._version,
                InstanceIds=[str(i) for i in ids],
                Parameters=command_parameters(command),
                MaxConcurrency="1",
                MaxErrors="0",
                Comment=f"metrics-guard rollout {command.rollout_id} ({command.cluster})"[:100],
                **extra,  # type: ignore[arg-type]
            )
        except (ClientError, BotoCoreError) as exc:
            raise _aws_error("SendCommand", exc) from exc
        return response["Command"]["CommandId"]

    def wait(self, command_id: str, nodes: Sequence[NodeRef], *, timeout_s: float) -> CommandProgress:
        deadline = self._clock() + timeout_s
        while True:
            progress = self.progress(command_id, nodes)
            if progress.done or self._clock() + self._interval > deadline:
                return progress
            self._sleep(self._interval)

    def progress(self, command_id: str, nodes: Sequence[NodeRef]) -> CommandProgress:
        try:
            listed = self._client.list_commands(CommandId=command_id)
        except (ClientError, BotoCoreError) as exc:
            raise _aws_error("ListCommands", exc) from exc
        commands = listed.get("Commands", [])
        if not commands:
            raise AwsError(f"SSM command {command_id} not found", code="InvalidCommandId")
        state = _COMMAND_STATES.get(str(commands[0].get("Status", "Pending")), CommandState.IN_PROGRESS)
        outcomes = tuple(
            self._invocation(command_id, node, command_terminal=state.terminal) for node in nodes
        )
        return CommandProgress(command_id=command_id, state=state, nodes=outcomes)

    def _invocation(self, command_id: str, node: NodeRef, *, command_terminal: bool) -> NodeOutcome:
        try:
            inv = self._client.get_command_invocation(CommandId=command_id, InstanceId=str(node.instance_id))
        except ClientError as exc:
            if _code(exc) in {"InvocationDoesNotExist"}:
                state = InvocationState.NOT_RUN if command_terminal else InvocationState.PENDING
                return NodeOutcome(node, state, detail="not started")
            raise _aws_error("GetCommandInvocation", exc) from exc
        except BotoCoreError as exc:
            raise _aws_error("GetCommandInvocation", exc) from exc
        state = _INVOCATION_STATES.get(str(inv.get("Status", "Pending")), InvocationState.IN_PROGRESS)
        if command_terminal and state is InvocationState.PENDING:
            state = InvocationState.NOT_RUN
        output = str(inv.get("StandardOutputContent", ""))
        result = ScriptResult.parse(output)
        detail = None if result else (str(inv.get("StatusDetails", "")) or None)
        if state is InvocationState.CANCELLED and result is None:
            # MaxErrors=0: SSM cancels the nodes after the first failure before they start.
            detail = "cancelled before it ran (an earlier node failed, or the command was cancelled)"
        return NodeOutcome(node, state, result=result, detail=detail)


class SsmMaterialStore:
    """The SecureString the node script reads. ``Overwrite=False``: a name is used by one rollout only."""

    def __init__(self, client: SSMClient, *, kms_key_id: str | None = None) -> None:
        self._client = client
        self._kms = kms_key_id

    def put(self, name: str, value: str) -> None:
        extra = {"KeyId": self._kms} if self._kms else {}
        # A Standard parameter holds 4 KB: an RSA 2048 bundle (base64) can exceed it.
        tier: ParameterTierType = "Standard" if len(value.encode()) <= STANDARD_TIER_BYTES else "Advanced"
        try:
            self._client.put_parameter(
                Name=name,
                Value=value,
                Type="SecureString",
                Overwrite=False,
                Tier=tier,
                Description="metrics-guard rollout material; deleted when the rollout ends",
                **extra,  # type: ignore[arg-type]
            )
        except (ClientError, BotoCoreError) as exc:
            raise _aws_error("PutParameter", exc) from exc

    def delete(self, name: str) -> None:
        try:
            self._client.delete_parameter(Name=name)
        except ClientError as exc:
            if _code(exc) == "ParameterNotFound":
                return
            raise _aws_error("DeleteParameter", exc) from exc
        except BotoCoreError as exc:
            raise _aws_error("DeleteParameter", exc) from exc


class Ec2NodeResolver:
    """Control-plane instances of a registry ``control_plane`` as NodeRefs, in a deterministic order.

    * Listed ``instances`` keep their registry position as their index (1-based), no EC2 call needed.
    * With a ``target_tag``: ``ec2:DescribeInstances`` filtered on the tag and ``instance-state-name=running``;
      an instance's index is its ``metrics-guard:apiserver-index`` tag when it is a positive integer (it also
      overrides the listed position), else the next free index in instance-id order.
    * Sorted by index, then instance id. The cert probe (``adapters/connect.py``) and the responder resolve
      through this one class, so ``apiserver/N`` means the same node to both.

    ``client`` is an EC2 client or a zero-argument factory of one (built only when a tag is resolved).
    """

    def __init__(
        self,
        client: EC2Client | Callable[[], EC2Client],
        control_planes: Mapping[str, ControlPlane] | None = None,
    ) -> None:
        self._client_or_factory = client
        self._planes: Mapping[str, ControlPlane] = control_planes or {}

    def _client(self) -> EC2Client:
        target = self._client_or_factory
        if callable(target) and not hasattr(target, "get_paginator"):
            target = target()
            self._client_or_factory = target
        return cast("EC2Client", target)

    def resolve(self, cluster: str) -> Sequence[NodeRef]:
        plane = self._planes.get(cluster)
        return () if plane is None else self.resolve_plane(plane)

    def resolve_plane(self, plane: ControlPlane) -> list[NodeRef]:
        indexes: dict[str, int | None] = {}
        endpoints: dict[str, str | None] = {}
        for position, instance in enumerate(plane.instances, start=1):
            indexes[instance.instance_id] = position
            endpoints[instance.instance_id] = instance.apiserver_endpoint
        if plane.target_tag is not None:
            for instance_id, tagged in self._tagged(plane.target_tag.key, plane.target_tag.value):
                if tagged is not None:
                    indexes[instance_id] = tagged
                else:
                    indexes.setdefault(instance_id, None)
                endpoints.setdefault(instance_id, None)
        used = {i for i in indexes.values() if i is not None}
        free = (n for n in range(1, len(indexes) + len(used) + 2) if n not in used)
        for instance_id in sorted(i for i, index in indexes.items() if index is None):
            indexes[instance_id] = next(free)
        ordered = sorted(indexes.items(), key=lambda kv: (kv[1] or 0, kv[0]))
        return [
            NodeRef(
                index=index or 0,
                name=instance_id,
                apiserver_url=endpoints[instance_id],
                instance_id=instance_id,
            )
            for instance_id, index in ordered
        ]

    def _tagged(self, key: str, value: str) -> list[tuple[str, int | None]]:
        out: list[tuple[str, int | None]] = []
        try:
            pages = (
                self._client()
                .get_paginator("describe_instances")
                .paginate(
                    Filters=[
                        {"Name": f"tag:{key}", "Values": [value]},
                        {"Name": "instance-state-name", "Values": ["running"]},
                    ]
                )
            )
            for page in pages:
                for reservation in page.get("Reservations", []):
                    for instance in reservation.get("Instances", []):
                        tags = {t.get("Key"): t.get("Value") for t in instance.get("Tags", [])}
                        raw = tags.get(INDEX_TAG)
                        index = int(raw) if raw is not None and raw.isdigit() and int(raw) > 0 else None
                        out.append((str(instance["InstanceId"]), index))
        except (ClientError, BotoCoreError) as exc:
            raise AwsError(f"EC2 DescribeInstances failed: {_code(exc)}", code=_code(exc)) from exc
        return out
