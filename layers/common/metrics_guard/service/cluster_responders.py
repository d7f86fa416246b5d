"""One ``Responder`` per cluster, built from the registry entry, connected on first use.

The Responder's ports that depend on the cluster are filled in here, from the same pieces the probe
functions use: the registry entry, ``ClusterConnector.connect(entry, "all")`` (credentials from Secrets
Manager, transports, the SSM certificate source), ``run_probe`` for the re-check and the verification, the
requestheader ConfigMap read on the cluster's front transport, and the control-plane nodes resolved from the
entry's ``control_plane`` (listed instances and/or target tag, deterministic order). What cannot be built
(unknown cluster, EKS, unreadable registry or secret) becomes a ``RemediationRefused`` inside the
Responder's guard: a ``REMEDIATION_REFUSED`` finding, nothing touched.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol

from metrics_guard.config import ClusterEntry, ControlPlane
from metrics_guard.errors import ConfigError, MetricsGuardError, RemediationRefused
from metrics_guard.model import FindingsDocument
from metrics_guard.ports import CertificateSource, FindingSink, KubeTransport, NodeMaterial, NodeRef
from metrics_guard.service.probe import ProbePolicy, ProbeTargets
from metrics_guard.service.remediate import Responder, ResponderDeps, ResponderPolicy
from metrics_guard.service.remediate_ports import (
    CaSource,
    CommandRunner,
    MaterialStore,
    RequestheaderConfig,
    RequestheaderReader,
    RolloutStore,
    StepNotifier,
)
from metrics_guard.service.run import ClusterConnector, ProbeFunction, RegistrySource


class PlaneResolver(Protocol):
    """A registry ``control_plane`` -> NodeRefs in a deterministic order (``Ec2NodeResolver``)."""

    def resolve_plane(self, plane: ControlPlane) -> Sequence[NodeRef]: ...


class ClusterRefused(RemediationRefused):
    """The cluster cannot be remediated as registered (unknown, EKS, unreadable registry or credentials)."""


@dataclass(frozen=True, slots=True)
class SharedDeps:
    """What every cluster's Responder shares (built once per cold start)."""

    policy: ResponderPolicy
    registry: RegistrySource
    connector: ClusterConnector
    probe: ProbeFunction
    probe_policy: ProbePolicy
    probe_deadline_s: float
    planes: PlaneResolver
    requestheader_for: Callable[[KubeTransport], RequestheaderReader]
    runner: CommandRunner
    materials: MaterialStore
    store: RolloutStore
    ca: CaSource
    findings: FindingSink
    now: Callable[[], datetime]
    sleep: Callable[[float], None]
    new_id: Callable[[], str]
    notifier: StepNotifier | None = None


class _Cluster:
    """The cluster-dependent ports of one Responder, connected lazily and once."""

    def __init__(
        self, shared: SharedDeps, name: str, entry: ClusterEntry | None, problem: str | None
    ) -> None:
        self._shared = shared
        self._name = name
        self._entry = entry
        self._problem = problem
        self._targets: ProbeTargets | None = None
        self._lock = threading.Lock()

    def entry(self) -> ClusterEntry:
        if self._entry is None:
            raise ClusterRefused(self._problem or f"cluster {self._name} is not in the registry")
        if self._entry.layout == "eks":
            raise ClusterRefused(f"cluster {self._name} is EKS: AWS manages its control plane certificates")
        return self._entry

    def targets(self) -> ProbeTargets:
        entry = self.entry()
        with self._lock:
            if self._targets is None:
                try:
                    self._targets = self._shared.connector.connect(entry, "all")
                except MetricsGuardError as exc:
                    raise ClusterRefused(f"cannot connect to cluster {self._name}: {exc}") from exc
            return self._targets

    # ---------------------------------------------------------------------------------- the ports

    def probe(self) -> FindingsDocument:
        s = self._shared
        return s.probe(self.targets(), s.probe_policy, kind="all", now=s.now, deadline_s=s.probe_deadline_s)

    def resolve(self, cluster: str) -> Sequence[NodeRef]:
        plane = self.entry().control_plane
        if plane is None:
            raise ClusterRefused(f"cluster {self._name} has no control_plane in the registry")
        try:
            return self._shared.planes.resolve_plane(plane)
        except MetricsGuardError as exc:
            raise ClusterRefused(
                f"cannot resolve the control-plane instances of {self._name}: {exc}"
            ) from exc

    def read(self, cluster: str) -> RequestheaderConfig:
        return self._shared.requestheader_for(self.targets().front).read(cluster)


class _Nodes:
    def __init__(self, cluster: _Cluster) -> None:
        self._cluster = cluster

    def resolve(self, cluster: str) -> Sequence[NodeRef]:
        return self._cluster.resolve(cluster)


class _Requestheader:
    def __init__(self, cluster: _Cluster) -> None:
        self._cluster = cluster

    def read(self, cluster: str) -> RequestheaderConfig:
        return self._cluster.read(cluster)


class _Certificates:
    """The nodes' current certificates (to keep the CN), through the probe's SSM certificate source."""

    def __init__(self, cluster: _Cluster) -> None:
        self._cluster = cluster

    def read(self, nodes: Sequence[NodeRef]) -> Sequence[NodeMaterial]:
        source: CertificateSource | None = self._cluster.targets().certificates
        return () if source is None else source.read(nodes)


class ClusterResponders:
    def __init__(self, shared: SharedDeps) -> None:
        self._shared = shared

    def __call__(self, cluster: str) -> Responder:
        return self.for_cluster(cluster)

    def for_cluster(self, cluster: str) -> Responder:
        s = self._shared
        entry: ClusterEntry | None = None
        problem: str | None = None
        try:
            registry = s.registry.load()
        except ConfigError as exc:
            problem = f"cluster registry unusable: {exc}"
        else:
            entry = next((c for c in registry.clusters if c.name == cluster), None)
            if entry is None:
                bad = next((e for e in registry.errors if e.entry == cluster), None)
                problem = str(bad) if bad else f"cluster {cluster} is not in the registry"
        policy = s.policy
        if entry is not None and entry.layout in ("binary", "kubeadm"):
            policy = replace(policy, layout=entry.layout)
        ports = _Cluster(s, cluster, entry, problem)
        deps = ResponderDeps(
            probe=ports.probe,
            runner=s.runner,
            materials=s.materials,
            store=s.store,
            ca=s.ca,
            nodes=_Nodes(ports),
            requestheader=_Requestheader(ports),
            findings=s.findings,
            now=s.now,
            sleep=s.sleep,
            new_id=s.new_id,
            certificates=_Certificates(ports),
            notifier=s.notifier,
        )
        return Responder(policy, deps)


__all__ = ["ClusterRefused", "ClusterResponders", "PlaneResolver", "SharedDeps"]
