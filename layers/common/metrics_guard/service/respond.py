"""The responder's entry point (the seam the responder issue fills in).

Today: validate the event (done by the handler's parser models and ``Finding.from_json``), refuse what is
not remediable, and record what arrived in the audit trail. ``respond`` is what the handler calls; the
responder work (guard, plan, execute, verify in ``service/remediate.py``) plugs in behind it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from metrics_guard.model import REMEDIABLE_CODES, Finding, Json, Remedy, Status
from metrics_guard.service.notify import AuditLog

Mode = Literal["off", "dry-run", "auto"]


@dataclass(frozen=True, slots=True)
class CommandStatus:
    """An SSM Run Command status change of the project's remediation document."""

    command_id: str
    document_name: str
    status: str


@dataclass(frozen=True, slots=True)
class ResponderDeps:
    audit: AuditLog
    mode: Mode
    remediation_document: str | None


def respond(event: Finding | CommandStatus, deps: ResponderDeps) -> dict[str, Json]:
    if isinstance(event, CommandStatus):
        if deps.remediation_document and event.document_name != deps.remediation_document:
            return {"action": "ignored", "reason": "command of another document"}
        deps.audit.audit(
            "-",
            "ssm-command-status",
            {
                "command_id": event.command_id,
                "document": event.document_name,
                "status": event.status,
            },
        )
        return {"action": "recorded", "command_id": event.command_id, "status": event.status}
    finding = event
    if (
        finding.remediable_by is not Remedy.REISSUE_AGGREGATOR_CERT
        or finding.code not in REMEDIABLE_CODES
        or finding.status not in (Status.WARN, Status.FAIL)
    ):
        return {
            "action": "refused",
            "reason": "finding is not a failing remediable finding",
            "fingerprint": finding.fingerprint,
        }
    deps.audit.audit(
        finding.cluster,
        "responder-received",
        {
            "fingerprint": finding.fingerprint,
            "code": finding.code.value,
            "status": finding.status.value,
            "target": str(finding.target),
            "mode": deps.mode,
        },
    )
    if deps.mode == "off":
        return {"action": "off", "fingerprint": finding.fingerprint}
    return {
        "action": "recorded",
        "mode": deps.mode,
        "fingerprint": finding.fingerprint,
        "cluster": finding.cluster,
        "code": finding.code.value,
    }
