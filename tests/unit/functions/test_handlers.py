"""The thin handlers: parse, one service call, structured results; bad input never raises; no secret logged."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from metrics_guard import wiring
from metrics_guard.errors import CredentialsError
from metrics_guard.service.jobs import ProbeJob
from metrics_guard.service.notify import Notifier, NotifyPolicy
from metrics_guard.service.probe import ProbePolicy
from metrics_guard.service.run import RunLimits
from tests.lambda_context import FakeLambdaContext
from tests.unit.functions.handlers import FUNCTIONS, load
from tests.unit.service.responder_fakes import World, tagged_registry
from tests.unit.service.serverless_fakes import (
    Clock,
    FakeConnector,
    ListSink,
    MemoryAudit,
    MemoryStateStore,
    RecordingChat,
    RecordingSender,
    StaticRegistry,
    fake_probe,
    registry,
)

EVENTS = Path(__file__).resolve().parents[3] / "events"
SECRET_TOKEN = "eyJhbGciOiJSUzI1NiJ9.super-secret-token"


def event(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((EVENTS / name).read_text())
    return data


def log_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{") and '"level"' in line]


@pytest.fixture
def logs(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], io.StringIO]:
    """Redirect a handler's Powertools Logger to a buffer (its stream is bound when the module loads)."""

    def redirect(name: str) -> io.StringIO:
        buffer = io.StringIO()
        for handler in load(name).logger._logger.handlers:
            if isinstance(handler, logging.StreamHandler):
                monkeypatch.setattr(handler, "stream", buffer)
        return buffer

    return redirect


class MemoryPersistence(BasePersistenceLayer):
    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self.records: dict[str, DataRecord] = {}

    def _get_record(self, idempotency_key: str) -> DataRecord:
        if idempotency_key not in self.records:
            raise IdempotencyItemNotFoundError
        return self.records[idempotency_key]

    def _put_record(self, data_record: DataRecord) -> None:
        if data_record.idempotency_key in self.records:
            raise IdempotencyItemAlreadyExistsError
        self.records[data_record.idempotency_key] = data_record

    def _update_record(self, data_record: DataRecord) -> None:
        self.records[data_record.idempotency_key] = data_record

    def _delete_record(self, data_record: DataRecord) -> None:
        self.records.pop(data_record.idempotency_key, None)


@pytest.fixture
def sink(monkeypatch: pytest.MonkeyPatch) -> ListSink:
    sink = ListSink()
    job = ProbeJob(
        registry=StaticRegistry(registry("prod-eu-1", "broken")),
        connector=FakeConnector(
            broken={
                "broken": CredentialsError(
                    "secret metrics-guard/clusters/broken unreadable: ResourceNotFoundException"
                )
            }
        ),
        probe=fake_probe(),
        sink=sink,
        policy=ProbePolicy(),
        limits=RunLimits(margin_s=1),
        now=Clock(),
    )
    monkeypatch.setattr(wiring, "probe_job", lambda: job)
    return sink


