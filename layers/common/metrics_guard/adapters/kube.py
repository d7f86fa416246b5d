"""Kubernetes access: the only module that imports the ``kubernetes`` package.

It uses the package's low-level path only (``Configuration`` + ``ApiClient.param_serialize`` +
``call_api(..., _preload_content=False)`` in its 37.x form) and reads the raw urllib3 response itself, so
that every call is bounded: connect and read timeouts, a body size cap (streamed in chunks), a wall-clock
deadline per call enforced by a watchdog that shuts the socket down (a server trickling headers or body
cannot hold a call past it), and retries with backoff of idempotent GETs on connection errors and on
429/502/504 only. A 503 is never retried: from the aggregated Metrics API it is the symptom to observe.

TLS verification is always on. The pool manager is ours (one ``ssl.SSLContext`` per transport, built
once); the kubernetes package only serialises and sends.

Cold start: ``import kubernetes.client.api_client`` normally runs ``kubernetes/__init__.py``, which imports
``kubernetes.config`` and friends (google-auth, requests-oauthlib, ...: ~160 ms here). ``_api_client_module``
registers the top-level package without executing its ``__init__`` (submodules then resolve lazily through
a module ``__getattr__``), so only ``kubernetes.client.{api_client,configuration,rest,exceptions}`` and
their dependencies load. See docs/kube-access.md for the measurements.
"""

from __future__ import annotations

import heapq
import http.client
import importlib
import importlib.util
import logging
import os
import socket
import ssl
import sys
import tempfile
import threading
import time
import types
from collections.abc import Callable, Collection
from contextlib import suppress
from functools import cache
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from metrics_guard.adapters.credentials import (
    ClientCertificate,
    Credential,
    CredentialProvider,
    EksTokenCredentials,
    StaticCredentials,
)
from metrics_guard.adapters.kube_config import load_kubeconfig_contexts, resolve_kubeconfig
from metrics_guard.errors import (
    ConfigError,
    CredentialsError,
    KubeAccessError,
    KubeConnectError,
    KubeTimeoutError,
    KubeTLSError,
    ResponseTooLargeError,
)
from metrics_guard.ports import Enough, HttpResponse, KubeTransport, TransportLimits

__all__ = [
    "DEFAULT_RETRY_STATUSES",
    "ApiClientTransport",
    "load_kubeconfig_contexts",
    "transport_for_eks",
    "transport_from_kubeconfig",
    "transport_from_token",
]

_log = logging.getLogger(__name__)

#: Statuses retried for GETs. Not 503: the aggregator's "service unavailable" is what we observe.
DEFAULT_RETRY_STATUSES: Final = frozenset({429, 502, 504})
#: Without an explicit ``timeout_s`` a call (all attempts) ends by connect + this many read timeouts.
DEADLINE_READ_TIMEOUTS: Final = 2
CHUNK_BYTES: Final = 256 * 1024
MAX_RETRY_AFTER_S: Final = 10.0
_SECRET_QUERY_KEYS: Final = frozenset({"token", "access_token", "id_token", "password", "secret"})
_USER_AGENT: Final = "metrics-guard/0.1"
#: Benchmarks only: when set, every GET's endpoint, path and Accept header is appended to this file as one
#: JSON line, so that a bare client can replay exactly the same requests (benchmarks/probe_overhead.py).
_TRACE_PATH: Final = os.environ.get("METRICS_GUARD_TRACE_REQUESTS")
_trace_lock = threading.Lock()


def _trace(endpoint: str, path: str, accept: str) -> None:
    if _TRACE_PATH is None:
        return
    import json

    line = json.dumps({"endpoint": endpoint, "path": path, "accept": accept})
    with _trace_lock, Path(_TRACE_PATH).open("a", encoding="utf-8") as out:
        out.write(line + "\n")


DEFAULT_LIMITS: Final = TransportLimits()


# ----------------------------------------------------------------------------------------- imports


