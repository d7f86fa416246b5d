from __future__ import annotations

from pathlib import Path

from metrics_guard.adapters.noderoot import NodeRootSource
from metrics_guard.pki.inspect import spki_sha256
from metrics_guard.ports import NodeRef
from tests.pki_factory import make_ca, make_cert

UNIT = """[Unit]
Description=Kubernetes API Server

[Service]
ExecStart=/usr/local/bin/kube-apiserver \\
  --secure-port=6443 \\
  --requestheader-client-ca-file=/etc/ssl/kubernetes/ca.pem \\
  --requestheader-allowed-names=aggregator \\
  --requestheader-username-headers=X-Remote-User \\
  --proxy-client-cert-file=/etc/ssl/kubernetes/metrics-server.pem \\
  --proxy-client-key-file=/etc/ssl/kubernetes/metrics-server-key.pem \\
  --enable-aggregator-routing=true
Restart=on-failure
"""


def test_binary_layout(tmp_path: Path) -> None:
    ca = make_ca("front-proxy-ca")
    leaf = make_cert("aggregator", ca)
    (tmp_path / "etc/systemd/system").mkdir(parents=True)
    (tmp_path / "etc/systemd/system/kube-apiserver.service").write_text(UNIT)
    pki = tmp_path / "etc/ssl/kubernetes"
    pki.mkdir(parents=True)
    (pki / "ca.pem").write_text(ca.cert_pem)
    (pki / "metrics-server.pem").write_text(leaf.cert_pem)
    (pki / "metrics-server-key.pem").write_bytes(leaf.key_pem)
    [material] = NodeRootSource().read([NodeRef(1, "m1", node_root=str(tmp_path))])
    assert material.errors == ()
    assert material.flags["requestheader-allowed-names"] == "aggregator"
    assert material.proxy_client_cert_pem == leaf.cert_pem
    assert material.proxy_client_key_public_sha256 == spki_sha256(leaf.key.public_key())
    assert "PRIVATE KEY" not in repr(material)


def test_kubeadm_layout_and_missing_files(tmp_path: Path) -> None:
    manifest = tmp_path / "etc/kubernetes/manifests"
    manifest.mkdir(parents=True)
    (manifest / "kube-apiserver.yaml").write_text(
        "spec:\n  containers:\n  - command:\n    - kube-apiserver\n    - --proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt\n    image: x\n"
    )
    [material] = NodeRootSource().read([NodeRef(2, "m2", node_root=str(tmp_path))])
    assert material.layout == "kubeadm"
    assert material.proxy_client_cert_pem is None and material.errors


def test_no_root() -> None:
    [material] = NodeRootSource().read([NodeRef(3, "m3")])
    assert material.errors == ("no node root given",)
