from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from metrics_guard.decode.apiservice import decode_apiservice, decode_apiservice_list
from metrics_guard.decode.core import (
    decode_authentication_configmap,
    decode_endpoints,
    decode_endpointslice_list,
    decode_node_list,
    decode_pod_list,
    decode_status,
    error_text,
)
from metrics_guard.decode.discovery import decode_discovery, decode_resource_list
from metrics_guard.decode.metrics import decode_node_metrics_list, decode_pod_metrics_list
from metrics_guard.decode.quantity import cpu_nanocores, memory_bytes, parse_quantity
from metrics_guard.decode.text import (
    UNAVAILABLE_GAUGE,
    FamilyEnd,
    decode_health_verbose,
    parse_samples,
    unavailable_apiservice,
)
from metrics_guard.errors import DecodeError
from tests.fakes.kube import FIXTURES, load_fixture

QUANTITIES = [
    "0",
    "1",
    "4",
    "250m",
    "139914457n",
    "1298372Ki",
    "8Gi",
    "1.5",
    "2k",
    "3M",
    "1e3",
    "12u",
    "1Mi",
    "0.5Gi",
    "100Ti",
]


@pytest.mark.parametrize("text", QUANTITIES, ids=QUANTITIES)
def test_quantity_matches_kubernetes(text: str) -> None:
    from kubernetes.utils import parse_quantity as reference

    assert parse_quantity(text) == reference(text)  # type: ignore[no-untyped-call]


@pytest.mark.parametrize(
    "text", ["", "abc", "1Ki2", "5x", "--1"], ids=["empty", "word", "junk", "suffix", "sign"]
)
def test_quantity_rejects(text: str) -> None:
    with pytest.raises(DecodeError):
        parse_quantity(text)


def test_cpu_and_memory_fast_paths() -> None:
    assert cpu_nanocores("139914457n") == 139914457
    assert cpu_nanocores("250m") == 250_000_000
    assert memory_bytes("1298372Ki") == 1298372 * 1024
    assert memory_bytes("1Gi") == 1 << 30
    assert parse_quantity("1n") == Decimal("1e-9")


def _files(prefix: str, suffix: str) -> list[str]:
    return sorted(p.name for p in FIXTURES.glob(f"{prefix}*{suffix}"))


APISERVICE_FILES = [
    *_files("fault_", "_apiservice.json"),
    "apiservice_healthy.json",
    "apiservice_healthy_steady.json",
    "apiservice_backend_never_started.json",
]


@pytest.mark.parametrize("name", APISERVICE_FILES, ids=APISERVICE_FILES)
def test_every_apiservice_fixture_decodes(name: str) -> None:
    api = decode_apiservice(load_fixture(name).body)
    assert api.name == "v1beta1.metrics.k8s.io"
    assert api.service_name == "metrics-server" and api.service_port == 443
    assert api.ca_bundle_pem is not None and "BEGIN CERTIFICATE" in api.ca_bundle_pem
    assert api.available is not None


def test_apiservice_conditions() -> None:
    healthy = decode_apiservice(load_fixture("apiservice_healthy.json").body)
    assert healthy.is_available and healthy.available is not None and healthy.available.reason == "Passed"
    expired = decode_apiservice(load_fixture("fault_proxy_cert_expired_apiservice.json").body)
    assert not expired.is_available
    assert expired.available is not None and "bad status" in expired.available.message


@pytest.mark.parametrize("name", ["apiservice_list_healthy.json", "apiservice_list_before.json"])
def test_apiservice_list(name: str) -> None:
    items = decode_apiservice_list(load_fixture(name).body)
    assert items and any(i.is_local for i in items)


def test_apiservice_table_is_wrong_kind() -> None:
    with pytest.raises(DecodeError, match="expected kind"):
        decode_apiservice(load_fixture("apiservice_healthy_table.json").body)


DISCOVERY = (
    _files("", "discovery_apis_aggregated.json")
    + _files("", "discovery_apis_legacy.json")
    + [
        "discovery_apis_aggregated_healthy.json",
        "discovery_apis_legacy_healthy.json",
        "discovery_apis_before_apiservice.json",
    ]
)


@pytest.mark.parametrize("name", DISCOVERY, ids=DISCOVERY)
def test_discovery_fixtures(name: str) -> None:
    discovery = decode_discovery(load_fixture(name).body)
    entry = discovery.find("metrics.k8s.io", "v1beta1")
    if "before" in name:
        assert entry is None
        return
    assert entry is not None
    if discovery.aggregated:
        assert entry.freshness in ("Current", "Stale")
        if "healthy" in name or "proxy_cert" in name:
            assert entry.freshness == ("Current" if "healthy" in name else "Stale")
        if entry.freshness == "Current":
            assert set(entry.resources) >= {"nodes", "pods"}


