"""Reading kubeconfig files into what a transport needs: endpoint, trust, TLS server name, credentials.

Parsed with PyYAML rather than ``kubernetes.config.kube_config``: that module costs ~180 ms of imports
(google-auth, requests-oauthlib, ...) and would happily disable verification. Semantics follow kubectl:
``$KUBECONFIG`` may list several files (the first value of each name wins), relative paths are relative to
the file that names them, ``*-data`` fields are base64.

metrics-guard never disables TLS verification: ``insecure-skip-tls-verify: true`` is a ConfigError.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metrics_guard.adapters.credentials import (
    ClientCertificate,
    Credential,
    CredentialProvider,
    ExecCredentials,
    ExecSpec,
    StaticCredentials,
    TokenFileCredentials,
    exec_env,
)
from metrics_guard.errors import ConfigError, CredentialsError

_PEM_CERT = b"-----BEGIN CERTIFICATE-----"


@dataclass(frozen=True, slots=True)
class ResolvedKubeconfig:
    """One context of a kubeconfig, with files read and data decoded."""

    context: str
    server: str
    ca_pem: bytes | None  # None: the system trust store
    tls_server_name: str | None
    proxy_url: str | None
    credentials: CredentialProvider = field(repr=False)


@dataclass(frozen=True, slots=True)
class _Doc:
    path: Path
    data: Mapping[str, Any]


def default_kubeconfig_paths() -> list[Path]:
    env = os.environ.get("KUBECONFIG")
    if env:
        return [Path(p).expanduser() for p in env.split(os.pathsep) if p]
    return [Path("~/.kube/config").expanduser()]


def _load_docs(path: str | None) -> list[_Doc]:
    paths = [Path(path).expanduser()] if path else default_kubeconfig_paths()
    docs: list[_Doc] = []
    for p in paths:
        if not p.is_file():
            if path is None and len(paths) > 1:
                continue  # kubectl skips missing entries of a $KUBECONFIG list
            raise ConfigError(f"kubeconfig {p} does not exist")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"kubeconfig {p} cannot be read: {type(exc).__name__}") from exc
        data = _parse(p, text)
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"kubeconfig {p} is not a YAML mapping")
        docs.append(_Doc(p, data))
    if not docs:
        raise ConfigError(f"no kubeconfig found (looked at {', '.join(str(p) for p in paths)})")
    return docs


def _parse(p: Path, text: str) -> Any:
    """JSON is YAML: a kubeconfig written as JSON (as the devcluster's and many generators' are) is read
    with ``json``; anything else with PyYAML, imported only then (libyaml's loader when available)."""
    if text.lstrip().startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            pass  # YAML flow mapping that is not strict JSON: let YAML decide
    import yaml

    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(text, Loader=loader)  # noqa: S506 - a safe loader
    except yaml.YAMLError as exc:
        raise ConfigError(f"kubeconfig {p} is not valid YAML") from exc


def _named(docs: list[_Doc], section: str, item: str) -> dict[str, tuple[_Doc, Mapping[str, Any]]]:
    """name -> (doc it came from, its body); the first file naming an entry wins."""
    out: dict[str, tuple[_Doc, Mapping[str, Any]]] = {}
    for doc in docs:
        entries = doc.data.get(section) or []
        if not isinstance(entries, list):
            raise ConfigError(f"kubeconfig {doc.path}: {section} must be a list")
        for entry in entries:
            if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
                raise ConfigError(f"kubeconfig {doc.path}: every entry of {section} needs a name")
            body = entry.get(item) or {}
            if not isinstance(body, dict):
                raise ConfigError(f"kubeconfig {doc.path}: {section} {entry['name']!r} has no {item} mapping")
            out.setdefault(entry["name"], (doc, body))
    return out


def load_kubeconfig_contexts(path: str | None) -> list[str]:
    """The context names of a kubeconfig (``None``: ``$KUBECONFIG`` or ``~/.kube/config``), in file order."""
    return list(_named(_load_docs(path), "contexts", "context"))


def _current_context(docs: list[_Doc]) -> str | None:
    for doc in docs:
        current = doc.data.get("current-context")
        if isinstance(current, str) and current:
            return current
    return None


def _b64(doc: _Doc, what: str, value: Any) -> bytes:
    if not isinstance(value, str):
        raise ConfigError(f"kubeconfig {doc.path}: {what} must be a base64 string")
    try:
        return base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ConfigError(f"kubeconfig {doc.path}: {what} is not valid base64") from exc


def _file(doc: _Doc, what: str, value: Any) -> bytes:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"kubeconfig {doc.path}: {what} must be a file path")
    p = _resolve(doc, value)
    try:
        return p.read_bytes()
    except OSError as exc:
        raise ConfigError(f"kubeconfig {doc.path}: {what} {p} cannot be read: {exc.strerror}") from exc


