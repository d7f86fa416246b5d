"""``StepNotifier`` on the SNS topic: one short message per rollout step the operator should hear about.

The Responder audits every step itself (``RolloutStore.audit``, the ``audit#<cluster>`` items); this adapter
is the notification half. Steps that change nothing (re-check, duplicate, busy, covered, resolved) are
audited only. Step details come from the Responder and never hold key material (plans, public certificate
summaries, node outcomes). A failed publish is logged and never stops a rollout.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from metrics_guard.service.remediate_ports import RolloutStep

if TYPE_CHECKING:
    from mypy_boto3_sns import SNSClient

log = logging.getLogger(__name__)

NOTIFIED_STEPS: Final = frozenset(
    {
        "planned",
        "refused",
        "issued",
        "started",
        "node",
        "waiting",
        "verifying",
        "remediated",
        "failed",
        "cleanup-failed",
    }
)
KIND: Final = "remediation-step"


def step_subject(step: RolloutStep) -> str:
    """Under 100 ASCII characters (SNS's limit for e-mail subjects)."""
    text = f"[metrics-guard] remediation {step.step} {step.cluster}"
    return text.encode("ascii", "replace").decode()[:99]


def step_body(step: RolloutStep) -> str:
    lines = [
        step.message,
        "",
        f"cluster: {step.cluster}",
        f"step: {step.step}",
        f"rollout: {step.rollout_id or '-'}",
    ]
    if step.details:
        lines += ["", json.dumps(step.details, sort_keys=True, default=str, indent=2)]
    return "\n".join(lines)


class SnsStepNotifier:
    def __init__(self, client: SNSClient, topic_arn: str, *, steps: Collection[str] = NOTIFIED_STEPS) -> None:
        self._client = client
        self._topic_arn = topic_arn
        self._steps = frozenset(steps)

    def step(self, step: RolloutStep) -> None:
        if step.step not in self._steps:
            return
        try:
            self._client.publish(
                TopicArn=self._topic_arn,
                Subject=step_subject(step),
                Message=step_body(step),
                MessageAttributes={
                    "kind": {"DataType": "String", "StringValue": KIND},
                    "cluster": {"DataType": "String", "StringValue": step.cluster},
                    "step": {"DataType": "String", "StringValue": step.step},
                },
            )
        except (ClientError, BotoCoreError) as exc:
            code = exc.response.get("Error", {}).get("Code") if isinstance(exc, ClientError) else None
            log.warning(
                "remediation step not notified",
                extra={"step": step.step, "cluster": step.cluster, "error": code or type(exc).__name__},
            )


__all__ = ["KIND", "NOTIFIED_STEPS", "SnsStepNotifier", "step_body", "step_subject"]
