"""Bearer credentials for kube-apiserver: static tokens, token files, exec plugins and EKS IAM tokens.

No SDK import at module level: the EKS provider receives an STS client built by the caller. Nothing in
this module logs or puts into an exception message a token, a key or a plugin's stderr.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from metrics_guard.errors import CredentialsError

_log = logging.getLogger(__name__)

#: Refresh a cached credential this long before it expires.
EXPIRY_MARGIN_S = 60.0
#: EKS accepts a presigned GetCallerIdentity token for 15 minutes.
EKS_TOKEN_LIFETIME_S = 15 * 60.0
EKS_TOKEN_PREFIX = "k8s-aws-v1."  # noqa: S105 - a prefix, not a secret
EKS_CLUSTER_HEADER = "x-k8s-aws-id"
#: A token file is re-read at most this often (client-go re-reads every minute).
TOKEN_FILE_REREAD_S = 60.0


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A client certificate and key as PEM, held in memory only (written to disk just to load them)."""

    cert_pem: bytes
    key_pem: bytes

    def __repr__(self) -> str:  # never show the key
        return "ClientCertificate(<redacted>)"


@dataclass(frozen=True, slots=True)
class Credential:
    """What to present: a bearer token, a client certificate, or both (or neither: anonymous)."""

    token: str | None = None
    client_cert: ClientCertificate | None = None

    def __repr__(self) -> str:
        return f"Credential(token={'<redacted>' if self.token else None}, client_cert={self.client_cert!r})"


class CredentialProvider(Protocol):
    """Produces the current credential; ``refreshable`` ones can be asked again after a 401."""

    @property
    def refreshable(self) -> bool: ...

    def current(self) -> Credential: ...

    def invalidate(self) -> None: ...


class StaticCredentials:
    def __init__(self, credential: Credential) -> None:
        self._credential = credential

    @property
    def refreshable(self) -> bool:
        return False

    def current(self) -> Credential:
        return self._credential

    def invalidate(self) -> None:
        return None


