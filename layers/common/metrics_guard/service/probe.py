"""Probe one cluster: run the check families, correlate into causes, return the findings document.

This is the one entry point the CLI, the Lambda handlers and the responder's re-check share.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from metrics_guard.model import FindingsDocument
from metrics_guard.ports import CertificateSource, KubeTransport, NodeRef, TlsProber

ProbeKind = Literal["metrics", "certs", "all"]


@dataclass(frozen=True, slots=True)
class ProbePolicy:
    warn_days: int = 30
    fail_days: int = 7
    max_metrics_age_s: float = 180.0
    pod_sample: int | None = None  # None: every running pod
    per_apiserver_requests: int = 3


@dataclass(frozen=True, slots=True)
class ProbeTargets:
    cluster: str
    front: KubeTransport
    #: Each control-plane node with a transport straight to its apiserver (may be empty).
    apiservers: Sequence[tuple[NodeRef, KubeTransport]] = field(default_factory=tuple)
    certificates: CertificateSource | None = None
    nodes: Sequence[NodeRef] = field(default_factory=tuple)
    tls: TlsProber | None = None


def run_probe(
    targets: ProbeTargets,
    policy: ProbePolicy,
    *,
    kind: ProbeKind,
    now: Callable[[], datetime],
    deadline_s: float,
) -> FindingsDocument:
    """Never raises for cluster trouble: what could not be checked becomes a PROBE_ERROR finding."""
    raise NotImplementedError
