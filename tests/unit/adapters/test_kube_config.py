"""Kubeconfig variants end to end against a loopback server, the errors of bad kubeconfigs, exec plugins
and EKS tokens."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
import yaml

from metrics_guard.adapters.credentials import EKS_TOKEN_LIFETIME_S, EksTokenCredentials, decode_eks_token
from metrics_guard.adapters.kube import load_kubeconfig_contexts, transport_for_eks, transport_from_kubeconfig
from metrics_guard.errors import ConfigError, CredentialsError
from metrics_guard.ports import TransportLimits
from tests import servers
from tests.servers import LoopbackHttpsServer, LoopbackPki

FAST = TransportLimits(connect_timeout_s=1, read_timeout_s=2, retries=0)


@pytest.fixture(scope="module")
def pki() -> LoopbackPki:
    return servers.make_pki()


@pytest.fixture(scope="module")
def server(pki: LoopbackPki) -> Iterator[LoopbackHttpsServer]:
    with LoopbackHttpsServer(pki, {"/whoami": servers.whoami()}) as srv:
        yield srv


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def write_kubeconfig(tmp: Path, server_url: str, ca: bytes, user: dict[str, Any], **cluster: Any) -> Path:
    doc = {
        "apiVersion": "v1",
        "kind": "Config",
        "current-context": "main",
        "clusters": [
            {"name": "c", "cluster": {"server": server_url, "certificate-authority-data": b64(ca), **cluster}}
        ],
        "users": [{"name": "u", "user": user}],
        "contexts": [
            {"name": "main", "context": {"cluster": "c", "user": "u"}},
            {"name": "other", "context": {"cluster": "c", "user": "u"}},
        ],
    }
    path = tmp / "kubeconfig"
    path.write_text(yaml.safe_dump(doc))
    return path


def whoami(path: Path, context: str | None = None, **kwargs: Any) -> dict[str, Any]:
    t = transport_from_kubeconfig(str(path), context, limits=FAST, **kwargs)
    response = t.get("/whoami")
    assert response.status == 200
    result: dict[str, Any] = json.loads(response.body)
    return result


def test_client_certificate_inline(tmp_path: Path, server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    client = pki.client("system:metrics-guard")
    path = write_kubeconfig(
        tmp_path,
        server.url,
        pki.ca.cert_pem,
        {"client-certificate-data": b64(client.cert_pem), "client-key-data": b64(client.key_pem)},
    )
    assert whoami(path) == {
        "authorization": None,
        "client_cn": "system:metrics-guard",
        "user_agent": "metrics-guard/0.1",
        "accept": "application/json",
    }


def test_client_certificate_files_relative_to_kubeconfig(
    tmp_path: Path, server: LoopbackHttpsServer, pki: LoopbackPki
) -> None:
    client = pki.client("from-files")
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki/c.crt").write_bytes(client.cert_pem)
    (tmp_path / "pki/c.key").write_bytes(client.key_pem)
    (tmp_path / "pki/ca.crt").write_bytes(pki.ca.cert_pem)
    path = write_kubeconfig(
        tmp_path, server.url, pki.ca.cert_pem, {"client-certificate": "pki/c.crt", "client-key": "pki/c.key"}
    )
    doc = yaml.safe_load(path.read_text())
    del doc["clusters"][0]["cluster"]["certificate-authority-data"]
    doc["clusters"][0]["cluster"]["certificate-authority"] = "pki/ca.crt"
    path.write_text(yaml.safe_dump(doc))
    assert whoami(path)["client_cn"] == "from-files"


def test_token(tmp_path: Path, server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    path = write_kubeconfig(tmp_path, server.url, pki.ca.cert_pem, {"token": "tok-123"})
    assert whoami(path, "other")["authorization"] == "Bearer tok-123"


def test_token_file(tmp_path: Path, server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    (tmp_path / "token").write_text("tok-from-file\n")
    path = write_kubeconfig(tmp_path, server.url, pki.ca.cert_pem, {"tokenFile": "token"})
    assert whoami(path)["authorization"] == "Bearer tok-from-file"


def test_server_override_keeps_credentials_and_trust(
    tmp_path: Path, server: LoopbackHttpsServer, pki: LoopbackPki
) -> None:
    path = write_kubeconfig(
        tmp_path, f"https://127.0.0.1:{servers.free_port()}", pki.ca.cert_pem, {"token": "t"}
    )
    assert whoami(path, server_override=server.url)["authorization"] == "Bearer t"


def exec_plugin(tmp: Path, api_version: str, status: dict[str, Any], *, rc: int = 0) -> Path:
    script = tmp / "plugin.py"
    counter = tmp / "calls"
    script.write_text(
        textwrap.dedent(f"""\
        #!{sys.executable}
        import json, os, sys
        info = json.loads(os.environ["KUBERNETES_EXEC_INFO"])
        with open({str(counter)!r}, "a") as fh:
            fh.write(info["spec"].get("cluster", {{}}).get("server", "-") + "\\n")
        print("secret-on-stderr", file=sys.stderr)
        if {rc}:
            sys.exit({rc})
        print(json.dumps({{"apiVersion": {api_version!r}, "kind": "ExecCredential", "status": {status!r}}}))
        """)
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.parametrize(
    "api_version", ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]
)
def test_exec_plugin_token_cached_until_expiry(
    tmp_path: Path, server: LoopbackHttpsServer, pki: LoopbackPki, api_version: str
) -> None:
    expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat().replace("+00:00", "Z")
    exec_plugin(tmp_path, api_version, {"token": "exec-token", "expirationTimestamp": expiry})
    path = write_kubeconfig(
        tmp_path,
        server.url,
        pki.ca.cert_pem,
        {
            "exec": {
                "apiVersion": api_version,
                "command": "./plugin.py",
                "provideClusterInfo": True,
                "env": [{"name": "X", "value": "1"}],
                "interactiveMode": "Never",
            }
        },
    )
    t = transport_from_kubeconfig(str(path), None, limits=FAST)
    for _ in range(3):
        assert json.loads(t.get("/whoami").body)["authorization"] == "Bearer exec-token"
    assert (tmp_path / "calls").read_text() == f"{server.url}\n"  # ran once, got the cluster info


def test_exec_plugin_expired_token_is_refreshed(
    tmp_path: Path, server: LoopbackHttpsServer, pki: LoopbackPki
) -> None:
    expiry = (datetime.now(UTC) + timedelta(seconds=10)).isoformat()  # inside the refresh margin
    plugin = exec_plugin(
        tmp_path, "client.authentication.k8s.io/v1", {"token": "t", "expirationTimestamp": expiry}
    )
    path = write_kubeconfig(
        tmp_path,
        server.url,
        pki.ca.cert_pem,
        {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}},
    )
    t = transport_from_kubeconfig(str(path), None, limits=FAST)
    t.get("/whoami")
    t.get("/whoami")
    assert (tmp_path / "calls").read_text().count("\n") == 2


def test_exec_plugin_failure_hides_stderr(
    tmp_path: Path, server: LoopbackHttpsServer, pki: LoopbackPki
) -> None:
    plugin = exec_plugin(tmp_path, "client.authentication.k8s.io/v1", {}, rc=3)
    path = write_kubeconfig(
        tmp_path,
        server.url,
        pki.ca.cert_pem,
        {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}},
    )
    t = transport_from_kubeconfig(str(path), None, limits=FAST)
    with pytest.raises(CredentialsError, match="exited with status 3") as info:
        t.get("/whoami")
    assert "secret-on-stderr" not in str(info.value)


def test_exec_plugin_timeout(tmp_path: Path, server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    plugin = tmp_path / "slow.sh"
    plugin.write_text("#!/bin/sh\nsleep 5\n")
    plugin.chmod(0o755)
    path = write_kubeconfig(
        tmp_path,
        server.url,
        pki.ca.cert_pem,
        {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}},
    )
    t = transport_from_kubeconfig(str(path), None, limits=FAST, exec_timeout_s=0.3)
    with pytest.raises(CredentialsError, match=r"did not finish within 0\.3 s"):
        t.get("/whoami")


def test_exec_plugin_bad_output_does_not_leak_it(
    tmp_path: Path, server: LoopbackHttpsServer, pki: LoopbackPki
) -> None:
    plugin = tmp_path / "p.sh"
    plugin.write_text("#!/bin/sh\necho 'token: sekrit-but-not-json'\n")
    plugin.chmod(0o755)
    path = write_kubeconfig(
        tmp_path,
        server.url,
        pki.ca.cert_pem,
        {"exec": {"apiVersion": "client.authentication.k8s.io/v1", "command": str(plugin)}},
    )
    with pytest.raises(CredentialsError) as info:
        transport_from_kubeconfig(str(path), None, limits=FAST).get("/whoami")
    assert "sekrit" not in str(info.value)
    assert info.value.__cause__ is None and info.value.__suppress_context__


# ------------------------------------------------------------------------------------------ bad input


def test_missing_context_lists_the_available_ones(tmp_path: Path, pki: LoopbackPki) -> None:
    path = write_kubeconfig(tmp_path, "https://127.0.0.1:1", pki.ca.cert_pem, {"token": "t"})
    with pytest.raises(ConfigError, match="no context 'prod'; available: main, other"):
        transport_from_kubeconfig(str(path), "prod")
    assert load_kubeconfig_contexts(str(path)) == ["main", "other"]


def test_insecure_skip_tls_verify_is_refused(tmp_path: Path, pki: LoopbackPki) -> None:
    path = write_kubeconfig(
        tmp_path, "https://127.0.0.1:1", pki.ca.cert_pem, {"token": "t"}, **{"insecure-skip-tls-verify": True}
    )
    with pytest.raises(ConfigError, match="does not disable TLS verification"):
        transport_from_kubeconfig(str(path), None)


def _mutate(path: Path, fn: Any) -> Path:
    doc = yaml.safe_load(path.read_text())
    fn(doc)
    path.write_text(yaml.safe_dump(doc))
    return path


@pytest.mark.parametrize(
    ("mutation", "message"),
    [
        (lambda d: d["contexts"][0]["context"].update(cluster="nope"), "missing cluster 'nope'"),
        (lambda d: d["contexts"][0]["context"].update(user="nobody"), "missing user 'nobody'"),
        (
            lambda d: d["users"][0]["user"].update(
                {
                    "token": None,
                    "client-certificate": "/nonexistent/c.crt",
                    "client-key": "/nonexistent/c.key",
                }
            ),
            "cannot be read",
        ),
        (
            lambda d: d["clusters"][0]["cluster"].update({"certificate-authority-data": b64(b"not pem")}),
            "is not PEM",
        ),
        (
            lambda d: d["users"][0]["user"].update(
                {"token": None, "client-certificate-data": b64(b"junk"), "client-key-data": b64(b"junk")}
            ),
            "is not PEM",
        ),
        (
            lambda d: d["users"][0]["user"].update({"token": None, "auth-provider": {"name": "gcp"}}),
            "auth-provider",
        ),
        (lambda d: d["clusters"][0]["cluster"].update(server="http://127.0.0.1:8080"), "https://"),
        (lambda d: d.update({"current-context": ""}), "no current-context; choose one of: main, other"),
        (
            lambda d: d["users"][0]["user"].update({"token": None, "tokenFile": "/nonexistent/t"}),
            "cannot read token file",
        ),
    ],
    ids=[
        "missing-cluster",
        "missing-user",
        "unreadable-cert",
        "bad-ca-pem",
        "bad-client-pem",
        "auth-provider",
        "plain-http",
        "no-current-context",
        "missing-token-file",
    ],
)
def test_bad_kubeconfigs(tmp_path: Path, pki: LoopbackPki, mutation: Any, message: str) -> None:
    path = _mutate(
        write_kubeconfig(tmp_path, "https://127.0.0.1:1", pki.ca.cert_pem, {"token": "tok"}), mutation
    )
    with pytest.raises(ConfigError, match=message) as info:
        transport_from_kubeconfig(str(path), None)
    assert "tok" not in str(info.value).replace("token", "")


def test_missing_and_not_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_kubeconfig_contexts(str(tmp_path / "nope"))
    (tmp_path / "bad").write_text("clusters: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_kubeconfig_contexts(str(tmp_path / "bad"))
    (tmp_path / "list").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="not a YAML mapping"):
        load_kubeconfig_contexts(str(tmp_path / "list"))


def test_kubeconfig_env_list_merges_first_wins(
    tmp_path: Path, pki: LoopbackPki, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = write_kubeconfig(tmp_path, "https://127.0.0.1:1", pki.ca.cert_pem, {"token": "t"})
    second = tmp_path / "second"
    second.write_text(
        yaml.safe_dump(
            {
                "contexts": [
                    {"name": "extra", "context": {"cluster": "c", "user": "u"}},
                    {"name": "main", "context": {"cluster": "x", "user": "y"}},
                ]
            }
        )
    )
    monkeypatch.setenv("KUBECONFIG", os.pathsep.join([str(first), str(tmp_path / "missing"), str(second)]))
    assert load_kubeconfig_contexts(None) == ["main", "other", "extra"]
    assert transport_from_kubeconfig(None, "extra").endpoint == "https://127.0.0.1:1"


# ------------------------------------------------------------------------------------------------ EKS


def sts() -> Any:
    return boto3.client(
        "sts",
        region_name="eu-west-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="fake-secret-key",
    )


def test_eks_token_format() -> None:
    token = EksTokenCredentials("prod-cluster", sts()).current().token
    assert token is not None
    assert token.startswith("k8s-aws-v1.")
    assert "=" not in token
    url = urlsplit(decode_eks_token(token))
    query = parse_qs(url.query)
    assert url.scheme == "https"
    assert url.hostname is not None and url.hostname.startswith("sts.")
    assert query["Action"] == ["GetCallerIdentity"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0].split(";")
    assert query["X-Amz-Expires"] == ["60"]
    assert query["X-Amz-Credential"][0].startswith("AKIDEXAMPLE/")


def test_eks_token_is_remade_before_15_minutes() -> None:
    now = [0.0]
    provider = EksTokenCredentials("c", sts(), clock=lambda: now[0])
    first = provider.current().token
    now[0] = EKS_TOKEN_LIFETIME_S - 120
    assert provider.current().token == first
    now[0] = EKS_TOKEN_LIFETIME_S - 30
    assert provider.current().token is not None


def test_eks_transport_sends_the_token(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    t = transport_for_eks("c", server.url, pki.ca.cert_pem.decode(), sts_client=sts(), limits=FAST)
    assert json.loads(t.get("/whoami").body)["authorization"].startswith("Bearer k8s-aws-v1.")


def test_eks_without_credentials_is_a_credentials_error(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    client = boto3.session.Session().client("sts", region_name="eu-west-1")
    with pytest.raises(CredentialsError, match="NoCredentialsError"):
        EksTokenCredentials("c", client).current()


# -------------------------------------------------------------------------------------------- imports


def test_no_typed_api_or_config_module_is_imported() -> None:
    code = textwrap.dedent("""
        import sys
        from metrics_guard.adapters.kube import transport_from_token
        print("kubernetes" in sys.modules)
        t = transport_from_token("https://127.0.0.1:1", "t", sys.argv[1])
        t._client_for(t._credentials.current())
        loaded = sorted(m for m in sys.modules if m.startswith("kubernetes"))
        print(",".join(loaded))
        import kubernetes
        print(kubernetes.utils.parse_quantity("250m"))
    """)
    ca = servers.make_ca().cert_pem.decode()
    out = subprocess.run(
        [sys.executable, "-c", code, ca], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n")
    assert out[0] == "False"  # importing the adapter loads nothing of kubernetes yet
    loaded = out[1].split(",")
    assert "kubernetes.client.api_client" in loaded
    for forbidden in (
        "kubernetes.config",
        "kubernetes.config.kube_config",
        "kubernetes.client.api",
        "kubernetes.client.api.core_v1_api",
        "kubernetes.dynamic",
        "kubernetes.watch",
    ):
        assert forbidden not in loaded
    assert not any(m.startswith("kubernetes.client.models.") for m in loaded)
    assert out[2] == "0.250"  # the lazily completed package still serves kubernetes.utils
