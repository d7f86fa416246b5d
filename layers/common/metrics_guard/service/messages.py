"""What a notification says: one rendering for SNS (subject + text) and Slack (Block Kit)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from metrics_guard.model import Finding, Json

SUBJECT_MAX: Final = 99  # SNS allows under 100 characters
EVIDENCE_LINES: Final = 12


class NoticeKind(StrEnum):
    ALERT = "alert"  # a new failure
    CHANGED = "changed"  # still failing, for another cause (or worse/better)
    REMINDER = "reminder"  # still failing after N hours
    RESOLVED = "resolved"  # recovered
    FLAPPING = "flapping"  # changing too often: further messages held until it settles


_HEADLINE: Final = {
    NoticeKind.ALERT: "FAILING",
    NoticeKind.CHANGED: "CHANGED",
    NoticeKind.REMINDER: "STILL FAILING",
    NoticeKind.RESOLVED: "RESOLVED",
    NoticeKind.FLAPPING: "FLAPPING",
}


@dataclass(frozen=True, slots=True)
class Message:
    kind: NoticeKind
    cluster: str
    status: str
    code: str
    subject: str
    text: str
    finding_json: str
    slack: dict[str, Json]

    def text_with_json(self) -> str:
        return f"{self.text}\n\n-- finding (JSON) --\n{self.finding_json}\n"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def subject_for(kind: NoticeKind, finding: Finding) -> str:
    head = f"[metrics-guard] {_HEADLINE[kind]} {finding.cluster}: "
    detail = "recovered" if kind is NoticeKind.RESOLVED else finding.code.value
    subject = f"{head}{detail} on {finding.target}"
    # SNS subjects: ASCII printable only, no newlines, under 100 characters.
    subject = "".join(c if 32 <= ord(c) < 127 else "?" for c in subject)
    return subject if len(subject) <= SUBJECT_MAX else subject[: SUBJECT_MAX - 3] + "..."


def _evidence_lines(evidence: dict[str, Json] | object) -> list[str]:
    if not isinstance(evidence, dict):
        return []
    lines = []
    for key, value in list(evidence.items())[:EVIDENCE_LINES]:
        shown = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
        lines.append(f"{key}: {_clip(str(shown), 300)}")
    if len(evidence) > EVIDENCE_LINES:
        lines.append(f"… {len(evidence) - EVIDENCE_LINES} more in the JSON")
    return lines


def render(
    kind: NoticeKind, finding: Finding, *, previous_code: str | None = None, failing_since: str | None = None
) -> Message:
    data = finding.to_json()
    evidence = _evidence_lines(data["evidence"])
    lines = [
        f"{_HEADLINE[kind]}: {finding.summary}",
        "",
        f"Cluster:  {finding.cluster}",
        f"Target:   {finding.target}",
        f"Check:    {finding.check}",
        f"Status:   {finding.status.value} ({finding.severity.value})",
        f"Code:     {finding.code.value}" + (f" (was {previous_code})" if previous_code else ""),
        f"Observed: {data['observed_at']}",
    ]
    if failing_since:
        lines.append(f"Failing since: {failing_since}")
    if kind is NoticeKind.FLAPPING:
        lines.append("This finding changes state too often; further messages wait until it settles.")
    if finding.remedy:
        lines += ["", "Remedy:", finding.remedy]
    if finding.remediable_by:
        lines.append(f"Automatic remedy available: {finding.remediable_by.value}")
    if evidence:
        lines += ["", "Evidence:", *(f"  {line}" for line in evidence)]
    finding_json = json.dumps(data, sort_keys=True)
    return Message(
        kind=kind,
        cluster=finding.cluster,
        status=finding.status.value,
        code=finding.code.value,
        subject=subject_for(kind, finding),
        text="\n".join(lines),
        finding_json=finding_json,
        slack=slack_blocks(kind, finding, evidence, previous_code=previous_code),
    )


def slack_blocks(
    kind: NoticeKind, finding: Finding, evidence: list[str], *, previous_code: str | None = None
) -> dict[str, Json]:
    emoji = {NoticeKind.RESOLVED: ":white_check_mark:", NoticeKind.FLAPPING: ":warning:"}.get(
        kind, ":rotating_light:" if finding.status.value == "fail" else ":warning:"
    )
    cause = finding.code.value + (f" (was {previous_code})" if previous_code else "")
    blocks: list[Json] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _clip(f"{_HEADLINE[kind]}: {finding.cluster}", 150)},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": _clip(f"{emoji} {finding.summary}", 3000)}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Cluster*\n{finding.cluster}"},
                {"type": "mrkdwn", "text": f"*Target*\n`{finding.target}`"},
                {"type": "mrkdwn", "text": f"*Cause*\n`{cause}`"},
                {"type": "mrkdwn", "text": f"*Status*\n{finding.status.value} / {finding.severity.value}"},
            ],
        },
    ]
    if finding.remedy:
        blocks.append(
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": _clip(f"*Remedy*\n{finding.remedy}", 3000)},
            }
        )
    if evidence:
        blocks.append(
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": _clip("*Evidence*\n```" + "\n".join(evidence) + "```", 3000),
                },
            }
        )
    blocks.append(
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": f"check `{finding.check}` · fingerprint `{finding.fingerprint[:12]}`",
                }
            ],
        }
    )
    return {"text": subject_for(kind, finding), "blocks": blocks}
