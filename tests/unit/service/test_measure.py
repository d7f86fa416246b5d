from __future__ import annotations

from metrics_guard.model import Code, FindingsDocument
from metrics_guard.service.measure import gauges
from tests.unit.service.serverless_fakes import T0, finding


def test_days_left_per_certificate() -> None:
    document = FindingsDocument(
        "prod",
        T0,
        (
            finding(code=Code.OK, evidence={"days_left": 200}, target="cert/proxy-client@apiserver/1"),
            finding(code=Code.PROXY_CERT_EXPIRED, evidence={"days_left": -3}),
            finding(
                code=Code.OK,
                check="certs.requestheader-ca",
                target="cert/requestheader-ca",
                evidence={"days_left": True},
            ),  # not a number: not measured
        ),
    )
    values = {dict(g.dimensions)["Certificate"]: g.value for g in gauges(document, kind="certs")}
    assert values == {"cert/proxy-client@apiserver/1": 200.0, "cert/proxy-client@apiserver/2": -3.0}


def test_no_availability_when_the_end_to_end_check_did_not_run() -> None:
    document = FindingsDocument("prod", T0, (finding(code=Code.OK, evidence={}),))
    assert gauges(document, kind="metrics") == []
