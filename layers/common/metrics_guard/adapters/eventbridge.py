"""Findings onto the custom EventBridge bus: the ``FindingSink`` of the Lambda functions.

Contract: ``source`` = ``metrics-guard``, ``detail-type`` = ``Metrics Guard Finding``, ``detail`` = one
finding (with ``cluster``); one finding per entry, at most 10 entries per PutEvents request, each entry and
each request under 256 KB. Failed entries are retried with backoff; a finding too large for one entry is
trimmed (evidence shortened, ``trimmed: true`` and the original size recorded), never dropped.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Final

from botocore.exceptions import BotoCoreError, ClientError

from metrics_guard.errors import AwsError
from metrics_guard.model import Finding, Json
from metrics_guard.ports import PublishResult

if TYPE_CHECKING:
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_events.type_defs import PutEventsRequestEntryTypeDef

SOURCE: Final = "metrics-guard"
DETAIL_TYPE: Final = "Metrics Guard Finding"
MAX_ENTRIES: Final = 10
#: PutEvents limit for one entry and for the whole request (256 KiB); we keep a margin below it.
MAX_BYTES: Final = 256 * 1024
ENTRY_BUDGET: Final = MAX_BYTES - 6 * 1024
RETRYABLE_CODES: Final = frozenset(
    {"ThrottlingException", "InternalException", "InternalFailure", "ServiceUnavailable"}
)


def entry_size(source: str, detail_type: str, detail: str) -> int:
    """Size as EventBridge counts it (UTF-8 bytes of Source, DetailType, Detail; +14 for Time)."""
    return len(source.encode()) + len(detail_type.encode()) + len(detail.encode()) + 14


def _dumps(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _shorten(value: Json, limit: int) -> Json:
    if isinstance(value, str):
        return value if len(value) <= limit else value[:limit] + "…[truncated]"
    if isinstance(value, list):
        head = [_shorten(v, limit) for v in value[:20]]
        return head + ([f"…[{len(value) - 20} more]"] if len(value) > 20 else [])
    if isinstance(value, dict):
        return {k: _shorten(v, limit) for k, v in list(value.items())[:50]}
    return value


def finding_detail(finding: Finding, budget: int = ENTRY_BUDGET) -> tuple[str, bool]:
    """The entry's Detail JSON and whether it had to be trimmed to fit ``budget``."""
    detail: dict[str, Json] = finding.to_json()
    text = _dumps(detail)
    overhead = entry_size(SOURCE, DETAIL_TYPE, "")
    if len(text.encode()) + overhead <= budget:
        return text, False
    original = len(text.encode())
    evidence = detail.get("evidence")
    for limit in (2048, 512, 128):
        detail["evidence"] = _shorten(evidence, limit)
        detail["trimmed"] = True
        detail["original_bytes"] = original
        text = _dumps(detail)
        if len(text.encode()) + overhead <= budget:
            return text, True
    keys = sorted(evidence)[:50] if isinstance(evidence, dict) else []
    detail["evidence"] = {"trimmed_keys": list(keys)}
    detail["summary"] = str(detail["summary"])[:1000]
    detail["remedy"] = None if detail.get("remedy") is None else str(detail["remedy"])[:4000]
    return _dumps(detail), True


class EventBridgeSink:
    """``FindingSink`` backed by PutEvents."""

    def __init__(
        self,
        client: EventBridgeClient | Callable[[], EventBridgeClient],
        bus_name: str,
        *,
        attempts: int = 4,
        backoff_s: float = 0.2,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        # A getter is called at the first publish (a client still being built: aws_clients.in_background).
        self._client_or_getter = client
        self._bus = bus_name
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._sleep = sleep

    @property
    def _client(self) -> EventBridgeClient:
        client = self._client_or_getter
        if callable(client):
            client = self._client_or_getter = client()
        return client

    def publish(self, findings: Sequence[Finding]) -> PublishResult:
        entries: list[tuple[Finding, PutEventsRequestEntryTypeDef]] = []
        trimmed = 0
        for finding in findings:
            detail, was_trimmed = finding_detail(finding)
            trimmed += was_trimmed
            entries.append(
                (
                    finding,
                    {
                        "Source": SOURCE,
                        "DetailType": DETAIL_TYPE,
                        "Detail": detail,
                        "EventBusName": self._bus,
                        "Resources": [],
                    },
                )
            )
        sent = 0
        failed: list[str] = []
        for batch in _batches(entries):
            ok, bad = self._put_with_retries(batch)
            sent += ok
            failed.extend(bad)
        return PublishResult(sent=sent, failed=tuple(failed), trimmed=trimmed)

    def _put_with_retries(
        self, batch: list[tuple[Finding, PutEventsRequestEntryTypeDef]]
    ) -> tuple[int, list[str]]:
        pending = batch
        sent = 0
        last_error: dict[int, str] = {}
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
            try:
                response = self._client.put_events(Entries=[e for _, e in pending])
            except (ClientError, BotoCoreError) as exc:
                code = _error_code(exc)
                if code is not None and code not in RETRYABLE_CODES:
                    raise AwsError(f"PutEvents failed: {code}", code=code) from exc
                last_error = {id(f): f"PutEvents {code or type(exc).__name__}" for f, _ in pending}
                continue
            retry: list[tuple[Finding, PutEventsRequestEntryTypeDef]] = []
            for item, result in zip(pending, response["Entries"], strict=True):
                if result.get("EventId") and not result.get("ErrorCode"):
                    sent += 1
                else:
                    last_error[id(item[0])] = str(result.get("ErrorCode", "unknown error"))
                    retry.append(item)
            pending = retry
            if not pending:
                break
        return sent, [
            f"{f.fingerprint[:12]} {f.cluster} {f.check} {f.target}: {last_error.get(id(f), 'not sent')}"
            for f, _ in pending
        ]


def _batches(
    entries: list[tuple[Finding, PutEventsRequestEntryTypeDef]],
) -> list[list[tuple[Finding, PutEventsRequestEntryTypeDef]]]:
    batches: list[list[tuple[Finding, PutEventsRequestEntryTypeDef]]] = []
    current: list[tuple[Finding, PutEventsRequestEntryTypeDef]] = []
    size = 0
    for item in entries:
        entry = item[1]
        n = entry_size(entry["Source"], entry["DetailType"], entry["Detail"])
        if current and (len(current) == MAX_ENTRIES or size + n > MAX_BYTES - 1024):
            batches.append(current)
            current, size = [], 0
        current.append(item)
        size += n
    if current:
        batches.append(current)
    return batches


def _error_code(exc: Exception) -> str | None:
    response: Any = getattr(exc, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None
