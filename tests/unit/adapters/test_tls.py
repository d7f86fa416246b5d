"""SocketTlsProber against loopback servers: verified, untrusted, mismatching, unreachable."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from cryptography import x509

from metrics_guard.adapters.tls import SocketTlsProber
from metrics_guard.errors import KubeConnectError, KubeTimeoutError, KubeTLSError
from tests import servers
from tests.servers import LoopbackHttpsServer, LoopbackPki


@pytest.fixture(scope="module")
def pki() -> LoopbackPki:
    return servers.make_pki()


@pytest.fixture(scope="module")
def server(pki: LoopbackPki) -> Iterator[LoopbackHttpsServer]:
    with LoopbackHttpsServer(pki, {"/ok": servers.json_body({})}) as srv:
        yield srv


def _cn(pem: str) -> str:
    cert = x509.load_pem_x509_certificate(pem.encode())
    return str(cert.subject.rfc4514_string())


def test_verified_handshake_returns_the_leaf_first(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    result = SocketTlsProber().peer_certificates(
        "127.0.0.1", server.port, server_name="localhost", ca_pem=pki.ca.cert_pem.decode(), timeout_s=2
    )
    assert result.verified
    assert result.verify_error is None
    assert result.address == f"127.0.0.1:{server.port}"
    assert _cn(result.chain_pem[0]) == "CN=test-apiserver"


def test_untrusted_server_is_a_result_with_the_certificate(
    server: LoopbackHttpsServer, pki: LoopbackPki
) -> None:
    result = SocketTlsProber().peer_certificates(
        "127.0.0.1", server.port, server_name="localhost", ca_pem=pki.other_ca.cert_pem.decode(), timeout_s=2
    )
    assert not result.verified
    assert result.verify_error is not None
    assert "unable to get local issuer certificate" in result.verify_error
    assert _cn(result.chain_pem[0]) == "CN=test-apiserver"


def test_name_mismatch_is_reported(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    result = SocketTlsProber().peer_certificates(
        "127.0.0.1",
        server.port,
        server_name="metrics-server.kube-system.svc",
        ca_pem=pki.ca.cert_pem.decode(),
        timeout_s=2,
    )
    assert not result.verified
    assert result.verify_error is not None
    assert "mismatch" in result.verify_error.lower()
    assert len(result.chain_pem) >= 1


def test_system_trust_when_no_ca_given(server: LoopbackHttpsServer) -> None:
    result = SocketTlsProber().peer_certificates(
        "127.0.0.1", server.port, server_name="localhost", ca_pem=None, timeout_s=2
    )
    assert not result.verified  # a run-time CA is in no system store
    assert result.chain_pem


def test_refused_is_a_connect_error() -> None:
    with pytest.raises(KubeConnectError, match="cannot connect"):
        SocketTlsProber().peer_certificates(
            "127.0.0.1", servers.free_port(), server_name="x", ca_pem=None, timeout_s=1
        )


def test_not_tls_is_a_tls_error() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(1024)
                conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")

        t = threading.Thread(target=answer, daemon=True)
        t.start()
        with pytest.raises(KubeTLSError):
            SocketTlsProber().peer_certificates("127.0.0.1", port, server_name="x", ca_pem=None, timeout_s=2)
        t.join(2)


def test_silent_server_is_a_timeout() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        with pytest.raises(KubeTimeoutError):
            SocketTlsProber().peer_certificates(
                "127.0.0.1", listener.getsockname()[1], server_name="x", ca_pem=None, timeout_s=0.3
            )