class TokenFileCredentials:
    """``tokenFile``: re-read every minute, as client-go does (projected tokens rotate)."""

    def __init__(
        self,
        path: Path,
        client_cert: ClientCertificate | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._client_cert = client_cert
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._read_at = 0.0

    @property
    def refreshable(self) -> bool:
        return True

    def current(self) -> Credential:
        with self._lock:
            if self._token is None or self._clock() - self._read_at >= TOKEN_FILE_REREAD_S:
                try:
                    token = self._path.read_text(encoding="utf-8").strip()
                except OSError as exc:
                    raise CredentialsError(f"cannot read token file {self._path}: {exc.strerror}") from exc
                if not token:
                    raise CredentialsError(f"token file {self._path} is empty")
                self._token = token
                self._read_at = self._clock()
            return Credential(token=self._token, client_cert=self._client_cert)

    def invalidate(self) -> None:
        with self._lock:
            self._token = None


@dataclass(frozen=True, slots=True)
class ExecSpec:
    """A kubeconfig ``user.exec`` stanza (client.authentication.k8s.io/v1 or v1beta1)."""

    api_version: str
    command: str
    args: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    interactive_mode: str | None = None
    provide_cluster_info: bool = False
    cluster_info: Mapping[str, Any] | None = None
    timeout_s: float = 30.0


SUPPORTED_EXEC_API_VERSIONS = frozenset(
    {"client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"}
)


class ExecCredentials:
    """Runs the exec plugin, caches its credential until ``expirationTimestamp`` (minus a margin).

    The plugin runs without a terminal (stdin is /dev/null), with a timeout; its stderr is captured and
    dropped, since plugins print tokens or URLs with codes there.
    """

    def __init__(
        self,
        spec: ExecSpec,
        *,
        wall_clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        runner: Callable[..., subprocess.CompletedProcess[bytes]] = subprocess.run,
    ) -> None:
        if spec.api_version not in SUPPORTED_EXEC_API_VERSIONS:
            raise CredentialsError(
                f"exec plugin apiVersion {spec.api_version!r} is not supported "
                f"(use one of {', '.join(sorted(SUPPORTED_EXEC_API_VERSIONS))})"
            )
        if spec.interactive_mode == "Always":
            raise CredentialsError(
                f"exec plugin {Path(spec.command).name!r} requires an interactive terminal "
                "(interactiveMode: Always); metrics-guard runs unattended"
            )
        self._spec = spec
        self._wall_clock = wall_clock
        self._runner = runner
        self._lock = threading.Lock()
        self._cached: Credential | None = None
        self._expires: datetime | None = None

    @property
    def refreshable(self) -> bool:
        return True

    def invalidate(self) -> None:
        with self._lock:
            self._cached = None
            self._expires = None

    def current(self) -> Credential:
        with self._lock:
            now = self._wall_clock()
            if self._cached is not None and (
                self._expires is None or (self._expires - now).total_seconds() > EXPIRY_MARGIN_S
            ):
                return self._cached
            self._cached, self._expires = self._run()
            return self._cached

    def _exec_info(self) -> str:
        spec: dict[str, Any] = {"interactive": False}
        if self._spec.provide_cluster_info and self._spec.cluster_info is not None:
            spec["cluster"] = dict(self._spec.cluster_info)
        return json.dumps({"apiVersion": self._spec.api_version, "kind": "ExecCredential", "spec": spec})

    def _run(self) -> tuple[Credential, datetime | None]:
        name = Path(self._spec.command).name
        env = dict(os.environ)
        env.update(dict(self._spec.env))
        env["KUBERNETES_EXEC_INFO"] = self._exec_info()
        started = time.monotonic()
        try:
            completed = self._runner(
                [self._spec.command, *self._spec.args],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=env,
                timeout=self._spec.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise CredentialsError(
                f"exec plugin {name!r} did not finish within {self._spec.timeout_s:g} s"
            ) from exc
        except OSError as exc:
            raise CredentialsError(f"exec plugin {name!r} could not be started: {exc.strerror}") from exc
        _log.debug(
            "exec plugin finished",
            extra={"plugin": name, "rc": completed.returncode, "elapsed_s": time.monotonic() - started},
        )
        if completed.returncode != 0:
            raise CredentialsError(
                f"exec plugin {name!r} exited with status {completed.returncode} (its stderr is not shown)"
            )
        return self._parse(name, completed.stdout)

    def _parse(self, name: str, stdout: bytes) -> tuple[Credential, datetime | None]:
        try:
            doc = json.loads(stdout)
        except ValueError:
            # from None: the decode error holds the plugin's whole output, which may be a token
            raise CredentialsError(f"exec plugin {name!r} did not print an ExecCredential JSON") from None
        if not isinstance(doc, dict) or doc.get("kind") != "ExecCredential":
            raise CredentialsError(f"exec plugin {name!r} did not print an ExecCredential")
        if doc.get("apiVersion") != self._spec.api_version:
            raise CredentialsError(
                f"exec plugin {name!r} answered apiVersion {doc.get('apiVersion')!r}, "
                f"expected {self._spec.api_version!r}"
            )
        status = doc.get("status")
        if not isinstance(status, dict):
            raise CredentialsError(f"exec plugin {name!r} printed an ExecCredential without status")
        token = status.get("token")
        cert = status.get("clientCertificateData")
        key = status.get("clientKeyData")
        if token is not None and not isinstance(token, str):
            raise CredentialsError(f"exec plugin {name!r}: status.token is not a string")
        client_cert: ClientCertificate | None = None
        if cert or key:
            if not (isinstance(cert, str) and isinstance(key, str) and cert and key):
                raise CredentialsError(
                    f"exec plugin {name!r}: clientCertificateData and clientKeyData must come together"
                )
            client_cert = ClientCertificate(cert.encode(), key.encode())
        if not token and client_cert is None:
            raise CredentialsError(f"exec plugin {name!r} returned neither a token nor a client certificate")
        expires: datetime | None = None
        raw_expiry = status.get("expirationTimestamp")
        if raw_expiry is not None:
            try:
                expires = datetime.fromisoformat(str(raw_expiry).replace("Z", "+00:00"))
            except ValueError as exc:
                raise CredentialsError(
                    f"exec plugin {name!r}: expirationTimestamp is not RFC 3339: {raw_expiry!r}"
                ) from exc
            if expires.tzinfo is None:
                expires = expires.replace(tzinfo=UTC)
        return Credential(token=token or None, client_cert=client_cert), expires


class EksTokenCredentials:
    """``k8s-aws-v1.<base64url(presigned STS GetCallerIdentity URL)>``, as ``aws eks get-token`` makes it.

    The presigned URL carries the signed header ``x-k8s-aws-id: <cluster name>``. EKS accepts such a
    token for 15 minutes; it is re-made one margin before that. Presigning is local (no network call).
    """

    def __init__(
        self,
        cluster_name: str,
        sts_client: Any,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not cluster_name:
            raise CredentialsError("an EKS cluster name is required to make its token")
        self._cluster = cluster_name
        self._sts = sts_client
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._made_at = 0.0
        events = sts_client.meta.events
        events.register(
            "provide-client-params.sts.GetCallerIdentity",
            _take_cluster_param,
            unique_id="metrics-guard-eks-id-param",
        )
        events.register(
            "before-sign.sts.GetCallerIdentity",
            _inject_cluster_header,
            unique_id="metrics-guard-eks-id-header",
        )

    @property
    def refreshable(self) -> bool:
        return True

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def current(self) -> Credential:
        with self._lock:
            if self._token is None or self._clock() - self._made_at >= EKS_TOKEN_LIFETIME_S - EXPIRY_MARGIN_S:
                self._token = self._presign()
                self._made_at = self._clock()
            return Credential(token=self._token)

    def _presign(self) -> str:
        try:
            url = self._sts.generate_presigned_url(
                "get_caller_identity",
                Params={EKS_CLUSTER_HEADER: self._cluster},
                ExpiresIn=60,
                HttpMethod="GET",
            )
        except Exception as exc:  # botocore raises many unrelated types (NoCredentialsError, ...)
            raise CredentialsError(
                f"cannot presign an STS GetCallerIdentity request for EKS cluster {self._cluster!r}: "
                f"{type(exc).__name__}"
            ) from exc
        encoded = base64.urlsafe_b64encode(str(url).encode()).decode().rstrip("=")
        return EKS_TOKEN_PREFIX + encoded


def _take_cluster_param(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    if EKS_CLUSTER_HEADER in params:
        context[EKS_CLUSTER_HEADER] = params.pop(EKS_CLUSTER_HEADER)


def _inject_cluster_header(request: Any, **_: Any) -> None:
    cluster = request.context.get(EKS_CLUSTER_HEADER)
    if cluster is not None:
        request.headers[EKS_CLUSTER_HEADER] = cluster


def decode_eks_token(token: str) -> str:
    """The presigned URL inside an EKS token (for tests and diagnostics; the URL is itself a secret)."""
    if not token.startswith(EKS_TOKEN_PREFIX):
        raise CredentialsError("not an EKS token")
    body = token[len(EKS_TOKEN_PREFIX) :]
    return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).decode()


def exec_env(pairs: Sequence[Mapping[str, Any]]) -> tuple[tuple[str, str], ...]:
    """A kubeconfig exec ``env`` list (``[{name, value}]``) as pairs."""
    out: list[tuple[str, str]] = []
    for item in pairs:
        name, value = item.get("name"), item.get("value")
        if not isinstance(name, str) or not isinstance(value, str):
            raise CredentialsError("exec plugin env entries need a string name and value")
        out.append((name, value))
    return tuple(out)
