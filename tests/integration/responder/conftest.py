"""Fixtures of the responder's integration tests: the shared devcluster as a ``LocalCluster``, and a local
runner of the real node script against its node roots."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.local import LocalCluster, utcnow
from metrics_guard.adapters.local_runner import LocalCommandRunner, LocalMaterialStore
from metrics_guard.pki.issue import IssuedCertificate, IssuePolicy, issue_proxy_client_cert, parse_ca_secret
from tests.integration.conftest import DevclusterHandle


@pytest.fixture
def local(devcluster: DevclusterHandle) -> LocalCluster:
    status: dict[str, Any] = dict(devcluster.cluster.status())
    status.setdefault("home", str(devcluster.home))
    return LocalCluster.from_status(status)


@pytest.fixture
def materials(tmp_path: Path) -> LocalMaterialStore:
    return LocalMaterialStore(tmp_path / "material")


@pytest.fixture
def runner(local: LocalCluster, materials: LocalMaterialStore) -> Iterator[LocalCommandRunner]:
    yield LocalCommandRunner(
        materials,
        kubeconfig=str(local.kubeconfig_admin),
        restart_command=local.restart_command(),
        extra_args=local.runner_args(),
        env=local.env(),
    )


def issue(local: LocalCluster) -> IssuedCertificate:
    cert_pem, key_pem = local.requestheader_ca()
    ca = parse_ca_secret(json.dumps({"cert_pem": cert_pem, "key_pem": key_pem}))
    return issue_proxy_client_cert(ca, common_name="aggregator", policy=IssuePolicy(), now=utcnow())
