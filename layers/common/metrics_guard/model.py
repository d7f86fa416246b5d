"""The fixed vocabulary of metrics-guard: statuses, severities, codes and the Finding.

Everything that leaves the process (CLI JSON, EventBridge events, SNS and Slack messages, CloudWatch
dimensions) is built from these types. The wire form is documented in docs/contracts.md and the JSON
schema in ``metrics_guard/schemas/findings.v1.json``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, TypeAlias

SCHEMA_ID: Final = "metrics-guard.findings/v1"


class Status(StrEnum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    ERROR = "error"

    @property
    def rank(self) -> int:
        return _STATUS_RANK[self]

    @classmethod
    def worst(cls, statuses: Iterable[Status]) -> Status:
        result = cls.OK
        for status in statuses:
            if status.rank > result.rank:
                result = status
        return result


_STATUS_RANK: Final = {Status.OK: 0, Status.WARN: 1, Status.ERROR: 2, Status.FAIL: 3}


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


class Code(StrEnum):
    OK = "OK"
    APISERVICE_MISSING = "APISERVICE_MISSING"
    METRICS_SERVICE_MISSING = "METRICS_SERVICE_MISSING"
    METRICS_SERVER_NOT_READY = "METRICS_SERVER_NOT_READY"
    METRICS_SERVER_UNREACHABLE = "METRICS_SERVER_UNREACHABLE"
    AGGREGATOR_NETWORK_TIMEOUT = "AGGREGATOR_NETWORK_TIMEOUT"
    AGGREGATOR_PROXY_CERT_REJECTED = "AGGREGATOR_PROXY_CERT_REJECTED"
    PROXY_CERT_EXPIRED = "PROXY_CERT_EXPIRED"
    PROXY_CERT_EXPIRING = "PROXY_CERT_EXPIRING"
    PROXY_CERT_WRONG_CA = "PROXY_CERT_WRONG_CA"
    PROXY_CERT_CN_NOT_ALLOWED = "PROXY_CERT_CN_NOT_ALLOWED"
    METRICS_SERVER_TLS_UNTRUSTED = "METRICS_SERVER_TLS_UNTRUSTED"
    AGGREGATION_NOT_CONFIGURED = "AGGREGATION_NOT_CONFIGURED"
    NODE_METRICS_MISSING = "NODE_METRICS_MISSING"
    METRICS_STALE = "METRICS_STALE"
    CA_EXPIRING = "CA_EXPIRING"
    CERT_EXPIRING = "CERT_EXPIRING"
    APISERVERS_DISAGREE = "APISERVERS_DISAGREE"
    PROBE_ERROR = "PROBE_ERROR"
    # The responder's codes: check "remediation", never remediable.
    REMEDIATION_PLANNED = "REMEDIATION_PLANNED"
    REMEDIATED = "REMEDIATED"
    REMEDIATION_FAILED = "REMEDIATION_FAILED"
    REMEDIATION_REFUSED = "REMEDIATION_REFUSED"


class Remedy(StrEnum):
    """What the responder can do about a finding (the finding's ``remediable_by``)."""

    REISSUE_AGGREGATOR_CERT = "reissue-aggregator-cert"


#: Codes the responder may act on. AGGREGATOR_PROXY_CERT_REJECTED only when a node's cert is the cause:
#: the check that emits it decides and sets ``remediable_by`` accordingly.
REMEDIABLE_CODES: Final = frozenset(
    {
        Code.PROXY_CERT_EXPIRED,
        Code.PROXY_CERT_EXPIRING,
        Code.PROXY_CERT_WRONG_CA,
        Code.PROXY_CERT_CN_NOT_ALLOWED,
        Code.AGGREGATOR_PROXY_CERT_REJECTED,
    }
)

REMEDIATION_CODES: Final = frozenset(
    {Code.REMEDIATION_PLANNED, Code.REMEDIATED, Code.REMEDIATION_FAILED, Code.REMEDIATION_REFUSED}
)


@dataclass(frozen=True, slots=True)
class Target:
    """What a finding is about: ``kind/name``, optionally ``@kind/name`` for where it lives.

    Examples: ``apiservice/v1beta1.metrics.k8s.io``, ``apiserver/2``, ``node/node-3``,
    ``cert/proxy-client@apiserver/2``, ``cert/requestheader-ca``.
    """

    kind: str
    name: str
    where_kind: str | None = None
    where_name: str | None = None

    def __str__(self) -> str:
        base = f"{self.kind}/{self.name}"
        if self.where_kind is not None and self.where_name is not None:
            return f"{base}@{self.where_kind}/{self.where_name}"
        return base

    def at(self, kind: str, name: str) -> Target:
        return replace(self, where_kind=kind, where_name=name)

    @classmethod
    def parse(cls, text: str) -> Target:
        head, _, where = text.partition("@")
        kind, sep, name = head.partition("/")
        if not sep or not kind or not name:
            raise ValueError(f"target must be kind/name[@kind/name], got {text!r}")
        if not where:
            return cls(kind, name)
        where_kind, sep, where_name = where.partition("/")
        if not sep or not where_kind or not where_name:
            raise ValueError(f"target location must be kind/name, got {where!r}")
        return cls(kind, name, where_kind, where_name)


def fingerprint(cluster: str, check: str, target: Target | str) -> str:
    """Identity of what was checked: the same whether it is ok or failing, whatever the code."""
    return hashlib.sha256(f"{cluster}|{check}|{target}".encode()).hexdigest()


def rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime:
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if moment.tzinfo is None:
        raise ValueError(f"timestamp without a zone: {text!r}")
    return moment


#: JSON-compatible values kept in a finding's evidence.
Json: TypeAlias = bool | int | float | str | list["Json"] | dict[str, "Json"] | None


@dataclass(frozen=True, slots=True)
class Finding:
    """One check's verdict about one target."""

    check: str
    status: Status
    severity: Severity
    code: Code
    target: Target
    summary: str
    cluster: str
    observed_at: datetime
    evidence: Mapping[str, Json] = field(default_factory=dict)
    remedy: str | None = None
    remediable_by: Remedy | None = None

    def __post_init__(self) -> None:
        if self.code in REMEDIATION_CODES and self.remediable_by is not None:
            raise ValueError("remediation findings are never remediable")
        if self.remediable_by is not None and self.code not in REMEDIABLE_CODES:
            raise ValueError(f"code {self.code} cannot be remediable")
        if self.status is Status.OK and self.code is not Code.OK and self.code is not Code.REMEDIATED:
            raise ValueError(f"an ok finding carries code OK (or REMEDIATED), not {self.code}")

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.cluster, self.check, self.target)

    @property
    def ok(self) -> bool:
        return self.status is Status.OK

    def to_json(self) -> dict[str, Json]:
        return {
            "check": self.check,
            "status": self.status.value,
            "severity": self.severity.value,
            "code": self.code.value,
            "target": str(self.target),
            "summary": self.summary,
            "evidence": dict(self.evidence),
            "remedy": self.remedy,
            "remediable_by": self.remediable_by.value if self.remediable_by else None,
            "fingerprint": self.fingerprint,
            "observed_at": rfc3339(self.observed_at),
            "cluster": self.cluster,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Finding:
        """Inverse of :meth:`to_json`; raises ``ValueError`` (or ``KeyError``/``TypeError``) on bad input."""
        remediable = data.get("remediable_by")
        evidence = data.get("evidence") or {}
        if not isinstance(evidence, dict):
            raise ValueError("evidence must be an object")  # noqa: TRY004 - one error type for any malformed finding
        finding = cls(
            check=str(data["check"]),
            status=Status(data["status"]),
            severity=Severity(data["severity"]),
            code=Code(data["code"]),
            target=Target.parse(str(data["target"])),
            summary=str(data["summary"]),
            cluster=str(data["cluster"]),
            observed_at=parse_rfc3339(str(data["observed_at"])),
            evidence=evidence,
            remedy=None if data.get("remedy") is None else str(data["remedy"]),
            remediable_by=None if remediable is None else Remedy(remediable),
        )
        claimed = data.get("fingerprint")
        if claimed is not None and claimed != finding.fingerprint:
            raise ValueError("fingerprint does not match cluster|check|target")
        return finding


@dataclass(frozen=True, slots=True)
class FindingsDocument:
    cluster: str
    generated_at: datetime
    findings: tuple[Finding, ...]

    @property
    def status(self) -> Status:
        return Status.worst(f.status for f in self.findings)

    def to_json(self) -> dict[str, Json]:
        return {
            "schema": SCHEMA_ID,
            "cluster": self.cluster,
            "generated_at": rfc3339(self.generated_at),
            "status": self.status.value,
            "findings": [f.to_json() for f in self.findings],
        }


def exit_code(status: Status) -> int:
    """CLI exit codes: 0 all ok, 1 warnings only, 2 at least one failure (or error)."""
    if status is Status.OK:
        return 0
    if status is Status.WARN:
        return 1
    return 2
