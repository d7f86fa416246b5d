"""Shared helpers of the pure decoders: JSON loading with one-line errors, kind checks, timestamps."""

from __future__ import annotations

import json
import json.scanner
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import cache
from typing import Any, Final

from metrics_guard.bulk import paused
from metrics_guard.errors import DecodeError

#: Above this size the cyclic GC is paused while json.loads builds the tree (about 1 s of 3 s at 60 MB).
LARGE_BODY_BYTES: Final = 1 << 20


def _snippet(body: bytes | str) -> str:
    text = body[:60].decode("utf-8", "replace") if isinstance(body, bytes) else body[:60]
    return " ".join(text.split())


def check_body(body: bytes | str, *, what: str) -> None:
    """The cheap refusals before parsing: an empty body, an HTML page."""
    if not body:
        raise DecodeError(f"{what}: empty body")
    head = body[:512].lstrip()[:1]
    if head in (b"<", "<"):
        raise DecodeError(f"{what}: HTML instead of JSON ({_snippet(body)!r})")


def json_error(exc: Exception, body: bytes | str, *, what: str) -> DecodeError:
    reason = "truncated JSON" if "Expecting" in str(exc) or "Unterminated" in str(exc) else "invalid JSON"
    pos = getattr(exc, "pos", None)
    if pos is None and isinstance(exc, ValueError) and len(exc.args) == 3 and isinstance(exc.args[2], int):
        pos = exc.args[2]
        reason = "truncated JSON" if pos >= len(body.strip()) else "invalid JSON"
    return DecodeError(f"{what}: {reason} at offset {'?' if pos is None else pos} of {len(body)}")


def load_json(body: bytes | str, *, what: str) -> Any:
    """Parse a JSON body; raise DecodeError with a one-line reason on anything else."""
    check_body(body, what=what)
    try:
        if len(body) > LARGE_BODY_BYTES:
            with paused():
                return json.loads(body)
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise json_error(exc, body, what=what) from exc


def expect_object(value: Any, *, what: str, kinds: tuple[str, ...] = ()) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DecodeError(f"{what}: expected a JSON object, got {type(value).__name__}")
    if kinds:
        kind = value.get("kind")
        if kind not in kinds:
            raise DecodeError(f"{what}: expected kind {'/'.join(kinds)}, got {kind!r}")
    return value


def load_object(body: bytes | str, *, what: str, kinds: tuple[str, ...] = ()) -> dict[str, Any]:
    return expect_object(load_json(body, what=what), what=what, kinds=kinds)


def as_list(value: Any, *, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise DecodeError(f"{what}: expected a list, got {type(value).__name__}")
    return value


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def parse_time(text: Any, *, what: str) -> datetime | None:
    """RFC 3339 timestamp of the API (``2026-11-25T17:09:18Z``), None when absent."""
    if text is None or text == "":
        return None
    if not isinstance(text, str):
        raise DecodeError(f"{what}: timestamp is not a string")
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise DecodeError(f"{what}: bad timestamp {text[:40]!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def parse_duration_s(text: Any) -> float | None:
    """A Go duration as the Metrics API writes it (``20.033s``, ``1m0s``, ``500ms``); None when unknown."""
    if not isinstance(text, str) or not text:
        return None
    total = 0.0
    number = ""
    i = 0
    units = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6, "µs": 1e-6, "ns": 1e-9}
    while i < len(text):
        ch = text[i]
        if ch.isdigit() or ch == ".":
            number += ch
            i += 1
            continue
        unit = text[i : i + 2] if text[i : i + 2] in units else ch
        if unit not in units or not number:
            return None
        total += float(number) * units[unit]
        number = ""
        i += len(unit)
    return None if number else total


_WS: Final = re.compile(r"[ \t\n\r]*")
_Scan = Callable[[str, int], tuple[Any, int]]


@cache
def _scan_once() -> _Scan:
    scan: _Scan = json.scanner.make_scanner(json.JSONDecoder())  # type: ignore[arg-type]
    return scan


def _skip(text: str, idx: int) -> int:
    match = _WS.match(text, idx)
    return match.end() if match else idx


def _walk(
    text: str,
    list_key: str,
    on_item: Callable[[Any], None],
    hooks: Mapping[str, Callable[[Any], None]],
    what: str,
) -> dict[str, Any]:
    scan = _scan_once()
    ws = _skip
    members: dict[str, Any] = {}
    idx = ws(text, 0)
    if text[idx : idx + 1] != "{":
        raise DecodeError(f"{what}: expected a JSON object")
    idx = ws(text, idx + 1)
    if text[idx : idx + 1] == "}":
        return members
    while True:
        if text[idx : idx + 1] != '"':
            raise ValueError("member name expected", text, idx)
        key, idx = scan(text, idx)
        idx = ws(text, idx)
        if text[idx : idx + 1] != ":":
            raise ValueError("':' expected", text, idx)
        idx = ws(text, idx + 1)
        if key == list_key and text[idx : idx + 1] == "[":
            idx = ws(text, idx + 1)
            if text[idx : idx + 1] == "]":
                idx += 1
            else:
                while True:
                    item, idx = scan(text, idx)
                    on_item(item)
                    idx = ws(text, idx)
                    sep = text[idx : idx + 1]
                    idx = ws(text, idx + 1)
                    if sep == "]":
                        break
                    if sep != ",":
                        raise ValueError("',' or ']' expected", text, idx)
        else:
            value, idx = scan(text, idx)
            if key == list_key and value is not None:
                raise DecodeError(f"{what}: expected a list, got {type(value).__name__}")
            members[key] = value
            hook = hooks.get(key)
            if hook is not None:
                hook(value)
        idx = ws(text, idx)
        sep = text[idx : idx + 1]
        idx = ws(text, idx + 1)
        if sep == "}":
            break
        if sep != ",":
            raise ValueError("',' or '}' expected", text, idx)
    if text[idx:].strip():
        raise ValueError("extra data", text, idx)
    return members


def walk_list(
    text: str,
    list_key: str,
    on_item: Callable[[Any], None],
    *,
    on_member: Mapping[str, Callable[[Any], None]] | None = None,
    what: str = "list",
) -> dict[str, Any]:
    """Walk the JSON object ``{..., list_key: [...], ...}`` without building it: each element of
    ``list_key`` goes to ``on_item`` as soon as it is parsed (C scanner of ``json``), every other member is
    parsed whole (they are small), handed to ``on_member[key]`` if there is one, and returned. The cyclic GC
    is paused meanwhile (only short-lived containers are made). Errors: DecodeError, one line."""
    try:
        with paused():
            return _walk(text, list_key, on_item, on_member or {}, what)
    except StopIteration as exc:  # the scanner's "no value here" (e.g. cut off in the middle)
        raise DecodeError(f"{what}: truncated JSON at offset {exc.value} of {len(text)}") from exc
    except ValueError as exc:
        raise json_error(exc, text, what=what) from exc
