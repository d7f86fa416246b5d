"""TLS inspection: what a server presents, and whether it verifies (``ssl`` only, no SDK).

A verifying handshake first. When verification fails, that is still a result: a second handshake with
verification off fetches the certificate for inspection only; nothing is ever sent over it.
"""

from __future__ import annotations

import socket
import ssl
import threading
from typing import Any

from metrics_guard.errors import KubeConnectError, KubeTimeoutError, KubeTLSError
from metrics_guard.ports import PeerCertificates


class SocketTlsProber:
    """:class:`~metrics_guard.ports.TlsProber` with the standard library.

    ``chain_pem`` is the chain the server sent, leaf first (Python 3.13: the whole presented chain; 3.11
    and 3.12 expose it through the private ``_sslobj`` and, failing that, the leaf only). Raises
    ``KubeConnectError`` / ``KubeTimeoutError`` when nothing could be reached, ``KubeTLSError`` when no
    handshake completes even without verification (e.g. the port does not speak TLS).
    """

    def peer_certificates(
        self, host: str, port: int, *, server_name: str, ca_pem: str | None, timeout_s: float
    ) -> PeerCertificates:
        address = f"{host}:{port}"
        verifying = self._verifying(ca_pem)
        try:
            chain = self._handshake(host, port, server_name, verifying, timeout_s)
        except ssl.SSLCertVerificationError as exc:
            verify_error = exc.verify_message or exc.reason or "certificate verify failed"
        except ssl.CertificateError as exc:  # hostname mismatch on some versions
            verify_error = str(exc.args[0]) if exc.args else "certificate does not match the server name"
        else:
            return PeerCertificates(address, server_name, chain, verified=True, verify_error=None)

        inspecting = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        inspecting.check_hostname = False
        inspecting.verify_mode = ssl.CERT_NONE  # inspection only: nothing is sent on this connection
        chain = self._handshake(host, port, server_name, inspecting, timeout_s)
        return PeerCertificates(address, server_name, chain, verified=False, verify_error=str(verify_error))

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._contexts: dict[str | None, ssl.SSLContext] = {}

    def _verifying(self, ca_pem: str | None) -> ssl.SSLContext:
        """One verifying context per trust anchor, built once: loading the system store (``ca_pem`` None)
        costs ~30 ms of CPU each time, and an SSLContext is safe to share between threads."""
        with self._lock:
            context = self._contexts.get(ca_pem)
            if context is None:
                context = (
                    ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
                )
                context.verify_flags &= ~ssl.VERIFY_X509_STRICT  # as the transport: agree with Go's verifier
                context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
                self._contexts[ca_pem] = context
            return context

    @staticmethod
    def _handshake(
        host: str, port: int, server_name: str, context: ssl.SSLContext, timeout_s: float
    ) -> tuple[str, ...]:
        try:
            raw = socket.create_connection((host, port), timeout=timeout_s)
        except TimeoutError as exc:
            raise KubeConnectError(f"{host}:{port}: connect timed out after {timeout_s:g} s") from exc
        except OSError as exc:
            raise KubeConnectError(
                f"{host}:{port}: cannot connect ({exc.strerror or type(exc).__name__})"
            ) from exc
        try:
            with context.wrap_socket(raw, server_hostname=server_name) as tls:
                return _presented_chain(tls)
        except (ssl.SSLCertVerificationError, ssl.CertificateError):
            raise
        except TimeoutError as exc:
            raise KubeTimeoutError(f"{host}:{port}: TLS handshake timed out after {timeout_s:g} s") from exc
        except ssl.SSLError as exc:
            raise KubeTLSError(
                f"{host}:{port}: TLS handshake failed: {exc.reason or type(exc).__name__}"
            ) from exc
        except OSError as exc:
            raise KubeTLSError(f"{host}:{port}: the connection broke during the TLS handshake") from exc
        finally:
            raw.close()


def _presented_chain(tls: ssl.SSLSocket) -> tuple[str, ...]:
    chain: Any = None
    getter = getattr(tls, "get_unverified_chain", None)  # public from 3.13, DER bytes
    if getter is None:
        getter = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)  # 3.10-3.12
    if getter is not None:
        try:
            chain = getter()
        except (ssl.SSLError, ValueError, AttributeError):
            chain = None
    if chain:
        pems: list[str] = []
        for item in chain:
            if isinstance(item, bytes):
                pems.append(ssl.DER_cert_to_PEM_cert(item))
            else:  # _ssl.Certificate (3.10-3.12)
                pems.append(str(item.public_bytes()))  # PEM by default
        return tuple(pems)
    leaf = tls.getpeercert(binary_form=True)
    return (ssl.DER_cert_to_PEM_cert(leaf),) if leaf else ()
