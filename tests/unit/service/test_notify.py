"""The notifier's state machine: a message only on transitions; reminders; flapping damped."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from metrics_guard.errors import AwsError
from metrics_guard.model import Code, Status
from metrics_guard.service.messages import NoticeKind
from metrics_guard.service.notify import Notifier, NotifyPolicy, decide
from tests.unit.service.serverless_fakes import (
    T0,
    Clock,
    MemoryAudit,
    MemoryStateStore,
    RecordingChat,
    RecordingSender,
    finding,
)

POLICY = NotifyPolicy(reminder=timedelta(hours=6), flap_window=timedelta(hours=1), flap_threshold=4)


def run(codes: list[tuple[Code, float]]) -> list[NoticeKind | None]:
    """Feed (code, minutes since T0) through ``decide``; return the notices."""
    state = None
    out: list[NoticeKind | None] = []
    for code, minutes in codes:
        now = T0 + timedelta(minutes=minutes)
        decision = decide(state, finding(code=code, observed_at=now), now, POLICY)
        out.append(decision.notice)
        state = decision.state
    return out


E, OK, W = Code.PROXY_CERT_EXPIRED, Code.OK, Code.PROXY_CERT_WRONG_CA


@pytest.mark.parametrize(
    ("sequence", "expected"),
    [
        ([(OK, 0), (OK, 5)], [None, None]),
        ([(E, 0)], [NoticeKind.ALERT]),
        ([(E, 0), (E, 5), (E, 10)], [NoticeKind.ALERT, None, None]),
        ([(E, 0), (E, 5), (E, 6 * 60)], [NoticeKind.ALERT, None, NoticeKind.REMINDER]),
        (
            [(E, 0), (E, 6 * 60), (E, 6 * 60 + 5), (E, 12 * 60)],
            [NoticeKind.ALERT, NoticeKind.REMINDER, None, NoticeKind.REMINDER],
        ),
        ([(OK, 0), (E, 5), (OK, 10)], [None, NoticeKind.ALERT, NoticeKind.RESOLVED]),
        ([(E, 0), (W, 5)], [NoticeKind.ALERT, NoticeKind.CHANGED]),
        # flapping: the 4th change inside an hour -> one FLAPPING, then silence, then the settled state
        (
            [(OK, 0), (E, 5), (OK, 10), (E, 15), (OK, 20), (E, 25), (OK, 30), (OK, 95)],
            [
                None,
                NoticeKind.ALERT,
                NoticeKind.RESOLVED,
                NoticeKind.ALERT,
                NoticeKind.FLAPPING,
                None,
                None,
                None,
            ],
        ),
        (
            [(OK, 0), (E, 5), (OK, 10), (E, 15), (OK, 20), (E, 25), (E, 100)],
            [
                None,
                NoticeKind.ALERT,
                NoticeKind.RESOLVED,
                NoticeKind.ALERT,
                NoticeKind.FLAPPING,
                None,
                NoticeKind.ALERT,
            ],
        ),
    ],
    ids=[
        "ok-silent",
        "new-failure",
        "no-repeat",
        "reminder",
        "reminders-every-6h",
        "resolved",
        "cause-changed",
        "flapping-settles-ok-told-ok",
        "flapping-settles-failing",
    ],
)
def test_transitions(sequence: list[tuple[Code, float]], expected: list[NoticeKind | None]) -> None:
    assert run(sequence) == expected


def test_warn_to_fail_same_code_is_a_change() -> None:
    first = decide(None, finding(code=Code.PROXY_CERT_EXPIRING, status=Status.WARN), T0, POLICY)
    second = decide(first.state, finding(code=Code.PROXY_CERT_EXPIRING, status=Status.FAIL), T0, POLICY)
    assert (first.notice, second.notice) == (NoticeKind.ALERT, NoticeKind.CHANGED)
    assert second.previous_code is Code.PROXY_CERT_EXPIRING


@dataclass
class Rig:
    store: MemoryStateStore = field(default_factory=MemoryStateStore)
    sns: RecordingSender = field(default_factory=RecordingSender)
    chat: RecordingChat = field(default_factory=RecordingChat)
    audit: MemoryAudit = field(default_factory=MemoryAudit)
    clock: Clock = field(default_factory=Clock)

    @property
    def notifier(self) -> Notifier:
        return Notifier(
            store=self.store, sns=self.sns, slack=self.chat, audit=self.audit, policy=POLICY, now=self.clock
        )


def test_one_alert_no_repeat_then_resolved() -> None:
    rig = Rig()
    notifier = rig.notifier
    assert notifier.handle(finding()).notice is NoticeKind.ALERT
    rig.clock.advance(minutes=5)
    assert notifier.handle(finding()).notice is None
    rig.clock.advance(minutes=5)
    assert notifier.handle(finding(code=Code.OK)).notice is NoticeKind.RESOLVED
    assert [m.kind for m in rig.sns.sent] == [NoticeKind.ALERT, NoticeKind.RESOLVED]
    assert len(rig.chat.posted) == 2
    assert rig.audit.kinds() == ["notified", "notified"]


def test_sns_failure_raises_and_the_retry_speaks_again() -> None:
    rig = Rig()
    notifier = rig.notifier
    rig.sns.fail = True
    with pytest.raises(AwsError):
        notifier.handle(finding())
    rig.sns.fail = False
    assert notifier.handle(finding()).notice is NoticeKind.ALERT
    assert len(rig.sns.sent) == 1


def test_sns_failure_on_a_known_finding_is_given_back() -> None:
    rig = Rig()
    notifier = rig.notifier
    notifier.handle(finding())
    rig.clock.advance(minutes=5)
    rig.sns.fail = True
    with pytest.raises(AwsError):
        notifier.handle(finding(code=Code.OK))
    rig.sns.fail = False
    assert notifier.handle(finding(code=Code.OK)).notice is NoticeKind.RESOLVED


def test_slack_failure_is_recorded_and_sns_still_goes_out() -> None:
    rig = Rig()
    notifier = rig.notifier
    rig.chat.fail = True
    outcome = notifier.handle(finding())
    assert outcome.slack == "failed"
    assert outcome.sns_message_id == "msg-1"
    assert rig.audit.kinds() == ["slack-failed", "notified"]
    assert "HTTP 503" in str(rig.audit.records[0][2]["error"])


def test_duplicate_delivery_of_one_event_speaks_once() -> None:
    rig = Rig()
    notifier = rig.notifier
    notifier.handle(finding())
    notifier.handle(finding())
    assert len(rig.sns.sent) == 1