def test_metrics_probe_publishes_and_emits_metrics(
    sink: ListSink, capsys: pytest.CaptureFixture[str]
) -> None:
    result = load("metrics_probe").lambda_handler(event("schedule.json"), FakeLambdaContext())
    assert result["ok"] is True
    assert result["published"] == 2
    assert {c["cluster"]: c["status"] for c in result["clusters"]} == {"prod-eu-1": "ok", "broken": "error"}
    out = capsys.readouterr().out
    emf = [json.loads(line) for line in out.splitlines() if '"_aws"' in line]
    names = {m["Name"] for doc in emf for d in doc["_aws"]["CloudWatchMetrics"] for m in d["Metrics"]}
    assert {"ProbeRuns", "ProbeErrors", "MetricsApiAvailable", "FindingsPublished"} <= names
    runs = next(d for d in emf if "ProbeRuns" in d)
    assert runs["Probe"] == "metrics"
    assert runs["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Probe"]]  # the dead-man's switch's dims
    errors = next(d for d in emf if "ProbeErrors" in d)
    assert errors["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]  # ProbeErrorsAlarm's dims
    assert errors["service"] == "metrics-guard" and errors["ProbeErrors"] in (1.0, [1.0])
    available = [d for d in emf if "MetricsApiAvailable" in d]
    assert {d["Cluster"]: d["MetricsApiAvailable"] for d in available} == {
        "prod-eu-1": [1.0],
        "broken": [0.0],
    }


def test_cert_probe_refuses_the_metrics_input(sink: ListSink, capsys: pytest.CaptureFixture[str]) -> None:
    result = load("cert_probe").lambda_handler(event("schedule.json"), FakeLambdaContext())
    assert result == {
        "ok": False,
        "error": "invalid-event",
        "detail": "this function runs the certs probe, not metrics",
    }
    assert sink.published == []


@pytest.mark.parametrize(
    ("name", "payload"),
    [
        ("metrics_probe", {"action": "probe", "probe": "disk"}),
        ("metrics_probe", {}),
        ("diagnose", {"action": "diagnose", "clusters": []}),
        ("notifier", {"detail": {"code": "NOPE"}}),
        ("notifier", {"Records": [{"nonsense": True}]}),
        ("responder", {"source": "aws.ssm"}),
        ("responder", {"hello": "world"}),
    ],
    ids=[
        "probe-unknown",
        "probe-empty",
        "diagnose-empty",
        "notifier-bad-detail",
        "notifier-bad-sns",
        "responder-bad-ssm",
        "responder-unknown",
    ],
)
def test_malformed_events_give_one_log_line_and_a_structured_error(
    name: str, payload: dict[str, Any], logs: Callable[[str], io.StringIO]
) -> None:
    buffer = logs(name)
    result = load(name).lambda_handler(payload, FakeLambdaContext())
    assert result["ok"] is False and result["error"] == "invalid-event"
    assert isinstance(result["detail"], str) and result["detail"]
    lines = log_lines(buffer.getvalue())
    assert [line["message"] for line in lines] == ["event rejected"]


def test_diagnose_returns_whole_documents(sink: ListSink) -> None:
    result = load("diagnose").lambda_handler(event("diagnose.json"), FakeLambdaContext())
    (document,) = result["documents"]
    assert document["schema"] == "metrics-guard.findings/v1"
    assert document["cluster"] == "prod-eu-1"


def test_notifier_alerts_once(monkeypatch: pytest.MonkeyPatch) -> None:
    sns = RecordingSender()
    notifier = Notifier(
        store=MemoryStateStore(),
        sns=sns,
        slack=RecordingChat(),
        audit=MemoryAudit(),
        policy=NotifyPolicy(),
        now=Clock(),
    )
    monkeypatch.setattr(wiring, "notifier", lambda: notifier)
    handler = load("notifier").lambda_handler
    first = handler(event("remediable_proxy_cert_expired.json"), FakeLambdaContext())
    again = handler(event("remediable_proxy_cert_expired.json"), FakeLambdaContext())
    via_sns = handler(event("sns_finding.json"), FakeLambdaContext())
    assert first["outcomes"][0]["notice"] == "alert"
    assert again["outcomes"][0]["notice"] is None
    assert via_sns["outcomes"][0]["notice"] is None
    assert len(sns.sent) == 1


@pytest.fixture
def responder(monkeypatch: pytest.MonkeyPatch) -> World:
    """The real service and per-cluster wiring on in-memory fakes, Powertools Idempotency in memory."""
    world = World(mode="dry-run", registry=tagged_registry("prod-eu-1"))
    world.now = datetime(2026, 12, 1, 12, 0, 5, tzinfo=UTC)
    monkeypatch.setattr(wiring, "responder", lambda: world.deps)
    persistence = MemoryPersistence()
    monkeypatch.setattr(wiring, "idempotency", lambda: (IdempotencyConfig(), persistence))
    return world


def test_responder_plans_a_remediable_finding_once(responder: World) -> None:
    handler = load("responder").lambda_handler
    first = handler(event("remediable_proxy_cert_expired.json"), FakeLambdaContext())
    redelivered = event("remediable_proxy_cert_expired.json") | {"id": "another-delivery-of-the-same-finding"}
    second = handler(redelivered, FakeLambdaContext())
    assert first["ok"] is True and first["action"] == "planned" and first["mode"] == "dry-run"
    assert second == first  # Powertools Idempotency on fingerprint + window, not on the event id
    assert [f.code.value for f in responder.published] == ["REMEDIATION_PLANNED"]


def test_responder_refuses_a_non_remediable_finding(responder: World) -> None:
    result = load("responder").lambda_handler(
        event("finding_aggregator_network_timeout.json"), FakeLambdaContext()
    )
    assert result["action"] == "ignored"
    assert responder.published == [] and responder.probe.calls == 0


def test_responder_refuses_a_false_remediable_claim(responder: World) -> None:
    forged = event("finding_aggregator_network_timeout.json")
    forged["detail"]["remediable_by"] = "reissue-aggregator-cert"
    result = load("responder").lambda_handler(forged, FakeLambdaContext())
    assert result["ok"] is True and result["action"] == "refused"
    assert [f.code.value for f in responder.published] == ["REMEDIATION_REFUSED"]
    assert responder.probe.calls == 0


def test_responder_ssm_status_of_an_unknown_command(responder: World) -> None:
    status = event("ssm_command_status.json")
    status["detail"]["document-name"] = "mg-remediate"
    result = load("responder").lambda_handler(status, FakeLambdaContext())
    assert result["action"] == "ignored" and result["status"] == "Success"
    assert result["message"] == "command belongs to no rollout"


def test_responder_refuses_to_start_with_an_unknown_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    from metrics_guard.config import settings
    from metrics_guard.errors import ConfigError

    monkeypatch.setenv("RESPONDER_MODE", "yolo")
    settings.cache_clear()
    spec = importlib.util.spec_from_file_location("responder_cold_start", FUNCTIONS / "responder" / "app.py")
    assert spec is not None and spec.loader is not None
    with pytest.raises(ConfigError, match="RESPONDER_MODE"):
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
    settings.cache_clear()


def test_wiring_builds_the_responder_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from metrics_guard.errors import ConfigError
    from metrics_guard.service.cluster_responders import ClusterResponders

    monkeypatch.setenv("TABLE_NAME", "mg-state")
    monkeypatch.setenv("REGISTRY_PARAMETER", "/mg/clusters")
    monkeypatch.setenv("RESPONDER_MODE", "auto")
    monkeypatch.setenv("MATERIAL_PARAMETER_PREFIX", "/mg/material/")
    wiring.reset()
    with pytest.raises(ConfigError, match="REMEDIATION_DOCUMENT"):
        wiring.responder()
    monkeypatch.setenv("REMEDIATION_DOCUMENT", "mg-remediate")
    wiring.reset()
    deps = wiring.responder()
    assert deps.mode == "auto" and deps.remediation_document == "mg-remediate"
    assert isinstance(deps.responders, ClusterResponders)
    responder = deps.responders("prod")
    assert responder.policy.parameter_prefix == "/mg/material" and responder.policy.mode == "auto"


def test_no_secret_value_in_any_log_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], logs: Callable[[str], io.StringIO]
) -> None:
    from metrics_guard.adapters.connect import AwsClusterConnector
    from metrics_guard.adapters.secrets import SecretReader
    from metrics_guard.ports import TransportLimits

    class Provider:
        def get(self, name: str, **_: Any) -> str:
            return json.dumps({"token": SECRET_TOKEN, "ca_pem": "not a pem " + SECRET_TOKEN})

    connector = AwsClusterConnector(
        SecretReader(Provider()),  # type: ignore[arg-type]
        limits=TransportLimits(),
        read_material_document=None,
    )
    job = ProbeJob(
        registry=StaticRegistry(registry("prod-eu-1")),
        connector=connector,
        probe=fake_probe(),
        sink=ListSink(),
        policy=ProbePolicy(),
        limits=RunLimits(margin_s=1),
        now=Clock(),
    )
    monkeypatch.setattr(wiring, "probe_job", lambda: job)
    buffer = logs("metrics_probe")
    load("metrics_probe").logger.setLevel("DEBUG")
    result = load("metrics_probe").lambda_handler(event("schedule.json"), FakeLambdaContext())
    captured = capsys.readouterr()
    assert result["clusters"][0]["status"] == "error"  # the bad ca_pem became a PROBE_ERROR
    assert log_lines(buffer.getvalue())  # the probe did log
    assert SECRET_TOKEN not in captured.out + captured.err + buffer.getvalue()
    assert SECRET_TOKEN not in json.dumps(result)
