"""What SNS and Slack receive: short ASCII subjects, readable bodies, Block Kit with the essentials."""

from __future__ import annotations

import json

import pytest

from metrics_guard.model import Code
from metrics_guard.service.messages import NoticeKind, render
from tests.unit.service.serverless_fakes import finding


@pytest.mark.parametrize("kind", list(NoticeKind), ids=lambda k: k.value)
def test_subject_is_short_and_ascii(kind: NoticeKind) -> None:
    long = finding(cluster="c" * 60, target="cert/proxy-client@apiserver/" + "9" * 40)
    message = render(kind, long)
    assert len(message.subject) < 100
    assert message.subject.isascii()
    assert "\n" not in message.subject


def test_body_is_readable_and_carries_the_json() -> None:
    message = render(NoticeKind.ALERT, finding(evidence={"days_left": -3, "path": "/etc/ssl/x.pem"}))
    assert "Cluster:  prod" in message.text
    assert "Remedy:" in message.text
    assert "days_left: -3" in message.text
    data = json.loads(message.text_with_json().split("-- finding (JSON) --\n", 1)[1])
    assert data["code"] == "PROXY_CERT_EXPIRED"
    assert json.loads(message.finding_json)["fingerprint"] == finding().fingerprint


def test_slack_blocks_name_cause_remedy_evidence_cluster_and_target() -> None:
    payload = render(NoticeKind.ALERT, finding()).slack
    text = json.dumps(payload)
    for needle in ("PROXY_CERT_EXPIRED", "Remedy", "Evidence", "*Cluster*", "cert/proxy-client@apiserver/2"):
        assert needle in text
    blocks = payload["blocks"]
    assert isinstance(blocks, list)
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": "FAILING: prod"}}


def test_resolved_subject_says_recovered() -> None:
    assert "RESOLVED" in render(NoticeKind.RESOLVED, finding(code=Code.OK)).subject
