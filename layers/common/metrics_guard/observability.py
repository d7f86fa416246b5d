"""Logger, Tracer and Metrics of the Lambda functions, and the metric vocabulary.

Metric names are a contract with template.yaml (alarms, dashboard): change them together.
Per-cluster and per-certificate values are written as their own EMF documents (``single_metric``) so that
each carries its own dimensions; function-level counters go through the shared ``Metrics`` instance.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Final

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE: Final = "metrics-guard"
NAMESPACE: Final = "MetricsGuard"

# Function-level counters (dimension: service, plus Probe for probe runs).
PROBE_RUNS: Final = "ProbeRuns"  # one per completed probe invocation: the dead-man's switch counts these
PROBE_ERRORS: Final = (
    "ProbeErrors"  # PROBE_ERROR findings (unreachable cluster, unreadable secret, bad entry)
)
INVALID_EVENTS: Final = "InvalidEvents"
FINDINGS_PUBLISHED: Final = "FindingsPublished"
PUBLISH_FAILURES: Final = "PublishFailures"
FINDINGS_TRIMMED: Final = "FindingsTrimmed"
FINDINGS_RECEIVED: Final = "FindingsReceived"  # by the notifier
NOTIFICATIONS_SENT: Final = "NotificationsSent"
SLACK_FAILURES: Final = "SlackFailures"
RESPONDER_EVENTS: Final = "ResponderEvents"

# Per-cluster gauges (dimension: Cluster).
METRICS_API_AVAILABLE: Final = "MetricsApiAvailable"  # 1 available, 0 not
COVERAGE: Final = "NodeMetricsCoverage"  # percent of nodes with fresh metrics
FRESHNESS: Final = "MetricsAgeSeconds"
LATENCY: Final = "MetricsApiLatency"  # milliseconds, end-to-end request through the aggregator
# Per-certificate gauge (dimensions: Cluster, Certificate).
CERT_DAYS_LEFT: Final = "CertificateDaysLeft"

CLUSTER_DIMENSION: Final = "Cluster"
CERT_DIMENSION: Final = "Certificate"
PROBE_DIMENSION: Final = "Probe"


def logger() -> Logger:
    return Logger(service=SERVICE)


class _DisabledTracer(Tracer):
    """Tracing switched off (``POWERTOOLS_TRACE_DISABLED``): no X-Ray SDK import at all.

    Powertools' Tracer imports ``aws_xray_sdk`` (and with it botocore) when constructed, even when disabled;
    that is the largest single item of a cold start, so a disabled tracer is not constructed at all.
    """

    def __init__(self) -> None:  # deliberately not calling Tracer.__init__
        self.disabled = True

    def capture_lambda_handler(
        self,
        lambda_handler: Any = None,
        capture_response: bool | None = None,
        capture_error: bool | None = None,
    ) -> Any:
        if lambda_handler is None:
            return lambda handler: handler
        return lambda_handler

    def capture_method(
        self, method: Any = None, capture_response: bool | None = None, capture_error: bool | None = None
    ) -> Any:
        if method is None:
            return lambda function: function
        return method


def tracer() -> Tracer:
    if os.environ.get("POWERTOOLS_TRACE_DISABLED", "").strip().lower() in ("1", "true", "yes"):
        return _DisabledTracer()
    return Tracer(service=SERVICE)


def metrics(namespace: str = NAMESPACE) -> Metrics:
    return Metrics(namespace=namespace, service=SERVICE)


def emit_gauge(
    name: str,
    value: float,
    unit: MetricUnit,
    dimensions: Mapping[str, str],
    *,
    namespace: str = NAMESPACE,
) -> None:
    """Write one EMF document with its own dimensions (flushed immediately to stdout)."""
    with single_metric(name=name, unit=unit, value=value, namespace=namespace) as metric:
        for key, dim_value in dimensions.items():
            metric.add_dimension(name=key, value=dim_value)
