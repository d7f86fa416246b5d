"""Local wiring shared by the demo and the tests: probe targets, the local runner and node-root helpers for
a running devcluster (from its ``status -o json`` document)."""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from metrics_guard.adapters import noderoot
from metrics_guard.model import FindingsDocument
from metrics_guard.ports import KubeTransport, NodeRef
from metrics_guard.service.probe import ProbePolicy, ProbeTargets, run_probe

SSL_DIR = "etc/ssl/kubernetes"
UNIT = "etc/systemd/system/kube-apiserver.service"
#: The node-root files a rollout may touch (the proxy client pair) and their neighbours, for hashing.
WATCHED = (f"{SSL_DIR}/metrics-server.pem", f"{SSL_DIR}/metrics-server-key.pem", UNIT)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _rebase_kept(root: Path, path: str) -> Path:
    """Like ``noderoot.rebase``, but a path already inside the root (the devcluster's units) is kept."""
    candidate = Path(path)
    if candidate.is_absolute() and candidate.is_relative_to(root):
        return candidate
    return root / path.lstrip("/")


def patch_noderoot_rebase() -> bool:
    """Work around a mismatch between two other parts: the devcluster's units carry host paths that already
    lie inside the node root, and ``noderoot.rebase`` prefixes the root again (the node script keeps such
    paths). Patched only while the original still double-prefixes; returns whether it patched."""
    probe_root = Path("/r")
    if noderoot.rebase(probe_root, "/r/etc/x") == Path("/r/etc/x"):
        return False
    noderoot.rebase = _rebase_kept
    return True


def devcluster_argv() -> list[str]:
    """The ``devcluster`` command of this venv."""
    candidate = Path(sys.executable).parent / "devcluster"
    return [str(candidate)] if candidate.exists() else ["devcluster"]


@dataclass(frozen=True, slots=True)
class LocalCluster:
    """What the demo and the tests need from ``devcluster status -o json``."""

    home: Path
    front_url: str
    nodes: tuple[NodeRef, ...]
    kubeconfig_admin: Path
    kubeconfig_metrics_guard: Path
    ca_file: Path

    @classmethod
    def from_status(cls, status: Mapping[str, Any]) -> LocalCluster:
        nodes = tuple(
            NodeRef(
                index=int(a["index"]),
                name=f"apiserver-{int(a['index'])}",
                apiserver_url=str(a["url"]),
                node_root=str(Path(str(a["node_root"])).resolve()),
            )
            for a in sorted(status["apiservers"], key=lambda a: int(a["index"]))
        )
        return cls(
            home=Path(str(status["home"])).resolve(),
            front_url=str(status["front_url"]),
            nodes=nodes,
            kubeconfig_admin=Path(str(status["kubeconfigs"]["admin"])),
            kubeconfig_metrics_guard=Path(str(status["kubeconfigs"]["metrics-guard"])),
            ca_file=Path(str(status["ca_file"])),
        )

    @property
    def pki(self) -> Path:
        return self.home / "pki"

    def node(self, index: int) -> NodeRef:
        return next(n for n in self.nodes if n.index == index)

    def env(self) -> dict[str, str]:
        """Environment for subprocesses that call ``devcluster`` (the restart hook)."""
        return dict(os.environ, DEVCLUSTER_HOME=str(self.home))

    def requestheader_ca(self, index: int = 1) -> tuple[str, str]:
        """The requestheader (front-proxy) CA certificate and key PEM from a node root."""
        root = Path(str(self.node(index).node_root)) / SSL_DIR
        return (root / "front-proxy-ca.pem").read_text(), (root / "front-proxy-ca-key.pem").read_text()

    def hashes(self, index: int) -> dict[str, str]:
        """SHA-256 of the watched files of one node root (missing files hash as ``missing``)."""
        root = Path(str(self.node(index).node_root))
        out: dict[str, str] = {}
        for rel in WATCHED:
            path = root / rel
            out[rel] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
        return out

    def runner_args(self) -> list[str]:
        """Credentials for the node script's /readyz and /metrics checks: the JSON kubeconfigs of the
        devcluster are not read by the script's minimal (YAML-line) reader, so pass the files."""
        return [
            "--ca-file",
            str(self.ca_file),
            "--client-cert",
            str(self.pki / "admin.pem"),
            "--client-key",
            str(self.pki / "admin-key.pem"),
        ]

    def restart_command(self) -> Callable[[NodeRef], str]:
        prefix = " ".join(devcluster_argv())
        return lambda node: f"{prefix} restart-apiserver {node.index}"


def kube_transport(cluster: LocalCluster, url: str | None = None) -> KubeTransport:
    from metrics_guard.adapters import kube

    return kube.transport_from_kubeconfig(str(cluster.kubeconfig_metrics_guard), None, server_override=url)


def probe_targets(
    cluster: LocalCluster,
    name: str,
    *,
    transport: Callable[[str | None], KubeTransport] | None = None,
) -> ProbeTargets:
    """The front endpoint, each apiserver directly, and the node roots (what ``diagnose`` takes)."""
    from metrics_guard.adapters.noderoot import NodeRootSource
    from metrics_guard.adapters.tls import SocketTlsProber

    patch_noderoot_rebase()
    make = transport or (lambda url: kube_transport(cluster, url))
    return ProbeTargets(
        cluster=name,
        front=make(None),
        apiservers=tuple((n, make(n.apiserver_url)) for n in cluster.nodes),
        certificates=NodeRootSource(),
        nodes=cluster.nodes,
        tls=SocketTlsProber(),
    )


def probe(targets: ProbeTargets, *, deadline_s: float = 60.0) -> FindingsDocument:
    return run_probe(targets, ProbePolicy(), kind="all", now=utcnow, deadline_s=deadline_s)


def non_ok(doc: FindingsDocument) -> Sequence[str]:
    return sorted({f"{f.code.value}@{f.target}" for f in doc.findings if not f.ok})
