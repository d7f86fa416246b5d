from __future__ import annotations

import pytest

from metrics_guard.checks.classify import Symptom, classify_condition

CASES = [
    (
        "FailedDiscoveryCheck",
        "failing or missing response from https://10.0.0.1:443/apis/metrics.k8s.io/v1beta1: Get https://10.0.0.1:443/apis/metrics.k8s.io/v1beta1: net/http: request canceled while waiting for connection (Client.Timeout exceeded while awaiting headers)",
        Symptom.TIMEOUT,
    ),
    (
        "FailedDiscoveryCheck",
        "failing or missing response from https://x: Get https://x: dial tcp 10.0.0.1:443: connect: connection refused",
        Symptom.REFUSED,
    ),
    (
        "FailedDiscoveryCheck",
        "failing or missing response from https://x: dial tcp 10.0.0.1:443: connect: no route to host",
        Symptom.NO_ROUTE,
    ),
    (
        "FailedDiscoveryCheck",
        "timed out waiting for https://10.0.0.1:443/apis/metrics.k8s.io/v1beta1",
        Symptom.TIMEOUT,
    ),
    (
        "FailedDiscoveryCheck",
        "no response from https://10.0.0.1:443: Get https://10.0.0.1:443: dial tcp 10.0.0.1:443: i/o timeout",
        Symptom.TIMEOUT,
    ),
    (
        "FailedDiscoveryCheck",
        "failing or missing response from https://x/apis/metrics.k8s.io/v1beta1: bad status from https://x/apis/metrics.k8s.io/v1beta1: 401",
        Symptom.AUTH_401,
    ),
    (
        "FailedDiscoveryCheck",
        "failing or missing response from https://x: bad status from https://x:4443/apis/metrics.k8s.io/v1beta1: 403",
        Symptom.AUTH_403,
    ),
    (
        "FailedDiscoveryCheck",
        "failing or missing response from https://x: bad status from https://x: 500",
        Symptom.BAD_STATUS,
    ),
    (
        "FailedDiscoveryCheck",
        "failing or missing response from https://x: Get https://x: x509: certificate signed by unknown authority",
        Symptom.TLS,
    ),
    (
        "MissingEndpoints",
        'endpoints for service/metrics-server in "kube-system" have no addresses with port name "https"',
        Symptom.MISSING_ENDPOINTS,
    ),
    (
        "MissingEndpoints",
        'endpointslices for service/metrics-server in "kube-system" have no addresses with port name "https"',
        Symptom.MISSING_ENDPOINTS,
    ),
    (
        "EndpointsNotFound",
        'cannot find endpointslices for service/metrics-server in "kube-system"',
        Symptom.ENDPOINTS_NOT_FOUND,
    ),
    ("ServiceNotFound", 'service/metrics-server in "kube-system" is not present', Symptom.SERVICE_NOT_FOUND),
    (
        "ServicePortError",
        'service/metrics-server in "kube-system" is not listening on port 443',
        Symptom.SERVICE_PORT,
    ),
    (
        "ServiceAccessError",
        'service/metrics-server in "kube-system" cannot be checked due to: boom',
        Symptom.ACCESS_ERROR,
    ),
]


@pytest.mark.parametrize(
    ("reason", "message", "symptom"), CASES, ids=[f"{c[0]}-{c[2].value}-{i}" for i, c in enumerate(CASES)]
)
def test_condition_messages(reason: str, message: str, symptom: Symptom) -> None:
    assert classify_condition(reason, message) is symptom