def test_resource_list() -> None:
    resources = decode_resource_list(load_fixture("metrics_discovery_healthy.json").body)
    assert resources.group_version == "metrics.k8s.io/v1beta1"
    assert {"nodes", "pods"} <= set(resources.resources)


@pytest.mark.parametrize(
    "name",
    [
        "metrics_nodes_healthy.json",
        "metrics_nodes_healthy_protobuf_accept.json",
        "fault_endpoints_deleted_immediate_metrics_nodes.json",
    ],
)
def test_node_metrics(name: str) -> None:
    items = decode_node_metrics_list(load_fixture(name).body)
    assert [i.name for i in items] == ["node-1", "node-2"]
    assert items[0].cpu_nanocores == 139914457 and items[0].memory_bytes == 1298372 * 1024
    assert items[0].window_s == pytest.approx(20.033)


@pytest.mark.parametrize("name", ["metrics_pods_healthy.json", "metrics_pods_ns_default_healthy.json"])
def test_pod_metrics(name: str) -> None:
    items = decode_pod_metrics_list(load_fixture(name).body)
    web = next(i for i in items if i.name == "web-0")
    assert web.containers == 2 and web.cpu_nanocores == 1_250_000 and web.memory_bytes == (5120 + 2048) * 1024
    assert web.timestamp > 0


def test_node_lists() -> None:
    two = decode_node_list(load_fixture("cluster_api_v1_nodes_two_fake_nodes.json").body)
    assert [n.name for n in two.items] == ["node-1", "node-2"] and two.continue_token is None
    assert two.items[0].ready is None
    assert decode_node_list(load_fixture("cluster_api_v1_nodes_empty.json").body).items == ()


def test_pod_list_pagination_token() -> None:
    body = json.dumps({"kind": "PodList", "metadata": {"continue": "abc"}, "items": []})
    assert decode_pod_list(body).continue_token == "abc"


def test_endpoints() -> None:
    addresses = decode_endpoints(load_fixture("fault_endpoints_deleted_endpoints_object_before.json").body)
    assert addresses[0].ip == "127.0.0.1" and addresses[0].ready and addresses[0].ports == (("https", 18443),)
    slices = decode_endpointslice_list(
        json.dumps(
            {
                "kind": "EndpointSliceList",
                "items": [
                    {
                        "endpoints": [
                            {"addresses": ["10.0.0.1"], "conditions": {"ready": False}},
                            {"addresses": ["10.0.0.2"]},
                        ],
                        "ports": [{"name": "https", "port": 10250}],
                    }
                ],
            }
        )
    )
    assert [(a.ip, a.ready) for a in slices] == [("10.0.0.1", False), ("10.0.0.2", True)]


def test_configmap() -> None:
    config = decode_authentication_configmap(
        load_fixture("cluster_extension_apiserver_authentication_configmap.json").body
    )
    assert config.allowed_names == ("aggregator",)
    assert config.username_headers == ("X-Remote-User",)
    assert config.requestheader_ca_pem is not None and config.client_ca_pem is not None
    assert config.problems == ()


def test_configmap_allowed_names_not_json() -> None:
    body = json.dumps({"kind": "ConfigMap", "data": {"requestheader-allowed-names": "aggregator"}})
    config = decode_authentication_configmap(body)
    assert config.allowed_names is None
    assert "not a JSON array" in config.problems[0]


def test_status_bodies() -> None:
    status = decode_status(load_fixture("metrics_node_missing_healthy.json").body)
    assert status.code == 404 and status.reason == "NotFound"
    assert error_text(load_fixture("fault_backend_down_immediate_metrics_nodes.json").body).startswith(
        "error trying"
    )
    assert "forced status 403" in error_text(
        load_fixture("fault_backend_403_immediate_metrics_nodes.json").body
    )


BAD = {
    "html": b"<html><body>502 Bad Gateway</body></html>",
    "truncated": b'{"kind": "NodeMetricsList", "items": [{"metadata": ',
    "empty": b"",
    "wrong-kind": b'{"kind": "Status", "code": 503}',
    "array": b"[1, 2]",
}


