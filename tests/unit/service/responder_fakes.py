"""In-memory pieces for the responder's wiring: a Responder per cluster over fakes (ClusterResponders)."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from metrics_guard.adapters.local_runner import InMemoryRolloutStore
from metrics_guard.config import ControlPlane, Registry
from metrics_guard.model import Code, Finding, FindingsDocument, Remedy, Severity, Status, Target
from metrics_guard.ports import KubeTransport, NodeRef, PublishResult
from metrics_guard.service.cluster_responders import ClusterResponders, SharedDeps
from metrics_guard.service.probe import ProbeKind, ProbePolicy, ProbeTargets
from metrics_guard.service.remediate import Mode, ResponderPolicy
from metrics_guard.service.remediate_ports import RequestheaderConfig, RolloutStep
from metrics_guard.service.respond import RespondDeps
from tests.unit.remediation.certs import cert_pem, key_pem, make_ca
from tests.unit.service.serverless_fakes import T0, FakeConnector, StaticRegistry, registry
from tests.unit.service.test_remediate import FakeRunner

CLUSTER = "prod-eu-1"
NODE_IDS = ("i-0000000000000000a", "i-0000000000000000b", "i-0000000000000000c")


def proxy_finding(index: int, *, ok: bool = False, at: datetime = T0, cluster: str = CLUSTER) -> Finding:
    return Finding(
        check="certs.proxy-client",
        status=Status.OK if ok else Status.FAIL,
        severity=Severity.INFO if ok else Severity.CRITICAL,
        code=Code.OK if ok else Code.PROXY_CERT_EXPIRED,
        target=Target("cert", "proxy-client", "apiserver", str(index)),
        summary="ok" if ok else f"proxy client certificate of apiserver {index} expired",
        cluster=cluster,
        observed_at=at,
        remediable_by=None if ok else Remedy.REISSUE_AGGREGATOR_CERT,
    )


def document(failing: Sequence[int], *, at: datetime = T0, cluster: str = CLUSTER) -> FindingsDocument:
    return FindingsDocument(
        cluster, at, tuple(proxy_finding(i, ok=i not in failing, at=at, cluster=cluster) for i in (1, 2, 3))
    )


@dataclass
class ScriptedProbe:
    """``run_probe`` stand-in: the documents in order, the last one repeated."""

    documents: list[FindingsDocument]
    calls: int = 0

    def __call__(
        self,
        targets: ProbeTargets,
        policy: ProbePolicy,
        *,
        kind: ProbeKind,
        now: Callable[[], datetime],
        deadline_s: float,
    ) -> FindingsDocument:
        self.calls += 1
        return self.documents[min(self.calls - 1, len(self.documents) - 1)]


@dataclass
class ListPlanes:
    """``Ec2NodeResolver.resolve_plane`` stand-in: the plane's listed instances plus fixed 'tagged' ones."""

    tagged: tuple[str, ...] = NODE_IDS
    calls: int = 0

    def resolve_plane(self, plane: ControlPlane) -> Sequence[NodeRef]:
        self.calls += 1
        ids = [i.instance_id for i in plane.instances] or list(self.tagged)
        return [NodeRef(index=n, name=i, instance_id=i) for n, i in enumerate(ids, start=1)]


@dataclass
class FixedRequestheader:
    cas: tuple[str, ...]

    def read(self, cluster: str) -> RequestheaderConfig:
        return RequestheaderConfig(self.cas, ("aggregator",))


@dataclass
class World:
    """Every fake the responder's wiring touches, and the objects built on them."""

    mode: Mode = "auto"
    probe: ScriptedProbe = field(default_factory=lambda: ScriptedProbe([document([2]), document([])]))
    runner: FakeRunner = field(default_factory=FakeRunner)
    registry: Registry = field(default_factory=lambda: tagged_registry(CLUSTER))
    connector: FakeConnector = field(default_factory=FakeConnector)
    planes: ListPlanes = field(default_factory=ListPlanes)
    materials: dict[str, str] = field(default_factory=dict)
    published: list[Finding] = field(default_factory=list)
    steps: list[RolloutStep] = field(default_factory=list)
    now: datetime = T0 + timedelta(seconds=5)
    ids: int = 0
    cooldown: timedelta = timedelta(hours=6)

    def __post_init__(self) -> None:
        ca, key = make_ca(not_before=T0 - timedelta(days=30))
        self.secret = json.dumps({"cert_pem": cert_pem(ca), "key_pem": key_pem(key)})
        self.cluster_cas: tuple[str, ...] = (cert_pem(ca),)
        self.store = InMemoryRolloutStore(lambda: self.now)
        self.responders = ClusterResponders(self.shared())
        self.deps = RespondDeps(
            mode=self.mode, remediation_document="mg-remediate", responders=self.responders, store=self.store
        )

    def shared(self) -> SharedDeps:
        w = self

        class Materials:
            def put(self, name: str, value: str) -> None:
                w.materials[name] = value

            def delete(self, name: str) -> None:
                w.materials.pop(name, None)

        class Ca:
            def secret_string(self, arn: str) -> str:
                return w.secret

        class Sink:
            def publish(self, findings: Sequence[Finding]) -> PublishResult:
                w.published.extend(findings)
                return PublishResult(sent=len(findings))

        class Steps:
            def step(self, step: RolloutStep) -> None:
                w.steps.append(step)

        def new_id() -> str:
            w.ids += 1
            return f"id{w.ids}"

        def sleep(seconds: float) -> None:
            w.now += timedelta(seconds=seconds)

        def requestheader_for(transport: KubeTransport) -> FixedRequestheader:
            return FixedRequestheader(w.cluster_cas)

        return SharedDeps(
            policy=ResponderPolicy(
                mode=self.mode,
                ca_secret_arn="arn:aws:secretsmanager:us-east-1:123456789012:secret:ca-AbCdEf",
                cooldown=self.cooldown,
                parameter_prefix="/mg/material",
            ),
            registry=StaticRegistry(self.registry),
            connector=self.connector,
            probe=self.probe,
            probe_policy=ProbePolicy(),
            probe_deadline_s=30.0,
            planes=self.planes,
            requestheader_for=requestheader_for,
            runner=self.runner,
            materials=Materials(),
            store=self.store,
            ca=Ca(),
            findings=Sink(),
            now=lambda: w.now,
            sleep=sleep,
            new_id=new_id,
            notifier=Steps(),
        )

    def codes(self) -> list[Code]:
        return [f.code for f in self.published]


def tagged_registry(*names: str, layout: str = "binary") -> Registry:
    """Entries whose control plane is given by target tag only (resolved by the planes resolver)."""
    entries: list[object] = [
        {
            "name": n,
            "endpoint": f"https://{n}.example:6443",
            "layout": layout,
            **(
                {"ca_pem": "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"}
                if layout == "eks"
                else {
                    "credentials_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:"
                    f"metrics-guard/clusters/{n}-AbCdEf",
                    "control_plane": {"target_tag": {"key": "metrics-guard:control-plane", "value": n}},
                }
            ),
        }
        for n in names
    ]
    from metrics_guard.config import parse_registry_entries

    return parse_registry_entries(entries)


def remaining() -> float:
    return 600.0


__all__ = ["CLUSTER", "World", "document", "proxy_finding", "registry", "remaining", "tagged_registry"]
