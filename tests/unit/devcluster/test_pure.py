"""Pure parts of the devcluster: unit files, the fault table, PKI helpers, the kubelet's Prometheus text."""

from __future__ import annotations

import datetime as dt

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from devcluster import faults, pki, promtext, unitfile
from devcluster.cli import main
from devcluster.errors import UsageError


def test_unit_round_trip_keeps_every_flag() -> None:
    argv = [
        "/n/usr/local/bin/kube-apiserver",
        "--a=1",
        "--path=/x y/z",
        "--requestheader-allowed-names=aggregator",
    ]
    text = unitfile.render("Kubernetes API Server", argv)
    assert "ExecStart=" in text and "\\\n" in text
    assert unitfile.parse_exec_start(text) == argv


@pytest.mark.parametrize(
    ("text", "argv"),
    [
        ("[Service]\nExecStart=/bin/x --a=1 \\\n  --b=2\n", ["/bin/x", "--a=1", "--b=2"]),
        ("[Service]\n# comment\nExecStart=-/bin/x\n", ["/bin/x"]),
        ("[Unit]\nExecStart=/bin/no\n[Service]\nExecStart=/bin/yes --q\n", ["/bin/yes", "--q"]),
    ],
    ids=["continuation", "prefix-and-comment", "only-service-section"],
)
def test_parse_exec_start(text: str, argv: list[str]) -> None:
    assert unitfile.parse_exec_start(text) == argv


def test_parse_exec_start_missing() -> None:
    with pytest.raises(unitfile.UnitFileError):
        unitfile.parse_exec_start("[Service]\nRestart=always\n")


def test_flags_of() -> None:
    assert unitfile.flags_of(["x", "--a=1", "--b", "pos"]) == {"a": "1", "b": "true"}


def test_fault_table_matches_the_contract() -> None:
    assert list(faults.FAULTS) == [
        "proxy-cert-expired",
        "proxy-cert-wrong-cn",
        "proxy-cert-wrong-ca",
        "proxy-cert-expiring",
        "requestheader-ca-expiring",
        "aggregation-disabled",
        "metrics-server-down",
        "metrics-server-hang",
        "no-route-to-metrics-server",
        "metrics-server-serving-cert-mismatch",
        "kubelet-down",
        "apiserver-restart-fails",
    ]


@pytest.mark.parametrize(
    ("name", "apiserver", "node", "expected"),
    [
        ("proxy-cert-expired", None, None, ([1, 2, 3], None)),
        ("proxy-cert-expired", 2, None, ([2], None)),
        ("aggregation-disabled", None, None, ([1], None)),
        ("kubelet-down", None, None, ([], "node-1")),
        ("kubelet-down", None, "node-3", ([], "node-3")),
        ("metrics-server-down", None, None, ([], None)),
        ("requestheader-ca-expiring", None, None, ([1, 2, 3], None)),
    ],
)
def test_fault_targets(name: str, apiserver: int | None, node: str | None, expected: object) -> None:
    got = faults.resolve_targets(faults.lookup(name), apiserver, node, 3, ["node-1", "node-2", "node-3"])
    assert got == expected


@pytest.mark.parametrize(
    ("name", "apiserver", "node"),
    [
        ("nope", None, None),
        ("kubelet-down", 1, None),
        ("proxy-cert-expired", 4, None),
        ("kubelet-down", None, "x"),
    ],
)
def test_fault_bad_input(name: str, apiserver: int | None, node: str | None) -> None:
    with pytest.raises(UsageError):
        faults.resolve_targets(faults.lookup(name), apiserver, node, 3, ["node-1"])


def test_unknown_fault_exits_2_listing_the_valid_ones(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["break", "no-such-fault"]) == 2
    err = capsys.readouterr().err
    assert "proxy-cert-expired" in err and "kubelet-down" in err


def test_usage_error_exits_2() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["up", "--apiservers", "many"])
    assert exc.value.code == 2


def test_issue_proxy_client_cert() -> None:
    ca = pki.make_ca("front-proxy-ca")
    now = dt.datetime.now(dt.UTC)
    pair = pki.issue(ca, "aggregator", client=True, not_after=now + dt.timedelta(days=3))
    cert = pair.cert
    cert.verify_directly_issued_by(ca.cert)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "aggregator"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    assert cert.not_valid_after_utc - now < dt.timedelta(days=3, seconds=5)
    loaded = x509.load_pem_x509_certificate(pair.cert_pem())
    assert loaded.serial_number == cert.serial_number


def test_issue_serving_cert_sans() -> None:
    ca = pki.make_ca("kubernetes-ca")
    cert = pki.issue(ca, "node-1", server=True, dns=["node-1"], ips=["198.18.1.101"]).cert
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["node-1"]
    assert [str(i) for i in san.get_values_for_type(x509.IPAddress)] == ["198.18.1.101"]


def _samples(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        series, value, ts = line.rsplit(" ", 2)
        assert ts.isdigit()
        out[series] = float(value)
    return out


def test_prometheus_text_has_every_family_and_grows() -> None:
    containers = [
        promtext.Container("default", "web-1", "web", 1_000.0),
        promtext.Container("default", "web-1", "sidecar", 1_000.0),
    ]
    t1 = promtext.render("node-1", 0.0, containers, 2_000.0)
    t2 = promtext.render("node-1", 0.0, containers, 2_015.0)
    for family in (
        "node_cpu_usage_seconds_total",
        "node_memory_working_set_bytes",
        "container_cpu_usage_seconds_total",
        "container_memory_working_set_bytes",
        "container_start_time_seconds",
        "pod_cpu_usage_seconds_total",
        "pod_memory_working_set_bytes",
        "resource_scrape_error",
    ):
        assert f"# TYPE {family} " in t1
    s1, s2 = _samples(t1), _samples(t2)
    key = 'container_cpu_usage_seconds_total{container="web",namespace="default",pod="web-1"}'
    assert 0 < s1[key] < s2[key]
    assert s2["node_cpu_usage_seconds_total"] > s1["node_cpu_usage_seconds_total"]
    assert s1['pod_memory_working_set_bytes{namespace="default",pod="web-1"}'] > 0
    rate = (s2[key] - s1[key]) / 15
    assert 0.001 < rate < 0.2
