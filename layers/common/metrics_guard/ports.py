"""The capabilities the core depends on, as small Protocols. Only ``adapters/`` implement them with SDKs;
``tests/fakes.py`` implements them in memory.

Value types that cross a port live here too, so that the core never sees an SDK type.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias

from metrics_guard.model import Finding

# --------------------------------------------------------------------------------------------- Kubernetes


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """A raw answer from a kube-apiserver. ``body`` is at most the configured cap. ``partial``: the caller's
    ``enough`` said that a prefix held all it needed, so the rest was not read and ``body`` is that prefix."""

    url: str
    status: int
    body: bytes
    headers: Mapping[str, str]
    elapsed_s: float
    partial: bool = False


#: Called with the body read so far (one growing buffer: read it, do not keep or change it): ``None`` to go
#: on reading, or the length of the prefix that holds all the caller needs; the rest is then not read (the
#: connection is dropped, not reused).
Enough: TypeAlias = Callable[[bytearray], int | None]


@dataclass(frozen=True, slots=True)
class TransportLimits:
    """Bounds of every call: TLS verification is always on and is not a limit to relax."""

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    max_body_bytes: int = 256 * 1024 * 1024
    retries: int = 2  # idempotent GETs only, with exponential backoff
    backoff_s: float = 0.2


class KubeTransport(Protocol):
    """GETs against one API endpoint (the front, or one apiserver directly) with fixed credentials.

    Raises ``KubeConnectError``, ``KubeTimeoutError``, ``KubeTLSError`` or ``ResponseTooLargeError``;
    HTTP error statuses are returned, not raised.
    """

    @property
    def endpoint(self) -> str: ...

    def get(
        self,
        path: str,
        *,
        accept: str = "application/json",
        timeout_s: float | None = None,
        enough: Enough | None = None,
    ) -> HttpResponse: ...


@dataclass(frozen=True, slots=True)
class PeerCertificates:
    """What a TLS server presented: the chain as PEM, leaf first, and whether it verified against ``ca``."""

    address: str
    server_name: str
    chain_pem: tuple[str, ...]
    verified: bool
    verify_error: str | None


class TlsProber(Protocol):
    """Handshake with a TLS server and report what it presented (verification on, result reported)."""

    def peer_certificates(
        self, host: str, port: int, *, server_name: str, ca_pem: str | None, timeout_s: float
    ) -> PeerCertificates: ...


# ------------------------------------------------------------------------------------ Control-plane nodes


@dataclass(frozen=True, slots=True)
class NodeRef:
    """One control-plane node: its index (1-based, as in ``apiserver/2``), and how to reach it."""

    index: int
    name: str
    apiserver_url: str | None = None
    instance_id: str | None = None
    node_root: str | None = None


@dataclass(frozen=True, slots=True)
class NodeMaterial:
    """What a control-plane node holds for the aggregation layer: public material only.

    ``flags`` are kube-apiserver's flags as found in its systemd unit or static-pod manifest (name without
    the leading dashes -> value). ``proxy_client_key_public_sha256`` is the SHA-256 of the DER
    SubjectPublicKeyInfo derived from the private key file; the key itself never leaves the node.
    """

    node: NodeRef
    layout: str  # "binary" | "kubeadm"
    flags: Mapping[str, str]
    proxy_client_cert_path: str | None
    proxy_client_cert_pem: str | None
    proxy_client_key_public_sha256: str | None
    requestheader_ca_pem: str | None
    errors: tuple[str, ...] = field(default_factory=tuple)


class CertificateSource(Protocol):
    """Reads each control-plane node's aggregation material (node-root directory, or SSM Run Command)."""

    def read(self, nodes: Sequence[NodeRef]) -> Sequence[NodeMaterial]: ...


# ------------------------------------------------------------------------------------------ Findings out


@dataclass(frozen=True, slots=True)
class PublishResult:
    sent: int
    failed: tuple[str, ...] = ()  # one line per finding that could not be delivered after retries
    trimmed: int = 0


class FindingSink(Protocol):
    def publish(self, findings: Sequence[Finding]) -> PublishResult: ...