def _resolve(doc: _Doc, value: str) -> Path:
    p = Path(value).expanduser()
    return p if p.is_absolute() else doc.path.parent / p


def _material(doc: _Doc, body: Mapping[str, Any], file_key: str, data_key: str, what: str) -> bytes | None:
    if body.get(data_key):
        return _b64(doc, f"{what} {data_key}", body[data_key])
    if body.get(file_key):
        return _file(doc, f"{what} {file_key}", body[file_key])
    return None


def _check_pem(doc: _Doc, what: str, data: bytes, marker: bytes = _PEM_CERT) -> bytes:
    if marker not in data:
        raise ConfigError(f"kubeconfig {doc.path}: {what} is not PEM (no {marker.decode()!r} block)")
    return data


def _check_key_pem(doc: _Doc, what: str, data: bytes) -> bytes:
    if b"-----BEGIN " not in data or b"PRIVATE KEY-----" not in data:
        raise ConfigError(f"kubeconfig {doc.path}: {what} is not a PEM private key")
    return data


def resolve_kubeconfig(
    path: str | None,
    context: str | None,
    *,
    exec_timeout_s: float = 30.0,
) -> ResolvedKubeconfig:
    """Read one context (``None``: the current context) of a kubeconfig; every problem is a ConfigError."""
    docs = _load_docs(path)
    where = str(docs[0].path) if len(docs) == 1 else os.pathsep.join(str(d.path) for d in docs)
    contexts = _named(docs, "contexts", "context")
    name = context or _current_context(docs)
    if name is None:
        raise ConfigError(
            f"kubeconfig {where} has no current-context; choose one of: {', '.join(contexts) or '(none)'}"
        )
    if name not in contexts:
        raise ConfigError(
            f"kubeconfig {where} has no context {name!r}; available: {', '.join(contexts) or '(none)'}"
        )
    ctx_doc, ctx = contexts[name]
    cluster_name, user_name = ctx.get("cluster"), ctx.get("user")
    if not isinstance(cluster_name, str) or not cluster_name:
        raise ConfigError(f"kubeconfig {ctx_doc.path}: context {name!r} names no cluster")
    clusters = _named(docs, "clusters", "cluster")
    if cluster_name not in clusters:
        raise ConfigError(f"kubeconfig {where}: context {name!r} refers to missing cluster {cluster_name!r}")
    cdoc, cluster = clusters[cluster_name]

    if cluster.get("insecure-skip-tls-verify") is True:
        raise ConfigError(
            f"kubeconfig {cdoc.path}: cluster {cluster_name!r} sets insecure-skip-tls-verify; "
            "metrics-guard does not disable TLS verification (give certificate-authority(-data) instead)"
        )
    server = cluster.get("server")
    if not isinstance(server, str) or not server.startswith("https://"):
        raise ConfigError(f"kubeconfig {cdoc.path}: cluster {cluster_name!r} needs an https:// server")
    ca = _material(cdoc, cluster, "certificate-authority", "certificate-authority-data", "cluster")
    if ca is not None:
        _check_pem(cdoc, f"cluster {cluster_name!r} certificate authority", ca)
    tls_server_name = cluster.get("tls-server-name") or None
    proxy_url = cluster.get("proxy-url") or None

    credentials: CredentialProvider
    if user_name in (None, ""):
        credentials = StaticCredentials(Credential())
    else:
        users = _named(docs, "users", "user")
        if not isinstance(user_name, str) or user_name not in users:
            raise ConfigError(f"kubeconfig {where}: context {name!r} refers to missing user {user_name!r}")
        udoc, user = users[user_name]
        credentials = _credentials(
            udoc,
            str(user_name),
            user,
            server=server,
            ca=ca,
            tls_server_name=tls_server_name,
            exec_timeout_s=exec_timeout_s,
        )
    return ResolvedKubeconfig(
        context=name,
        server=server.rstrip("/"),
        ca_pem=ca,
        tls_server_name=str(tls_server_name) if tls_server_name else None,
        proxy_url=str(proxy_url) if proxy_url else None,
        credentials=credentials,
    )


