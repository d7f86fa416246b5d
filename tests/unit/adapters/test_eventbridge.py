"""EventBridgeSink: exact PutEvents shapes, <= 10 entries per request, retries, trimming (botocore Stubber)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from metrics_guard.adapters import aws_clients
from metrics_guard.adapters.eventbridge import ENTRY_BUDGET, EventBridgeSink, entry_size, finding_detail
from metrics_guard.errors import AwsError
from metrics_guard.model import Code
from tests.unit.service.serverless_fakes import finding

BUS = "metrics-guard-findings"


@pytest.fixture
def client() -> Any:
    return boto3.client("events", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


@pytest.fixture
def stub(client: Any) -> Iterator[Stubber]:
    with Stubber(client) as stubber:
        yield stubber
        stubber.assert_no_pending_responses()


def entry(f: Any) -> dict[str, Any]:
    return {
        "Source": "metrics-guard",
        "DetailType": "Metrics Guard Finding",
        "Detail": finding_detail(f)[0],
        "EventBusName": BUS,
        "Resources": [],
    }


def ok(n: int) -> dict[str, Any]:
    return {"FailedEntryCount": 0, "Entries": [{"EventId": f"id-{i}"} for i in range(n)]}


def test_one_entry_per_finding_in_batches_of_ten(client: Any, stub: Stubber) -> None:
    findings = [finding(target=f"node/node-{i}", check="metrics-api.node") for i in range(23)]
    for batch in (findings[:10], findings[10:20], findings[20:]):
        stub.add_response("put_events", ok(len(batch)), {"Entries": [entry(f) for f in batch]})
    result = EventBridgeSink(client, BUS, sleep=lambda _: None).publish(findings)
    assert (result.sent, result.failed, result.trimmed) == (23, (), 0)


def test_detail_is_the_finding_with_cluster() -> None:
    detail = json.loads(finding_detail(finding())[0])
    assert detail == finding().to_json()
    assert detail["cluster"] == "prod"
    assert detail["remediable_by"] == "reissue-aggregator-cert"


def test_failed_entries_are_retried_alone(client: Any, stub: Stubber) -> None:
    a, b = finding(target="node/a", check="x"), finding(target="node/b", check="x")
    stub.add_response(
        "put_events",
        {
            "FailedEntryCount": 1,
            "Entries": [{"EventId": "1"}, {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow down"}],
        },
        {"Entries": [entry(a), entry(b)]},
    )
    stub.add_response("put_events", ok(1), {"Entries": [entry(b)]})
    sleeps: list[float] = []
    result = EventBridgeSink(client, BUS, sleep=sleeps.append).publish([a, b])
    assert result.sent == 2 and result.failed == ()
    assert sleeps == [0.2]


def test_entries_failing_every_attempt_are_reported(client: Any, stub: Stubber) -> None:
    a = finding()
    for _ in range(3):
        stub.add_response(
            "put_events",
            {"FailedEntryCount": 1, "Entries": [{"ErrorCode": "InternalFailure"}]},
            {"Entries": [entry(a)]},
        )
    result = EventBridgeSink(client, BUS, attempts=3, sleep=lambda _: None).publish([a])
    assert result.sent == 0
    (line,) = result.failed
    assert "InternalFailure" in line and a.fingerprint[:12] in line


def test_throttled_request_is_retried_and_access_denied_raises(client: Any, stub: Stubber) -> None:
    a = finding()
    stub.add_client_error("put_events", service_error_code="ThrottlingException", http_status_code=400)
    stub.add_response("put_events", ok(1), {"Entries": [entry(a)]})
    assert EventBridgeSink(client, BUS, sleep=lambda _: None).publish([a]).sent == 1
    stub.add_client_error("put_events", service_error_code="AccessDeniedException", http_status_code=400)
    with pytest.raises(AwsError) as caught:
        EventBridgeSink(client, BUS, sleep=lambda _: None).publish([a])
    assert caught.value.code == "AccessDeniedException"


def test_an_oversized_finding_is_trimmed_with_a_marker_never_dropped(client: Any, stub: Stubber) -> None:
    big = finding(
        code=Code.NODE_METRICS_MISSING,
        evidence={"missing_nodes": [f"node-{i:06d}" * 20 for i in range(3000)], "note": "x" * 300_000},
    )
    detail, trimmed = finding_detail(big)
    assert trimmed
    assert entry_size("metrics-guard", "Metrics Guard Finding", detail) <= ENTRY_BUDGET
    data = json.loads(detail)
    assert data["trimmed"] is True and data["original_bytes"] > 256 * 1024
    assert data["fingerprint"] == big.fingerprint and data["code"] == "NODE_METRICS_MISSING"
    stub.add_response("put_events", ok(1), {"Entries": [entry(big)]})
    result = EventBridgeSink(client, BUS, sleep=lambda _: None).publish([big])
    assert (result.sent, result.trimmed) == (1, 1)


def test_batches_also_respect_the_request_size(client: Any, stub: Stubber) -> None:
    findings = [finding(target=f"node/n{i}", check="x", evidence={"blob": "y" * 100_000}) for i in range(4)]
    for batch in (findings[:2], findings[2:]):
        stub.add_response("put_events", ok(2), {"Entries": [entry(f) for f in batch]})
    assert EventBridgeSink(client, BUS, sleep=lambda _: None).publish(findings).sent == 4


def test_a_client_still_being_built_is_waited_for_at_the_first_publish(client: Any, stub: Stubber) -> None:
    release = threading.Event()
    built: list[str] = []

    def slow_factory() -> Any:
        release.wait(5)
        built.append("events")
        return client

    sink = EventBridgeSink(aws_clients.in_background(slow_factory), BUS, sleep=lambda _: None)
    assert built == []  # the sink does not wait for its client until it publishes
    a = finding(target="node/a", check="metrics-api.node")
    stub.add_response("put_events", ok(1), {"Entries": [entry(a)]})
    threading.Timer(0.05, release.set).start()
    assert sink.publish([a]).sent == 1
    assert built == ["events"]


def test_a_client_that_failed_to_build_raises_its_error_where_it_is_used() -> None:
    def broken() -> Any:
        raise AwsError("no region")

    getter = aws_clients.in_background(broken)
    with pytest.raises(AwsError, match="no region"):
        getter()
