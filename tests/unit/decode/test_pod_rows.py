"""decode_pod_rows: the coverage check's running pods as a server-side Table, or the PodList fallback."""

from __future__ import annotations

import json
from typing import Any

import pytest

from metrics_guard.decode.core import (
    decode_list_size,
    decode_names,
    decode_pod_list,
    decode_pod_rows,
    parse_age,
)
from metrics_guard.errors import DecodeError

COLUMNS = ["Name", "Ready", "Status", "Restarts", "Age", "IP", "Node", "Nominated Node", "Readiness Gates"]


def _row(ns: str, name: str, node: str, *, ready: str = "1/1", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "name": name,
        "namespace": ns,
        "uid": "u",
        "creationTimestamp": "2026-12-03T16:00:00Z",
        "labels": {"app": "x"},
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-12-03T16:30:00Z"
    return {
        "cells": [
            name,
            ready,
            "Terminating" if deleting else "Running",
            0,
            "60m",
            "10.0.0.1",
            node,
            "<none>",
            "<none>",
        ],
        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": meta},
    }


def _table(rows: list[dict[str, Any]], *, token: str | None = None, columns_first: bool = True) -> bytes:
    # kube-apiserver's member order (kind, apiVersion, metadata, columnDefinitions, rows), as recorded
    meta: dict[str, Any] = {"resourceVersion": "14283"}
    if token:
        meta["continue"] = token
    defs = [{"name": c, "type": "string", "format": "", "description": "", "priority": 0} for c in COLUMNS]
    body: dict[str, Any] = {"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": meta}
    if columns_first:
        body |= {"columnDefinitions": defs, "rows": rows}
    else:
        body |= {"rows": rows, "columnDefinitions": defs}
    return json.dumps(body, separators=(",", ":")).encode()


def test_table_rows_become_pods_with_creation_as_lower_bound_of_start() -> None:
    body = _table(
        [_row("ns-a", "p1", "node-1"), _row("ns-b", "p2", "<none>", ready="0/2", deleting=True)], token="abc"
    )
    page = decode_pod_rows(body, phase="Running")
    assert page.continue_token == "abc"
    first, second = page.items
    assert (first.namespace, first.name, first.node, first.phase, first.ready) == (
        "ns-a",
        "p1",
        "node-1",
        "Running",
        True,
    )
    assert first.started == pytest.approx(1796313600.0)  # 2026-12-03T16:00:00Z
    assert first.started_exact is False and first.deleting is False and first.labels == ()
    assert (second.node, second.ready, second.deleting) == ("", False, True)


def test_rows_before_the_column_definitions_are_still_folded() -> None:
    page = decode_pod_rows(_table([_row("a", "p", "n")], columns_first=False), phase="Running")
    assert [(p.name, p.node) for p in page.items] == [("p", "n")]


def test_a_server_without_tables_answers_with_the_podlist() -> None:
    pod = {
        "metadata": {"name": "p", "namespace": "a", "creationTimestamp": "2026-12-03T16:00:00Z"},
        "spec": {"nodeName": "n"},
        "status": {"phase": "Running", "startTime": "2026-12-03T16:05:00Z"},
    }
    body = json.dumps({"kind": "PodList", "apiVersion": "v1", "metadata": {"continue": "t"}, "items": [pod]})
    page = decode_pod_rows(body.encode(), phase="Running")
    assert page == decode_pod_list(body.encode())
    assert page.items[0].started_exact is True
    assert page.items[0].started == pytest.approx(1796313900.0)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b"<html>", "HTML"),
        (_table([_row("a", "p", "n")])[:-40], "truncated JSON"),
        (_table([_row("a", "p", "n")]).replace(b'"Node"', b'"Host"'), "no Node column"),
        (b'{"kind":"Table","rows":[]}', "no columnDefinitions"),
        (
            b'{"kind":"Table","rows":[{"cells":["p"]}],"columnDefinitions":[{"name":"Node"}]}',
            "without its object",
        ),
        (b'{"kind":"Status","code":500}', "expected kind"),
    ],
)
def test_bad_bodies_are_one_line_decode_errors(body: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        decode_pod_rows(body, phase="Running")
    assert "\n" not in str(info.value)


def _cells_row(name: str, node: str, *, age: str = "5m", status: str = "Running", ready: str = "1/1") -> Any:
    return {"cells": [name, ready, status, 0, age, "10.0.0.1", node, "<none>", "<none>"]}


def test_cells_only_rows_take_the_namespace_of_the_request_and_start_from_age() -> None:
    body = _table(
        [
            _cells_row("p1", "node-1", age="3m10s"),
            _cells_row("p2", "<none>", age="2d4h", status="Terminating", ready="0/1"),
            _cells_row("p3", "node-2", age="45s", status="Unknown"),
        ]
    )
    page = decode_pod_rows(body, phase="Running", namespace="ns-a", now_s=10_000_000.0)
    first, second, third = page.items
    assert (first.namespace, first.name, first.node, first.ready, first.deleting) == (
        "ns-a",
        "p1",
        "node-1",
        True,
        False,
    )
    assert first.started == 10_000_000.0 - 190 and first.started_exact is False
    assert (second.node, second.ready, second.deleting) == ("", False, True)
    assert second.started == 10_000_000.0 - (2 * 86400 + 4 * 3600)
    assert third.deleting is True  # a pod on a lost node being deleted


def test_cells_only_rows_without_a_namespace_are_refused() -> None:
    with pytest.raises(DecodeError, match="without its object"):
        decode_pod_rows(_table([_cells_row("p1", "n")]), phase="Running")


def test_cells_only_row_with_an_unreadable_age_is_a_decode_error() -> None:
    with pytest.raises(DecodeError, match="Age"):
        decode_pod_rows(_table([_cells_row("p1", "n", age="soon")]), phase="Running", namespace="a")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("45s", 45),
        ("3m10s", 190),
        ("15m", 900),
        ("2h30m", 9000),
        ("5d3h", 5 * 86400 + 3 * 3600),
        ("2y10d", 2 * 365 * 86400 + 10 * 86400),
        ("0s", 0),
        ("<invalid>", None),
        ("", None),
        ("10", None),
        ("m5", None),
        (None, None),
    ],
)
def test_parse_age_reads_humanduration(text: object, seconds: int | None) -> None:
    assert parse_age(text) == (None if seconds is None else float(seconds))


def test_names_and_list_size() -> None:
    page = {"kind": "NamespaceList", "metadata": {"continue": "t"}, "items": [{"metadata": {"name": "a"}}]}
    assert decode_names(json.dumps(page), what="NamespaceList") == (("a",), "t")
    with pytest.raises(DecodeError, match=r"without metadata\.name"):
        decode_names(json.dumps({"items": [{"metadata": {}}]}), what="NamespaceList")
    one = {"kind": "PartialObjectMetadataList", "metadata": {"remainingItemCount": 149_999}, "items": [{}]}
    assert decode_list_size(json.dumps(one), what="PodList") == 150_000
    assert decode_list_size(json.dumps({"metadata": {}, "items": [{}]}), what="PodList") is None
