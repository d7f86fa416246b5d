"""CloudWatch values from findings documents (pure): availability, coverage, freshness, latency, days left.

Evidence keys read (numbers; a missing key means "not measured", never zero):
- check ``metrics-api.end-to-end``: its status gives availability (ok = 1); ``latency_ms``;
- any finding: ``coverage_percent`` (nodes with fresh metrics, 0-100), ``metrics_age_s`` (oldest sample);
- checks ``certs.*``: ``days_left`` per certificate (dimension: the finding's target).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal

from metrics_guard.model import Code, FindingsDocument, Json
from metrics_guard.observability import (
    CERT_DAYS_LEFT,
    CERT_DIMENSION,
    CLUSTER_DIMENSION,
    COVERAGE,
    FRESHNESS,
    LATENCY,
    METRICS_API_AVAILABLE,
)

END_TO_END_CHECK: Final = "metrics-api.end-to-end"
Unit = Literal["Count", "Percent", "Seconds", "Milliseconds", "None"]


@dataclass(frozen=True, slots=True)
class Gauge:
    name: str
    value: float
    unit: Unit
    dimensions: tuple[tuple[str, str], ...]


def _number(value: Json) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def gauges(document: FindingsDocument, *, kind: str) -> list[Gauge]:
    cluster = ((CLUSTER_DIMENSION, document.cluster),)
    out: list[Gauge] = []
    end_to_end = [f for f in document.findings if f.check == END_TO_END_CHECK]
    probe_failed = any(f.code is Code.PROBE_ERROR for f in document.findings)
    if kind in ("metrics", "all") and (end_to_end or probe_failed):
        available = bool(end_to_end) and all(f.ok for f in end_to_end)
        out.append(Gauge(METRICS_API_AVAILABLE, 1.0 if available else 0.0, "Count", cluster))
    seen: set[str] = set()
    for finding in document.findings:
        evidence = finding.evidence
        for key, metric, unit in (
            ("latency_ms", LATENCY, "Milliseconds"),
            ("coverage_percent", COVERAGE, "Percent"),
            ("metrics_age_s", FRESHNESS, "Seconds"),
        ):
            value = _number(evidence.get(key))
            if value is not None and metric not in seen:
                seen.add(metric)
                out.append(Gauge(metric, value, unit, cluster))  # type: ignore[arg-type]
        if finding.check.startswith("certs."):
            days = _number(evidence.get("days_left"))
            if days is not None:
                out.append(
                    Gauge(CERT_DAYS_LEFT, days, "Count", (*cluster, (CERT_DIMENSION, str(finding.target))))
                )
    return out


def probe_error_count(documents: Sequence[FindingsDocument]) -> int:
    return sum(1 for d in documents for f in d.findings if f.code is Code.PROBE_ERROR)
