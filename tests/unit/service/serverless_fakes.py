"""In-memory fakes of the serverless side's ports (state, audit, senders, sink, registry, connector, probe)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

from metrics_guard.config import ClusterEntry, Registry, parse_registry_entries
from metrics_guard.errors import AwsError, MetricsGuardError
from metrics_guard.model import Code, Finding, FindingsDocument, Json, Remedy, Severity, Status, Target
from metrics_guard.ports import Enough, FindingSink, KubeTransport, PublishResult
from metrics_guard.service.measure import Gauge
from metrics_guard.service.messages import Message
from metrics_guard.service.notify import FindingState, StateConflict
from metrics_guard.service.probe import ProbeKind, ProbePolicy, ProbeTargets

T0 = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


class Clock:
    def __init__(self, start: datetime = T0) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def finding(
    *,
    cluster: str = "prod",
    code: Code = Code.PROXY_CERT_EXPIRED,
    status: Status | None = None,
    check: str = "certs.proxy-client",
    target: str = "cert/proxy-client@apiserver/2",
    observed_at: datetime = T0,
    evidence: dict[str, Json] | None = None,
) -> Finding:
    if status is None:
        status = Status.OK if code is Code.OK else Status.FAIL
    remediable = (
        Remedy.REISSUE_AGGREGATOR_CERT
        if code in {Code.PROXY_CERT_EXPIRED, Code.PROXY_CERT_WRONG_CA}
        else None
    )
    return Finding(
        check=check,
        status=status,
        severity=Severity.INFO if status is Status.OK else Severity.HIGH,
        code=code,
        target=Target.parse(target),
        summary=f"{code.value} on {target}",
        cluster=cluster,
        observed_at=observed_at,
        evidence=evidence if evidence is not None else {"days_left": -3},
        remedy=None if status is Status.OK else "Reissue the proxy client certificate.",
        remediable_by=remediable,
    )


class MemoryStateStore:
    def __init__(self) -> None:
        self.items: dict[str, FindingState] = {}
        self.writes = 0

    def get_state(self, fingerprint: str) -> FindingState | None:
        return self.items.get(fingerprint)

    def put_state(self, state: FindingState) -> None:
        stored = self.items.get(state.fingerprint)
        if (stored.version if stored else 0) != state.version:
            raise StateConflict("version moved")
        self.items[state.fingerprint] = replace(state, version=state.version + 1)
        self.writes += 1


@dataclass
class MemoryAudit:
    records: list[tuple[str, str, dict[str, Json]]] = field(default_factory=list)

    def audit(self, cluster: str, kind: str, details: dict[str, Json]) -> None:
        self.records.append((cluster, kind, details))

    def kinds(self) -> list[str]:
        return [k for _, k, _ in self.records]


@dataclass
class RecordingSender:
    sent: list[Message] = field(default_factory=list)
    fail: bool = False

    def send(self, message: Message) -> str:
        if self.fail:
            raise AwsError("SNS Publish failed: InternalError", code="InternalError")
        self.sent.append(message)
        return f"msg-{len(self.sent)}"


@dataclass
class RecordingChat:
    posted: list[dict[str, Json]] = field(default_factory=list)
    fail: bool = False

    def post(self, payload: dict[str, Json]) -> None:
        if self.fail:
            raise MetricsGuardError("Slack webhook failed after 3 attempts: HTTP 503")
        self.posted.append(payload)


@dataclass
class ListSink:
    published: list[Finding] = field(default_factory=list)

    def publish(self, findings: Sequence[Finding]) -> PublishResult:
        self.published.extend(findings)
        return PublishResult(sent=len(findings))


@dataclass
class RecordingMetrics:
    counts: dict[str, float] = field(default_factory=dict)
    gauges: list[Gauge] = field(default_factory=list)

    def count(self, name: str, value: float = 1.0) -> None:
        self.counts[name] = self.counts.get(name, 0.0) + value

    def gauge(self, gauge: Gauge) -> None:
        self.gauges.append(gauge)


@dataclass
class StaticRegistry:
    registry: Registry

    def load(self) -> Registry:
        return self.registry


def registry(*names: str, extra: Sequence[object] = ()) -> Registry:
    entries: list[object] = [
        {
            "name": n,
            "endpoint": f"https://{n}.example:6443",
            "layout": "binary",
            "credentials_secret_arn": f"arn:aws:secretsmanager:us-east-1:123456789012:secret:metrics-guard/clusters/{n}-AbCdEf",
            "control_plane": {
                "instances": [
                    {
                        "instance_id": "i-0123456789abcdef0",
                        "apiserver_endpoint": f"https://{n}-1.example:6443",
                    }
                ]
            },
        }
        for n in names
    ]
    return parse_registry_entries([*entries, *extra])


class NullTransport:
    def __init__(self, endpoint: str) -> None:
        self._endpoint = endpoint

    @property
    def endpoint(self) -> str:
        return self._endpoint

    def get(
        self,
        path: str,
        *,
        accept: str = "application/json",
        timeout_s: float | None = None,
        enough: Enough | None = None,
    ) -> object:
        raise AssertionError("the fake probe never calls the transport")


@dataclass
class FakeConnector:
    broken: dict[str, MetricsGuardError] = field(default_factory=dict)
    connected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def connect(self, entry: ClusterEntry, kind: ProbeKind) -> ProbeTargets:
        if entry.name in self.broken:
            raise self.broken[entry.name]
        with self.lock:
            self.connected.append(entry.name)
        front: KubeTransport = NullTransport(entry.endpoint)  # type: ignore[assignment]
        return ProbeTargets(cluster=entry.name, front=front)


def fake_probe(
    per_cluster: dict[str, Callable[[ProbeTargets, datetime], Sequence[Finding]]] | None = None,
    *,
    default_code: Code = Code.OK,
    calls: list[tuple[str, float]] | None = None,
) -> Callable[..., FindingsDocument]:
    """A stand-in for ``run_probe``: one end-to-end finding per cluster, or what ``per_cluster`` returns."""

    def probe(
        targets: ProbeTargets,
        policy: ProbePolicy,
        *,
        kind: ProbeKind,
        now: Callable[[], datetime],
        deadline_s: float,
    ) -> FindingsDocument:
        if calls is not None:
            calls.append((targets.cluster, deadline_s))
        moment = now()
        if per_cluster and targets.cluster in per_cluster:
            findings = tuple(per_cluster[targets.cluster](targets, moment))
        else:
            findings = (
                finding(
                    cluster=targets.cluster,
                    code=default_code,
                    check="metrics-api.end-to-end",
                    target="apiservice/v1beta1.metrics.k8s.io",
                    observed_at=moment,
                    evidence={"latency_ms": 42, "coverage_percent": 100.0, "metrics_age_s": 20},
                ),
            )
        return FindingsDocument(targets.cluster, moment, findings)

    return probe


__all__ = ["T0", "Clock", "FindingSink", "finding"]
