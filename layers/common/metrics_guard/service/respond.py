"""The responder function's one service call: route a parsed event to the cluster's ``Responder``.

* A finding event (``remediable_by`` = ``reissue-aggregator-cert``, status warn/fail) ->
  ``Responder.handle_event`` of that finding's cluster: guard, plan, execute, verify (``service/remediate.py``).
  The detail is handed over as it arrived, so that a forged claim (a non-remediable code claiming
  ``remediable_by``) is refused by the Responder with a ``REMEDIATION_REFUSED`` finding.
* An SSM command status change of the project's remediation document -> ``Responder.handle_command_status``
  of the cluster whose rollout sent that command, once the command is terminal (the status events of a
  running command are ignored: the invocation that sent it is polling, and the terminal event follows).

The Powertools Idempotency key of each event is :func:`idempotency_key`: the finding's fingerprint and its
idempotency window (so two deliveries, or two events of one finding with different ids, act once), or the
command id and its status.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from metrics_guard.model import Json
from metrics_guard.service.remediate import Mode, Responder, window_of
from metrics_guard.service.remediate_ports import RolloutStore

TERMINAL_COMMAND_STATUSES: Final = frozenset({"Success", "Failed", "TimedOut", "Cancelled"})


@dataclass(frozen=True, slots=True)
class CommandStatus:
    """An SSM Run Command status change of the project's remediation document."""

    command_id: str
    document_name: str
    status: str


@dataclass(frozen=True, slots=True)
class FindingClaim:
    """A finding event's detail as it arrived (validated by the parser model; maybe an inconsistent claim)."""

    cluster: str
    fingerprint: str
    observed_at: datetime
    detail: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True, slots=True)
class RespondDeps:
    mode: Mode
    remediation_document: str | None
    #: The Responder of one cluster (built per event; cheap: the cluster is connected on first use).
    responders: Callable[[str], Responder]
    store: RolloutStore
    window: timedelta = timedelta(hours=1)


def idempotency_key(event: FindingClaim | CommandStatus, window: timedelta) -> str:
    if isinstance(event, CommandStatus):
        return f"command#{event.command_id}#{event.status}"
    return f"finding#{event.fingerprint}#{window_of(event.observed_at, window)}"


def respond(
    event: FindingClaim | CommandStatus, deps: RespondDeps, *, remaining_s: Callable[[], float]
) -> dict[str, Json]:
    if isinstance(event, CommandStatus):
        return _command_status(event, deps, remaining_s)
    if deps.mode == "off":
        return {"action": "disabled", "message": "responder mode is off", "cluster": event.cluster}
    outcome = deps.responders(event.cluster).handle_event(event.detail, remaining_s=remaining_s)
    return {"mode": deps.mode, **outcome.to_json()}


def _command_status(
    event: CommandStatus, deps: RespondDeps, remaining_s: Callable[[], float]
) -> dict[str, Json]:
    base: dict[str, Json] = {"command_id": event.command_id, "status": event.status}
    if deps.remediation_document and event.document_name != deps.remediation_document:
        return {"action": "ignored", "message": "command of another document", **base}
    if event.status not in TERMINAL_COMMAND_STATUSES:
        return {"action": "ignored", "message": "command not finished yet", **base}
    rollout = deps.store.rollout_for_command(event.command_id)
    if rollout is None:
        return {"action": "ignored", "message": "command belongs to no rollout", **base}
    outcome = deps.responders(rollout.cluster).handle_command_status(
        event.command_id, remaining_s=remaining_s
    )
    return {"mode": deps.mode, **outcome.to_json(), "status": event.status}


__all__ = ["CommandStatus", "FindingClaim", "RespondDeps", "idempotency_key", "respond"]
