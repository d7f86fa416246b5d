"""Probe every configured cluster: concurrently, bounded, each within a deadline inside the Lambda's time.

One slow or broken cluster never hides the others: whatever goes wrong for one cluster (bad registry entry,
unreadable secret, no time left, a probe that overran) becomes that cluster's own PROBE_ERROR finding.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from metrics_guard.config import ClusterEntry, Registry, RegistryError
from metrics_guard.errors import MetricsGuardError
from metrics_guard.model import Code, Finding, FindingsDocument, Json, Severity, Status, Target
from metrics_guard.service.probe import ProbeKind, ProbePolicy, ProbeTargets

PROBE_CHECK = "probe"
REGISTRY_CHECK = "registry"


class RegistrySource(Protocol):
    def load(self) -> Registry: ...


class ClusterConnector(Protocol):
    """Builds the probe's targets for one cluster (credentials, transports, certificate source)."""

    def connect(self, entry: ClusterEntry, kind: ProbeKind) -> ProbeTargets: ...


class ProbeFunction(Protocol):
    def __call__(
        self,
        targets: ProbeTargets,
        policy: ProbePolicy,
        *,
        kind: ProbeKind,
        now: Callable[[], datetime],
        deadline_s: float,
    ) -> FindingsDocument: ...


@dataclass(frozen=True, slots=True)
class RunLimits:
    concurrency: int = 4
    margin_s: float = 5.0  # kept free before the Lambda's end: publishing, metrics, returning
    max_per_cluster_s: float = 60.0
    grace_s: float = 2.0  # how long past its deadline a probe may take before we stop waiting for it


def probe_error(
    cluster: str,
    summary: str,
    now: datetime,
    *,
    evidence: dict[str, Json] | None = None,
    target: Target | None = None,
    check: str = PROBE_CHECK,
) -> Finding:
    return Finding(
        check=check,
        status=Status.ERROR,
        severity=Severity.HIGH,
        code=Code.PROBE_ERROR,
        target=target or Target("cluster", cluster),
        summary=summary,
        cluster=cluster,
        observed_at=now,
        evidence=evidence or {},
        remedy=None,
    )


def registry_error_document(error: RegistryError, now: datetime) -> FindingsDocument:
    cluster = error.entry if not error.entry.startswith("#") else f"registry-entry-{error.index}"
    finding = probe_error(
        cluster,
        str(error),
        now,
        evidence={"entry": error.entry, "index": error.index, "field": error.field, "error": error.message},
        target=Target("registry-entry", str(error.index)),
        check=REGISTRY_CHECK,
    )
    return FindingsDocument(cluster=cluster, generated_at=now, findings=(finding,))


def _error_document(cluster: str, summary: str, now: datetime, evidence: dict[str, Json]) -> FindingsDocument:
    return FindingsDocument(cluster, now, (probe_error(cluster, summary, now, evidence=evidence),))


def select(registry: Registry, wanted: Sequence[str]) -> tuple[list[ClusterEntry], list[str], bool]:
    """(entries to probe, names asked for but not registered, whether '*' was asked)."""
    everything = "*" in wanted
    if everything:
        return list(registry.clusters), [], True
    by_name = {c.name: c for c in registry.clusters}
    bad_names = {e.entry for e in registry.errors}
    chosen = [by_name[n] for n in dict.fromkeys(wanted) if n in by_name]
    missing = [n for n in dict.fromkeys(wanted) if n not in by_name and n not in bad_names]
    return chosen, missing, False


def probe_clusters(
    registry: Registry,
    wanted: Sequence[str],
    *,
    kind: ProbeKind,
    connector: ClusterConnector,
    probe: ProbeFunction,
    policy: ProbePolicy,
    now: Callable[[], datetime],
    remaining_s: Callable[[], float],
    limits: RunLimits,
) -> list[FindingsDocument]:
    """One findings document per cluster asked for (and one per bad registry entry involved)."""
    chosen, missing, everything = select(registry, wanted)
    documents: list[FindingsDocument] = []
    start = now()
    wanted_set = set(wanted)
    for error in registry.errors:
        if everything or error.entry in wanted_set:
            documents.append(registry_error_document(error, start))
    for name in missing:
        documents.append(
            _error_document(name, f"cluster {name} is not in the registry", start, {"cluster": name})
        )
    if not chosen:
        return documents

    def one(entry: ClusterEntry) -> FindingsDocument:
        budget = min(limits.max_per_cluster_s, remaining_s() - limits.margin_s - limits.grace_s)
        if budget <= 1.0:
            return _error_document(
                entry.name,
                "no time left in this invocation to probe the cluster",
                now(),
                {"remaining_s": round(remaining_s(), 3)},
            )
        try:
            targets = connector.connect(entry, kind)
        except MetricsGuardError as exc:
            return _error_document(
                entry.name,
                f"cannot connect to cluster {entry.name}: {exc}",
                now(),
                {"error": type(exc).__name__, "detail": str(exc)},
            )
        try:
            return probe(targets, policy, kind=kind, now=now, deadline_s=budget)
        except MetricsGuardError as exc:
            return _error_document(
                entry.name,
                f"probe of cluster {entry.name} failed: {exc}",
                now(),
                {"error": type(exc).__name__, "detail": str(exc)},
            )

    pool = concurrent.futures.ThreadPoolExecutor(
        max_workers=min(limits.concurrency, len(chosen)), thread_name_prefix="probe"
    )
    try:
        futures = {entry.name: pool.submit(one, entry) for entry in chosen}
        for entry in chosen:
            future = futures[entry.name]
            wait_s = max(0.0, remaining_s() - limits.margin_s)
            try:
                documents.append(future.result(timeout=wait_s))
            except concurrent.futures.TimeoutError:
                future.cancel()
                documents.append(
                    _error_document(
                        entry.name,
                        "probe did not finish within its deadline",
                        now(),
                        {"waited_s": round(wait_s, 3)},
                    )
                )
            except Exception as exc:  # noqa: BLE001 - a bug in one cluster's probe must not hide the others
                documents.append(
                    _error_document(
                        entry.name,
                        f"probe of cluster {entry.name} crashed: {type(exc).__name__}",
                        now(),
                        {"error": type(exc).__name__},
                    )
                )
    finally:
        # Never wait for an overrunning probe: its thread dies with the execution environment.
        pool.shutdown(wait=False, cancel_futures=True)
    return documents


def summarize(documents: Sequence[FindingsDocument]) -> dict[str, Json]:
    return {
        "clusters": [
            {
                "cluster": d.cluster,
                "status": d.status.value,
                "findings": len(d.findings),
                "not_ok": sum(1 for f in d.findings if not f.ok),
            }
            for d in documents
        ],
        "status": Status.worst(d.status for d in documents).value,
    }
