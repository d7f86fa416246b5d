"""DynamoTable: exact item shapes of state, audit and lock; conditional failures mapped (Stubber)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import ANY, Stubber

from metrics_guard.adapters.dynamodb import DynamoTable, idempotency_layer
from metrics_guard.model import Code, Status, rfc3339
from metrics_guard.service.notify import FindingState, StateConflict
from tests.unit.service.serverless_fakes import T0, Clock

TABLE = "metrics-guard-state"
STATE = FindingState(
    fingerprint="f" * 64,
    cluster="prod",
    check="certs.proxy-client",
    target="cert/proxy-client@apiserver/2",
    status=Status.FAIL,
    code=Code.PROXY_CERT_EXPIRED,
    since=T0,
    last_seen=T0,
    told_status=Status.FAIL,
    told_code=Code.PROXY_CERT_EXPIRED,
    told_at=T0,
    changes=(T0,),
    version=0,
)
ITEM = {
    "pk": {"S": "finding#" + "f" * 64},
    "sk": {"S": "state"},
    "cluster": {"S": "prod"},
    "check": {"S": "certs.proxy-client"},
    "target": {"S": "cert/proxy-client@apiserver/2"},
    "status": {"S": "fail"},
    "code": {"S": "PROXY_CERT_EXPIRED"},
    "since": {"S": "2026-12-01T12:00:00Z"},
    "last_seen": {"S": "2026-12-01T12:00:00Z"},
    "told_status": {"S": "fail"},
    "told_code": {"S": "PROXY_CERT_EXPIRED"},
    "changes": {"L": [{"S": "2026-12-01T12:00:00Z"}]},
    "flapping": {"BOOL": False},
    "version": {"N": "1"},
    "expires_at": {"N": str(int((T0 + timedelta(days=30)).timestamp()))},
    "told_at": {"S": "2026-12-01T12:00:00Z"},
}


@pytest.fixture
def client() -> Any:
    return boto3.client("dynamodb", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")


def test_first_state_write_is_conditional_on_absence(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response(
            "put_item",
            {},
            {"TableName": TABLE, "Item": ITEM, "ConditionExpression": "attribute_not_exists(pk)"},
        )
        DynamoTable(client, TABLE, now=Clock()).put_state(STATE)


def test_later_writes_are_conditional_on_the_version(client: Any) -> None:
    item = {**ITEM, "version": {"N": "4"}}
    with Stubber(client) as stub:
        stub.add_client_error(
            "put_item",
            service_error_code="ConditionalCheckFailedException",
            http_status_code=400,
            expected_params={
                "TableName": TABLE,
                "Item": item,
                "ConditionExpression": "#v = :v",
                "ExpressionAttributeNames": {"#v": "version"},
                "ExpressionAttributeValues": {":v": {"N": "3"}},
            },
        )
        with pytest.raises(StateConflict):
            DynamoTable(client, TABLE, now=Clock()).put_state(_with_version(3))


def _with_version(version: int) -> FindingState:
    return replace(STATE, version=version)


def test_state_round_trip(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response(
            "get_item",
            {"Item": ITEM},
            {
                "TableName": TABLE,
                "Key": {"pk": {"S": "finding#" + "f" * 64}, "sk": {"S": "state"}},
                "ConsistentRead": True,
            },
        )
        state = DynamoTable(client, TABLE, now=Clock()).get_state("f" * 64)
    assert state == _with_version(1)


def test_audit_record_has_a_long_ttl(client: Any) -> None:
    with Stubber(client) as stub:
        stub.add_response(
            "put_item",
            {},
            {
                "TableName": TABLE,
                "Item": {
                    "pk": {"S": "audit#prod"},
                    "sk": ANY,
                    "kind": {"S": "notified"},
                    "details": {"S": '{"notice": "alert"}'},
                    "expires_at": {"N": str(int((T0 + timedelta(days=400)).timestamp()))},
                },
            },
        )
        DynamoTable(client, TABLE, now=Clock()).audit("prod", "notified", {"notice": "alert"})


def test_lock_taken_and_refused(client: Any) -> None:
    with Stubber(client) as stub:
        expected = {
            "TableName": TABLE,
            "Item": {
                "pk": {"S": "lock#prod"},
                "sk": {"S": "lock"},
                "owner": {"S": "run-1"},
                "acquired_at": {"S": rfc3339(T0)},
                "expires_at": {"N": str(int((T0 + timedelta(minutes=30)).timestamp()))},
            },
            "ConditionExpression": "attribute_not_exists(pk) OR #t < :now OR #o = :owner",
            "ExpressionAttributeNames": {"#t": "expires_at", "#o": "owner"},
            "ExpressionAttributeValues": {":now": {"N": str(int(T0.timestamp()))}, ":owner": {"S": "run-1"}},
        }
        stub.add_response("put_item", {}, expected)
        stub.add_client_error(
            "put_item",
            service_error_code="ConditionalCheckFailedException",
            http_status_code=400,
            expected_params=expected,
        )
        table = DynamoTable(client, TABLE, now=Clock())
        assert table.acquire_lock("prod", "run-1", timedelta(minutes=30)) is True
        assert table.acquire_lock("prod", "run-1", timedelta(minutes=30)) is False


def test_idempotency_layer_uses_the_shared_keys(client: Any) -> None:
    layer = idempotency_layer(TABLE, client)
    assert (layer.key_attr, layer.sort_key_attr, layer.expiry_attr) == ("pk", "sk", "expires_at")
