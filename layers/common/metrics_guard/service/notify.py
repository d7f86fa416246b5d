"""The notifier: state per finding fingerprint, a message only on transitions.

Rules, comparing what is observed now with what the operator was last *told*:
- first sight of a failing finding, or ok -> failing: ALERT;
- failing -> failing for another code or status: CHANGED (a change of cause is a transition);
- still failing as told: a REMINDER every ``reminder`` (default 6 h), silence in between;
- failing -> ok: RESOLVED; an ok finding never seen failing is recorded silently;
- flapping: when the observed state changed ``flap_threshold`` times within ``flap_window``, one FLAPPING
  message, then silence until it settles; once settled, whatever differs from what was told is reported.

Order of effects: decide, send SNS (raise on failure: the invocation is retried, then lands in the DLQ),
post to Slack (retried inside the adapter; a failure is recorded, never blocks SNS), then save the state
with a conditional write. A crash between sending and saving repeats at most one message.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Protocol

from metrics_guard.errors import MetricsGuardError
from metrics_guard.model import Code, Finding, Json, Status, rfc3339
from metrics_guard.service.messages import Message, NoticeKind, render


@dataclass(frozen=True, slots=True)
class NotifyPolicy:
    reminder: timedelta = timedelta(hours=6)
    flap_window: timedelta = timedelta(hours=1)
    flap_threshold: int = 4


@dataclass(frozen=True, slots=True)
class FindingState:
    fingerprint: str
    cluster: str
    check: str
    target: str
    status: Status
    code: Code
    since: datetime  # when the observed (status, code) began
    last_seen: datetime
    told_status: Status = Status.OK
    told_code: Code = Code.OK
    told_at: datetime | None = None
    changes: tuple[datetime, ...] = field(default_factory=tuple)  # observed changes inside the flap window
    flapping: bool = False
    version: int = 0  # optimistic concurrency: the stored item's version


@dataclass(frozen=True, slots=True)
class Decision:
    state: FindingState
    notice: NoticeKind | None
    previous_code: Code | None = None


def decide(previous: FindingState | None, finding: Finding, now: datetime, policy: NotifyPolicy) -> Decision:
    """Pure: the next state and the notice to send (if any)."""
    observed = (finding.status, finding.code)
    if previous is None:
        previous = FindingState(
            fingerprint=finding.fingerprint,
            cluster=finding.cluster,
            check=finding.check,
            target=str(finding.target),
            status=Status.OK,
            code=Code.OK,
            since=now,
            last_seen=now,
        )
        changed = not finding.ok
        changes: tuple[datetime, ...] = (now,) if changed else ()
    else:
        changed = observed != (previous.status, previous.code)
        recent = tuple(t for t in previous.changes if now - t < policy.flap_window)
        changes = recent + ((now,) if changed else ())
    state = replace(
        previous,
        status=finding.status,
        code=finding.code,
        since=now if changed else previous.since,
        last_seen=now,
        changes=changes,
    )
    flapping = len(changes) >= policy.flap_threshold
    told = (previous.told_status, previous.told_code)
    if flapping:
        state = replace(state, flapping=True)
        if previous.flapping:
            return Decision(state, None)
        return Decision(_told(state, now), NoticeKind.FLAPPING)
    state = replace(state, flapping=False)
    if observed == told:
        due = previous.told_at is None or now - previous.told_at >= policy.reminder
        if not finding.ok and due and previous.told_at is not None:
            return Decision(_told(state, now), NoticeKind.REMINDER)
        return Decision(state, None)
    if finding.ok:
        kind = NoticeKind.RESOLVED
    elif previous.told_status is Status.OK:
        kind = NoticeKind.ALERT
    else:
        kind = NoticeKind.CHANGED
    return Decision(_told(state, now), kind, previous.told_code if kind is NoticeKind.CHANGED else None)


def _told(state: FindingState, now: datetime) -> FindingState:
    return replace(state, told_status=state.status, told_code=state.code, told_at=now)


# --------------------------------------------------------------------------------------------- ports


class StateStore(Protocol):
    def get_state(self, fingerprint: str) -> FindingState | None: ...

    def put_state(self, state: FindingState) -> None:
        """Write ``state`` with version+1 if the stored version is still ``state.version``;
        raises ``StateConflict`` otherwise."""
        ...


class AuditLog(Protocol):
    def audit(self, cluster: str, kind: str, details: dict[str, Json]) -> None: ...


class MessageSender(Protocol):
    def send(self, message: Message) -> str: ...


class ChatPoster(Protocol):
    def post(self, payload: dict[str, Json]) -> None: ...


class StateConflict(MetricsGuardError):  # noqa: N818 - a condition, not a crash
    """Another invocation updated the finding's state first."""


