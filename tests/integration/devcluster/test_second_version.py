"""A second Kubernetes version (`make test-all` only): the same aggregation layer on the previous minor release.

The module brings up a cluster of its own with ``SECOND_VERSION`` (3 apiservers, 2 nodes) in a pytest tmp home,
so the session's shared devcluster (tests/devcluster_fixture.py, the default version) is neither reused nor
disturbed: another home means another name prefix, another /24 and other processes. If the binaries of that
version are not cached yet, ``up`` builds them first (about 10 minutes cold on 2 cores), hence the first test's
longer timeout.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest

from devcluster.api import Cluster
from tests.integration.conftest import DevclusterHandle
from tests.integration.diagnose import expect_all_ok, expect_diagnosis

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SECOND_VERSION = "v1.35.4"
SECOND_MINOR = "35"
BUILD_AND_UP_TIMEOUT_S = 2400


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevclusterHandle]:
    if os.geteuid() != 0:
        pytest.skip("the devcluster needs root (network namespaces)")
    cluster = Cluster(tmp_path_factory.mktemp("dc-second-version"))
    try:
        status = cluster.up(apiservers=3, nodes=2, pods_per_node=2, kubernetes_version=SECOND_VERSION)
        yield DevclusterHandle.of(cluster, status)
    finally:
        cluster.down()


def assert_top_nodes(h: DevclusterHandle) -> None:
    top = h.kubectl("top", "nodes", "--no-headers")
    assert top.returncode == 0, top.stderr
    assert sorted(line.split()[0] for line in top.stdout.splitlines()) == sorted(h.node_names)


@pytest.mark.timeout(BUILD_AND_UP_TIMEOUT_S)
def test_second_version_serves_the_metrics_api(second: DevclusterHandle) -> None:
    assert second.status["kubernetes_version"] == SECOND_VERSION
    assert len(second.apiserver_urls) == 3
    assert len(second.node_names) == 2
    assert_top_nodes(second)

    version = second.kubectl("version", "-o", "json", check=True)
    doc = json.loads(version.stdout)
    assert doc["clientVersion"]["gitVersion"] == SECOND_VERSION
    assert doc["serverVersion"]["gitVersion"] == SECOND_VERSION
    for url in second.apiserver_urls:
        served = second.cluster.kube(url).get("/version")
        assert (served["gitVersion"], served["minor"]) == (SECOND_VERSION, SECOND_MINOR), url
    nodes = second.cluster.kube().get("/api/v1/nodes")["items"]
    assert {n["status"]["nodeInfo"]["kubeletVersion"] for n in nodes} == {SECOND_VERSION}


def test_second_version_diagnose_all_ok(second: DevclusterHandle) -> None:
    found = expect_all_ok(second)
    assert found.document["findings"], "diagnose reported no findings at all"


def test_second_version_proxy_cert_expired_on_one_apiserver(second: DevclusterHandle) -> None:
    second.cluster.break_fault("proxy-cert-expired", apiserver=2)
    try:
        found = expect_diagnosis(
            second,
            "PROXY_CERT_EXPIRED",
            allowed={"APISERVERS_DISAGREE"},
            target="cert/proxy-client@apiserver/2",
        )
        assert found.proxy_cert_targets("PROXY_CERT_EXPIRED") == {"cert/proxy-client@apiserver/2"}
    finally:
        second.cluster.heal()
    assert_top_nodes(second)
    expect_all_ok(second)
