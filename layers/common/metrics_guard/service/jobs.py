"""The functions' jobs: what each handler hands its parsed event to (one call each)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from metrics_guard.model import FindingsDocument, Json
from metrics_guard.observability import FINDINGS_PUBLISHED, FINDINGS_TRIMMED, PROBE_ERRORS, PUBLISH_FAILURES
from metrics_guard.ports import FindingSink
from metrics_guard.service.measure import Gauge, gauges, probe_error_count
from metrics_guard.service.probe import ProbeKind, ProbePolicy
from metrics_guard.service.publish import publish_documents
from metrics_guard.service.run import (
    ClusterConnector,
    ProbeFunction,
    RegistrySource,
    RunLimits,
    probe_clusters,
    summarize,
)


class MetricsWriter(Protocol):
    def count(self, name: str, value: float = 1.0) -> None: ...

    def gauge(self, gauge: Gauge) -> None: ...


@dataclass(frozen=True, slots=True)
class ProbeJob:
    registry: RegistrySource
    connector: ClusterConnector
    probe: ProbeFunction
    sink: FindingSink
    policy: ProbePolicy
    limits: RunLimits
    now: Callable[[], datetime]

    def documents(
        self, clusters: Sequence[str], *, kind: ProbeKind, remaining_s: Callable[[], float]
    ) -> list[FindingsDocument]:
        from metrics_guard.errors import ConfigError
        from metrics_guard.service.run import probe_error

        try:
            registry = self.registry.load()
        except ConfigError as exc:
            now = self.now()
            return [
                FindingsDocument("registry", now, (probe_error("registry", str(exc), now, check="registry"),))
            ]
        return probe_clusters(
            registry,
            clusters,
            kind=kind,
            connector=self.connector,
            probe=self.probe,
            policy=self.policy,
            now=self.now,
            remaining_s=remaining_s,
            limits=self.limits,
        )

    def run(
        self,
        clusters: Sequence[str],
        *,
        kind: ProbeKind,
        remaining_s: Callable[[], float],
        metrics: MetricsWriter,
        include_documents: bool = False,
    ) -> dict[str, Json]:
        documents = self.documents(clusters, kind=kind, remaining_s=remaining_s)
        result = publish_documents(documents, self.sink)
        for document in documents:
            for gauge in gauges(document, kind=kind):
                metrics.gauge(gauge)
        metrics.count(PROBE_ERRORS, probe_error_count(documents))
        metrics.count(FINDINGS_PUBLISHED, result.sent)
        metrics.count(PUBLISH_FAILURES, len(result.failed))
        metrics.count(FINDINGS_TRIMMED, result.trimmed)
        out = summarize(documents)
        out["published"] = result.sent
        out["publish_failed"] = list(result.failed)
        out["trimmed"] = result.trimmed
        if include_documents:
            out["documents"] = [d.to_json() for d in documents]
        return out