def _credentials(
    doc: _Doc,
    name: str,
    user: Mapping[str, Any],
    *,
    server: str,
    ca: bytes | None,
    tls_server_name: Any,
    exec_timeout_s: float,
) -> CredentialProvider:
    for unsupported in ("auth-provider", "username", "password"):
        if user.get(unsupported):
            raise ConfigError(
                f"kubeconfig {doc.path}: user {name!r} uses {unsupported}, which metrics-guard does not "
                "support (use a client certificate, a token, tokenFile or an exec plugin)"
            )
    cert = _material(doc, user, "client-certificate", "client-certificate-data", f"user {name!r}")
    key = _material(doc, user, "client-key", "client-key-data", f"user {name!r}")
    if (cert is None) != (key is None):
        raise ConfigError(f"kubeconfig {doc.path}: user {name!r} has a client certificate without its key")
    client_cert: ClientCertificate | None = None
    if cert is not None and key is not None:
        _check_pem(doc, f"user {name!r} client certificate", cert)
        _check_key_pem(doc, f"user {name!r} client key", key)
        client_cert = ClientCertificate(cert, key)

    token = user.get("token")
    if token:
        if not isinstance(token, str):
            raise ConfigError(f"kubeconfig {doc.path}: user {name!r} token must be a string")
        return StaticCredentials(Credential(token=token.strip(), client_cert=client_cert))
    token_file = user.get("tokenFile")
    if token_file:
        if not isinstance(token_file, str):
            raise ConfigError(f"kubeconfig {doc.path}: user {name!r} tokenFile must be a path")
        provider = TokenFileCredentials(_resolve(doc, token_file), client_cert)
        try:
            provider.current()  # fail at load time, as the other files do
        except CredentialsError as exc:
            raise ConfigError(f"kubeconfig {doc.path}: user {name!r}: {exc}") from exc
        return provider
    exec_body = user.get("exec")
    if exec_body:
        if client_cert is not None:
            raise ConfigError(f"kubeconfig {doc.path}: user {name!r} has both a client certificate and exec")
        return _exec(
            doc,
            name,
            exec_body,
            server=server,
            ca=ca,
            tls_server_name=tls_server_name,
            timeout_s=exec_timeout_s,
        )
    return StaticCredentials(Credential(client_cert=client_cert))


def _exec(
    doc: _Doc,
    name: str,
    body: Any,
    *,
    server: str,
    ca: bytes | None,
    tls_server_name: Any,
    timeout_s: float,
) -> ExecCredentials:
    if not isinstance(body, dict):
        raise ConfigError(f"kubeconfig {doc.path}: user {name!r} exec must be a mapping")
    command = body.get("command")
    if not isinstance(command, str) or not command:
        raise ConfigError(f"kubeconfig {doc.path}: user {name!r} exec needs a command")
    if os.sep in command and not Path(command).is_absolute():
        command = str(doc.path.parent / command)  # kubectl: relative to the kubeconfig
    args = body.get("args") or []
    if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
        raise ConfigError(f"kubeconfig {doc.path}: user {name!r} exec args must be strings")
    cluster_info: dict[str, Any] = {"server": server}
    if ca is not None:
        cluster_info["certificate-authority-data"] = base64.b64encode(ca).decode()
    if tls_server_name:
        cluster_info["tls-server-name"] = tls_server_name
    try:
        return ExecCredentials(
            ExecSpec(
                api_version=str(body.get("apiVersion") or ""),
                command=command,
                args=tuple(args),
                env=exec_env(body.get("env") or []),
                interactive_mode=body.get("interactiveMode"),
                provide_cluster_info=bool(body.get("provideClusterInfo")),
                cluster_info=cluster_info,
                timeout_s=timeout_s,
            )
        )
    except CredentialsError as exc:
        raise ConfigError(f"kubeconfig {doc.path}: user {name!r}: {exc}") from exc
