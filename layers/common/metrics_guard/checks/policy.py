"""What a probe tolerates: thresholds shared by every check family (re-exported by service.probe)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProbePolicy:
    warn_days: int = 30
    fail_days: int = 7
    max_metrics_age_s: float = 180.0
    pod_sample: int | None = None  # None: every running pod
    per_apiserver_requests: int = 3
    apiservice: str = "v1beta1.metrics.k8s.io"
    #: Pods younger than this are not yet expected to have PodMetrics (two scrape periods).
    pod_grace_s: float = 120.0
    max_workers: int = 8
    page_limit: int = 500
