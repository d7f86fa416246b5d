"""The one DynamoDB table: finding state, locks, idempotency records (Powertools) and the audit trail.

Key schema ``pk`` (S) / ``sk`` (S); TTL attribute ``expires_at`` (epoch seconds), shared with Powertools
Idempotency. Items:

| item | pk | sk | expires_at |
|---|---|---|---|
| finding state | ``finding#<fingerprint>`` | ``state`` | last seen + 30 days |
| lock | ``lock#<name>`` | ``lock`` | lock expiry (also checked on acquire: TTL deletion is lazy) |
| idempotency | ``idempotency#<function>`` | hash of the key (Powertools) | Powertools' expiry |
| audit | ``audit#<cluster>`` | ``<RFC 3339>#<random>`` | created + audit retention (default 400 days) |
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from botocore.exceptions import BotoCoreError, ClientError

from metrics_guard.errors import AwsError
from metrics_guard.model import Code, Json, Status, parse_rfc3339, rfc3339
from metrics_guard.service.notify import FindingState, StateConflict

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_dynamodb.type_defs import AttributeValueTypeDef

PK: Final = "pk"
SK: Final = "sk"
TTL: Final = "expires_at"
STATE_TTL: Final = timedelta(days=30)


def aws_error(action: str, exc: ClientError | BotoCoreError) -> AwsError:
    if isinstance(exc, ClientError):
        code = str(exc.response.get("Error", {}).get("Code", "ClientError"))
        return AwsError(f"DynamoDB {action} failed: {code}", code=code)
    return AwsError(f"DynamoDB {action} failed: {type(exc).__name__}")


def conditional_failed(exc: ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


class DynamoTable:
    """State store, audit log and lock on the one table."""

    def __init__(
        self,
        client: DynamoDBClient,
        table_name: str,
        *,
        now: Callable[[], datetime],
        audit_retention: timedelta = timedelta(days=400),
    ) -> None:
        self._client = client
        self._table = table_name
        self._now = now
        self._audit_retention = audit_retention

    # ------------------------------------------------------------------------------- finding state

    def get_state(self, fingerprint: str) -> FindingState | None:
        try:
            response = self._client.get_item(
                TableName=self._table,
                Key={PK: {"S": f"finding#{fingerprint}"}, SK: {"S": "state"}},
                ConsistentRead=True,
            )
        except (ClientError, BotoCoreError) as exc:
            raise aws_error("GetItem", exc) from exc
        item = response.get("Item")
        return None if item is None else _state_from_item(fingerprint, item)

    def put_state(self, state: FindingState) -> None:
        item = _state_to_item(state, expires=self._now() + STATE_TTL)
        try:
            if state.version == 0:
                self._client.put_item(
                    TableName=self._table, Item=item, ConditionExpression="attribute_not_exists(pk)"
                )
            else:
                self._client.put_item(
                    TableName=self._table,
                    Item=item,
                    ConditionExpression="#v = :v",
                    ExpressionAttributeNames={"#v": "version"},
                    ExpressionAttributeValues={":v": {"N": str(state.version)}},
                )
        except ClientError as exc:
            if conditional_failed(exc):
                raise StateConflict(f"state of {state.fingerprint[:12]} changed concurrently") from exc
            raise aws_error("PutItem", exc) from exc
        except BotoCoreError as exc:
            raise aws_error("PutItem", exc) from exc

    # ------------------------------------------------------------------------------------- audit

    def audit(self, cluster: str, kind: str, details: dict[str, Json]) -> None:
        now = self._now()
        item: dict[str, AttributeValueTypeDef] = {
            PK: {"S": f"audit#{cluster}"},
            SK: {"S": f"{rfc3339(now)}#{secrets.token_hex(4)}"},
            "kind": {"S": kind},
            "details": {"S": json.dumps(details, sort_keys=True, default=str)},
            TTL: {"N": str(int((now + self._audit_retention).timestamp()))},
        }
        try:
            self._client.put_item(TableName=self._table, Item=item)
        except (ClientError, BotoCoreError) as exc:
            raise aws_error("PutItem", exc) from exc

    # -------------------------------------------------------------------------------------- lock

    def acquire_lock(self, name: str, owner: str, ttl: timedelta) -> bool:
        """True when ``owner`` holds the lock ``name`` until now + ttl (an expired holder is replaced)."""
        now = self._now()
        try:
            self._client.put_item(
                TableName=self._table,
                Item={
                    PK: {"S": f"lock#{name}"},
                    SK: {"S": "lock"},
                    "owner": {"S": owner},
                    "acquired_at": {"S": rfc3339(now)},
                    TTL: {"N": str(int((now + ttl).timestamp()))},
                },
                ConditionExpression="attribute_not_exists(pk) OR #t < :now OR #o = :owner",
                ExpressionAttributeNames={"#t": TTL, "#o": "owner"},
                ExpressionAttributeValues={":now": {"N": str(int(now.timestamp()))}, ":owner": {"S": owner}},
            )
        except ClientError as exc:
            if conditional_failed(exc):
                return False
            raise aws_error("PutItem", exc) from exc
        except BotoCoreError as exc:
            raise aws_error("PutItem", exc) from exc
        return True

    def release_lock(self, name: str, owner: str) -> None:
        try:
            self._client.delete_item(
                TableName=self._table,
                Key={PK: {"S": f"lock#{name}"}, SK: {"S": "lock"}},
                ConditionExpression="#o = :owner",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":owner": {"S": owner}},
            )
        except ClientError as exc:
            if conditional_failed(exc):
                return
            raise aws_error("DeleteItem", exc) from exc
        except BotoCoreError as exc:
            raise aws_error("DeleteItem", exc) from exc


def idempotency_layer(table_name: str, client: DynamoDBClient | None = None) -> DynamoDBPersistenceLayer:
    """Powertools Idempotency on the shared table (its records use the same pk/sk and TTL attribute)."""
    from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer

    return DynamoDBPersistenceLayer(
        table_name=table_name, key_attr=PK, sort_key_attr=SK, expiry_attr=TTL, boto3_client=client
    )


def _state_to_item(state: FindingState, *, expires: datetime) -> dict[str, AttributeValueTypeDef]:
    item: dict[str, AttributeValueTypeDef] = {
        PK: {"S": f"finding#{state.fingerprint}"},
        SK: {"S": "state"},
        "cluster": {"S": state.cluster},
        "check": {"S": state.check},
        "target": {"S": state.target},
        "status": {"S": state.status.value},
        "code": {"S": state.code.value},
        "since": {"S": rfc3339(state.since)},
        "last_seen": {"S": rfc3339(state.last_seen)},
        "told_status": {"S": state.told_status.value},
        "told_code": {"S": state.told_code.value},
        "changes": {"L": [{"S": rfc3339(t)} for t in state.changes]},
        "flapping": {"BOOL": state.flapping},
        "version": {"N": str(state.version + 1)},
        TTL: {"N": str(int(expires.timestamp()))},
    }
    if state.told_at is not None:
        item["told_at"] = {"S": rfc3339(state.told_at)}
    return item


def _state_from_item(fingerprint: str, item: dict[str, AttributeValueTypeDef]) -> FindingState:
    def s(name: str) -> str:
        return str(item[name]["S"])

    told_at = item.get("told_at")
    return FindingState(
        fingerprint=fingerprint,
        cluster=s("cluster"),
        check=s("check"),
        target=s("target"),
        status=Status(s("status")),
        code=Code(s("code")),
        since=parse_rfc3339(s("since")),
        last_seen=parse_rfc3339(s("last_seen")),
        told_status=Status(s("told_status")),
        told_code=Code(s("told_code")),
        told_at=None if told_at is None else parse_rfc3339(str(told_at["S"])),
        changes=tuple(parse_rfc3339(str(v["S"])) for v in item.get("changes", {"L": []})["L"]),
        flapping=bool(item.get("flapping", {"BOOL": False})["BOOL"]),
        version=int(str(item["version"]["N"])),
    )