@dataclass(frozen=True, slots=True)
class NotifyOutcome:
    fingerprint: str
    notice: NoticeKind | None
    sns_message_id: str | None = None
    slack: str = "skipped"  # "sent" | "failed" | "skipped"

    def to_json(self) -> dict[str, Json]:
        return {
            "fingerprint": self.fingerprint,
            "notice": self.notice.value if self.notice else None,
            "sns_message_id": self.sns_message_id,
            "slack": self.slack,
        }


@dataclass(frozen=True, slots=True)
class Notifier:
    store: StateStore
    sns: MessageSender | None
    slack: ChatPoster | None
    audit: AuditLog
    policy: NotifyPolicy
    now: Callable[[], datetime]

    def handle(self, finding: Finding) -> NotifyOutcome:
        for attempt in range(2):
            previous = self.store.get_state(finding.fingerprint)
            decision = decide(previous, finding, self.now(), self.policy)
            if decision.notice is None:
                try:
                    self.store.put_state(decision.state)
                except StateConflict:
                    if attempt == 0:
                        continue
                    raise
                return NotifyOutcome(finding.fingerprint, None)
            # Reserve the transition first: of two concurrent invocations only one speaks.
            try:
                self.store.put_state(decision.state)
            except StateConflict:
                if attempt == 0:
                    continue
                raise
            return self._speak(finding, decision, previous)
        raise StateConflict("finding state kept changing")  # pragma: no cover - loop returns or raises

    def _speak(self, finding: Finding, decision: Decision, previous: FindingState | None) -> NotifyOutcome:
        assert decision.notice is not None
        since = rfc3339(previous.since) if previous and previous.status is not Status.OK else None
        message = render(
            decision.notice,
            finding,
            previous_code=decision.previous_code.value if decision.previous_code else None,
            failing_since=since if decision.notice is NoticeKind.REMINDER else None,
        )
        message_id = None
        try:
            if self.sns is not None:
                message_id = self.sns.send(message)
        except MetricsGuardError:
            # Give the transition back so that the retried invocation speaks again.
            self._rollback(decision.state, previous)
            raise
        slack = "skipped"
        if self.slack is not None:
            try:
                self.slack.post(message.slack)
                slack = "sent"
            except MetricsGuardError as exc:
                slack = "failed"
                self.audit.audit(
                    finding.cluster,
                    "slack-failed",
                    {
                        "fingerprint": finding.fingerprint,
                        "notice": decision.notice.value,
                        "error": str(exc),
                    },
                )
        self.audit.audit(
            finding.cluster,
            "notified",
            {
                "fingerprint": finding.fingerprint,
                "notice": decision.notice.value,
                "code": finding.code.value,
                "status": finding.status.value,
                "target": str(finding.target),
                "sns_message_id": message_id,
                "slack": slack,
            },
        )
        return NotifyOutcome(finding.fingerprint, decision.notice, message_id, slack)

    def _rollback(self, written: FindingState, previous: FindingState | None) -> None:
        told = previous if previous is not None else None
        restored = replace(
            written,
            told_status=told.told_status if told else Status.OK,
            told_code=told.told_code if told else Code.OK,
            told_at=told.told_at if told else None,
            flapping=told.flapping if told else False,
            version=written.version + 1,
        )
        try:
            self.store.put_state(restored)
        except StateConflict:
            return