@cache
def _api_client_module() -> types.ModuleType:
    """``kubernetes.client.api_client`` without running ``kubernetes/__init__.py`` (see the module doc)."""
    if "kubernetes" not in sys.modules:
        spec = importlib.util.find_spec("kubernetes")
        if spec is None or spec.submodule_search_locations is None:
            raise ConfigError("the kubernetes package is not installed")
        package = importlib.util.module_from_spec(spec)

        def _lazy_submodule(name: str) -> types.ModuleType:
            if name.startswith("__") or importlib.util.find_spec(f"kubernetes.{name}") is None:
                raise AttributeError(f"module 'kubernetes' has no attribute {name!r}")
            return importlib.import_module(f"kubernetes.{name}")

        package.__getattr__ = _lazy_submodule  # type: ignore[method-assign]
        sys.modules["kubernetes"] = package
    if "kubernetes.utils" not in sys.modules:
        _register_deferred_package("kubernetes.utils")
    return importlib.import_module("kubernetes.client.api_client")


def _register_deferred_package(name: str) -> None:
    """Register package ``name`` with its ``__init__`` not yet run. ``kubernetes.client.rest`` needs only
    ``kubernetes.utils.retry`` and ``.keepalive``; ``kubernetes/utils/__init__.py`` also imports
    create_from_yaml, metrics, ... (~20 % of the api_client import). Submodules import as usual; the
    first other attribute asked of the package runs its real ``__init__`` then, so ``kubernetes.utils.X``
    keeps working for whoever uses it."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    module = importlib.util.module_from_spec(spec)
    loader = spec.loader
    lock = threading.Lock()

    def _initialise(attribute: str) -> Any:
        if attribute.startswith("__"):
            raise AttributeError(attribute)
        with lock:
            if module.__dict__.get("__getattr__") is _initialise:
                del module.__dict__["__getattr__"]
                loader.exec_module(module)
        return module.__dict__[attribute] if attribute in module.__dict__ else getattr(module, attribute)

    module.__getattr__ = _initialise  # type: ignore[method-assign]
    sys.modules[name] = module


# --------------------------------------------------------------------------------------- watchdog


class _Watch:
    """Per call: the connection in use, and whether the deadline fired (then its socket is shut down)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._conn: Any = None
        self.fired = False

    def attach(self, conn: Any) -> None:
        with self._lock:
            self._conn = conn
            if self.fired:
                _shutdown(conn)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            if self._conn is not None:
                _shutdown(self._conn)


