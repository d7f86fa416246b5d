"""Classify what the aggregator says about its backend: APIService condition reasons and messages
(every family of the reference, section 2, old and new formats) and proxied error bodies."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final

from metrics_guard.model import Code


class Symptom(StrEnum):
    TIMEOUT = "timeout"
    NO_ROUTE = "no-route"
    REFUSED = "connection-refused"
    AUTH_401 = "backend-401"
    AUTH_403 = "backend-403"
    BAD_STATUS = "backend-bad-status"
    TLS = "backend-tls"
    MISSING_ENDPOINTS = "missing-endpoints"
    ENDPOINTS_NOT_FOUND = "endpoints-not-found"
    SERVICE_NOT_FOUND = "service-not-found"
    SERVICE_PORT = "service-port"
    ACCESS_ERROR = "access-error"
    UNAVAILABLE = "service-unavailable"  # a bare 503 "service unavailable": the cause is elsewhere
    UNKNOWN = "unknown"


_BAD_STATUS: Final = re.compile(r"bad status from \S+: (\d{3})")
_TIMEOUT: Final = (
    "client.timeout exceeded",
    "i/o timeout",
    "timed out waiting for",
    "context deadline exceeded",
    "tls handshake timeout",
    "request canceled while waiting for connection",
    "timeout awaiting response headers",
)
_NO_ROUTE: Final = ("no route to host", "network is unreachable", "host is unreachable")
_REFUSED: Final = ("connection refused", "connection reset by peer", ": eof")
_TLS: Final = (
    "x509:",
    "tls: failed to verify",
    "certificate signed by unknown authority",
    "certificate is valid for",
)

_BY_REASON: Final = {
    "MissingEndpoints": Symptom.MISSING_ENDPOINTS,
    "EndpointsNotFound": Symptom.ENDPOINTS_NOT_FOUND,
    "ServiceNotFound": Symptom.SERVICE_NOT_FOUND,
    "ServicePortError": Symptom.SERVICE_PORT,
    "ServiceAccessError": Symptom.ACCESS_ERROR,
    "EndpointsAccessError": Symptom.ACCESS_ERROR,
}


def classify_message(message: str) -> Symptom:
    """The symptom in an error text (FailedDiscoveryCheck message, proxied 503 body)."""
    text = message.lower()
    status = _BAD_STATUS.search(message)
    if status is not None:
        code = int(status.group(1))
        if code == 401:
            return Symptom.AUTH_401
        if code == 403:
            return Symptom.AUTH_403
        return Symptom.BAD_STATUS
    if any(s in text for s in _TLS):
        return Symptom.TLS
    if any(s in text for s in _TIMEOUT):
        return Symptom.TIMEOUT
    if any(s in text for s in _NO_ROUTE):
        return Symptom.NO_ROUTE
    if any(s in text for s in _REFUSED):
        return Symptom.REFUSED
    if "have no addresses" in text:
        return Symptom.MISSING_ENDPOINTS
    if "cannot find endpoint" in text:
        return Symptom.ENDPOINTS_NOT_FOUND
    if "is not present" in text and "service/" in text:
        return Symptom.SERVICE_NOT_FOUND
    if "is not listening on port" in text:
        return Symptom.SERVICE_PORT
    if text.strip() in ("service unavailable", "the server is currently unable to handle the request"):
        return Symptom.UNAVAILABLE
    return Symptom.UNKNOWN


def classify_condition(reason: str, message: str) -> Symptom:
    """An APIService ``Available`` condition that is not True."""
    by_reason = _BY_REASON.get(reason)
    if by_reason is not None:
        return by_reason
    symptom = classify_message(message)
    if (
        symptom is Symptom.UNKNOWN
        and reason == "FailedDiscoveryCheck"
        and message.startswith("no response from")
    ):
        return Symptom.TIMEOUT
    return symptom


#: The cause each symptom points at before correlation (diagnosis refines it with other checks).
SYMPTOM_CODE: Final = {
    Symptom.TIMEOUT: Code.AGGREGATOR_NETWORK_TIMEOUT,
    Symptom.NO_ROUTE: Code.AGGREGATOR_NETWORK_TIMEOUT,
    Symptom.REFUSED: Code.METRICS_SERVER_UNREACHABLE,
    Symptom.AUTH_401: Code.AGGREGATOR_PROXY_CERT_REJECTED,
    Symptom.AUTH_403: Code.AGGREGATOR_PROXY_CERT_REJECTED,
    Symptom.BAD_STATUS: Code.METRICS_SERVER_UNREACHABLE,
    Symptom.TLS: Code.METRICS_SERVER_TLS_UNTRUSTED,
    Symptom.MISSING_ENDPOINTS: Code.METRICS_SERVER_NOT_READY,
    Symptom.ENDPOINTS_NOT_FOUND: Code.METRICS_SERVICE_MISSING,
    Symptom.SERVICE_NOT_FOUND: Code.METRICS_SERVICE_MISSING,
    Symptom.SERVICE_PORT: Code.METRICS_SERVICE_MISSING,
    Symptom.ACCESS_ERROR: Code.PROBE_ERROR,
    Symptom.UNAVAILABLE: Code.METRICS_SERVER_UNREACHABLE,
    Symptom.UNKNOWN: Code.METRICS_SERVER_UNREACHABLE,
}
