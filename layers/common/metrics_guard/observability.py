"""Logger, Tracer and Metrics of the Lambda functions, and the metric vocabulary.

Metric names are a contract with template.yaml (alarms, dashboard): change them together.
Per-cluster and per-certificate values are written as their own EMF documents (``single_metric``) so that
each carries its own dimensions; function-level counters go through the shared ``Metrics`` instance.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

SERVICE: Final = "metrics-guard"
NAMESPACE: Final = "MetricsGuard"

# Function-level counters (dimension: service, plus Probe for probe runs).
PROBE_RUNS: Final = "ProbeRuns"  # one per completed probe invocation: the dead-man's switch counts these
PROBE_ERRORS: Final = "ProbeErrors"  # PROBE_ERROR findings (unreachable cluster, unreadable secret, bad entry)
INVALID_EVENTS: Final = "InvalidEvents"
FINDINGS_PUBLISHED: Final = "FindingsPublished"
PUBLISH_FAILURES: Final = "PublishFailures"
FINDINGS_TRIMMED: Final = "FindingsTrimmed"
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


def tracer() -> Tracer:
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
