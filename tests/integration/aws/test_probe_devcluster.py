"""metrics_probe and the notifier against a moto server AND the real devcluster (issue 4 §5).

The handlers run in-process (``functions/*/app.py`` with a fake LambdaContext), with real adapters only:
the cluster registry is an SSM parameter in moto, the credentials a Secrets Manager secret in moto holding a
ServiceAccount token minted by the cluster (TokenRequest, bound to the metrics-guard roles) and the cluster
CA; findings go to the custom bus, a rule forwards them to SQS, and the test reads them back and delivers
them to the notifier (DynamoDB state, SNS → SQS) as EventBridge would.

One fault cycle (``proxy-cert-expired`` on apiserver 2) serves every failing assertion:

- the metrics probe alone (what the deployed function sees: it has no node material) names apiserver 2
  with the aggregator's symptom (``AGGREGATOR_PROXY_CERT_REJECTED``, or ``PROXY_CERT_EXPIRED`` where the
  correlation can tell);
- the cert probe with node material: in AWS it reads the nodes through SSM SendCommand, which moto cannot
  execute, so here *only* its certificate source is swapped for the node-root source (the same
  ``CertificateSource`` port, reading the devcluster's node roots); registry, secret, transports, bus and
  handler are the real ones. It reports ``PROXY_CERT_EXPIRED`` on ``cert/proxy-client@apiserver/2``;
- the notifier sends one alert per failing subject, none on the next identical run, and a resolved
  message after heal.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from metrics_guard import wiring
from metrics_guard.adapters.noderoot import NodeRootSource
from metrics_guard.config import ClusterEntry
from metrics_guard.service.jobs import ProbeJob
from metrics_guard.service.probe import ProbeKind, ProbeTargets
from metrics_guard.service.run import ClusterConnector
from tests.integration.aws.conftest import drain, queue
from tests.integration.conftest import DevclusterHandle, FaultFactory
from tests.lambda_context import FakeLambdaContext
from tests.moto_server import MotoServer
from tests.unit.functions.handlers import load

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[3] / "events"
CLUSTER = "devcluster"
REJECTED = {"AGGREGATOR_PROXY_CERT_REJECTED", "PROXY_CERT_EXPIRED"}


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


@pytest.fixture(scope="module")
def sa_token(devcluster: DevclusterHandle) -> str:
    """A ServiceAccount token bound to the metrics-guard roles (the demo's code: TokenRequest via kubectl)."""
    from demo.run import service_account_token

    token = service_account_token(devcluster.cluster)
    assert token, "the devcluster could not mint a ServiceAccount token"
    return token


class NodeRootConnector:
    """The real connector, with node material read from the node roots instead of SSM SendCommand."""

    def __init__(self, inner: ClusterConnector, roots: dict[int, str]) -> None:
        self._inner = inner
        self._roots = roots

    def connect(self, entry: ClusterEntry, kind: ProbeKind) -> ProbeTargets:
        targets = self._inner.connect(entry, kind)
        if kind == "metrics":
            return targets
        return dataclasses.replace(targets, certificates=NodeRootSource(self._roots))


@dataclasses.dataclass
class Stack:
    aws: MotoServer
    findings_url: str
    alerts_url: str
    devcluster: DevclusterHandle
    monkeypatch: pytest.MonkeyPatch

    def probe(self, kind: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """One invocation of the probe function; (its result, the events the bus delivered)."""
        if kind == "certs":
            real: ProbeJob = wiring.probe_job()
            roots = {i: str(root) for i, root in enumerate(self.devcluster.node_roots, start=1)}
            job = dataclasses.replace(real, connector=NodeRootConnector(real.connector, roots))
            self.monkeypatch.setattr(wiring, "probe_job", lambda: job)
            try:
                result = load("cert_probe").lambda_handler(event("schedule_certs.json"), FakeLambdaContext())
            finally:
                self.monkeypatch.setattr(wiring, "probe_job", real_probe_job)
        else:
            result = load("metrics_probe").lambda_handler(event("schedule.json"), FakeLambdaContext())
        assert result["ok"] is True, result
        delivered = drain(self.aws.client("sqs"), self.findings_url, expect=result["published"])
        assert len(delivered) == result["published"]
        assert not result["publish_failed"]
        return result, delivered

    def notify(self, delivered: list[dict[str, Any]]) -> dict[str, str | None]:
        """Deliver each bus event to the notifier; fingerprint -> notice."""
        handler = load("notifier").lambda_handler
        notices: dict[str, str | None] = {}
        for delivered_event in delivered:
            # moto 5.2's default SQS target template drops "account", which EventBridge always delivers
            bus_event = {"account": "123456789012", **delivered_event}
            result = handler(bus_event, FakeLambdaContext())
            assert result["ok"] is True, result
            for outcome in result["outcomes"]:
                notices[outcome["fingerprint"]] = outcome["notice"]
        return notices

    def sent(self) -> list[dict[str, Any]]:
        return drain(self.aws.client("sqs"), self.alerts_url, wait_s=0)


real_probe_job = wiring.probe_job


@pytest.fixture
def stack(
    aws: MotoServer, devcluster: DevclusterHandle, sa_token: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Stack]:
    events = aws.client("events")
    events.create_event_bus(Name="mg-findings")
    findings_url, findings_arn = queue(aws, "findings")
    events.put_rule(
        Name="all-findings",
        EventBusName="mg-findings",
        EventPattern=json.dumps({"source": ["metrics-guard"], "detail-type": ["Metrics Guard Finding"]}),
    )
    events.put_targets(
        Rule="all-findings", EventBusName="mg-findings", Targets=[{"Id": "q", "Arn": findings_arn}]
    )
    aws.client("dynamodb").create_table(
        TableName="mg-state",
        BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    )
    sns = aws.client("sns")
    topic = sns.create_topic(Name="mg-alerts")["TopicArn"]
    alerts_url, alerts_arn = queue(aws, "alerts")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=alerts_arn)
    secret = aws.client("secretsmanager").create_secret(
        Name=f"metrics-guard/clusters/{CLUSTER}",
        SecretString=json.dumps({"token": sa_token, "ca_pem": devcluster.ca_file.read_text()}),
    )
    registry = [
        {
            "name": CLUSTER,
            "endpoint": devcluster.front_url,
            "layout": "binary",
            "credentials_secret_arn": secret["ARN"],
            "control_plane": {
                "instances": [
                    {"instance_id": f"i-{i:017x}", "apiserver_endpoint": url}
                    for i, url in enumerate(devcluster.apiserver_urls, start=1)
                ]
            },
        }
    ]
    aws.client("ssm").put_parameter(Name="/mg/clusters", Type="String", Value=json.dumps(registry))
    for key, value in {
        "REGISTRY_PARAMETER": "/mg/clusters",
        "EVENT_BUS_NAME": "mg-findings",
        "TABLE_NAME": "mg-state",
        "TOPIC_ARN": topic,
        "PROBE_MAX_SECONDS": "40",
    }.items():
        monkeypatch.setenv(key, value)
    wiring.reset()
    yield Stack(aws, findings_url, alerts_url, devcluster, monkeypatch)


def details(delivered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e["detail"] for e in delivered]


def problems(delivered: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [d for d in details(delivered) if d["status"] != "ok"]


def poll(fn: Callable[[], Any], timeout_s: float, what: str, interval_s: float = 1.0) -> Any:
    deadline = time.monotonic() + timeout_s
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(interval_s)
    raise AssertionError(f"not within {timeout_s:.0f}s: {what} (last: {last!r})")


def fingerprint(message: dict[str, Any]) -> str:
    return str(json.loads(message["MessageAttributes"]["finding"]["Value"])["fingerprint"])


def on_apiserver_2(detail: dict[str, Any]) -> bool:
    return str(detail["target"]).endswith("apiserver/2")


def test_probe_and_notifier_on_the_devcluster(
    stack: Stack, fault: FaultFactory, sa_token: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # ---- healthy: every finding ok, from both probes; the notifier records them silently
    result, healthy = stack.probe("metrics")
    assert result["status"] == "ok", problems(healthy)
    assert result["clusters"] == [{"cluster": CLUSTER, "status": "ok", "findings": len(healthy), "not_ok": 0}]
    assert {e["source"] for e in healthy} == {"metrics-guard"}
    assert {e["detail-type"] for e in healthy} == {"Metrics Guard Finding"}
    checks = {d["check"] for d in details(healthy)}
    assert {"metrics-api.apiservice", "metrics-api.end-to-end", "metrics-api.apiserver"} <= checks
    assert {d["target"] for d in details(healthy) if d["check"] == "metrics-api.apiserver"} >= {
        f"apiserver/{i}" for i in (1, 2, 3)
    }
    _, healthy_certs = stack.probe("certs")
    assert not problems(healthy_certs), problems(healthy_certs)
    assert "cert/proxy-client@apiserver/2" in {d["target"] for d in details(healthy_certs)}
    assert set(stack.notify(healthy + healthy_certs).values()) == {None}
    assert stack.sent() == []

    with fault("proxy-cert-expired", apiserver=2):
        # ---- broken: the metrics probe names apiserver 2 (and only it) with the aggregator's symptom
        def broken_run() -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
            run = stack.probe("metrics")
            hit = [d for d in problems(run[1]) if on_apiserver_2(d) and d["code"] in REJECTED]
            return run if hit else None

        result, broken = poll(broken_run, 90, "metrics probe reports apiserver/2", interval_s=2)
        assert result["status"] == "fail"
        named = {d["target"] for d in problems(broken) if d["code"] != "APISERVERS_DISAGREE"}
        assert not any(t.endswith(("apiserver/1", "apiserver/3")) for t in named), problems(broken)
        # ---- the cert probe (node material from the node roots): the cause, on the right certificate
        _, certs = stack.probe("certs")
        expired = {d["target"] for d in problems(certs) if d["code"] == "PROXY_CERT_EXPIRED"}
        assert expired == {"cert/proxy-client@apiserver/2"}, problems(certs)
        cert_finding = next(d for d in problems(certs) if d["code"] == "PROXY_CERT_EXPIRED")
        assert cert_finding["remediable_by"] == "reissue-aggregator-cert"
        assert cert_finding["cluster"] == CLUSTER

        # ---- notifier: one alert per failing subject ...
        first = stack.notify(broken + certs)
        failing = {d["fingerprint"]: d for d in problems(broken + certs)}
        assert {fp for fp, notice in first.items() if notice == "alert"} == set(failing)
        sent = stack.sent()
        assert len(sent) == len(failing)
        assert all(m["Subject"].split()[1] == "FAILING" and len(m["Subject"]) < 100 for m in sent)
        subjects = {m["Subject"] for m in sent}
        assert any("PROXY_CERT_EXPIRED on cert/proxy-client@apiserver/2" in s for s in subjects), subjects

        # ---- ... and none on the next identical run
        _, again = stack.probe("metrics")
        _, again_certs = stack.probe("certs")
        second = stack.notify(again + again_certs)
        still = {
            d["fingerprint"]
            for d in problems(again + again_certs)
            if d["fingerprint"] in failing and d["code"] == failing[d["fingerprint"]]["code"]
        }
        assert cert_finding["fingerprint"] in still
        assert all(second[fp] is None for fp in still), second
        # (through the round-robin front a symptom may show on one run and not the next: a subject first
        # seen failing now is a new alert; a subject already told is never alerted again)
        alerts = [m for m in stack.sent() if m["Subject"].split()[1] == "FAILING"]
        repeated = [fp for fp in map(fingerprint, alerts) if fp in failing]
        assert repeated == [], [failing[fp]["target"] for fp in repeated]

    # ---- healed: resolved for the subjects that were failing, then all ok
    result, healed = stack.probe("metrics")
    _, healed_certs = stack.probe("certs")
    assert result["status"] == "ok", problems(healed)
    assert not problems(healed_certs), problems(healed_certs)
    third = stack.notify(healed + healed_certs)
    assert {fp: third[fp] for fp in still} == dict.fromkeys(still, "resolved")
    resolved = [m for m in stack.sent() if m["Subject"].split()[1] == "RESOLVED"]
    assert any("cert/proxy-client@apiserver/2" in m["Subject"] for m in resolved), resolved

    captured = capsys.readouterr()
    assert sa_token not in captured.out + captured.err
