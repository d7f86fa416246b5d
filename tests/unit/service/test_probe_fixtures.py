from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from metrics_guard.errors import KubeConnectError, KubeTimeoutError, ResponseTooLargeError
from metrics_guard.model import Code, FindingsDocument, Status
from metrics_guard.pki.inspect import spki_sha256
from metrics_guard.ports import NodeMaterial, NodeRef
from metrics_guard.service.probe import ProbePolicy, ProbeTargets, run_probe
from tests.fakes.kube import (
    FakeCertificateSource,
    FakeTransport,
    fixture_cluster,
    text_response,
    unavailable_metrics,
)
from tests.pki_factory import Issued, make_ca, make_cert

NOW = datetime(2026, 11, 25, 17, 9, 48, tzinfo=UTC)


def probe(targets: ProbeTargets, kind: str = "all") -> FindingsDocument:
    return run_probe(targets, ProbePolicy(), kind=kind, now=lambda: NOW, deadline_s=20)  # type: ignore[arg-type]


def failing_codes(doc: FindingsDocument) -> set[Code]:
    return {f.code for f in doc.findings if not f.ok}


def test_healthy_cluster_is_all_ok() -> None:
    doc = probe(ProbeTargets("test", fixture_cluster("healthy")))
    bad = [f"{f.check} {f.target} {f.code} {f.summary}" for f in doc.findings if not f.ok]
    assert bad == []
    checks = {f.check for f in doc.findings}
    assert {
        "metrics-api.apiservice",
        "metrics-api.end-to-end",
        "metrics-api.node-coverage",
        "metrics-server.ready",
    } <= checks
    assert {
        "metrics-api.discovery",
        "aggregation.config",
        "certs.requestheader-ca",
        "certs.client-ca",
    } <= checks


FAULTS = [
    ("fault_proxy_cert_expired", Code.AGGREGATOR_PROXY_CERT_REJECTED),
    ("fault_proxy_cert_wrongcn", Code.AGGREGATOR_PROXY_CERT_REJECTED),
    ("fault_proxy_cert_otherca", Code.AGGREGATOR_PROXY_CERT_REJECTED),
    ("fault_backend_403", Code.AGGREGATOR_PROXY_CERT_REJECTED),
    ("fault_backend_down", Code.METRICS_SERVER_UNREACHABLE),
    ("fault_backend_500", Code.METRICS_SERVER_UNREACHABLE),
    ("fault_backend_hang", Code.AGGREGATOR_NETWORK_TIMEOUT),
    ("fault_backend_serving_cert_wrong_ca", Code.METRICS_SERVER_TLS_UNTRUSTED),
    ("fault_backend_serving_cert_wrong_san", Code.METRICS_SERVER_TLS_UNTRUSTED),
    ("fault_endpoints_deleted", Code.METRICS_SERVICE_MISSING),
]


@pytest.mark.parametrize(("scenario", "code"), FAULTS, ids=[f[0] for f in FAULTS])
def test_each_recorded_fault_gives_its_code(scenario: str, code: Code) -> None:
    doc = probe(ProbeTargets("test", fixture_cluster(scenario)), kind="metrics")
    assert failing_codes(doc) == {code}, [f.summary for f in doc.findings if not f.ok]
    e2e = [f for f in doc.findings if f.check == "metrics-api.end-to-end"]
    assert all(f.status is Status.FAIL for f in e2e)
    assert all(f.remediable_by is None for f in doc.findings)


def test_hang_with_metrics_server_unready_points_at_metrics_server() -> None:
    doc = probe(
        ProbeTargets("test", fixture_cluster("fault_backend_hang", metrics_server_ready=False)),
        kind="metrics",
    )
    assert failing_codes(doc) == {Code.METRICS_SERVER_NOT_READY}


def test_not_ready_node_without_metrics_is_named() -> None:
    cluster = fixture_cluster("healthy", node_ready={"node-1": False})
    body = cluster.routes["/apis/metrics.k8s.io/v1beta1/nodes"]
    assert not isinstance(body, Exception) and not callable(body)
    import json

    data = json.loads(body.body)
    data["items"] = [i for i in data["items"] if i["metadata"]["name"] != "node-1"]
    cluster.routes["/apis/metrics.k8s.io/v1beta1/nodes"] = text_response("nodes", json.dumps(data))
    doc = probe(ProbeTargets("test", cluster), kind="metrics")
    [missing] = [f for f in doc.findings if not f.ok]
    assert missing.code is Code.NODE_METRICS_MISSING and str(missing.target) == "node/node-1"
    assert "NotReady" in missing.summary


