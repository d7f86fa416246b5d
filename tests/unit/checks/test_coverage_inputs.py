"""settle_pod_starts: pods from a Table that the coverage check would report get their real startTime."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from metrics_guard.checks._base import Decoded
from metrics_guard.checks.coverage import CoverageObservation, check_coverage
from metrics_guard.checks.policy import ProbePolicy
from metrics_guard.decode.core import Node, Pod
from metrics_guard.decode.metrics import NodeUsage, PodUsage
from metrics_guard.ports import Enough, HttpResponse
from metrics_guard.service.probe import MAX_START_LOOKUPS, RUNNING_PODS_PATH, _Deadline, settle_pod_starts

NOW = datetime(2026, 12, 3, 17, 0, tzinfo=UTC)
T = NOW.timestamp()


class Transport:
    endpoint = "https://front"

    def __init__(self, bodies: dict[str, tuple[int, bytes]]) -> None:
        self.bodies = bodies
        self.paths: list[str] = []

    def get(
        self,
        path: str,
        *,
        accept: str = "application/json",
        timeout_s: float | None = None,
        enough: Enough | None = None,
    ) -> HttpResponse:
        self.paths.append(path)
        status, body = self.bodies.get(
            path.split("&limit=", maxsplit=1)[0].split("?limit=", maxsplit=1)[0], (404, b"{}")
        )
        return HttpResponse(url=self.endpoint + path, status=status, body=body, headers={}, elapsed_s=0.01)


def _table_pod(name: str, created: float) -> Pod:
    return Pod("ns", name, "node-1", "Running", True, False, created, (), started_exact=False)


def _pod_body(name: str, started: str) -> bytes:
    return json.dumps(
        {
            "kind": "Pod",
            "metadata": {"name": name, "namespace": "ns"},
            "spec": {"nodeName": "node-1"},
            "status": {"phase": "Running", "startTime": started},
        }
    ).encode()


def _observe(pods: tuple[Pod, ...], metrics: tuple[PodUsage, ...]) -> list[str]:
    node = Node("node-1", False, False, True, "KubeletReady", None, None)
    usage = NodeUsage("node-1", NOW, 15.0, 1, 1)
    findings = check_coverage(
        CoverageObservation("c", (node,), pods, (usage,), metrics), ProbePolicy(), now=NOW
    )
    return [f.summary for f in findings]


def test_only_pods_that_would_be_reported_are_read_and_a_recent_start_is_honoured() -> None:
    covered = _table_pod("covered", T - 3600)
    late = _table_pod("late-start", T - 3600)  # created an hour ago, started 30 s ago: in grace
    missing = _table_pod("missing", T - 3600)  # started long ago, really without PodMetrics
    young = _table_pod("young", T - 30)  # created within grace: never expected yet, not read
    gone = _table_pod("gone", T - 3600)  # in the (lagging) cache, deleted since
    transport = Transport(
        {
            "/api/v1/namespaces/ns/pods/late-start": (200, _pod_body("late-start", "2026-12-03T16:59:30Z")),
            "/api/v1/namespaces/ns/pods/missing": (200, _pod_body("missing", "2026-12-03T16:00:00Z")),
        }
    )
    metrics = (PodUsage("ns", "covered", T - 10, 1, 1, 1),)
    settled = settle_pod_starts(
        transport,
        Decoded((covered, late, missing, young, gone)),
        metrics,
        ProbePolicy(),
        now=NOW,
        deadline=_Deadline(10),
    )
    assert sorted(transport.paths) == [
        "/api/v1/namespaces/ns/pods/gone",
        "/api/v1/namespaces/ns/pods/late-start",
        "/api/v1/namespaces/ns/pods/missing",
    ]
    assert settled.value is not None
    assert [p.name for p in settled.value] == ["covered", "late-start", "missing", "young"]
    # the same finding as from the full PodList: one pod missing, the late starter in its grace period
    assert _observe(settled.value, metrics) == ["1 of 2 running pods on node-1 have no PodMetrics"]


def test_many_unreported_pods_fall_back_to_the_full_list() -> None:
    pods = tuple(_table_pod(f"p{i}", T - 3600) for i in range(MAX_START_LOOKUPS + 1))
    full = {
        "kind": "PodList",
        "metadata": {},
        "items": [
            {
                "metadata": {"name": "p0", "namespace": "ns"},
                "spec": {"nodeName": "node-1"},
                "status": {"phase": "Running", "startTime": "2026-12-03T16:00:00Z"},
            }
        ],
    }
    transport = Transport({RUNNING_PODS_PATH: (200, json.dumps(full).encode())})
    settled = settle_pod_starts(
        transport,
        Decoded(pods),
        (),
        ProbePolicy(),
        now=NOW,
        deadline=_Deadline(10),
    )
    assert transport.paths == [f"{RUNNING_PODS_PATH}&limit=2000"]
    assert settled.value is not None
    assert [(p.name, p.started_exact) for p in settled.value] == [("p0", True)]


def test_nothing_is_read_when_every_pod_has_fresh_metrics_or_metrics_failed() -> None:
    pod = _table_pod("p", T - 3600)
    transport = Transport({})
    for metrics in ((PodUsage("ns", "p", T - 5, 1, 1, 1),), None):
        same = Decoded((pod,))
        assert (
            settle_pod_starts(transport, same, metrics, ProbePolicy(), now=NOW, deadline=_Deadline(10))  # type: ignore[arg-type]
            is same
        )
    assert transport.paths == []
