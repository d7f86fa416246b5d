"""The responder's ``RolloutStore`` on the project's one DynamoDB table (pk S / sk S, TTL ``expires_at``).

Items (docs/responder.md):

| item | pk | sk | expires_at |
|---|---|---|---|
| lock | ``lock#<name>`` (``lock#remediation#<cluster>``) | ``lock`` | lock expiry (checked on acquire too) |
| claim | ``claim#<key>`` | ``claim`` | claim expiry (checked on claim too: TTL deletion is lazy) |
| rollout | ``rollout#<cluster>`` | ``<started_at RFC 3339>#<rollout_id>`` | started + rollout retention |
| rollout index | ``rolloutid#<rollout_id>`` | ``rollout`` | as the rollout |
| command index | ``command#<command_id>`` | ``rollout`` | as the rollout |
| audit | ``audit#<cluster>`` | ``<RFC 3339>#<random>`` | created + audit retention (long: 400 days) |

Every conditional write relies on DynamoDB's own atomicity: of two concurrent ``acquire_lock`` or
``claim`` calls exactly one succeeds. Rollouts hold no key material (``Rollout`` never carries any).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from metrics_guard.adapters.dynamodb import PK, SK, TTL, DynamoTable, aws_error, conditional_failed
from metrics_guard.errors import AwsError
from metrics_guard.model import Json, parse_rfc3339, rfc3339
from metrics_guard.ports import NodeRef
from metrics_guard.service.remediate_ports import (
    InvocationState,
    NodeOutcome,
    Rollout,
    RolloutPhase,
    ScriptResult,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

ROLLOUT_RETENTION: Final = timedelta(days=400)


def _epoch(moment: datetime) -> str:
    return str(int(moment.timestamp()))


# ------------------------------------------------------------------------------------ (de)serialising


def _node_json(node: NodeRef) -> dict[str, Json]:
    return {
        "index": node.index,
        "name": node.name,
        "apiserver_url": node.apiserver_url,
        "instance_id": node.instance_id,
        "node_root": node.node_root,
    }


def _node_from(data: dict[str, Json]) -> NodeRef:
    def opt(key: str) -> str | None:
        value = data.get(key)
        return None if value is None else str(value)

    index = data["index"]
    return NodeRef(
        index=int(index) if isinstance(index, int | str) else 0,
        name=str(data["name"]),
        apiserver_url=opt("apiserver_url"),
        instance_id=opt("instance_id"),
        node_root=opt("node_root"),
    )


def _outcome_json(outcome: NodeOutcome) -> dict[str, Json]:
    result: Json = None
    if outcome.result is not None:
        r = outcome.result
        result = {
            "status": r.status,
            "changed": r.changed,
            "restarted": r.restarted,
            "cert_sha256": r.cert_sha256,
            "reason": r.reason,
        }
    return {
        "node": _node_json(outcome.node),
        "state": outcome.state.value,
        "result": result,
        "detail": outcome.detail,
    }


def _outcome_from(data: dict[str, Json]) -> NodeOutcome:
    raw = data.get("result")
    result = None
    if isinstance(raw, dict):
        sha = raw.get("cert_sha256")
        result = ScriptResult(
            status=str(raw.get("status")),
            changed=bool(raw.get("changed")),
            restarted=bool(raw.get("restarted")),
            cert_sha256=None if sha is None else str(sha),
            reason=str(raw.get("reason") or ""),
        )
    node = data["node"]
    detail = data.get("detail")
    return NodeOutcome(
        node=_node_from(node if isinstance(node, dict) else {}),
        state=InvocationState(str(data["state"])),
        result=result,
        detail=None if detail is None else str(detail),
    )


def rollout_to_json(rollout: Rollout) -> dict[str, Json]:
    return {
        "rollout_id": rollout.rollout_id,
        "cluster": rollout.cluster,
        "fingerprint": rollout.fingerprint,
        "started_at": rfc3339(rollout.started_at),
        "phase": rollout.phase.value,
        "nodes": [_node_json(n) for n in rollout.nodes],
        "parameter_name": rollout.parameter_name,
        "cert_sha256": rollout.cert_sha256,
        "strategy": rollout.strategy,
        "lock_owner": rollout.lock_owner,
        "command_id": rollout.command_id,
        "outcomes": [_outcome_json(o) for o in rollout.outcomes],
        "finished_at": None if rollout.finished_at is None else rfc3339(rollout.finished_at),
    }


def rollout_from_json(data: dict[str, Json]) -> Rollout:
    strategy = str(data["strategy"])
    if strategy not in ("reload-then-restart", "restart"):
        raise ValueError(f"unknown strategy {strategy!r}")
    nodes = data.get("nodes")
    outcomes = data.get("outcomes")
    command_id = data.get("command_id")
    finished = data.get("finished_at")
    return Rollout(
        rollout_id=str(data["rollout_id"]),
        cluster=str(data["cluster"]),
        fingerprint=str(data["fingerprint"]),
        started_at=parse_rfc3339(str(data["started_at"])),
        phase=RolloutPhase(str(data["phase"])),
        nodes=tuple(_node_from(n) for n in (nodes if isinstance(nodes, list) else []) if isinstance(n, dict)),
        parameter_name=str(data["parameter_name"]),
        cert_sha256=str(data["cert_sha256"]),
        strategy="restart" if strategy == "restart" else "reload-then-restart",
        lock_owner=str(data["lock_owner"]),
        command_id=None if command_id is None else str(command_id),
        outcomes=tuple(
            _outcome_from(o) for o in (outcomes if isinstance(outcomes, list) else []) if isinstance(o, dict)
        ),
        finished_at=None if finished is None else parse_rfc3339(str(finished)),
    )


def _rollout_sk(rollout: Rollout) -> str:
    return f"{rfc3339(rollout.started_at)}#{rollout.rollout_id}"


# ------------------------------------------------------------------------------------------- the store


class DynamoRolloutStore:
    """Locks, idempotency claims, rollouts (with indexes by id and by command id) and the audit trail."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        now: Callable[[], datetime],
        audit_retention: timedelta = timedelta(days=400),
        rollout_retention: timedelta = ROLLOUT_RETENTION,
    ) -> None:
        self._client = client
        self._table = table_name
        self._now = now
        self._rollout_retention = rollout_retention
        # the lock and the audit trail are the table's own (the notifier uses the same items)
        self._shared = DynamoTable(client, table_name, now=now, audit_retention=audit_retention)

    # -------------------------------------------------------------------------------------- lock

    def acquire_lock(self, name: str, owner: str, ttl: timedelta) -> bool:
        return self._shared.acquire_lock(name, owner, ttl)

    def release_lock(self, name: str, owner: str) -> None:
        self._shared.release_lock(name, owner)

    # ------------------------------------------------------------------------------------- claim

    def claim(self, key: str, ttl: timedelta) -> bool:
        now = self._now()
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    PK: {"S": f"claim#{key}"},
                    SK: {"S": "claim"},
                    "claimed_at": {"S": rfc3339(now)},
                    TTL: {"N": _epoch(now + ttl)},
                },
                ConditionExpression="attribute_not_exists(pk) OR #t < :now",
                ExpressionAttributeNames={"#t": TTL},
                ExpressionAttributeValues={":now": {"N": _epoch(now)}},
            )
        except ClientError as exc:
            if conditional_failed(exc):
                return False
            raise aws_error("PutItem", exc) from exc
        except BotoCoreError as exc:
            raise aws_error("PutItem", exc) from exc
        return True

    # ----------------------------------------------------------------------------------- rollouts

    def save_rollout(self, rollout: Rollout) -> None:
        body = json.dumps(rollout_to_json(rollout), sort_keys=True)
        expires = _epoch(rollout.started_at + self._rollout_retention)
        main_key = f"rollout#{rollout.cluster}"
        sk = _rollout_sk(rollout)
        items: list[dict[str, AttributeValueTypeDef]] = [
            {
                PK: {"S": main_key},
                SK: {"S": sk},
                "rollout_id": {"S": rollout.rollout_id},
                "phase": {"S": rollout.phase.value},
                "started_at": {"S": rfc3339(rollout.started_at)},
                "rollout": {"S": body},
                TTL: {"N": expires},
            },
            {
                PK: {"S": f"rolloutid#{rollout.rollout_id}"},
                SK: {"S": "rollout"},
                "rollout_pk": {"S": main_key},
                "rollout_sk": {"S": sk},
                TTL: {"N": expires},
            },
        ]
        if rollout.command_id is not None:
            items.append(
                {
                    PK: {"S": f"command#{rollout.command_id}"},
                    SK: {"S": "rollout"},
                    "rollout_pk": {"S": main_key},
                    "rollout_sk": {"S": sk},
                    TTL: {"N": expires},
                }
            )
        try:
            # The record first: an index never points at a record that does not exist.
            for item in items:
                self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise aws_error("PutItem", exc) from exc

    def _get(self, pk: str, sk: str) -> dict[str, AttributeValueTypeDef] | None:
        try:
            response = self._client.get_item(
                TableName=self._table, Key={PK: {"S": pk}, SK: {"S": sk}}, ConsistentRead=True
            )
        except (ClientError, BotoCoreError) as exc:
            raise aws_error("GetItem", exc) from exc
        return response.get("Item")

    def _via_index(self, pk: str) -> Rollout | None:
        index = self._get(pk, "rollout")
        if index is None:
            return None
        item = self._get(str(index["rollout_pk"]["S"]), str(index["rollout_sk"]["S"]))
        return None if item is None else _rollout_from_item(item)

    def get_rollout(self, rollout_id: str) -> Rollout | None:
        return self._via_index(f"rolloutid#{rollout_id}")

    def rollout_for_command(self, command_id: str) -> Rollout | None:
        return self._via_index(f"command#{command_id}")

    def rollouts_since(self, cluster: str, since: datetime) -> Sequence[Rollout]:
        out: list[Rollout] = []
        start: dict[str, AttributeValueTypeDef] | None = None
        while True:
            try:
                if start is None:
                    response = self._client.query(
                        TableName=self._table,
                        KeyConditionExpression="pk = :pk AND sk >= :since",
                        ExpressionAttributeValues={
                            ":pk": {"S": f"rollout#{cluster}"},
                            ":since": {"S": rfc3339(since)},
                        },
                        ConsistentRead=True,
                    )
                else:
                    response = self._client.query(
                        TableName=self._table,
                        KeyConditionExpression="pk = :pk AND sk >= :since",
                        ExpressionAttributeValues={
                            ":pk": {"S": f"rollout#{cluster}"},
                            ":since": {"S": rfc3339(since)},
                        },
                        ConsistentRead=True,
                        ExclusiveStartKey=start,
                    )
            except (ClientError, BotoCoreError) as exc:
                raise aws_error("Query", exc) from exc
            for item in response.get("Items", []):
                rollout = _rollout_from_item(item)
                if rollout.started_at >= since:
                    out.append(rollout)
            last = response.get("LastEvaluatedKey")
            if not last:
                return out
            start = dict(last)

    # -------------------------------------------------------------------------------------- audit

    def audit(self, cluster: str, kind: str, details: dict[str, Json]) -> None:
        self._shared.audit(cluster, kind, details)

    def audit_records(self, cluster: str) -> list[tuple[str, dict[str, Json]]]:
        """The cluster's audit trail, oldest first (for the demo and the tests)."""
        out: list[tuple[str, dict[str, Json]]] = []
        start: dict[str, AttributeValueTypeDef] | None = None
        while True:
            kwargs: dict[str, object] = {}
            if start is not None:
                kwargs["ExclusiveStartKey"] = start
            try:
                response = self._client.query(
                    TableName=self._table,
                    KeyConditionExpression="pk = :pk",
                    ExpressionAttributeValues={":pk": {"S": f"audit#{cluster}"}},
                    ConsistentRead=True,
                    **kwargs,  # type: ignore[arg-type]
                )
            except (ClientError, BotoCoreError) as exc:
                raise aws_error("Query", exc) from exc
            for item in response.get("Items", []):
                details = json.loads(str(item["details"]["S"]))
                out.append((str(item["kind"]["S"]), details if isinstance(details, dict) else {}))
            last = response.get("LastEvaluatedKey")
            if not last:
                return out
            start = dict(last)


def _rollout_from_item(item: dict[str, AttributeValueTypeDef]) -> Rollout:
    data = json.loads(str(item["rollout"]["S"]))
    if not isinstance(data, dict):
        raise AwsError("DynamoDB rollout record is not a JSON object")
    return rollout_from_json(data)


__all__ = ["DynamoRolloutStore", "rollout_from_json", "rollout_to_json"]
