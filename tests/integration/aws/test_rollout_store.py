"""The DynamoDB rollout store against a real moto server on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import boto3
import pytest

from metrics_guard.adapters.dynamodb_rollouts import DynamoRolloutStore
from metrics_guard.ports import NodeRef
from metrics_guard.service.remediate_ports import (
    InvocationState,
    NodeOutcome,
    Rollout,
    RolloutPhase,
    ScriptResult,
)
from tests.moto_server import MotoServer

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

pytestmark = pytest.mark.integration

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
#: The table of each test's client.
TABLES: dict[int, str] = {}


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    """A server of this module's own (tests/moto_server.py), stopped by PID at the end."""
    with MotoServer() as server:
        yield server


@pytest.fixture
def client(moto: MotoServer) -> Iterator[DynamoDBClient]:
    ddb: DynamoDBClient = moto.client("dynamodb")
    name = f"rollouts-{id(ddb)}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[
            {"AttributeName": "pk", "AttributeType": "S"},
            {"AttributeName": "sk", "AttributeType": "S"},
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    ddb.update_time_to_live(
        TableName=name, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    TABLES[id(ddb)] = name
    yield ddb
    ddb.delete_table(TableName=name)


def store(client: DynamoDBClient, clock: Clock) -> DynamoRolloutStore:
    return DynamoRolloutStore(client, TABLES[id(client)], now=clock)


def rollout(rollout_id: str, started: datetime, **changes: object) -> Rollout:
    base = Rollout(
        rollout_id=rollout_id,
        cluster="dev",
        fingerprint="f" * 64,
        started_at=started,
        phase=RolloutPhase.STARTING,
        nodes=(
            NodeRef(2, "apiserver-2", "https://198.18.0.12:6443", None, "/roots/2"),
            NodeRef(1, "apiserver-1"),
        ),
        parameter_name=f"/metrics-guard/rollout/dev/{rollout_id}",
        cert_sha256="a" * 64,
        strategy="reload-then-restart",
        lock_owner="owner-1",
    )
    return base.with_(**changes)


def test_lock_is_exclusive_until_released_or_expired(client: DynamoDBClient) -> None:
    clock = Clock()
    s = store(client, clock)
    assert s.acquire_lock("remediation#dev", "a", timedelta(hours=2))
    assert not s.acquire_lock("remediation#dev", "b", timedelta(hours=2))
    assert s.acquire_lock("remediation#dev", "a", timedelta(hours=2))  # re-entrant for its owner
    s.release_lock("remediation#dev", "b")  # not the owner: no effect
    assert not s.acquire_lock("remediation#dev", "b", timedelta(hours=2))
    s.release_lock("remediation#dev", "a")
    assert s.acquire_lock("remediation#dev", "b", timedelta(hours=2))
    clock.now = T0 + timedelta(hours=2, seconds=5)  # b's lock expired (TTL deletion is lazy: checked here)
    assert s.acquire_lock("remediation#dev", "c", timedelta(hours=2))
    assert not s.acquire_lock("remediation#dev", "b", timedelta(hours=2))


def test_two_concurrent_lock_attempts_one_wins(client: DynamoDBClient) -> None:
    clock = Clock()
    table = TABLES[id(client)]
    barrier = threading.Barrier(2)
    results: dict[str, bool] = {}

    def attempt(owner: str) -> None:
        own = boto3.client(
            "dynamodb",
            endpoint_url=client.meta.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s = DynamoRolloutStore(own, table, now=clock)
        barrier.wait()
        results[owner] = s.acquire_lock("remediation#race", owner, timedelta(hours=2))

    for _ in range(5):
        results.clear()
        threads = [threading.Thread(target=attempt, args=(o,)) for o in ("x", "y")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        assert sorted(results.values()) == [False, True], results
        winner = next(o for o, won in results.items() if won)
        store(client, clock).release_lock("remediation#race", winner)


def test_claim_once_per_window(client: DynamoDBClient) -> None:
    clock = Clock()
    s = store(client, clock)
    assert s.claim("remediate#abc#1", timedelta(hours=2))
    assert not s.claim("remediate#abc#1", timedelta(hours=2))
    assert s.claim("remediate#abc#2", timedelta(hours=2))
    clock.now = T0 + timedelta(hours=3)
    assert s.claim("remediate#abc#1", timedelta(hours=2))  # expired claim replaced


def test_rollouts_round_trip_index_and_queries(client: DynamoDBClient) -> None:
    clock = Clock()
    s = store(client, clock)
    first = rollout("r1", T0 - timedelta(hours=30))
    s.save_rollout(first)
    second = rollout("r2", T0 - timedelta(hours=5))
    s.save_rollout(second)
    running = second.with_(
        phase=RolloutPhase.RUNNING,
        command_id="cmd-123",
        outcomes=(
            NodeOutcome(
                second.nodes[0],
                InvocationState.SUCCESS,
                ScriptResult("installed", True, True, "b" * 64, "ok"),
            ),
            NodeOutcome(second.nodes[1], InvocationState.NOT_RUN, detail="not run: an earlier node failed"),
        ),
    )
    s.save_rollout(running)
    assert s.get_rollout("r2") == running
    assert s.get_rollout("r1") == first
    assert s.get_rollout("nope") is None
    assert s.rollout_for_command("cmd-123") == running
    assert s.rollout_for_command("cmd-x") is None
    recent = s.rollouts_since("dev", T0 - timedelta(days=1))
    assert [r.rollout_id for r in recent] == ["r2"]
    assert [r.rollout_id for r in s.rollouts_since("dev", T0 - timedelta(days=2))] == ["r1", "r2"]
    assert s.rollouts_since("other", T0 - timedelta(days=2)) == []
    done = running.with_(phase=RolloutPhase.REMEDIATED, finished_at=T0)
    s.save_rollout(done)
    assert s.get_rollout("r2") == done
    assert len(s.rollouts_since("dev", T0 - timedelta(days=1))) == 1  # updated in place, not duplicated


def test_audit_records_kept_long(client: DynamoDBClient) -> None:
    clock = Clock()
    s = store(client, clock)
    s.audit("dev", "remediation.started", {"rollout_id": "r1", "command_id": "c"})
    clock.now = T0 + timedelta(seconds=1)
    s.audit("dev", "remediation.remediated", {"rollout_id": "r1"})
    records = s.audit_records("dev")
    assert [k for k, _ in records] == ["remediation.started", "remediation.remediated"]
    items = client.query(
        TableName=TABLES[id(client)],
        KeyConditionExpression="pk = :pk",
        ExpressionAttributeValues={":pk": {"S": "audit#dev"}},
    )["Items"]
    expiry = min(int(str(i["expires_at"]["N"])) for i in items)
    assert expiry >= int((T0 + timedelta(days=399)).timestamp())
