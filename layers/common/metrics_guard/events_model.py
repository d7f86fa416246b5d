"""Parser models of the events the functions accept (Powertools Parser, pydantic v2).

- the Scheduler's input (``events/schedule.json``) and the diagnose request (``events/diagnose.json``);
- a finding on the custom bus (``EventBridgeModel`` with a typed ``detail``), or the same finding wrapped
  in an SNS notification (``SnsModel``: ``Records[].Sns.Message`` is the finding JSON);
- SSM Run Command status changes from the default bus (``aws.ssm``).
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final, Literal

from aws_lambda_powertools.utilities.parser.models import EventBridgeModel, SnsModel
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from metrics_guard.errors import InputError
from metrics_guard.model import Code, Finding, Remedy, Severity, Status
from metrics_guard.request_model import (
    ClusterSelector,
    DiagnoseRequest,
    ProbeRequest,
    validation_summary,
)

__all__ = [
    "ClusterSelector",
    "DiagnoseRequest",
    "FindingDetail",
    "FindingEvent",
    "ProbeRequest",
    "SnsFindingEvent",
    "SsmCommandStatusDetail",
    "SsmCommandStatusEvent",
    "validation_summary",
]

FINDING_SOURCE: Final = "metrics-guard"
FINDING_DETAIL_TYPE: Final = "Metrics Guard Finding"
SSM_SOURCE: Final = "aws.ssm"
SSM_DETAIL_TYPE: Final = "EC2 Command Status-change Notification"


class FindingDetail(BaseModel):
    """A finding as it travels (``Finding.to_json()``); converted to the domain type with :meth:`finding`."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    check: Annotated[str, Field(min_length=1, max_length=200)]
    status: Status
    severity: Severity
    code: Code
    target: Annotated[str, Field(min_length=3, max_length=500)]
    summary: str
    cluster: Annotated[str, Field(min_length=1, max_length=200)]
    observed_at: str
    fingerprint: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    evidence: dict[str, Any] = Field(default_factory=dict)
    remedy: str | None = None
    remediable_by: Remedy | None
    trimmed: bool = False

    def finding(self) -> Finding:
        try:
            return Finding.from_json(self.model_dump(mode="json"))
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"finding is inconsistent: {exc}") from exc


class FindingEvent(EventBridgeModel):
    source: Literal["metrics-guard"]
    detail_type: Literal["Metrics Guard Finding"] = Field(alias="detail-type")
    detail: FindingDetail


class SnsFindingEvent(SnsModel):
    """A finding delivered through SNS (e.g. a topic of another account fanned into the notifier)."""

    def findings(self) -> list[FindingDetail]:
        out = []
        for record in self.Records:
            try:
                out.append(FindingDetail.model_validate(json.loads(str(record.Sns.Message))))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise InputError(f"SNS message {record.Sns.MessageId} is not a finding") from exc
        return out


class SsmCommandStatusDetail(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)
    command_id: str = Field(alias="command-id")
    document_name: str = Field(alias="document-name")
    status: str
    requested_date_time: str | None = Field(default=None, alias="requested-date-time")
    expire_after: str | None = Field(default=None, alias="expire-after")
    parameters: dict[str, Any] = Field(default_factory=dict)

    @field_validator("status")
    @classmethod
    def _known_status(cls, value: str) -> str:
        known = {"Pending", "InProgress", "Success", "Cancelled", "Cancelling", "Failed", "TimedOut"}
        if value not in known:
            raise ValueError(f"unknown command status {value!r}")
        return value


class SsmCommandStatusEvent(EventBridgeModel):
    source: Literal["aws.ssm"]
    detail_type: Literal["EC2 Command Status-change Notification"] = Field(alias="detail-type")
    detail: SsmCommandStatusDetail
