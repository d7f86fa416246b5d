"""Loopback HTTPS test servers with certificates made at run time (nothing committed, loopback only).

    pki = make_pki()
    with LoopbackHttpsServer(pki, {"/ok": json_body({"kind": "Status"}), "/hang": hang()}) as server:
        server.url          # https://127.0.0.1:PORT
        server.hits["/ok"]  # requests seen per path

Behaviours are small factories returning a handler ``(request, stop_event) -> None``: ``json_body``,
``html_body``, ``status_json``, ``truncated_json``, ``short_body``, ``big_body``, ``trickle_body``,
``trickle_headers``, ``slow_headers``, ``hang``, ``flaky``, ``reset_connection``, ``whoami``.

The small certificate helper here (``make_pki``) is private to these servers; the shared PKI factory for
tests is ``tests/pki_factory.py``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import http.server
import ipaddress
import json
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

Handler = Callable[["_RequestHandler", threading.Event], None]

# ------------------------------------------------------------------------------------------- PKI


@dataclass(frozen=True, slots=True)
class KeyPair:
    cert_pem: bytes
    key_pem: bytes
    cert: x509.Certificate = field(repr=False)
    key: ec.EllipticCurvePrivateKey = field(repr=False)


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_ca(cn: str = "test-ca") -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key), cert, key)


def make_leaf(
    ca: KeyPair,
    cn: str,
    *,
    names: Sequence[str] = (),
    client: bool = False,
    not_after: dt.datetime | None = None,
) -> KeyPair:
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(not_after or now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH]
            ),
            critical=False,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if names:
        sans: list[x509.GeneralName] = []
        for n in names:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(n)))
            except ValueError:
                sans.append(x509.DNSName(n))
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = builder.sign(ca.key, hashes.SHA256())
    return KeyPair(cert.public_bytes(serialization.Encoding.PEM), _pem_key(key), cert, key)


@dataclass(frozen=True, slots=True)
class LoopbackPki:
    ca: KeyPair
    server: KeyPair
    client_ca: KeyPair
    other_ca: KeyPair  # trusts nothing the servers present

    def client(self, cn: str = "metrics-guard") -> KeyPair:
        return make_leaf(self.client_ca, cn, client=True)


def make_pki(server_names: Sequence[str] = ("127.0.0.1", "localhost")) -> LoopbackPki:
    ca = make_ca("test-server-ca")
    return LoopbackPki(
        ca=ca,
        server=make_leaf(ca, "test-apiserver", names=server_names),
        client_ca=make_ca("test-client-ca"),
        other_ca=make_ca("unrelated-ca"),
    )


# ---------------------------------------------------------------------------------------- server


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        self.request = self.server.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        with self.server.lock:
            self.server.hits[path] += 1
            self.server.requests.append((path, dict(self.headers.items())))
        handler = self.server.routes.get(path)
        if handler is None:
            send(self, 404, b'{"kind":"Status","code":404}')
            return
        handler(self, self.server.stop)

    @property
    def client_cn(self) -> str | None:
        peer = self.request.getpeercert()
        if not peer:
            return None
        for rdn in peer.get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return str(value)
        return None


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, tls: ssl.SSLContext, routes: Mapping[str, Handler]) -> None:
        super().__init__(("127.0.0.1", 0), _RequestHandler)
        self.tls = tls
        self.routes = dict(routes)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []

    def handle_error(self, request: Any, client_address: Any) -> None:
        return None  # handshake failures and client aborts are what the tests provoke


class LoopbackHttpsServer:
    """A threaded HTTPS server on 127.0.0.1 with the given routes. Client certificates signed by
    ``pki.client_ca`` are accepted (and optional)."""

    def __init__(
        self, pki: LoopbackPki, routes: Mapping[str, Handler], *, server: KeyPair | None = None
    ) -> None:
        tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        keypair = server or pki.server
        with tempfile.TemporaryDirectory() as tmp:
            cert, key = Path(tmp) / "c.pem", Path(tmp) / "k.pem"
            cert.write_bytes(keypair.cert_pem)
            key.write_bytes(keypair.key_pem)
            tls.load_cert_chain(cert, key)
        tls.load_verify_locations(cadata=pki.client_ca.cert_pem.decode())
        tls.verify_mode = ssl.CERT_OPTIONAL
        self._server = _Server(tls, routes)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        self._thread.daemon = True

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def hits(self) -> Counter[str]:
        return self._server.hits

    @property
    def requests(self) -> list[tuple[str, dict[str, str]]]:
        return self._server.requests

    def __enter__(self) -> LoopbackHttpsServer:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def free_port() -> int:
    """A loopback port nobody listens on (for "connection refused")."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------------------------ behaviours


def send(
    req: _RequestHandler,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    headers: Mapping[str, str] | None = None,
) -> None:
    req.send_response(status)
    req.send_header("Content-Type", content_type)
    req.send_header("Content-Length", str(len(body)))
    for k, v in (headers or {}).items():
        req.send_header(k, v)
    req.end_headers()
    req.wfile.write(body)


def json_body(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Handler:
    data = json.dumps(obj).encode()
    return lambda req, _stop: send(req, status, data, headers=headers)


def status_json(code: int, reason: str = "Unauthorized", message: str = "Unauthorized") -> Handler:
    """A kube-apiserver-style ``Status`` error body."""
    return json_body(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        },
        status=code,
    )


