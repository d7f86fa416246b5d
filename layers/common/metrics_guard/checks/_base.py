"""Helpers shared by the check families: the raw outcome of one GET and a finding factory."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Generic, TypeVar

from metrics_guard.diagnosis import remedy_for
from metrics_guard.errors import DecodeError
from metrics_guard.model import Code, Finding, Json, Remedy, Severity, Status, Target
from metrics_guard.ports import HttpResponse

#: Error kinds of a Call: which MetricsGuardError the transport raised.
CONNECT: Final = "connect"
TIMEOUT: Final = "timeout"
TLS: Final = "tls"
TOO_LARGE: Final = "too-large"
OTHER: Final = "other"

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Call:
    """One GET and what came of it: a response, or a transport error (kind + one line)."""

    endpoint: str
    path: str
    response: HttpResponse | None
    error_kind: str | None = None
    error: str | None = None
    elapsed_s: float = 0.0

    @property
    def status(self) -> int | None:
        return self.response.status if self.response is not None else None

    @property
    def ok(self) -> bool:
        return self.response is not None and 200 <= self.response.status < 300

    @property
    def body(self) -> bytes:
        return self.response.body if self.response is not None else b""

    def evidence(self) -> dict[str, Json]:
        out: dict[str, Json] = {"path": self.path, "latency_ms": round(self.elapsed_s * 1000, 1)}
        if self.response is not None:
            out["http_status"] = self.response.status
            out["bytes"] = len(self.response.body)
            if self.response.partial:
                out["read"] = "prefix"  # the rest of the body was not needed, so not read
        if self.error is not None:
            out["error_kind"] = self.error_kind
            out["error"] = self.error
        return out


_SEVERITY: Final = {
    Status.OK: Severity.INFO,
    Status.WARN: Severity.MEDIUM,
    Status.FAIL: Severity.HIGH,
    Status.ERROR: Severity.MEDIUM,
}


def finding(
    *,
    cluster: str,
    now: datetime,
    check: str,
    target: Target,
    status: Status,
    code: Code,
    summary: str,
    evidence: Mapping[str, Json] | None = None,
    severity: Severity | None = None,
    remedy: str | None = None,
    remediable: bool = False,
) -> Finding:
    if status is Status.OK:
        code = Code.OK
    if remedy is None and status is not Status.OK:
        remedy = remedy_for(code)
    return Finding(
        check=check,
        status=status,
        severity=severity or _SEVERITY[status],
        code=code,
        target=target,
        summary=summary,
        cluster=cluster,
        observed_at=now,
        evidence=dict(evidence or {}),
        remedy=remedy,
        remediable_by=Remedy.REISSUE_AGGREGATOR_CERT if remediable and status is not Status.OK else None,
    )


def call_failure_summary(call: Call) -> str:
    if call.error is not None:
        return f"GET {call.path} failed: {call.error}"
    return f"GET {call.path} answered HTTP {call.status}"


@dataclass(frozen=True, slots=True)
class Decoded(Generic[T]):
    """A decoded body, or why there is none (``error``: a one-line DecodeError; both None: no 2xx body)."""

    value: T | None
    error: str | None = None


def decode_call(call: Call, decoder: Callable[[bytes], T]) -> Decoded[T]:
    if not call.ok:
        return Decoded(None, None)
    try:
        return Decoded(decoder(call.body))
    except DecodeError as exc:
        return Decoded(None, str(exc))