def test_stale_metrics() -> None:
    doc = run_probe(
        ProbeTargets("test", fixture_cluster("healthy")),
        ProbePolicy(),
        kind="metrics",
        now=lambda: NOW + timedelta(minutes=10),
        deadline_s=20,
    )
    assert Code.METRICS_STALE in failing_codes(doc)


# ---------------------------------------------------------------------------------- with node material


def _material(index: int, cert: Issued, ca: Issued, *, flags: bool = True) -> NodeMaterial:
    node = NodeRef(index, f"master-{index}", apiserver_url=f"https://10.0.0.{index}:6443")
    values = (
        {
            "requestheader-client-ca-file": "/etc/ssl/kubernetes/ca.pem",
            "requestheader-username-headers": "X-Remote-User",
            "requestheader-allowed-names": "aggregator",
            "proxy-client-cert-file": "/etc/ssl/kubernetes/metrics-server.pem",
            "proxy-client-key-file": "/etc/ssl/kubernetes/metrics-server-key.pem",
        }
        if flags
        else {"secure-port": "6443"}
    )
    return NodeMaterial(
        node=node,
        layout="binary",
        flags=values,
        proxy_client_cert_path=values.get("proxy-client-cert-file"),
        proxy_client_cert_pem=cert.cert_pem if flags else None,
        proxy_client_key_public_sha256=spki_sha256(cert.key.public_key()) if flags else None,
        requestheader_ca_pem=ca.cert_pem,
    )


def _configmap(ca: Issued) -> FakeTransport:
    import json

    from tests.fakes.kube import json_response, load_fixture

    recorded = json.loads(load_fixture("cluster_extension_apiserver_authentication_configmap.json").body)
    recorded["data"]["requestheader-client-ca-file"] = ca.cert_pem
    return fixture_cluster("healthy", configmap=json_response("cm", recorded))


def _ha(
    scenario: str,
    certs: dict[int, Issued],
    ca: Issued,
    broken: set[int],
    *,
    flagless: frozenset[int] = frozenset(),
) -> ProbeTargets:
    front = fixture_cluster(scenario)
    front.routes["/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"] = _configmap(
        ca
    ).routes["/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"]
    materials = {i: _material(i, c, ca, flags=i not in flagless) for i, c in certs.items()}
    apiservers = []
    for i in certs:
        direct = fixture_cluster(scenario)
        direct.endpoint = f"https://10.0.0.{i}:6443"
        direct.routes["/metrics"] = text_response("/metrics", unavailable_metrics(1 if i in broken else 0))
        apiservers.append((materials[i].node, direct))
    return ProbeTargets(
        "test",
        front,
        apiservers=apiservers,
        certificates=FakeCertificateSource(materials),
        nodes=[m.node for m in materials.values()],
    )


@pytest.fixture(scope="module")
def ca() -> Issued:
    return make_ca("front-proxy-ca", now=NOW)


def test_proxy_cert_expired_on_one_apiserver(ca: Issued) -> None:
    good = make_cert("aggregator", ca, now=NOW)
    expired = make_cert(
        "aggregator", ca, not_before=NOW - timedelta(days=400), not_after=NOW - timedelta(days=1)
    )
    targets = _ha("fault_proxy_cert_expired", {1: good, 2: expired, 3: good}, ca, {2})
    doc = probe(targets)
    assert failing_codes(doc) <= {Code.PROXY_CERT_EXPIRED, Code.APISERVERS_DISAGREE}
    cert = next(f for f in doc.findings if str(f.target) == "cert/proxy-client@apiserver/2")
    assert cert.code is Code.PROXY_CERT_EXPIRED and cert.remediable_by is not None
    api2 = next(
        f for f in doc.findings if f.check == "metrics-api.apiserver" and str(f.target) == "apiserver/2"
    )
    assert api2.code is Code.PROXY_CERT_EXPIRED and api2.remediable_by is None
    assert next(
        f for f in doc.findings if str(f.target) == "apiserver/1" and f.check == "metrics-api.apiserver"
    ).ok
    remediable = [str(f.target) for f in doc.findings if f.remediable_by is not None]
    assert remediable == ["cert/proxy-client@apiserver/2"]


@pytest.mark.parametrize(
    ("kind", "code"),
    [("wrong-cn", Code.PROXY_CERT_CN_NOT_ALLOWED), ("wrong-ca", Code.PROXY_CERT_WRONG_CA)],
    ids=["wrong-cn", "wrong-ca"],
)
def test_proxy_cert_faults_on_all_apiservers(ca: Issued, kind: str, code: Code) -> None:
    bad = (
        make_cert("front-proxy-client", ca, now=NOW)
        if kind == "wrong-cn"
        else make_cert("aggregator", make_ca("other"), now=NOW)
    )
    scenario = "fault_proxy_cert_wrongcn" if kind == "wrong-cn" else "fault_proxy_cert_otherca"
    doc = probe(_ha(scenario, {1: bad, 2: bad, 3: bad}, ca, {1, 2, 3}))
    assert failing_codes(doc) == {code}, [f"{f.target} {f.code}" for f in doc.findings if not f.ok]


