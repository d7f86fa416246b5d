"""A node root plus a fake kube-apiserver on loopback (HTTPS, client certs required) for the node script.

The fake answers ``/readyz`` and ``/metrics``; its ``aggregator_unavailable_apiservice`` gauge is 0 only
while the certificate it has "loaded" is one the test declared good. With ``hot_reload`` it loads the file
on every request (kube-apiserver >= 1.19); without, only at start and at each restart, which the restart
hook signals by appending to ``state/restarts``. ``state/restart-fails`` makes the hook fail and the
apiserver stay down (``/readyz`` 500), as the devcluster's ``apiserver-restart-fails`` fault does.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import os
import shlex
import ssl
import subprocess
import threading
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from metrics_guard.adapters.local_runner import script_path
from tests.unit.remediation.certs import cert_pem, key_pem, make_ca, make_leaf

APISERVICE = "v1beta1.metrics.k8s.io"


def der_sha(pem: bytes) -> str:
    try:
        cert = x509.load_pem_x509_certificate(pem)
    except ValueError:
        return "unparseable"
    return hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def sha_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@dataclass
class Material:
    cert_pem: str
    key_pem: str
    sha256: str

    def bundle_b64(self) -> str:
        return base64.b64encode((self.cert_pem + self.key_pem).encode()).decode()


@dataclass
class FakeNode:
    tmp: Path
    layout: str = "binary"
    hot_reload: bool = True
    good: set[str] = field(default_factory=set)
    root: Path = field(init=False)
    state: Path = field(init=False)
    cert_path: Path = field(init=False)
    key_path: Path = field(init=False)
    kubeconfig: Path = field(init=False)
    port: int = 0

    def __post_init__(self) -> None:
        self.root = self.tmp / "node"
        self.state = self.tmp / "state"
        self.state.mkdir(parents=True)
        (self.state / "restarts").write_text("")
        # The requestheader CA and the current (old) proxy client certificate.
        self.rh_ca, self.rh_key = make_ca("requestheader-ca")
        old_cert, old_key = make_leaf(self.rh_ca, self.rh_key, "aggregator", client=True)
        if self.layout == "binary":
            pki = self.root / "etc/ssl/kubernetes"
            self.cert_path, self.key_path = pki / "metrics-server.pem", pki / "metrics-server-key.pem"
        else:
            pki = self.root / "etc/kubernetes/pki"
            self.cert_path, self.key_path = pki / "front-proxy-client.crt", pki / "front-proxy-client.key"
        pki.mkdir(parents=True)
        self.cert_path.write_text(cert_pem(old_cert))
        self.key_path.write_text(key_pem(old_key))
        self.cert_path.chmod(0o644)
        self.key_path.chmod(0o600)
        if self.layout == "binary":
            unit = self.root / "etc/systemd/system/kube-apiserver.service"
            unit.parent.mkdir(parents=True)
            unit.write_text(
                "[Service]\nExecStart=/usr/local/bin/kube-apiserver \\\n"
                "  --secure-port=6443 \\\n"
                f"  --proxy-client-cert-file={self.cert_path} \\\n"
                f"  '--proxy-client-key-file={self.key_path}' \\\n"
                "  --enable-aggregator-routing=true\nRestart=on-failure\n"
            )
        else:
            manifest = self.root / "etc/kubernetes/manifests/kube-apiserver.yaml"
            manifest.parent.mkdir(parents=True)
            manifest.write_text(
                "spec:\n  containers:\n  - command:\n    - kube-apiserver\n"
                "    - --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt\n"
                "    - --proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key\n"
            )
        # Serving and client credentials for /readyz and /metrics.
        self.serving_ca, self.serving_ca_key = make_ca("apiserver-ca")
        server_cert, server_key = make_leaf(
            self.serving_ca, self.serving_ca_key, "kube-apiserver", server_ip="127.0.0.1"
        )
        admin_cert, admin_key = make_leaf(self.serving_ca, self.serving_ca_key, "admin", client=True)
        creds = self.tmp / "server"
        creds.mkdir()
        (creds / "cert.pem").write_text(cert_pem(server_cert))
        (creds / "key.pem").write_text(key_pem(server_key))
        (creds / "ca.pem").write_text(cert_pem(self.serving_ca))
        self._loaded = der_sha(self.cert_path.read_bytes())
        self._restarts_seen = 0
        self._start_server(creds)

        def b64(text: str) -> str:
            return base64.b64encode(text.encode()).decode()

        self.kubeconfig = self.tmp / "kubeconfig"
        self.kubeconfig.write_text(
            "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n"
            f"    certificate-authority-data: {b64(cert_pem(self.serving_ca))}\n"
            f"    server: https://127.0.0.1:{self.port}\n  name: dev\n"
            "users:\n- name: admin\n  user:\n"
            f"    client-certificate-data: {b64(cert_pem(admin_cert))}\n"
            f"    client-key-data: {b64(key_pem(admin_key))}\n"
        )

    # ------------------------------------------------------------------------------------ the fake server

    def _start_server(self, creds: Path) -> None:
        node = self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(creds / "cert.pem", creds / "key.pem")
        context.load_verify_locations(creds / "ca.pem")
        context.verify_mode = ssl.CERT_REQUIRED

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = node.answer(self.path)
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: object) -> None:
                return

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.port = int(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self) -> bool:
        return (self.state / "restart-fails").exists() and self.restarts() > 0

    def restarts(self) -> int:
        return len((self.state / "restarts").read_text())

    def answer(self, path: str) -> tuple[int, str]:
        if self.hot_reload:
            self._loaded = der_sha(self.cert_path.read_bytes())
        elif self.restarts() != self._restarts_seen:
            self._restarts_seen = self.restarts()
            self._loaded = der_sha(self.cert_path.read_bytes())
        if self.down():
            return 500, "down"
        if path.startswith("/readyz"):
            return 200, "ok"
        if path.startswith("/metrics"):
            gauge = 0 if self._loaded in self.good else 1
            return 200, (
                "# TYPE aggregator_unavailable_apiservice gauge\n"
                'aggregator_unavailable_apiservice{name="v1beta1.custom.example.com"} 0\n'
                f'aggregator_unavailable_apiservice{{name="{APISERVICE}"}} {gauge}\n'
                f'aggregator_unavailable_apiservice_total{{name="{APISERVICE}",reason="FailedDiscoveryCheck"}} 0\n'
            )
        return 404, "not found"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    # --------------------------------------------------------------------------------------- the script

    def new_material(self, *, mismatched_key: bool = False) -> Material:
        cert, key = make_leaf(self.rh_ca, self.rh_key, "aggregator", client=True)
        if mismatched_key:
            _, key = make_leaf(self.rh_ca, self.rh_key, "aggregator", client=True)
        pem = cert_pem(cert)
        return Material(pem, key_pem(key), der_sha(pem.encode()))

    def restart_command(self) -> str:
        state = shlex.quote(str(self.state))
        return f"printf r >> {state}/restarts; test ! -e {state}/restart-fails"

    def run(
        self,
        material: Material,
        *,
        strategy: str = "reload-then-restart",
        expected: str | None = None,
        extra: tuple[str, ...] = (),
    ) -> subprocess.CompletedProcess[str]:
        material_file = self.tmp / "material"
        material_file.write_text(material.bundle_b64())
        material_file.chmod(0o600)
        argv = [
            "bash",
            str(script_path()),
            "--material-file",
            str(material_file),
            "--expected-sha256",
            expected or material.sha256,
            "--strategy",
            strategy,
            "--layout",
            self.layout,
            "--kubeconfig",
            str(self.kubeconfig),
            "--apiserver-url",
            f"https://127.0.0.1:{self.port}",
            "--timeout",
            "4",
            "--reload-wait",
            "2",
            "--root",
            str(self.root),
            "--restart-command",
            self.restart_command(),
            "--backup-dir",
            str(self.tmp / f"backup-{self.restarts()}-{len(list(self.tmp.iterdir()))}"),
            *extra,
        ]
        env = dict(os.environ, MG_POLL_INTERVAL="0.2")
        return subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env, check=False)

    def hashes(self) -> tuple[str, str]:
        return sha_file(self.cert_path), sha_file(self.key_path)