def _shutdown(conn: Any) -> None:
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with suppress(OSError):
            # The plain socket's shutdown, not SSLSocket's (which tears down the SSL object under the
            # reading thread): the blocked recv returns at once.
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """One thread for every call's deadline (instead of a timer thread per call): fires each armed watch
    whose deadline passes before it is disarmed."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._armed: list[tuple[float, int, _Watch]] = []  # a heap by deadline
        self._live: set[int] = set()
        self._thread: threading.Thread | None = None

    def arm(self, watch: _Watch, seconds: float) -> None:
        with self._cond:
            heapq.heappush(self._armed, (time.monotonic() + seconds, id(watch), watch))
            self._live.add(id(watch))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kube-deadlines", daemon=True)
                self._thread.start()
            self._cond.notify()

    def disarm(self, watch: _Watch) -> None:
        with self._cond:
            self._live.discard(id(watch))

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._armed and id(self._armed[0][2]) not in self._live:
                    heapq.heappop(self._armed)  # disarmed: forget it
                if not self._armed:
                    self._cond.wait()
                    continue
                deadline, _, watch = self._armed[0]
                delay = deadline - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._armed)
                self._live.discard(id(watch))
            watch.fire()


_watchdog = _Watchdog()
_current = threading.local()


@cache
def _guarded_pool_classes() -> dict[str, type]:
    import urllib3.connection
    import urllib3.connectionpool

    class GuardedHTTPSConnection(urllib3.connection.HTTPSConnection):
        def request(self, *args: Any, **kwargs: Any) -> None:
            watch: _Watch | None = getattr(_current, "watch", None)
            if watch is not None:
                watch.attach(self)
            super().request(*args, **kwargs)

    class GuardedHTTPSConnectionPool(urllib3.connectionpool.HTTPSConnectionPool):
        ConnectionCls = GuardedHTTPSConnection

    class GuardedHTTPConnection(urllib3.connection.HTTPConnection):
        def request(self, *args: Any, **kwargs: Any) -> None:
            watch: _Watch | None = getattr(_current, "watch", None)
            if watch is not None:
                watch.attach(self)
            super().request(*args, **kwargs)

    class GuardedHTTPConnectionPool(urllib3.connectionpool.HTTPConnectionPool):
        ConnectionCls = GuardedHTTPConnection  # only for http:// proxies

    return {"https": GuardedHTTPSConnectionPool, "http": GuardedHTTPConnectionPool}


# -------------------------------------------------------------------------------------------- TLS


_MAX_CONTEXTS: Final = 32
_contexts: dict[bytes, ssl.SSLContext] = {}
_contexts_lock = threading.Lock()


def _ssl_context(ca_pem: bytes | None, client_cert: ClientCertificate | None) -> ssl.SSLContext:
    """One context per CA bundle and client certificate in the process: the front and each apiserver of
    a kubeconfig share it (keyed by a digest, so the cache holds no copy of the key)."""
    import hashlib

    digest = hashlib.sha256()
    for part in (ca_pem, *((client_cert.cert_pem, client_cert.key_pem) if client_cert else (None, None))):
        digest.update(b"-" if part is None else len(part).to_bytes(8, "big") + part)
    key = digest.digest()
    with _contexts_lock:
        context = _contexts.get(key)
        if context is None:
            if len(_contexts) >= _MAX_CONTEXTS:  # rotated exec-plugin certificates: keep it bounded
                _contexts.clear()
            context = _contexts[key] = _new_ssl_context(ca_pem, client_cert)
        return context


def _new_ssl_context(ca_pem: bytes | None, client_cert: ClientCertificate | None) -> ssl.SSLContext:
    """Verification on, hostname checked. ``VERIFY_X509_STRICT`` (default on 3.13, off on 3.11) is
    cleared so that 3.11 and 3.13 agree with kubectl on certificates made by hand (e.g. a CA without AKI);
    the chain and the name are still verified."""
    try:
        ctx = ssl.create_default_context(cadata=ca_pem.decode("ascii") if ca_pem else None)
    except (ssl.SSLError, ValueError, UnicodeDecodeError) as exc:
        raise ConfigError("the certificate authority is not a valid PEM certificate bundle") from exc
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.verify_flags &= ~ssl.VERIFY_X509_STRICT
    ctx.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
    if client_cert is not None:
        _load_client_cert(ctx, client_cert)
    return ctx


def _load_client_cert(ctx: ssl.SSLContext, client_cert: ClientCertificate) -> None:
    # ssl loads chains from files only: write both to a private temporary directory, load, delete.
    with tempfile.TemporaryDirectory(prefix="mg-cc-") as tmp:
        cert_path, key_path = Path(tmp) / "c.pem", Path(tmp) / "k.pem"
        for p, data in ((cert_path, client_cert.cert_pem), (key_path, client_cert.key_pem)):
            fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
        try:
            ctx.load_cert_chain(str(cert_path), str(key_path))
        except ssl.SSLError as exc:
            raise ConfigError("the client certificate or key is not valid PEM, or they do not match") from exc


# -------------------------------------------------------------------------------------- transport


def _redact_url(url: str) -> str:
    parts = urlsplit(url)
    if not parts.query:
        return url
    query = [
        (k, "REDACTED" if k.lower() in _SECRET_QUERY_KEYS or k.lower().startswith("x-amz-") else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(query=urlencode(query)))


class _RetryableStatus(Exception):  # noqa: N818 - internal control flow
    def __init__(self, response: HttpResponse) -> None:
        super().__init__(response.status)
        self.response = response


class ApiClientTransport:
    """A :class:`~metrics_guard.ports.KubeTransport` over ``kubernetes.client.ApiClient``.

    HTTP error statuses are returned; only transport failures raise (our errors, never urllib3's or
    the kubernetes package's).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        ca_pem: bytes | None,
        credentials: CredentialProvider,
        limits: TransportLimits = DEFAULT_LIMITS,
        tls_server_name: str | None = None,
        proxy_url: str | None = None,
        retry_statuses: Collection[int] = DEFAULT_RETRY_STATUSES,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        parts = urlsplit(endpoint)
        if parts.scheme != "https" or not parts.hostname:
            raise ConfigError(f"the API endpoint must be an https:// URL, got {_redact_url(endpoint)!r}")
        if 503 in retry_statuses:
            raise ConfigError("503 is never retried: it is the aggregated API's symptom to observe")
        self._endpoint = endpoint.rstrip("/")
        self._ca_pem = ca_pem
        self._credentials = credentials
        self._limits = limits
        self._tls_server_name = tls_server_name
        self._proxy_url = proxy_url
        self._retry_statuses = frozenset(retry_statuses)
        self._sleep = sleep
        self._lock = threading.Lock()
        self._client_cert: ClientCertificate | None = None
        self._api_client: Any = None
        # Fail early on bad material (the first credential is produced lazily, at the first call,
        # except for static ones).
        if isinstance(credentials, StaticCredentials):
            self._client_for(credentials.current())

    @property
    def endpoint(self) -> str:
        return self._endpoint

    @property
    def ca_pem(self) -> bytes | None:
        """The CA bundle this transport verifies the server with (None: the system trust store)."""
        return self._ca_pem

    def __repr__(self) -> str:
        return f"ApiClientTransport({self._endpoint!r})"

    # -------------------------------------------------------------------------------- plumbing

    def _client_for(self, credential: Credential) -> Any:
        """The ApiClient for this credential's client certificate (rebuilt when an exec plugin rotates it)."""
        with self._lock:
            if self._api_client is not None and credential.client_cert == self._client_cert:
                return self._api_client
            api_client_mod = _api_client_module()
            import urllib3

            configuration_mod = importlib.import_module("kubernetes.client.configuration")
            config = configuration_mod.Configuration(host=self._endpoint)
            config.verify_ssl = True
            client = api_client_mod.ApiClient(configuration=config)
            client.user_agent = _USER_AGENT
            context = _ssl_context(self._ca_pem, credential.client_cert)
            pool_kw: dict[str, Any] = {
                "ssl_context": context,
                "cert_reqs": "CERT_REQUIRED",
                "retries": False,
                "maxsize": 4,
                "block": False,
            }
            if self._tls_server_name:
                pool_kw["server_hostname"] = self._tls_server_name
            manager: Any
            if self._proxy_url:
                manager = urllib3.ProxyManager(self._proxy_url, **pool_kw)
            else:
                manager = urllib3.PoolManager(**pool_kw)
            manager.pool_classes_by_scheme = _guarded_pool_classes()
            old = self._api_client
            client.rest_client.pool_manager = manager
            self._api_client, self._client_cert = client, credential.client_cert
        if old is not None:
            with suppress(Exception):
                old.rest_client.pool_manager.clear()
        return client

    # ------------------------------------------------------------------------------------- get

    def get(
        self,
        path: str,
        *,
        accept: str = "application/json",
        timeout_s: float | None = None,
        enough: Enough | None = None,
    ) -> HttpResponse:
        if not path.startswith("/"):
            raise ValueError(f"path must start with '/', got {path!r}")
        limits = self._limits
        budget = (
            timeout_s
            if timeout_s is not None
            else limits.connect_timeout_s + DEADLINE_READ_TIMEOUTS * limits.read_timeout_s
        )
        deadline = time.monotonic() + budget
        url = _redact_url(self._endpoint + path)
        refreshed = False
        attempt = 0
        while True:
            credential = self._current_credential()
            try:
                response = self._attempt(
                    path, accept, credential, url=url, deadline=deadline, budget=budget, enough=enough
                )
            except KubeConnectError:
                if not self._may_retry(attempt, deadline):
                    raise
                reason = "connect"
            except _RetryableStatus as retry:
                if not self._may_retry(attempt, deadline):
                    return retry.response
                reason = str(retry.response.status)
                retry_after = _retry_after(retry.response)
                if retry_after is not None:
                    self._sleep(min(retry_after, MAX_RETRY_AFTER_S, max(0.0, deadline - time.monotonic())))
            else:
                if response.status == 401 and self._credentials.refreshable and not refreshed:
                    # An exec plugin's or EKS token may have been revoked early: make a new one, once.
                    self._credentials.invalidate()
                    refreshed = True
                    continue
                _trace(self._endpoint, path, accept)
                return response
            delay = min(limits.backoff_s * (2**attempt), max(0.0, deadline - time.monotonic()))
            _log.info("retrying GET", extra={"url": url, "attempt": attempt + 1, "reason": reason})
            self._sleep(delay)
            attempt += 1

    def _may_retry(self, attempt: int, deadline: float) -> bool:
        return attempt < self._limits.retries and time.monotonic() < deadline

    def _current_credential(self) -> Credential:
        try:
            return self._credentials.current()
        except CredentialsError:
            raise
        except Exception as exc:  # a provider bug must not leak an SDK type either
            raise CredentialsError(f"credentials could not be produced: {type(exc).__name__}") from exc

    def _attempt(
        self,
        path: str,
        accept: str,
        credential: Credential,
        *,
        url: str,
        deadline: float,
        budget: float,
        enough: Enough | None,
    ) -> HttpResponse:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise KubeTimeoutError(f"GET {url}: no time left of the {budget:g} s deadline")
        client = self._client_for(credential)
        headers = {"Accept": accept, "User-Agent": _USER_AGENT}
        if credential.token:
            headers["Authorization"] = f"Bearer {credential.token}"
        limits = self._limits
        timeout = (min(limits.connect_timeout_s, remaining), min(limits.read_timeout_s, remaining))
        watch = _Watch()
        started = time.monotonic()
        _current.watch = watch
        _watchdog.arm(watch, remaining)
        raw: Any = None
        try:
            method, full_url, header_params, body, post_params = client.param_serialize(
                "GET", path, header_params=headers
            )
            rest_response = client.call_api(
                method,
                full_url,
                header_params=header_params,
                body=body,
                post_params=post_params,
                _request_timeout=timeout,
            )
            raw = rest_response.response
            status = int(raw.status)
            response_headers = {k.lower(): v for k, v in raw.headers.items()}
            body_bytes, partial = self._read_body(raw, url, response_headers, enough)
            elapsed = time.monotonic() - started
        except ResponseTooLargeError:
            raise
        except Exception as exc:  # mapped by type below; nothing of urllib3's or kubernetes' leaks
            if watch.fired:
                raise KubeTimeoutError(
                    f"GET {url}: no complete response within the {budget:g} s deadline"
                ) from exc
            raise _map_exception(exc, url, limits) from exc
        finally:
            _watchdog.disarm(watch)
            _current.watch = None
            if raw is not None:
                with suppress(Exception):
                    raw.release_conn()
        if watch.fired:
            # The socket was shut down under the read: what was read may look complete but is not
            # (http.client takes a cut-off header block for an empty one).
            raise KubeTimeoutError(f"GET {url}: no complete response within the {budget:g} s deadline")
        response = HttpResponse(
            url=url,
            status=status,
            body=body_bytes,
            headers=response_headers,
            elapsed_s=elapsed,
            partial=partial,
        )
        if status in self._retry_statuses:
            raise _RetryableStatus(response)
        return response

    def _read_body(
        self, raw: Any, url: str, headers: dict[str, str], enough: Enough | None
    ) -> tuple[bytes, bool]:
        """The body, streamed in chunks under the size cap, and whether it is only the prefix that
        ``enough`` asked for (then the rest is left unread and the connection is closed, not reused)."""
        cap = self._limits.max_body_bytes
        declared = headers.get("content-length")
        if (
            enough is None
            and declared is not None
            and declared.isdigit()
            and int(declared) > cap
            and "content-encoding" not in headers
        ):
            raw.close()
            raise ResponseTooLargeError(
                f"GET {url}: the response declares {int(declared)} bytes, over the {cap} byte cap"
            )
        if enough is not None:
            return self._read_prefix(raw, url, cap, enough)
        chunks: list[bytes] = []
        total = 0
        while True:
            chunk = raw.read(CHUNK_BYTES, decode_content=True)
            if not chunk:
                break
            total += len(chunk)
            if total > cap:
                raw.close()
                raise ResponseTooLargeError(f"GET {url}: the response exceeded the {cap} byte cap")
            chunks.append(chunk)
        return b"".join(chunks), False

    @staticmethod
    def _read_prefix(raw: Any, url: str, cap: int, enough: Enough) -> tuple[bytes, bool]:
        # read1: whatever has arrived (up to a chunk), so that ``enough`` sees the body as it comes.
        buffer = bytearray()
        while True:
            chunk = raw.read1(CHUNK_BYTES, decode_content=True)
            if not chunk:
                return bytes(buffer), False
            buffer += chunk
            wanted = enough(buffer)
            if wanted is not None:
                raw.close()
                return bytes(buffer[: max(0, wanted)]), True
            if len(buffer) > cap:
                raw.close()
                raise ResponseTooLargeError(f"GET {url}: the response exceeded the {cap} byte cap")


def _retry_after(response: HttpResponse) -> float | None:
    value = response.headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _map_exception(exc: BaseException, url: str, limits: TransportLimits) -> KubeAccessError:
    """Map by type (never by message text). kubernetes' rest client wraps urllib3's SSLError in an
    ``ApiException(status=0)`` raised inside the ``except``: the original is its ``__context__``."""
    import urllib3.exceptions as u3

    original: BaseException = exc
    api_exception = importlib.import_module("kubernetes.client.exceptions").ApiException
    if isinstance(exc, api_exception) and exc.__context__ is not None:
        original = exc.__context__
    # urllib3 wraps the socket-level cause in ProtocolError / SSLError; look one level down too.
    inner = original.args[1] if isinstance(original, u3.ProtocolError) and len(original.args) > 1 else None

    if isinstance(original, u3.SSLError | ssl.SSLError | ssl.CertificateError):
        cause = original.args[0] if isinstance(original, u3.SSLError) and original.args else original
        detail = _tls_detail(cause)
        return KubeTLSError(f"GET {url}: TLS handshake failed: {detail}")
    if isinstance(original, u3.NewConnectionError | u3.NameResolutionError):
        return KubeConnectError(f"GET {url}: cannot connect ({_errno_name(original)})")
    if isinstance(original, u3.ConnectTimeoutError):
        return KubeConnectError(f"GET {url}: connect timed out after {limits.connect_timeout_s:g} s")
    if isinstance(original, u3.ReadTimeoutError | TimeoutError | socket.timeout):
        return KubeTimeoutError(f"GET {url}: no data for {limits.read_timeout_s:g} s (read timeout)")
    if isinstance(inner, ssl.SSLError):
        return KubeTLSError(f"GET {url}: TLS failed: {_tls_detail(inner)}")
    if isinstance(original, u3.ProtocolError | http.client.HTTPException | ConnectionError):
        if isinstance(inner, http.client.IncompleteRead) or isinstance(original, u3.IncompleteRead):
            return KubeConnectError(f"GET {url}: the connection closed before the response body was complete")
        return KubeConnectError(f"GET {url}: the connection broke ({type(inner or original).__name__})")
    if isinstance(original, u3.HTTPError | OSError):
        return KubeConnectError(f"GET {url}: transport error ({type(original).__name__})")
    return KubeAccessError(f"GET {url}: unexpected transport failure ({type(original).__name__})")


def _tls_detail(cause: BaseException) -> str:
    if isinstance(cause, ssl.SSLCertVerificationError) and cause.verify_message:
        return f"certificate verify failed: {cause.verify_message}"
    if isinstance(cause, ssl.CertificateError) and not isinstance(cause, ssl.SSLError):
        return "certificate does not match the server name"
    reason = getattr(cause, "reason", None)
    return str(reason) if reason else type(cause).__name__


def _errno_name(exc: BaseException) -> str:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) and seen.errno is not None:
            return os.strerror(seen.errno)
        seen = seen.__cause__ or seen.__context__
    return type(exc).__name__