@pytest.mark.parametrize("body", list(BAD.values()), ids=list(BAD))
def test_bad_bodies_give_one_line_decode_errors(body: bytes) -> None:
    with pytest.raises(DecodeError) as info:
        decode_node_metrics_list(body)
    assert "\n" not in str(info.value) and str(info.value).startswith("NodeMetricsList")


def test_prometheus_gauge() -> None:
    text = '# TYPE aggregator_unavailable_apiservice gauge\naggregator_unavailable_apiservice{name="v1beta1.metrics.k8s.io"} 1\n'
    assert unavailable_apiservice(text, "v1beta1.metrics.k8s.io") is True
    assert unavailable_apiservice(text.replace("} 1", "} 0"), "v1beta1.metrics.k8s.io") is False
    assert unavailable_apiservice("other_metric 1\n", "v1beta1.metrics.k8s.io") is None
    assert (
        parse_samples(text, "aggregator_unavailable_apiservice")[0].label("name") == "v1beta1.metrics.k8s.io"
    )
    with pytest.raises(DecodeError):
        unavailable_apiservice("<html>", "x")


EXPOSITION = (
    "# HELP aggregator_discovery_total Counter.\n"
    "# TYPE aggregator_discovery_total counter\n"
    "aggregator_discovery_total 3\n"
    "# HELP aggregator_unavailable_apiservice [ALPHA] Gauge of APIServices marked unavailable.\n"
    "# TYPE aggregator_unavailable_apiservice gauge\n"
    'aggregator_unavailable_apiservice{name="v1."} 0\n'
    'aggregator_unavailable_apiservice{name="v1beta1.metrics.k8s.io"} 1\n'
)
NEXT_FAMILY = "# HELP apiserver_requests_total Counter.\n# TYPE apiserver_requests_total counter\n"


def _feed(body: bytes, enough: FamilyEnd, chunk: int) -> int | None:
    buffer = bytearray()
    for start in range(0, len(body), chunk):
        buffer += body[start : start + chunk]
        wanted = enough(buffer)
        if wanted is not None:
            return wanted
    return None


@pytest.mark.parametrize("chunk", [1, 7, 64, 1 << 20])
def test_family_end_stops_at_the_next_family_whatever_the_chunking(chunk: int) -> None:
    body = (EXPOSITION + NEXT_FAMILY + "apiserver_requests_total 9\n" * 1000).encode()
    wanted = _feed(body, FamilyEnd(UNAVAILABLE_GAUGE), chunk)
    assert wanted == len(EXPOSITION)
    prefix = body[:wanted]
    assert unavailable_apiservice(prefix, "v1beta1.metrics.k8s.io") is True
    assert unavailable_apiservice(prefix, "v1beta1.metrics.k8s.io") == unavailable_apiservice(
        body, "v1beta1.metrics.k8s.io"
    )


def test_family_end_without_help_lines_and_without_the_family_reads_to_the_end() -> None:
    bare = 'aggregator_unavailable_apiservice{name="x"} 0\nother_metric 1\n' * 3
    assert _feed(bare.encode(), FamilyEnd(UNAVAILABLE_GAUGE), 16) is None
    absent = (NEXT_FAMILY + "apiserver_requests_total 9\n").encode() * 3
    assert _feed(absent, FamilyEnd(UNAVAILABLE_GAUGE), 16) is None


def test_family_end_recognises_a_family_that_begins_with_samples() -> None:
    body = ('aggregator_unavailable_apiservice{name="x"} 1\n' + NEXT_FAMILY).encode()
    assert _feed(body, FamilyEnd(UNAVAILABLE_GAUGE), 5) == body.index(b"# HELP")
    # A longer name that only starts with the family's is another family.
    longer = ("aggregator_unavailable_apiservice_total 1\n" + NEXT_FAMILY).encode()
    assert _feed(longer, FamilyEnd(UNAVAILABLE_GAUGE), 5) is None


@pytest.mark.parametrize(
    "name", [*_files("", "readyz_verbose.json"), "cluster_livez_verbose.json", "cluster_healthz_verbose.json"]
)
def test_health_reports(name: str) -> None:
    report = decode_health_verbose(load_fixture(name).body)
    assert report.passed and not report.failing


def test_health_report_failing() -> None:
    report = decode_health_verbose(
        "[+]ping ok\n[-]poststarthook/x failed: reason withheld\nreadyz check failed\n"
    )
    assert not report.passed and report.failing == ("poststarthook/x",)


def test_fixture_readme_is_kept() -> None:
    assert (Path(FIXTURES) / "README.md").is_file()
