"""Every fault of the table: its raw symptom on the real components, then a healthy cluster after heal."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import TypeVar

import pytest
from cryptography import x509

from devcluster.kube import KubeError
from tests.integration.conftest import DevclusterHandle, FaultFactory
from tests.integration.diagnose import expect_all_ok, expect_diagnosis

pytestmark = pytest.mark.integration

T = TypeVar("T")
APISERVICE = "/apis/apiregistration.k8s.io/v1/apiservices/v1beta1.metrics.k8s.io"
NODE_METRICS = "/apis/metrics.k8s.io/v1beta1/nodes"
TIMEOUT_WORDS = ("Client.Timeout", "timed out", "deadline exceeded", "i/o timeout", "timeout")


def poll(fn: Callable[[], T | None], timeout: float, what: str, interval: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval)
    raise AssertionError(f"not within {timeout:.0f}s: {what} (last: {last!r})")


def available(h: DevclusterHandle) -> tuple[str, str, str]:
    obj = h.cluster.kube().get(APISERVICE)
    cond = next(c for c in obj.get("status", {}).get("conditions", []) if c["type"] == "Available")
    return str(cond["status"]), str(cond.get("reason", "")), str(cond.get("message", ""))


def unavailable_with(h: DevclusterHandle, reason: str, *fragments: str) -> Callable[[], str | None]:
    def check() -> str | None:
        status, got_reason, message = available(h)
        if (
            status == "False"
            and got_reason == reason
            and (not fragments or any(f in message for f in fragments))
        ):
            return message
        return None

    return check


def metrics_status(h: DevclusterHandle, url: str | None = None) -> tuple[int, str]:
    try:
        code, body = h.cluster.kube(url, timeout=15).request_raw("GET", NODE_METRICS)
    except KubeError as exc:
        return 0, str(exc)
    return code, body.decode(errors="replace")


def pod_ready(h: DevclusterHandle, namespace: str, name: str) -> bool:
    pod = h.cluster.kube().get(f"/api/v1/namespaces/{namespace}/pods/{name}")
    return any(c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", []))


def assert_healthy(h: DevclusterHandle) -> None:
    top = h.kubectl("top", "nodes", "--no-headers")
    assert top.returncode == 0, top.stderr
    assert sorted(line.split()[0] for line in top.stdout.splitlines()) == sorted(h.node_names)


def test_baseline_top_nodes_and_pods(devcluster: DevclusterHandle) -> None:
    assert_healthy(devcluster)
    pods = devcluster.kubectl("top", "pods", "-A", "--no-headers")
    assert pods.returncode == 0, pods.stderr
    listed = {f"{line.split()[0]}/{line.split()[1]}" for line in pods.stdout.splitlines()}
    assert set(devcluster.status["pods"]) <= listed
    assert available(devcluster)[0] == "True"
    mg = devcluster.kubectl("get", "--raw", NODE_METRICS, user="metrics-guard")
    assert mg.returncode == 0, mg.stderr
    denied = devcluster.kubectl("get", "secrets", "-A", user="metrics-guard")
    assert denied.returncode != 0 and "forbidden" in denied.stderr.lower()
    healthy = expect_all_ok(devcluster)
    checks = {f["check"] for f in healthy.document["findings"]}
    assert {
        "metrics-api.apiservice",
        "metrics-api.end-to-end",
        "certs.proxy-client",
        "metrics-api.apiserver",
    } <= checks


def test_proxy_cert_expired_all(devcluster: DevclusterHandle, fault: FaultFactory) -> None:
    with fault("proxy-cert-expired"):
        message = poll(
            unavailable_with(devcluster, "FailedDiscoveryCheck", "401"), 60, "FailedDiscoveryCheck 401"
        )
        assert "bad status" in message
        top = devcluster.kubectl("top", "nodes")
        assert top.returncode != 0
        cert = x509.load_pem_x509_certificate(
            (devcluster.node_roots[0] / "etc/ssl/kubernetes/metrics-server.pem").read_bytes()
        )
        assert cert.not_valid_after_utc < dt.datetime.now(dt.UTC)
        found = expect_diagnosis(devcluster, "PROXY_CERT_EXPIRED")
        assert {f"cert/proxy-client@apiserver/{i}" for i in (1, 2, 3)} <= found.targets_with(
            "PROXY_CERT_EXPIRED"
        )
        remediable = [f for f in found.problems if f["remediable_by"] == "reissue-aggregator-cert"]
        # only the certificate findings carry the remedy: one rollout per broken node, not one per symptom
        assert {f["target"] for f in remediable} == {f"cert/proxy-client@apiserver/{i}" for i in (1, 2, 3)}
    assert_healthy(devcluster)
    expect_all_ok(devcluster)


def test_proxy_cert_expired_one_of_three(devcluster: DevclusterHandle, fault: FaultFactory) -> None:
    with fault("proxy-cert-expired", apiserver=2):

        def mixed() -> tuple[int, int] | None:
            codes = [metrics_status(devcluster)[0] for _ in range(30)]
            ok = sum(1 for c in codes if c == 200)
            return (ok, 30 - ok) if 0 < ok < 30 else None

        ok, failed = poll(mixed, 60, "some of 30 requests through the front fail, some succeed", interval=0.5)
        assert ok and failed
        direct = poll(
            lambda: (c := metrics_status(devcluster, devcluster.apiserver_urls[1])[0]) != 200 and c,
            30,
            "apiserver 2 direct fails",
        )
        assert direct in (401, 403, 503)
        found = expect_diagnosis(
            devcluster, "PROXY_CERT_EXPIRED", allowed={"APISERVERS_DISAGREE"}, target="@apiserver/2"
        )
        assert found.proxy_cert_targets("PROXY_CERT_EXPIRED") == {"cert/proxy-client@apiserver/2"}
        named = {t for f in found.problems if f["code"] != "APISERVERS_DISAGREE" for t in [f["target"]]}
        assert not any(t.endswith(("apiserver/1", "apiserver/3")) for t in named), found.summary()
    assert_healthy(devcluster)
    expect_all_ok(devcluster)


REJECTED_CODE = {
    "proxy-cert-wrong-cn": "PROXY_CERT_CN_NOT_ALLOWED",
    "proxy-cert-wrong-ca": "PROXY_CERT_WRONG_CA",
}


@pytest.mark.parametrize("name", ["proxy-cert-wrong-cn", "proxy-cert-wrong-ca"])
def test_proxy_cert_rejected(devcluster: DevclusterHandle, fault: FaultFactory, name: str) -> None:
    with fault(name):
        poll(unavailable_with(devcluster, "FailedDiscoveryCheck", "401", "403"), 60, f"{name}: 401/403")
        assert devcluster.kubectl("top", "nodes").returncode != 0
        found = expect_diagnosis(devcluster, REJECTED_CODE[name])
        assert len(found.proxy_cert_targets(REJECTED_CODE[name])) == 3
    assert_healthy(devcluster)
    expect_all_ok(devcluster)


ONE_APISERVER_CODE = {**REJECTED_CODE, "proxy-cert-expiring": "PROXY_CERT_EXPIRING"}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(ONE_APISERVER_CODE))
def test_proxy_cert_fault_on_one_apiserver(
    devcluster: DevclusterHandle, fault: FaultFactory, name: str
) -> None:
    code = ONE_APISERVER_CODE[name]
    with fault(name, apiserver=3):
        found = expect_diagnosis(devcluster, code, allowed={"APISERVERS_DISAGREE"}, target="@apiserver/3")
        assert found.proxy_cert_targets(code) == {"cert/proxy-client@apiserver/3"}
    assert_healthy(devcluster)
    expect_all_ok(devcluster)


def test_proxy_cert_expiring(devcluster: DevclusterHandle, fault: FaultFactory) -> None:
    with fault("proxy-cert-expiring"):
        for root in devcluster.node_roots:
            cert = x509.load_pem_x509_certificate(
                (root / "etc/ssl/kubernetes/metrics-server.pem").read_bytes()
            )
            left = cert.not_valid_after_utc - dt.datetime.now(dt.UTC)
            assert dt.timedelta(0) < left < dt.timedelta(days=7)
        poll(lambda: metrics_status(devcluster)[0] == 200, 60, "the Metrics API still works")
        found = expect_diagnosis(devcluster, "PROXY_CERT_EXPIRING")
        assert len(found.proxy_cert_targets("PROXY_CERT_EXPIRING")) == 3
    assert_healthy(devcluster)
    expect_all_ok(devcluster)


def _configmap_cas(h: DevclusterHandle) -> list[x509.Certificate]:
    cm = h.cluster.kube().get("/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication")
    return x509.load_pem_x509_certificates(cm["data"]["requestheader-client-ca-file"].encode())


def test_requestheader_ca_expiring(devcluster: DevclusterHandle, fault: FaultFactory) -> None:
    with fault("requestheader-ca-expiring"):
        soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
        poll(
            lambda: any(ca.not_valid_after_utc < soon for ca in _configmap_cas(devcluster)),
            30,
            "an expiring requestheader CA in the ConfigMap",
        )
        ca = x509.load_pem_x509_certificate(
            (devcluster.node_roots[0] / "etc/ssl/kubernetes/front-proxy-ca.pem").read_bytes()
        )
        assert ca.not_valid_after_utc < soon
        poll(lambda: metrics_status(devcluster)[0] == 200, 90, "the Metrics API works with the new CA")
        found = expect_diagnosis(devcluster, "CA_EXPIRING", allowed={"PROXY_CERT_EXPIRING"})
        assert "cert/requestheader-ca" in found.targets_with("CA_EXPIRING")
    cas = _configmap_cas(devcluster)
    assert len(cas) == 1 and cas[0].not_valid_after_utc > dt.datetime.now(dt.UTC) + dt.timedelta(days=300)
    assert_healthy(devcluster)
    expect_all_ok(devcluster)


def test_aggregation_disabled(devcluster: DevclusterHandle, fault: FaultFactory) -> None:
    unit = devcluster.node_roots[0] / "etc/systemd/system/kube-apiserver.service"
    with fault("aggregation-disabled"):
        text = unit.read_text()
        assert "--requestheader-client-ca-file" not in text and "--proxy-client-cert-file" not in text
        assert (
            "--requestheader-client-ca-file"
            in (devcluster.node_roots[1] / unit.relative_to(devcluster.node_roots[0])).read_text()
        )
        code = poll(
            lambda: (c := metrics_status(devcluster, devcluster.apiserver_urls[0])[0]) != 200 and c,
            60,
            "apiserver 1 cannot reach the Metrics API",
        )
        assert code in (401, 403, 503)
        found = expect_diagnosis(
            devcluster, "AGGREGATION_NOT_CONFIGURED", allowed={"APISERVERS_DISAGREE"}, target="apiserver/1"
        )
        assert not any(
            t.endswith(("apiserver/2", "apiserver/3"))
            for t in found.targets_with("AGGREGATION_NOT_CONFIGURED")
        )
    assert "--requestheader-client-ca-file" in unit.read_text()
    assert_healthy(devcluster)
    expect_all_ok(devcluster)


def test_metrics_server_down(devcluster: DevclusterHandle, fault: FaultFactory) -> None:
    ns, pod = devcluster.status["metrics_server"]["pod"].split("/")
    with fault("metrics-server-down"):
        poll(lambda: not pod_ready(devcluster, ns, pod), 30, "metrics-server pod unready")
        poll(unavailable_with(devcluster, "MissingEndpoints"), 60, "MissingEndpoints")
        assert devcluster.kubectl("top", "nodes").returncode != 0
        expect_diagnosis(devcluster, {"METRICS_SERVER_NOT_READY", "METRICS_SERVER_UNREACHABLE"})
    assert_healthy(devcluster)
    expect_all_ok(devcluster)


def test_metrics_server_hang(devcluster: DevclusterHandle, fault: FaultFactory) -> None:
    def broken() -> str | None:
        status, reason, message = available(devcluster)
        if status == "False" and (reason == "MissingEndpoints" or any(w in message for w in TIMEOUT_WORDS)):
            return f"{reason}: {message}"
        return None

    with fault("metrics-server-hang"):
        poll(broken, 90, "timeout or MissingEndpoints")
        expect_diagnosis(devcluster, {"AGGREGATOR_NETWORK_TIMEOUT", "METRICS_SERVER_NOT_READY"})
    assert_healthy(devcluster)
    expect_all_ok(devcluster)


def test_no_route_to_metrics_server(devcluster: DevclusterHandle, fault: FaultFactory) -> None:
    ns, pod = devcluster.status["metrics_server"]["pod"].split("/")
    with fault("no-route-to-metrics-server"):
        message = poll(
            unavailable_with(devcluster, "FailedDiscoveryCheck", *TIMEOUT_WORDS),
            90,
            "FailedDiscoveryCheck with a timeout",
        )
        assert "401" not in message
        assert pod_ready(devcluster, ns, pod), "metrics-server itself stays Ready"
        found = expect_diagnosis(devcluster, "AGGREGATOR_NETWORK_TIMEOUT")
        timeout = next(f for f in found.problems if f["code"] == "AGGREGATOR_NETWORK_TIMEOUT")
        assert timeout["remedy"] and "route" in timeout["remedy"].lower()
        assert timeout["remediable_by"] is None
    assert_healthy(devcluster)
    expect_all_ok(devcluster)


def test_metrics_server_serving_cert_mismatch(devcluster: DevclusterHandle, fault: FaultFactory) -> None:
    def x509_failure() -> str | None:
        code, body = metrics_status(devcluster)
        status, _, message = available(devcluster)
        if code != 200 and "x509" in body:
            return body
        if status == "False" and "x509" in message:
            return message
        return None

    with fault("metrics-server-serving-cert-mismatch"):
        poll(x509_failure, 60, "an x509 error")
        expect_diagnosis(devcluster, "METRICS_SERVER_TLS_UNTRUSTED")
    assert_healthy(devcluster)
    expect_all_ok(devcluster)


def test_kubelet_down(devcluster: DevclusterHandle, fault: FaultFactory) -> None:
    kube = devcluster.cluster.kube()

    def node_ready(name: str) -> bool:
        node = kube.get(f"/api/v1/nodes/{name}")
        return any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"])

    def metrics_nodes() -> set[str]:
        return {m["metadata"]["name"] for m in kube.get(NODE_METRICS).get("items", [])}

    with fault("kubelet-down"):
        poll(lambda: "node-1" not in metrics_nodes(), 60, "node-1's metrics disappear")
        assert set(devcluster.node_names) - {"node-1"} <= metrics_nodes()
        poll(lambda: not node_ready("node-1"), 60, "node-1 NotReady")
        found = expect_diagnosis(devcluster, "NODE_METRICS_MISSING", target="node/node-1")
        assert found.targets_with("NODE_METRICS_MISSING") == {"node/node-1"}
        missing = next(f for f in found.problems if f["target"] == "node/node-1")
        assert "notready" in missing["summary"].lower().replace(" ", "")
    assert_healthy(devcluster)
    expect_all_ok(devcluster)


def test_apiserver_restart_fails(devcluster: DevclusterHandle, fault: FaultFactory) -> None:
    with fault("apiserver-restart-fails"):
        assert devcluster.cluster.apiserver_ready(1)
        with pytest.raises(Exception, match="apiserver 1"):
            devcluster.cluster.restart_apiserver(1)
        assert not devcluster.cluster.apiserver_ready(1)
        assert devcluster.kubectl("get", "nodes").returncode == 0, "the front skips the stopped apiserver"
    assert devcluster.cluster.apiserver_ready(1)
    assert_healthy(devcluster)