# -------------------------------------------------------------------------------------- factories


def transport_from_kubeconfig(
    path: str | None,
    context: str | None,
    *,
    server_override: str | None = None,
    limits: TransportLimits = DEFAULT_LIMITS,
    retry_statuses: Collection[int] = DEFAULT_RETRY_STATUSES,
    exec_timeout_s: float = 30.0,
) -> KubeTransport:
    """A transport for one kubeconfig context (``path`` None: ``$KUBECONFIG`` / ``~/.kube/config``).

    ``server_override`` reaches one apiserver directly with the same credentials and trust; its serving
    certificate must cover that address (verification stays on; ``tls-server-name`` still applies).
    """
    resolved = resolve_kubeconfig(path, context, exec_timeout_s=exec_timeout_s)
    return ApiClientTransport(
        server_override or resolved.server,
        ca_pem=resolved.ca_pem,
        credentials=resolved.credentials,
        limits=limits,
        tls_server_name=resolved.tls_server_name,
        proxy_url=resolved.proxy_url,
        retry_statuses=retry_statuses,
    )


def transport_from_token(
    endpoint: str,
    token: str,
    ca_pem: str,
    *,
    limits: TransportLimits = DEFAULT_LIMITS,
    retry_statuses: Collection[int] = DEFAULT_RETRY_STATUSES,
) -> KubeTransport:
    """A bearer token and a CA bundle (what a Lambda reads from Secrets Manager)."""
    if not token.strip():
        raise ConfigError("the bearer token is empty")
    if "-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise ConfigError("the CA bundle is not PEM (no CERTIFICATE block)")
    return ApiClientTransport(
        endpoint,
        ca_pem=ca_pem.encode(),
        credentials=StaticCredentials(Credential(token=token.strip())),
        limits=limits,
        retry_statuses=retry_statuses,
    )


def transport_for_eks(
    cluster_name: str,
    endpoint: str,
    ca_pem: str,
    *,
    sts_client: Any,
    limits: TransportLimits = DEFAULT_LIMITS,
    retry_statuses: Collection[int] = DEFAULT_RETRY_STATUSES,
) -> KubeTransport:
    """EKS with IAM: tokens presigned from ``sts_client`` (a boto3 STS client), re-made before 15 min."""
    if "-----BEGIN CERTIFICATE-----" not in ca_pem:
        raise ConfigError("the EKS cluster CA is not PEM (no CERTIFICATE block)")
    return ApiClientTransport(
        endpoint,
        ca_pem=ca_pem.encode(),
        credentials=EksTokenCredentials(cluster_name, sts_client),
        limits=limits,
        retry_statuses=retry_statuses,
    )
