"""Shared integration fixtures: one real devcluster for the whole test session.

``devcluster`` (session scope) yields a :class:`DevclusterHandle`:

- ``cluster``: the :class:`devcluster.api.Cluster` (``status()``, ``break_fault()``, ``heal()``,
  ``restart_apiserver()``, ``kubeconfig()``, ``kube(url, user)`` for raw HTTPS requests);
- ``status``: the ``devcluster status -o json`` document taken at start;
- ``home``, ``front_url``, ``apiserver_urls`` (index 0 is apiserver 1), ``node_roots`` (``Path`` each),
  ``node_names``, ``kubeconfig_admin``, ``kubeconfig_metrics_guard``, ``ca_file`` (the cluster CA, which
  signs every apiserver's serving certificate);
- ``kubectl(*args, user="admin", check=False, timeout=60)`` runs the cluster's kubectl.

``fault`` (function scope) returns a context manager factory:
``with fault("proxy-cert-expired", apiserver=2): ...`` breaks on entry and heals on exit (heal waits until
the cluster is healthy again, so every test starts from a clean cluster).

Environment: ``DEVCLUSTER_TEST_HOME`` (default ``<repo>/.devcluster-test``) is the cluster's state
directory; with ``DEVCLUSTER_REUSE=1`` a cluster already running there is reused and left running at the
end. Integration tests need root (network namespaces) and Go (or cached binaries); without root they skip.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from devcluster.api import Cluster
from devcluster.paths import REPO_ROOT


@dataclass
class DevclusterHandle:
    cluster: Cluster
    status: dict[str, Any]
    home: Path
    front_url: str
    apiserver_urls: list[str]
    node_roots: list[Path]
    node_names: list[str]
    kubeconfig_admin: Path
    kubeconfig_metrics_guard: Path
    ca_file: Path
    kubectl_path: str = field(repr=False, default="")

    @classmethod
    def of(cls, cluster: Cluster, status: dict[str, Any]) -> DevclusterHandle:
        """The handle of a cluster that is up, from its ``status()`` document."""
        return cls(
            cluster=cluster,
            status=status,
            home=cluster.home,
            front_url=status["front_url"],
            apiserver_urls=[a["url"] for a in status["apiservers"]],
            node_roots=[Path(a["node_root"]) for a in status["apiservers"]],
            node_names=[n["name"] for n in status["nodes"]],
            kubeconfig_admin=Path(status["kubeconfigs"]["admin"]),
            kubeconfig_metrics_guard=Path(status["kubeconfigs"]["metrics-guard"]),
            ca_file=Path(status["ca_file"]),
            kubectl_path=cluster.bin("kubectl"),
        )

    def kubectl(
        self, *args: str, user: str = "admin", check: bool = False, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        kubeconfig = self.kubeconfig_admin if user == "admin" else self.kubeconfig_metrics_guard
        return subprocess.run(
            [self.kubectl_path, f"--kubeconfig={kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )


FaultFactory = Callable[..., contextlib.AbstractContextManager[dict[str, Any]]]


@pytest.fixture(scope="session")
def devcluster() -> Iterator[DevclusterHandle]:
    if os.geteuid() != 0:
        pytest.skip("the devcluster needs root (network namespaces)")
    home = Path(os.environ.get("DEVCLUSTER_TEST_HOME", str(REPO_ROOT / ".devcluster-test")))
    reuse = os.environ.get("DEVCLUSTER_REUSE") == "1"
    cluster = Cluster(home)
    if cluster.state and not reuse:
        cluster.down()
        cluster = Cluster(home)
    status = cluster.up(apiservers=3, nodes=3, pods_per_node=5)
    if status.get("faults"):
        cluster.heal()
        status = cluster.status()
    handle = DevclusterHandle.of(cluster, status)
    try:
        yield handle
    finally:
        if not reuse:
            cluster.down()


@pytest.fixture
def fault(devcluster: DevclusterHandle) -> FaultFactory:
    @contextlib.contextmanager
    def _fault(
        name: str, *, apiserver: int | None = None, node: str | None = None
    ) -> Iterator[dict[str, Any]]:
        record = devcluster.cluster.break_fault(name, apiserver=apiserver, node=node)
        try:
            yield record
        finally:
            devcluster.cluster.heal()

    return _fault
