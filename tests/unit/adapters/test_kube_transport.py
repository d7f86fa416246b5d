"""The Kubernetes transport against real loopback HTTPS servers (tests/servers.py): bounded, mapped, verified."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import pytest

from metrics_guard.adapters.credentials import ClientCertificate, Credential, StaticCredentials
from metrics_guard.adapters.kube import ApiClientTransport, transport_from_token
from metrics_guard.decode.text import UNAVAILABLE_GAUGE, FamilyEnd, unavailable_apiservice
from metrics_guard.errors import (
    ConfigError,
    KubeAccessError,
    KubeConnectError,
    KubeTimeoutError,
    KubeTLSError,
    MetricsGuardError,
    ResponseTooLargeError,
)
from metrics_guard.ports import TransportLimits
from tests import servers
from tests.servers import LoopbackHttpsServer, LoopbackPki

TOKEN = "s3cr3t-token-value"
FAST = TransportLimits(
    connect_timeout_s=1.0, read_timeout_s=0.5, max_body_bytes=1024 * 1024, retries=2, backoff_s=0.01
)
MB = 1024 * 1024
GAUGE_FAMILY = (
    b"# HELP aggregator_discovery_total Counter.\n# TYPE aggregator_discovery_total counter\n"
    b"aggregator_discovery_total 3\n"
    b"# HELP aggregator_unavailable_apiservice Gauge.\n# TYPE aggregator_unavailable_apiservice gauge\n"
    b'aggregator_unavailable_apiservice{name="v1."} 0\n'
    b'aggregator_unavailable_apiservice{name="v1beta1.metrics.k8s.io"} 1\n'
)


@pytest.fixture(scope="module")
def pki() -> LoopbackPki:
    return servers.make_pki()


ROUTES: dict[str, servers.Handler] = {
    "/ok": servers.json_body({"kind": "APIVersions", "versions": ["v1"]}, headers={"X-Trace": "abc"}),
    "/whoami": servers.whoami(),
    "/401": servers.status_json(401),
    "/503": servers.status_json(503, "ServiceUnavailable", "service unavailable"),
    "/html": servers.html_body(),
    "/truncated-json": servers.truncated_json(),
    "/short": servers.short_body(),
    "/big": servers.big_body(50 * MB),
    "/big-unannounced": servers.big_body(50 * MB, declare_length=False),
    "/trickle": servers.trickle_body(0.05),
    "/trickle-headers": servers.trickle_headers(0.05),
    "/hang": servers.hang(),
    "/slow-headers": servers.slow_headers(3.0),
    "/502": servers.status_json(502, "BadGateway", "bad gateway"),
    "/reset": servers.reset_connection(),
    "/metrics": servers.exposition(GAUGE_FAMILY, 50 * MB),
    "/metrics-small": servers.exposition(b"# HELP other_metric x\nother_metric 1\n", 4096),
}


@pytest.fixture(scope="module")
def server(pki: LoopbackPki) -> Iterator[LoopbackHttpsServer]:
    with LoopbackHttpsServer(pki, ROUTES) as srv:
        yield srv


def transport(
    server: LoopbackHttpsServer, pki: LoopbackPki, limits: TransportLimits = FAST
) -> ApiClientTransport:
    return ApiClientTransport(
        server.url,
        ca_pem=pki.ca.cert_pem,
        credentials=StaticCredentials(Credential(token=TOKEN)),
        limits=limits,
    )


def test_success_returns_body_status_lowercased_headers_and_timing(
    server: LoopbackHttpsServer, pki: LoopbackPki
) -> None:
    response = transport(server, pki).get("/ok")
    assert response.status == 200
    assert json.loads(response.body) == {"kind": "APIVersions", "versions": ["v1"]}
    assert response.headers["x-trace"] == "abc"
    assert response.headers["content-type"] == "application/json"
    assert all(k == k.lower() for k in response.headers)
    assert response.url == f"{server.url}/ok"
    assert 0 < response.elapsed_s < 5


def test_sends_bearer_token_accept_and_user_agent(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    body = json.loads(
        transport(server, pki).get("/whoami", accept="application/vnd.kubernetes.protobuf").body
    )
    assert body["authorization"] == f"Bearer {TOKEN}"
    assert body["accept"] == "application/vnd.kubernetes.protobuf"
    assert body["user_agent"].startswith("metrics-guard/")


def test_query_secrets_are_redacted_in_the_url(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    response = transport(server, pki).get("/ok?limit=500&token=abc")
    assert response.url == f"{server.url}/ok?limit=500&token=REDACTED"


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/401", 401, b'"Unauthorized"'),
        ("/html", 200, b"<!DOCTYPE html>"),
        ("/truncated-json", 200, b'"items":[{"metadata":'),
    ],
    ids=["401-is-returned", "html-is-returned", "truncated-json-is-the-decoders-problem"],
)
def test_http_answers_are_returned_not_raised(
    server: LoopbackHttpsServer, pki: LoopbackPki, path: str, status: int, needle: bytes
) -> None:
    response = transport(server, pki).get(path)
    assert response.status == status
    assert needle in response.body


def test_body_shorter_than_declared_is_a_connect_error(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    with pytest.raises(KubeConnectError, match="before the response body was complete"):
        transport(server, pki).get("/short")


def test_declared_50mb_body_is_refused_before_reading(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    started = time.monotonic()
    with pytest.raises(ResponseTooLargeError, match="declares 52428800 bytes"):
        transport(server, pki).get("/big")
    assert time.monotonic() - started < 2


def test_unannounced_50mb_body_is_cut_at_the_cap(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    started = time.monotonic()
    with pytest.raises(ResponseTooLargeError, match="exceeded the 1048576 byte cap"):
        transport(server, pki).get("/big-unannounced")
    assert time.monotonic() - started < 3


def test_50mb_body_under_a_bigger_cap_is_read_whole(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    limits = TransportLimits(connect_timeout_s=1, read_timeout_s=5, max_body_bytes=64 * MB)
    response = transport(server, pki, limits).get("/big", timeout_s=30)
    assert len(response.body) == 50 * MB


@pytest.mark.parametrize("path", ["/trickle", "/trickle-headers"], ids=["body", "headers"])
def test_trickling_server_is_stopped_by_the_deadline(
    server: LoopbackHttpsServer, pki: LoopbackPki, path: str
) -> None:
    started = time.monotonic()
    with pytest.raises(KubeTimeoutError, match=r"within the 1\.2 s deadline"):
        transport(server, pki).get(path, timeout_s=1.2)
    assert time.monotonic() - started < 2.0


def test_trickle_without_explicit_deadline_ends_by_connect_plus_two_read_timeouts(
    server: LoopbackHttpsServer, pki: LoopbackPki
) -> None:
    started = time.monotonic()
    with pytest.raises(KubeTimeoutError):
        transport(server, pki).get("/trickle")  # 1 + 2 * 0.5 = 2 s
    assert time.monotonic() - started < 3.0


def test_hang_is_a_timeout_within_the_read_timeout(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    started = time.monotonic()
    with pytest.raises(KubeTimeoutError, match="read timeout"):
        transport(server, pki).get("/hang")
    assert time.monotonic() - started < 1.5  # read timeout 0.5 s, timeouts are not retried


def test_slow_headers_are_a_timeout(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    with pytest.raises(KubeTimeoutError):
        transport(server, pki).get("/slow-headers")


def test_connection_refused_is_a_connect_error_after_the_retries() -> None:
    limits = TransportLimits(connect_timeout_s=1, read_timeout_s=1, retries=2, backoff_s=0.01)
    sleeps: list[float] = []
    t = ApiClientTransport(
        f"https://127.0.0.1:{servers.free_port()}",
        ca_pem=servers.make_ca().cert_pem,
        credentials=StaticCredentials(Credential()),
        limits=limits,
        sleep=sleeps.append,
    )
    with pytest.raises(KubeConnectError, match="cannot connect"):
        t.get("/ok")
    assert sleeps == [0.01, 0.02]  # exponential backoff, two retries


def test_wrong_ca_is_a_tls_error(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    t = transport_from_token(server.url, TOKEN, pki.other_ca.cert_pem.decode(), limits=FAST)
    with pytest.raises(KubeTLSError, match="certificate verify failed"):
        t.get("/ok")
    assert server.hits["/ok"] >= 0  # the request never reached the handler with a token


def test_hostname_mismatch_is_a_tls_error(pki: LoopbackPki) -> None:
    elsewhere = servers.make_leaf(pki.ca, "apiserver", names=("not-this-host.example",))
    with LoopbackHttpsServer(pki, {"/ok": servers.json_body({})}, server=elsewhere) as srv:
        t = transport_from_token(srv.url, TOKEN, pki.ca.cert_pem.decode(), limits=FAST)
        with pytest.raises(KubeTLSError, match=r"(?i)mismatch|match"):
            t.get("/ok")
        assert srv.hits["/ok"] == 0


def test_server_name_override_is_verified_against_the_certificate(pki: LoopbackPki) -> None:
    elsewhere = servers.make_leaf(pki.ca, "apiserver", names=("kubernetes.default.svc",))
    with LoopbackHttpsServer(pki, {"/ok": servers.json_body({})}, server=elsewhere) as srv:
        t = ApiClientTransport(
            srv.url,
            ca_pem=pki.ca.cert_pem,
            credentials=StaticCredentials(Credential()),
            limits=FAST,
            tls_server_name="kubernetes.default.svc",
        )
        assert t.get("/ok").status == 200


def test_retries_a_502_twice_then_succeeds(pki: LoopbackPki) -> None:
    routes = {
        "/flaky": servers.flaky(2, servers.status_json(502, "BadGateway"), servers.json_body({"ok": 1}))
    }
    with LoopbackHttpsServer(pki, routes) as srv:
        response = transport(srv, pki).get("/flaky")
        assert response.status == 200
        assert srv.hits["/flaky"] == 3


def test_retries_give_up_and_return_the_last_retryable_status(
    server: LoopbackHttpsServer, pki: LoopbackPki
) -> None:
    before = server.hits["/502"]
    assert transport(server, pki).get("/502").status == 502
    assert server.hits["/502"] - before == 3


def test_503_from_the_aggregated_api_is_never_retried(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    before = server.hits["/503"]
    response = transport(server, pki).get("/503")
    assert response.status == 503
    assert server.hits["/503"] - before == 1


def test_503_cannot_be_configured_as_retryable(pki: LoopbackPki) -> None:
    with pytest.raises(ConfigError, match="503"):
        ApiClientTransport(
            "https://127.0.0.1:1",
            ca_pem=pki.ca.cert_pem,
            credentials=StaticCredentials(Credential()),
            retry_statuses={503},
        )


def test_connection_reset_is_retried_then_a_connect_error(
    server: LoopbackHttpsServer, pki: LoopbackPki
) -> None:
    before = server.hits["/reset"]
    with pytest.raises(KubeConnectError):
        transport(server, pki).get("/reset")
    assert server.hits["/reset"] - before == 3


def test_connection_reused_between_calls(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    t = transport(server, pki)
    for _ in range(3):
        assert t.get("/ok").status == 200


def test_enough_reads_only_the_prefix_it_needs_then_drops_the_connection(
    server: LoopbackHttpsServer, pki: LoopbackPki
) -> None:
    t = transport(server, pki)
    started = time.monotonic()
    # 50 MB declared, over the 1 MB cap: the prefix is read, the rest is neither read nor refused.
    response = t.get("/metrics", accept="text/plain", enough=FamilyEnd(UNAVAILABLE_GAUGE))
    assert time.monotonic() - started < 3
    assert response.partial
    assert response.body == GAUGE_FAMILY
    assert unavailable_apiservice(response.body, "v1beta1.metrics.k8s.io") is True
    # The half-read connection is not reused: the next call gets a whole, correct answer.
    assert json.loads(t.get("/ok").body)["kind"] == "APIVersions"


def test_enough_that_never_says_so_reads_the_whole_body(
    server: LoopbackHttpsServer, pki: LoopbackPki
) -> None:
    response = transport(server, pki).get("/metrics-small", enough=FamilyEnd(UNAVAILABLE_GAUGE))
    assert not response.partial
    assert len(response.body) == 4096
    assert unavailable_apiservice(response.body, "v1beta1.metrics.k8s.io") is None


def test_enough_keeps_the_size_cap(server: LoopbackHttpsServer, pki: LoopbackPki) -> None:
    with pytest.raises(ResponseTooLargeError, match="exceeded the 1048576 byte cap"):
        transport(server, pki).get("/big-unannounced", enough=FamilyEnd(UNAVAILABLE_GAUGE))


def test_endpoint_must_be_https() -> None:
    with pytest.raises(ConfigError, match="https://"):
        transport_from_token("http://127.0.0.1:8080", TOKEN, servers.make_ca().cert_pem.decode())


def test_bad_ca_pem_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="PEM"):
        transport_from_token("https://127.0.0.1:1", TOKEN, "not a pem")
    with pytest.raises(ConfigError, match="PEM"):
        transport_from_token(
            "https://127.0.0.1:1", TOKEN, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
        )


FAILURES = ["/short", "/big", "/big-unannounced", "/trickle", "/hang", "/reset", "refused", "wrong-ca"]


@pytest.mark.parametrize("case", FAILURES)
def test_no_urllib3_or_kubernetes_exception_leaks(
    server: LoopbackHttpsServer, pki: LoopbackPki, case: str
) -> None:
    if case == "refused":
        t = transport_from_token(
            f"https://127.0.0.1:{servers.free_port()}", TOKEN, pki.ca.cert_pem.decode(), limits=FAST
        )
        path = "/ok"
    elif case == "wrong-ca":
        t = transport_from_token(server.url, TOKEN, pki.other_ca.cert_pem.decode(), limits=FAST)
        path = "/ok"
    else:
        t, path = transport(server, pki), case
    with pytest.raises(KubeAccessError) as info:
        t.get(path, timeout_s=1.5)
    exc = info.value
    assert isinstance(exc, MetricsGuardError)
    assert type(exc).__module__ == "metrics_guard.errors"
    assert TOKEN not in str(exc)
    assert "\n" not in str(exc)
    assert exc.__cause__ is not None or isinstance(exc, ResponseTooLargeError)


def test_one_ssl_context_per_ca_and_client_certificate(pki: LoopbackPki) -> None:
    from metrics_guard.adapters import kube

    client = pki.client()
    cert = ClientCertificate(client.cert_pem, client.key_pem)
    shared = kube._ssl_context(pki.ca.cert_pem, cert)
    assert kube._ssl_context(pki.ca.cert_pem, cert) is shared
    assert kube._ssl_context(pki.ca.cert_pem, None) is not shared
    assert kube._ssl_context(pki.other_ca.cert_pem, cert) is not shared
