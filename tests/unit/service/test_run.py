"""Multi-cluster probing: concurrent, bounded, deadlines inside the Lambda's time, one PROBE_ERROR per
broken cluster that never hides the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import datetime

from metrics_guard.errors import CredentialsError
from metrics_guard.model import Code, Finding, Status
from metrics_guard.service.jobs import ProbeJob
from metrics_guard.service.probe import ProbePolicy, ProbeTargets
from metrics_guard.service.run import RunLimits, probe_clusters
from tests.unit.service.serverless_fakes import (
    Clock,
    FakeConnector,
    ListSink,
    RecordingMetrics,
    StaticRegistry,
    fake_probe,
    finding,
    registry,
)

LIMITS = RunLimits(concurrency=2, margin_s=1.0, max_per_cluster_s=30.0, grace_s=0.5)


def codes(documents: Sequence[object]) -> dict[str, list[str]]:
    return {d.cluster: [f.code.value for f in d.findings] for d in documents}  # type: ignore[attr-defined]


def test_every_cluster_probed_and_a_broken_one_gets_its_own_probe_error() -> None:
    connector = FakeConnector(
        broken={
            "b": CredentialsError("secret metrics-guard/clusters/b unreadable: ResourceNotFoundException")
        }
    )
    documents = probe_clusters(
        registry("a", "b", "c"),
        ["*"],
        kind="metrics",
        connector=connector,
        probe=fake_probe(),
        policy=ProbePolicy(),
        now=Clock(),
        remaining_s=lambda: 100.0,
        limits=LIMITS,
    )
    assert codes(documents) == {"a": ["OK"], "b": ["PROBE_ERROR"], "c": ["OK"]}
    (error,) = next(d for d in documents if d.cluster == "b").findings
    assert error.status is Status.ERROR
    assert "ResourceNotFoundException" in error.summary
    assert str(error.target) == "cluster/b"


def test_a_bad_registry_entry_is_a_finding_naming_entry_and_field() -> None:
    bad = {
        "name": "broken",
        "endpoint": "http://nope",
        "layout": "binary",
        "credentials_secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:x",
    }
    documents = probe_clusters(
        registry("a", extra=[bad]),
        ["*"],
        kind="metrics",
        connector=FakeConnector(),
        probe=fake_probe(),
        policy=ProbePolicy(),
        now=Clock(),
        remaining_s=lambda: 100.0,
        limits=LIMITS,
    )
    assert codes(documents) == {"broken": ["PROBE_ERROR"], "a": ["OK"]}
    (error,) = documents[0].findings
    assert error.check == "registry"
    assert error.evidence["entry"] == "broken"
    assert error.evidence["field"] == "endpoint"
    assert "broken" in error.summary and "endpoint" in error.summary


def test_a_cluster_not_in_the_registry_is_named() -> None:
    documents = probe_clusters(
        registry("a"),
        ["a", "ghost"],
        kind="metrics",
        connector=FakeConnector(),
        probe=fake_probe(),
        policy=ProbePolicy(),
        now=Clock(),
        remaining_s=lambda: 100.0,
        limits=LIMITS,
    )
    assert codes(documents) == {"ghost": ["PROBE_ERROR"], "a": ["OK"]}


def test_concurrency_is_bounded() -> None:
    active = 0
    peak = 0
    lock = threading.Lock()

    def slow(targets: ProbeTargets, now: datetime) -> list[Finding]:
        nonlocal active, peak
        with lock:
            active += 1
            peak = max(peak, active)
        time.sleep(0.05)
        with lock:
            active -= 1
        return [finding(cluster=targets.cluster, code=Code.OK, observed_at=now)]

    names = [f"c{i}" for i in range(6)]
    documents = probe_clusters(
        registry(*names),
        ["*"],
        kind="metrics",
        connector=FakeConnector(),
        probe=fake_probe(dict.fromkeys(names, slow)),
        policy=ProbePolicy(),
        now=Clock(),
        remaining_s=lambda: 100.0,
        limits=LIMITS,
    )
    assert len(documents) == 6
    assert peak == 2


def test_deadline_comes_from_the_remaining_time() -> None:
    calls: list[tuple[str, float]] = []
    probe_clusters(
        registry("a"),
        ["*"],
        kind="metrics",
        connector=FakeConnector(),
        probe=fake_probe(calls=calls),
        policy=ProbePolicy(),
        now=Clock(),
        remaining_s=lambda: 10.0,
        limits=LIMITS,
    )
    assert calls == [("a", 10.0 - LIMITS.margin_s - LIMITS.grace_s)]


def test_a_hanging_probe_becomes_probe_error_and_the_others_are_kept() -> None:
    release = threading.Event()

    def hang(targets: ProbeTargets, now: datetime) -> list[Finding]:
        release.wait(10)
        return []

    started = time.monotonic()
    deadline = started + 4.0
    try:
        documents = probe_clusters(
            registry("a", "slow"),
            ["*"],
            kind="metrics",
            connector=FakeConnector(),
            probe=fake_probe({"slow": hang}),
            policy=ProbePolicy(),
            now=Clock(),
            remaining_s=lambda: deadline - time.monotonic(),
            limits=LIMITS,
        )
    finally:
        release.set()
    assert time.monotonic() - started < 4.5
    assert codes(documents) == {"a": ["OK"], "slow": ["PROBE_ERROR"]}


def test_a_crashing_probe_is_contained() -> None:
    def crash(targets: ProbeTargets, now: datetime) -> list[Finding]:
        raise RuntimeError("token=s3cr3t leaked?")

    documents = probe_clusters(
        registry("a", "bad"),
        ["*"],
        kind="metrics",
        connector=FakeConnector(),
        probe=fake_probe({"bad": crash}),
        policy=ProbePolicy(),
        now=Clock(),
        remaining_s=lambda: 30.0,
        limits=LIMITS,
    )
    bad = next(d for d in documents if d.cluster == "bad")
    assert bad.findings[0].code is Code.PROBE_ERROR
    assert "s3cr3t" not in str(bad.to_json())


def test_no_time_left_is_a_probe_error_not_a_crash() -> None:
    documents = probe_clusters(
        registry("a"),
        ["*"],
        kind="metrics",
        connector=FakeConnector(),
        probe=fake_probe(),
        policy=ProbePolicy(),
        now=Clock(),
        remaining_s=lambda: 2.0,
        limits=LIMITS,
    )
    assert codes(documents) == {"a": ["PROBE_ERROR"]}


def test_job_publishes_every_finding_and_writes_metrics() -> None:
    sink, metrics = ListSink(), RecordingMetrics()
    job = ProbeJob(
        registry=StaticRegistry(registry("a", "b")),
        connector=FakeConnector(broken={"b": CredentialsError("secret x unreadable: AccessDeniedException")}),
        probe=fake_probe(),
        sink=sink,
        policy=ProbePolicy(),
        limits=LIMITS,
        now=Clock(),
    )
    result = job.run(["*"], kind="metrics", remaining_s=lambda: 60.0, metrics=metrics)
    assert result["published"] == 2
    assert result["status"] == "error"
    assert [f.cluster for f in sink.published] == ["a", "b"]
    assert metrics.counts["ProbeErrors"] == 1
    by_name = {(g.name, dict(g.dimensions)["Cluster"]): g.value for g in metrics.gauges}
    assert by_name[("MetricsApiAvailable", "a")] == 1.0
    assert by_name[("MetricsApiAvailable", "b")] == 0.0
    assert by_name[("MetricsApiLatency", "a")] == 42.0
    assert by_name[("NodeMetricsCoverage", "a")] == 100.0