def html_body(status: int = 200) -> Handler:
    page = b"<!DOCTYPE html><html><body><h1>Welcome to nginx!</h1></body></html>"
    return lambda req, _stop: send(req, status, page, content_type="text/html")


def truncated_json() -> Handler:
    """A complete HTTP response whose JSON body is cut short (the decoder's problem, not the transport's)."""
    return lambda req, _stop: send(req, 200, b'{"kind":"NodeMetricsList","items":[{"metadata":')


def short_body(declared: int = 1000) -> Handler:
    """Declares ``declared`` bytes, sends a few, closes the connection."""

    def handler(req: _RequestHandler, _stop: threading.Event) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(declared))
        req.end_headers()
        req.wfile.write(b'{"kind":"List","items":[')
        req.wfile.flush()
        req.close_connection = True

    return handler


def big_body(size: int, *, declare_length: bool = True) -> Handler:
    """``size`` bytes of JSON-ish filler; without a Content-Length, the body ends when the server closes."""
    chunk = b" " * 65536

    def handler(req: _RequestHandler, stop: threading.Event) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        if declare_length:
            req.send_header("Content-Length", str(size))
        else:
            req.send_header("Connection", "close")
            req.close_connection = True
        req.end_headers()
        sent = 0
        with contextlib.suppress(OSError):
            while sent < size and not stop.is_set():
                part = chunk[: min(len(chunk), size - sent)]
                req.wfile.write(part)
                sent += len(part)

    return handler


def exposition(head: bytes, size: int) -> Handler:
    """A Prometheus text exposition of ``size`` bytes (declared): ``head`` first, then other families up
    to the size; it stops sending when the client goes away."""
    filler = b"# HELP zz_filler_total Filler.\n# TYPE zz_filler_total counter\nzz_filler_total 1\n" * 512

    def handler(req: _RequestHandler, stop: threading.Event) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "text/plain; version=0.0.4")
        req.send_header("Content-Length", str(size))
        req.end_headers()
        sent = 0
        with contextlib.suppress(OSError):
            req.wfile.write(head)
            sent += len(head)
            while sent < size and not stop.is_set():
                part = filler[: min(len(filler), size - sent)]
                req.wfile.write(part)
                sent += len(part)

    return handler


def trickle_body(interval_s: float = 0.05, declared: int = 100_000) -> Handler:
    """Headers at once, then one byte per ``interval_s``: never idle long enough for a read timeout."""

    def handler(req: _RequestHandler, stop: threading.Event) -> None:
        req.send_response(200)
        req.send_header("Content-Type", "application/json")
        req.send_header("Content-Length", str(declared))
        req.end_headers()
        req.wfile.flush()
        with contextlib.suppress(OSError):
            while not stop.wait(interval_s):
                req.wfile.write(b" ")
                req.wfile.flush()

    return handler


def trickle_headers(interval_s: float = 0.05) -> Handler:
    """The status line and then endless headers, one byte per ``interval_s``."""

    def handler(req: _RequestHandler, stop: threading.Event) -> None:
        with contextlib.suppress(OSError):
            req.wfile.write(b"HTTP/1.1 200 OK\r\n")
            req.wfile.flush()
            while not stop.wait(interval_s):
                req.wfile.write(b"X")
                req.wfile.flush()

    return handler


def slow_headers(delay_s: float, then: Handler | None = None) -> Handler:
    """Nothing for ``delay_s``, then the response of ``then`` (default: a small JSON)."""
    follow = then or json_body({"kind": "Status"})

    def handler(req: _RequestHandler, stop: threading.Event) -> None:
        if stop.wait(delay_s):
            return
        with contextlib.suppress(OSError):
            follow(req, stop)

    return handler


def hang() -> Handler:
    """Reads the request, never answers (until the server stops)."""
    return lambda _req, stop: (stop.wait(), None)[1]


def reset_connection() -> Handler:
    """Closes the TCP connection with a RST, before any response."""

    def handler(req: _RequestHandler, _stop: threading.Event) -> None:
        sock = req.request
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        req.close_connection = True
        with contextlib.suppress(OSError):
            socket.socket.close(sock)

    return handler


def flaky(failures: int, failure: Handler, then: Handler) -> Handler:
    """``failure`` for the first ``failures`` requests, then ``then``."""
    lock = threading.Lock()
    seen = [0]

    def handler(req: _RequestHandler, stop: threading.Event) -> None:
        with lock:
            seen[0] += 1
            n = seen[0]
        (failure if n <= failures else then)(req, stop)

    return handler


def whoami() -> Handler:
    """Echoes what the client presented: its Authorization header and its client certificate CN."""

    def handler(req: _RequestHandler, _stop: threading.Event) -> None:
        body = {
            "authorization": req.headers.get("Authorization"),
            "client_cn": req.client_cn,
            "user_agent": req.headers.get("User-Agent"),
            "accept": req.headers.get("Accept"),
        }
        send(req, 200, json.dumps(body).encode())

    return handler


@contextlib.contextmanager
def serving(pki: LoopbackPki, routes: Mapping[str, Handler], **kwargs: Any) -> Iterator[LoopbackHttpsServer]:
    with LoopbackHttpsServer(pki, routes, **kwargs) as server:
        yield server


def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> bool:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()
