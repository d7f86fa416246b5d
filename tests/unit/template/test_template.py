"""template.yaml facts the linters do not check: schedules' input, runtime, rule patterns, metric names."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str  # type: ignore[import-untyped]

from metrics_guard import observability as obs
from tests import template_sync

ROOT = Path(__file__).resolve().parents[3]
EVENTS = ROOT / "events"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    data, matches = decode_str((ROOT / "template.yaml").read_text(encoding="utf-8"))
    assert not matches
    assert isinstance(data, dict)
    return data


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == kind}


def matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    """EventBridge matching for the subset the template uses (value lists, nested objects)."""
    for key, want in pattern.items():
        have = event.get(key)
        if isinstance(want, dict):
            if not isinstance(have, dict) or not matches(want, have):
                return False
        elif have not in want:
            return False
    return True


@pytest.mark.parametrize(
    ("schedule", "event"),
    [("MetricsProbeSchedule", "schedule.json"), ("CertProbeSchedule", "schedule_certs.json")],
)
def test_schedule_input_is_the_event_file(template: dict[str, Any], schedule: str, event: str) -> None:
    target = template["Resources"][schedule]["Properties"]["Target"]
    assert json.loads(target["Input"]) == json.loads((EVENTS / event).read_text())


def test_rate_defaults_are_valid_rate_expressions(template: dict[str, Any]) -> None:
    for name in ("MetricsProbeRate", "CertProbeRate"):
        param = template["Parameters"][name]
        assert re.fullmatch(param["AllowedPattern"], param["Default"])
        value, unit = re.fullmatch(r"rate\((\d+) (\w+)\)", param["Default"]).groups()  # type: ignore[union-attr]
        assert unit in ({"minute", "hour"} if value == "1" else {"minutes", "hours"})


def test_runtime_is_python313_and_handlers_exist(template: dict[str, Any]) -> None:
    assert template["Globals"]["Function"]["Runtime"] == "python3.13"
    functions = resources(template, "AWS::Serverless::Function")
    assert len(functions) == 5
    for function in functions.values():
        props = function["Properties"]
        assert props["Handler"] == "app.lambda_handler"
        assert (ROOT / props["CodeUri"] / "app.py").is_file()
    layer = template["Resources"]["CommonLayer"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Metadata"]["BuildMethod"] == "makefile"


def _rule(template: dict[str, Any], function: str, event: str) -> dict[str, Any]:
    props: dict[str, Any] = template["Resources"][function]["Properties"]["Events"][event]["Properties"]
    assert "DeadLetterConfig" in props
    return props


def test_responder_rule_takes_remediable_failures_only(template: dict[str, Any]) -> None:
    pattern = _rule(template, "ResponderFunction", "RemediableFindings")["Pattern"]
    for path in sorted(EVENTS.glob("*.json")):
        event = json.loads(path.read_text())
        if event.get("source") != "metrics-guard":
            continue
        assert matches(pattern, event) == path.name.startswith("remediable_"), path.name


def test_notifier_rule_takes_every_finding(template: dict[str, Any]) -> None:
    pattern = _rule(template, "NotifierFunction", "Findings")["Pattern"]
    findings = [json.loads(p.read_text()) for p in EVENTS.glob("*.json")]
    findings = [e for e in findings if e.get("source") == "metrics-guard"]
    assert findings
    assert all(matches(pattern, e) for e in findings)


def test_ssm_rule_matches_the_status_change_sample(template: dict[str, Any]) -> None:
    props = _rule(template, "ResponderFunction", "CommandStatus")
    assert "EventBusName" not in props  # default bus
    pattern = json.loads(json.dumps(props["Pattern"]))
    pattern["detail"]["document-name"] = ["metrics-guard-RemediationDocument-AbCdEf123456"]
    assert matches(pattern, json.loads((EVENTS / "ssm_command_status.json").read_text()))


def test_alarms_and_dashboard_use_the_metric_names_the_code_writes(template: dict[str, Any]) -> None:
    text = json.dumps(template["Resources"])
    for name in (
        obs.PROBE_RUNS,
        obs.PROBE_ERRORS,
        obs.METRICS_API_AVAILABLE,
        obs.CERT_DAYS_LEFT,
        obs.COVERAGE,
        obs.FRESHNESS,
        obs.LATENCY,
    ):
        assert name in text, name
    switch = template["Resources"]["MetricsProbeDeadMansSwitch"]["Properties"]
    assert switch["TreatMissingData"] == "breaching"
    assert switch["EvaluationPeriods"] == 3


def test_no_wildcard_actions(template: dict[str, Any]) -> None:
    for name, policy in resources(template, "AWS::IAM::ManagedPolicy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            if isinstance(statement, dict) and "Action" in statement:
                actions = (
                    statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                )
                assert all("*" not in a for a in actions), name


def test_table_key_schema_matches_the_idempotency_settings(template: dict[str, Any]) -> None:
    props = template["Resources"]["StateTable"]["Properties"]
    assert [k["AttributeName"] for k in props["KeySchema"]] == ["pk", "sk"]
    assert props["TimeToLiveSpecification"]["AttributeName"] == "expires_at"
    assert props["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True


def test_ssm_documents_equal_what_the_remediation_package_renders() -> None:
    current = template_sync.TEMPLATE.read_text(encoding="utf-8")
    assert template_sync.render(current) == current, "run: .venv/bin/python -m tests.template_sync --write"


def test_embedded_documents_are_the_rendered_content(template: dict[str, Any]) -> None:
    remediation = template["Resources"]["RemediationDocument"]["Properties"]["Content"]
    assert json.loads(json.dumps(remediation)) == json.loads(json.dumps(template_sync.remediation_content()))
    read = template["Resources"]["ReadMaterialDocument"]["Properties"]["Content"]
    assert json.loads(json.dumps(read)) == template_sync.read_material_content()