def test_aggregation_disabled_on_apiserver_1(ca: Issued) -> None:
    good = make_cert("aggregator", ca, now=NOW)
    doc = probe(_ha("fault_backend_403", {1: good, 2: good, 3: good}, ca, {1}, flagless=frozenset({1})))
    assert failing_codes(doc) <= {Code.AGGREGATION_NOT_CONFIGURED, Code.APISERVERS_DISAGREE}
    flags = next(f for f in doc.findings if f.check == "aggregation.flags" and str(f.target) == "apiserver/1")
    assert flags.code is Code.AGGREGATION_NOT_CONFIGURED


def test_expiring_proxy_cert(ca: Issued) -> None:
    soon = make_cert("aggregator", ca, now=NOW, days=3)
    doc = probe(_ha("healthy", {1: soon, 2: soon}, ca, set()))
    assert failing_codes(doc) == {Code.PROXY_CERT_EXPIRING}
    assert all(f.status is Status.FAIL for f in doc.findings if f.code is Code.PROXY_CERT_EXPIRING)


# ------------------------------------------------------------------------------------------- bad input


def test_unreachable_front_gives_one_reachability_error() -> None:
    front = FakeTransport(routes={"/version": KubeConnectError("connection refused")})
    doc = probe(ProbeTargets("test", front))
    [only] = doc.findings
    assert only.check == "probe.reachability" and only.code is Code.PROBE_ERROR


def test_401_from_kube_apiserver_itself() -> None:
    cluster = fixture_cluster("healthy")
    unauthorized = text_response("x", '{"kind":"Status","code":401,"message":"Unauthorized"}', 401)
    for path in ("/api", "/apis/metrics.k8s.io/v1beta1/nodes"):
        cluster.routes[path] = unauthorized
    doc = probe(ProbeTargets("test", cluster), kind="metrics")
    nodes = next(f for f in doc.findings if str(f.target) == "resource/nodes.metrics.k8s.io")
    assert nodes.code is Code.PROBE_ERROR and nodes.evidence["origin"] == "kube-apiserver"


def test_401_passed_through_from_backend() -> None:
    cluster = fixture_cluster("healthy")
    cluster.routes["/apis/metrics.k8s.io/v1beta1/nodes"] = text_response(
        "x", '{"kind":"Status","code":401,"message":"Unauthorized"}', 401
    )
    doc = probe(ProbeTargets("test", cluster), kind="metrics")
    nodes = next(f for f in doc.findings if str(f.target) == "resource/nodes.metrics.k8s.io")
    assert nodes.code is Code.AGGREGATOR_PROXY_CERT_REJECTED and nodes.evidence["origin"] == "backend"


@pytest.mark.parametrize(
    "route",
    [
        text_response("x", "<html>gateway</html>"),
        text_response("x", '{"kind": "NodeMetricsList", "items": ['),
        ResponseTooLargeError("body over 50 MB"),
        KubeTimeoutError("read timed out"),
    ],
    ids=["html", "truncated", "too-large", "timeout"],
)
def test_bad_metrics_bodies_are_findings_not_exceptions(route: object) -> None:
    cluster = fixture_cluster("healthy")
    cluster.routes["/apis/metrics.k8s.io/v1beta1/nodes"] = route  # type: ignore[assignment]
    doc = probe(ProbeTargets("test", cluster), kind="metrics")
    nodes = next(f for f in doc.findings if str(f.target) == "resource/nodes.metrics.k8s.io")
    assert not nodes.ok
    assert "\n" not in nodes.summary


def test_malformed_configmap_pem_and_names() -> None:
    import json

    from tests.fakes.kube import json_response

    cm = {
        "kind": "ConfigMap",
        "data": {
            "requestheader-client-ca-file": "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
            "requestheader-allowed-names": "aggregator",
            "requestheader-username-headers": '["X-Remote-User"]',
        },
    }
    cluster = fixture_cluster("healthy", configmap=json_response("cm", cm))
    doc = probe(ProbeTargets("test", cluster), kind="certs")
    config = next(f for f in doc.findings if f.check == "aggregation.config")
    assert config.code is Code.AGGREGATION_NOT_CONFIGURED
    assert "not a JSON array" in config.summary and "malformed" in config.summary
    assert json.dumps(doc.to_json())
