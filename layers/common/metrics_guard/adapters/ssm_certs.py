"""CertificateSource over SSM Run Command: runs the project's own read document on each control-plane
instance and parses what ``remediation/read_material.sh`` prints into :class:`NodeMaterial`.

The document (``read_material_document()``) wraps the script; its name is configuration (the SAM template
creates it as an ``AWS::SSM::Document``, content in ``remediation/read_material.ssm.json``). Per-node
problems become ``NodeMaterial.errors``; this adapter raises only for programmer errors.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any, Final

from metrics_guard.ports import NodeMaterial, NodeRef

_log = logging.getLogger(__name__)

SCRIPT_NAME: Final = "read_material.sh"
DOCUMENT_FILE: Final = "read_material.ssm.json"
MAGIC: Final = "metrics-guard-node-material v1"
END: Final = "metrics-guard-node-material end"
#: SSM returns at most this much of stdout from GetCommandInvocation.
SSM_STDOUT_LIMIT: Final = 24_000
TERMINAL_STATUSES: Final = frozenset(
    {
        "Success",
        "Failed",
        "Cancelled",
        "TimedOut",
        "Cancelling",
        "Undeliverable",
        "Terminated",
        "InvalidPlatform",
        "AccessDenied",
        "DeliveryTimedOut",
        "ExecutionTimedOut",
    }
)
ROOT_PATTERN: Final = r"^/[A-Za-z0-9._/-]*$"
_HEREDOC: Final = "METRICS_GUARD_READ_MATERIAL_EOF"
MAX_INSTANCES_PER_COMMAND: Final = 50


def read_material_script() -> str:
    return resources.files("metrics_guard.remediation").joinpath(SCRIPT_NAME).read_text(encoding="utf-8")


def read_material_document() -> dict[str, Any]:
    """The SSM Command document (schema 2.2) that runs ``read_material.sh`` with bash.

    The script travels as a quoted here-document, so SSM's ``{{ }}`` substitution and the shell leave it
    untouched; the only parameter, ``rootPrefix``, is restricted by ``allowedPattern``.
    """
    script = read_material_script()
    if _HEREDOC in script or "{{" in script:
        raise ValueError("read_material.sh must not contain the here-document marker or '{{'")
    run = [f"bash -s -- \"{{{{ rootPrefix }}}}\" <<'{_HEREDOC}'", *script.rstrip("\n").split("\n"), _HEREDOC]
    return {
        "schemaVersion": "2.2",
        "description": "metrics-guard: read the aggregation-layer certificates and kube-apiserver flags of a "
        "control-plane node (public material only; never a private key).",
        "parameters": {
            "rootPrefix": {
                "type": "String",
                "default": "/",
                "description": "Filesystem root of the node (/ on a real host).",
                "allowedPattern": ROOT_PATTERN,
            }
        },
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "readMaterial",
                "precondition": {"StringEquals": ["platformType", "Linux"]},
                "inputs": {"timeoutSeconds": "60", "runCommand": run},
            }
        ],
    }


# ---------------------------------------------------------------------------------------------- parse


def parse_material(node: NodeRef, text: str) -> NodeMaterial:
    """Parse ``read_material.sh`` output. Never raises: what is wrong goes into ``errors``."""
    lines = text.replace("\r\n", "\n").split("\n")
    errors: list[str] = []
    if MAGIC not in lines:
        return _failed(node, "the node script printed no material document")
    lines = lines[lines.index(MAGIC) + 1 :]
    complete = END in lines
    if complete:
        lines = lines[: lines.index(END)]
    else:
        errors.append("the node script output is incomplete (truncated or interrupted)")
    layout = "unknown"
    flags: dict[str, str] = {}
    cert_path: str | None = None
    key_sha: str | None = None
    blocks: dict[str, list[str]] = {}
    current: str | None = None
    for line in lines:
        if current is not None:
            if line == f"end={current}":
                current = None
            else:
                blocks[current].append(line)
            continue
        key, sep, value = line.partition("=")
        if not sep:
            continue
        if key == "layout":
            layout = value
        elif key == "flag":
            name, _, flag_value = value.removeprefix("--").partition("=")
            flags[name] = flag_value
        elif key == "proxy-client-cert-path":
            cert_path = value
        elif key == "proxy-client-key-public-sha256":
            key_sha = value.lower()
        elif key == "begin":
            current = value
            blocks[value] = []
        elif key == "error":
            errors.append(value)
    if current is not None and complete:
        errors.append(f"unterminated block {current!r} in the node script output")

    def pem(name: str) -> str | None:
        body = blocks.get(name)
        if not body or "-----BEGIN CERTIFICATE-----" not in body:
            if name in blocks:
                errors.append(f"{name}: the file holds no PEM certificate")
            return None
        return "\n".join(body).strip() + "\n"

    return NodeMaterial(
        node=node,
        layout=layout,
        flags=flags,
        proxy_client_cert_path=cert_path,
        proxy_client_cert_pem=pem("proxy-client-cert"),
        proxy_client_key_public_sha256=key_sha,
        requestheader_ca_pem=pem("requestheader-ca"),
        errors=tuple(errors),
    )


def _failed(node: NodeRef, error: str) -> NodeMaterial:
    return NodeMaterial(
        node=node,
        layout="unknown",
        flags={},
        proxy_client_cert_path=None,
        proxy_client_cert_pem=None,
        proxy_client_key_public_sha256=None,
        requestheader_ca_pem=None,
        errors=(error,),
    )


# ------------------------------------------------------------------------------------------------ SSM


class SsmCertificateSource:
    """:class:`~metrics_guard.ports.CertificateSource` through SSM Run Command.

    One ``SendCommand`` per batch of up to 50 instances, then ``GetCommandInvocation`` polling per
    instance until a terminal status or ``timeout_s`` in all. ``ssm_client`` is a boto3 SSM client.
    """

    def __init__(
        self,
        ssm_client: Any,
        document_name: str,
        *,
        timeout_s: float = 90.0,
        poll_interval_s: float = 2.0,
        root_prefix: str = "/",
        document_version: str | None = None,
        comment: str = "metrics-guard: read aggregation-layer material",
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not document_name:
            raise ValueError("the SSM document name is required")
        self._ssm = ssm_client
        self._document = document_name
        self._version = document_version
        self._timeout_s = timeout_s
        self._poll_s = poll_interval_s
        self._root = root_prefix
        self._comment = comment[:100]
        self._clock = clock
        self._sleep = sleep

    def read(self, nodes: Sequence[NodeRef]) -> Sequence[NodeMaterial]:
        from botocore.exceptions import BotoCoreError, ClientError

        results: dict[int, NodeMaterial] = {}
        pending: list[tuple[int, NodeRef]] = []
        for position, node in enumerate(nodes):
            if not node.instance_id:
                results[position] = _failed(node, f"node {node.name} has no instance id: SSM cannot reach it")
            else:
                pending.append((position, node))
        deadline = self._clock() + self._timeout_s
        for start in range(0, len(pending), MAX_INSTANCES_PER_COMMAND):
            batch = pending[start : start + MAX_INSTANCES_PER_COMMAND]
            try:
                command_id = self._send([n.instance_id or "" for _, n in batch])
            except (ClientError, BotoCoreError) as exc:
                reason = _error_code(exc)
                for position, node in batch:
                    results[position] = _failed(node, f"SSM SendCommand failed: {reason}")
                continue
            for position, node in batch:
                results[position] = self._wait(command_id, node, deadline)
        return [results[i] for i in range(len(nodes))]

    def _send(self, instance_ids: list[str]) -> str:
        params: dict[str, Any] = {
            "DocumentName": self._document,
            "InstanceIds": instance_ids,
            "Parameters": {"rootPrefix": [self._root]},
            "TimeoutSeconds": max(30, int(self._timeout_s)),
            "Comment": self._comment,
        }
        if self._version is not None:
            params["DocumentVersion"] = self._version
        response = self._ssm.send_command(**params)
        command_id = str(response["Command"]["CommandId"])
        _log.info("SSM read command sent", extra={"command_id": command_id, "instances": len(instance_ids)})
        return command_id

    def _wait(self, command_id: str, node: NodeRef, deadline: float) -> NodeMaterial:
        from botocore.exceptions import BotoCoreError, ClientError

        instance_id = node.instance_id or ""
        while True:
            try:
                invocation: Mapping[str, Any] = self._ssm.get_command_invocation(
                    CommandId=command_id, InstanceId=instance_id
                )
            except ClientError as exc:
                if _error_code(exc) != "InvocationDoesNotExist":  # not registered yet: keep polling
                    return _failed(node, f"SSM GetCommandInvocation failed: {_error_code(exc)}")
                invocation = {}
            except BotoCoreError as exc:
                return _failed(node, f"SSM GetCommandInvocation failed: {type(exc).__name__}")
            status = str(invocation.get("Status", "Pending"))
            if status in TERMINAL_STATUSES:
                return self._result(node, invocation, status)
            if self._clock() + self._poll_s > deadline:
                return _failed(
                    node,
                    f"SSM command {command_id} on {instance_id} still {status} after {self._timeout_s:g} s",
                )
            self._sleep(self._poll_s)

    @staticmethod
    def _result(node: NodeRef, invocation: Mapping[str, Any], status: str) -> NodeMaterial:
        stdout = str(invocation.get("StandardOutputContent") or "")
        if status != "Success":
            detail = invocation.get("StatusDetails") or status
            code = invocation.get("ResponseCode")
            suffix = f" (exit {code})" if isinstance(code, int) and code >= 0 else ""
            return _failed(node, f"SSM command ended {detail}{suffix} on {node.instance_id}")
        material = parse_material(node, stdout)
        if len(stdout) >= SSM_STDOUT_LIMIT and END not in stdout:
            material = NodeMaterial(
                node=material.node,
                layout=material.layout,
                flags=material.flags,
                proxy_client_cert_path=material.proxy_client_cert_path,
                proxy_client_cert_pem=material.proxy_client_cert_pem,
                proxy_client_key_public_sha256=material.proxy_client_key_public_sha256,
                requestheader_ca_pem=material.requestheader_ca_pem,
                errors=(*material.errors, f"SSM truncated the output at {SSM_STDOUT_LIMIT} characters"),
            )
        return material


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        if code:
            return str(code)
    return type(exc).__name__


def write_document_file(path: str) -> None:
    """Regenerate ``read_material.ssm.json`` (the test suite checks it is current)."""
    with open(path, "w", encoding="utf-8") as fh:  # noqa: PTH123 - tiny helper
        json.dump(read_material_document(), fh, indent=2)
        fh.write("\n")
