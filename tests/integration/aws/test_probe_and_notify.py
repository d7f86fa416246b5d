"""The functions against a moto server on loopback: real adapters, real AWS request/response cycles.

metrics_probe runs with events/schedule.json, reads the registry from SSM and each cluster's credentials
from Secrets Manager, and publishes findings on the custom bus (a rule forwards them to SQS to be read).
The probe itself is a stand-in here (the devcluster variant lives with the devcluster fixtures).
The notifier keeps state in DynamoDB and speaks through SNS (an SQS subscription reads what was sent) and
a Slack webhook stand-in: one alert, no repeat, then a resolved message.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from metrics_guard.service import probe as probe_module
from tests.integration.aws.conftest import WebhookReceiver, drain, queue
from tests.lambda_context import FakeLambdaContext
from tests.moto_server import MotoServer
from tests.servers import make_ca
from tests.unit.functions.handlers import load
from tests.unit.service.serverless_fakes import fake_probe

pytestmark = pytest.mark.integration

EVENTS = Path(__file__).resolve().parents[3] / "events"
TOKEN = "integration-token-0123456789-do-not-log"


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


@pytest.fixture
def findings_queue(aws: MotoServer, monkeypatch: pytest.MonkeyPatch) -> str:
    events = aws.client("events")
    events.create_event_bus(Name="mg-findings")
    url, arn = queue(aws, "findings")
    events.put_rule(
        Name="all-findings",
        EventBusName="mg-findings",
        EventPattern=json.dumps({"source": ["metrics-guard"], "detail-type": ["Metrics Guard Finding"]}),
    )
    events.put_targets(Rule="all-findings", EventBusName="mg-findings", Targets=[{"Id": "q", "Arn": arn}])
    monkeypatch.setenv("EVENT_BUS_NAME", "mg-findings")
    return url


def test_metrics_probe_publishes_each_clusters_findings(
    aws: MotoServer, findings_queue: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = aws.client("secretsmanager").create_secret(
        Name="metrics-guard/clusters/prod-eu-1",
        SecretString=json.dumps({"token": TOKEN, "ca_pem": make_ca().cert_pem.decode()}),
    )
    missing = secret["ARN"].replace("prod-eu-1", "gone")
    registry = [
        {
            "name": "prod-eu-1",
            "endpoint": "https://127.0.0.1:9",
            "layout": "binary",
            "credentials_secret_arn": secret["ARN"],
            "control_plane": {
                "instances": [
                    {"instance_id": "i-0123456789abcdef0", "apiserver_endpoint": "https://127.0.0.1:9"}
                ]
            },
        },
        {
            "name": "gone",
            "endpoint": "https://127.0.0.1:9",
            "layout": "binary",
            "credentials_secret_arn": missing,
        },
        {
            "name": "typo",
            "endpoint": "http://127.0.0.1:9",
            "layout": "binary",
            "credentials_secret_arn": missing,
        },
    ]
    aws.client("ssm").put_parameter(Name="/mg/clusters", Type="String", Value=json.dumps(registry))
    monkeypatch.setenv("REGISTRY_PARAMETER", "/mg/clusters")
    monkeypatch.setattr(probe_module, "run_probe", fake_probe())

    result = load("metrics_probe").lambda_handler(event("schedule.json"), FakeLambdaContext())

    assert result["ok"] is True
    assert {c["cluster"]: c["status"] for c in result["clusters"]} == {
        "typo": "error",
        "prod-eu-1": "ok",
        "gone": "error",
    }
    received = drain(aws.client("sqs"), findings_queue, expect=3)
    assert {e["detail-type"] for e in received} == {"Metrics Guard Finding"}
    by_cluster = {e["detail"]["cluster"]: e["detail"] for e in received}
    assert by_cluster["prod-eu-1"]["code"] == "OK"
    assert by_cluster["gone"]["code"] == "PROBE_ERROR"
    assert "ResourceNotFoundException" in by_cluster["gone"]["summary"]
    assert by_cluster["typo"]["evidence"]["field"] == "endpoint"
    captured = capsys.readouterr()
    assert TOKEN not in captured.out + captured.err + json.dumps(received)


def test_notifier_alerts_once_then_resolves(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch, webhook: WebhookReceiver
) -> None:
    ddb = aws.client("dynamodb")
    ddb.create_table(
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
    url, arn = queue(aws, "alerts")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    slack = aws.client("secretsmanager").create_secret(
        Name="mg/slack", SecretString=json.dumps({"url": webhook.url})
    )
    monkeypatch.setenv("TABLE_NAME", "mg-state")
    monkeypatch.setenv("TOPIC_ARN", topic)
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", slack["ARN"])
    handler = load("notifier").lambda_handler

    failing = event("finding_aggregator_network_timeout.json")
    assert handler(failing, FakeLambdaContext())["outcomes"][0]["notice"] == "alert"
    assert handler(failing, FakeLambdaContext())["outcomes"][0]["notice"] is None
    assert handler(event("finding_ok.json"), FakeLambdaContext())["outcomes"][0]["notice"] == "resolved"

    sent = drain(aws.client("sqs"), url, expect=2)
    assert [m["Subject"].split()[1] for m in sent] == ["FAILING", "RESOLVED"]
    assert all(len(m["Subject"]) < 100 for m in sent)
    assert "AGGREGATOR_NETWORK_TIMEOUT" in sent[0]["Message"]
    assert (
        json.loads(sent[0]["MessageAttributes"]["finding"]["Value"])["code"] == "AGGREGATOR_NETWORK_TIMEOUT"
    )
    assert [b["blocks"][0]["text"]["text"] for b in webhook.bodies] == [
        "FAILING: prod-eu-1",
        "RESOLVED: prod-eu-1",
    ]

    audit = ddb.query(
        TableName="mg-state",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "audit#prod-eu-1"}},
    )["Items"]
    assert sorted(i["kind"]["S"] for i in audit) == ["notified", "notified"]


def test_slack_down_still_sends_sns_and_records_the_failure(
    aws: MotoServer, monkeypatch: pytest.MonkeyPatch, webhook: WebhookReceiver
) -> None:
    ddb = aws.client("dynamodb")
    ddb.create_table(
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
    url, arn = queue(aws, "alerts")
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    webhook.status = 404
    slack = aws.client("secretsmanager").create_secret(Name="mg/slack", SecretString=webhook.url)
    monkeypatch.setenv("TABLE_NAME", "mg-state")
    monkeypatch.setenv("TOPIC_ARN", topic)
    monkeypatch.setenv("SLACK_WEBHOOK_SECRET_ARN", slack["ARN"])

    result = load("notifier").lambda_handler(event("remediable_proxy_cert_expired.json"), FakeLambdaContext())

    assert result["outcomes"][0]["slack"] == "failed"
    assert len(drain(aws.client("sqs"), url, expect=1)) == 1
    audit = ddb.query(
        TableName="mg-state",
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "audit#prod-eu-1"}},
    )["Items"]
    assert sorted(i["kind"]["S"] for i in audit) == ["notified", "slack-failed"]
