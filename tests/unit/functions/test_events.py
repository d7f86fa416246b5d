"""Every sample under events/ parses into the model its function expects."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from metrics_guard.events_model import (
    DiagnoseRequest,
    FindingEvent,
    ProbeRequest,
    SnsFindingEvent,
    SsmCommandStatusEvent,
)
from metrics_guard.model import REMEDIABLE_CODES

EVENTS = Path(__file__).resolve().parents[3] / "events"


def load(name: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((EVENTS / name).read_text())
    return data


FINDING_SAMPLES = sorted([*EVENTS.glob("finding_*.json"), *EVENTS.glob("remediable_*.json")])


@pytest.mark.parametrize("path", FINDING_SAMPLES, ids=lambda p: p.stem)
def test_finding_samples(path: Path) -> None:
    finding = FindingEvent.model_validate(load(path.name)).detail.finding()
    assert (finding.code in REMEDIABLE_CODES and finding.remediable_by is not None) == path.name.startswith(
        "remediable_"
    )


def test_schedule_and_diagnose() -> None:
    assert ProbeRequest.model_validate(load("schedule.json")).probe == "metrics"
    assert ProbeRequest.model_validate(load("schedule_certs.json")).probe == "certs"
    assert DiagnoseRequest.model_validate(load("diagnose.json")).clusters == ("prod-eu-1",)
    with pytest.raises(ValidationError):
        ProbeRequest.model_validate(load("malformed_schedule.json"))


def test_sns_and_ssm_envelopes() -> None:
    (detail,) = SnsFindingEvent.model_validate(load("sns_finding.json")).findings()
    assert detail.code.value == "PROXY_CERT_EXPIRED"
    assert SsmCommandStatusEvent.model_validate(load("ssm_command_status.json")).detail.status == "Success"


def test_a_tampered_fingerprint_is_refused() -> None:
    event = load("remediable_proxy_cert_expired.json")
    event["detail"]["fingerprint"] = "0" * 64  # type: ignore[index]
    from metrics_guard.errors import InputError

    with pytest.raises(InputError):
        FindingEvent.model_validate(event).detail.finding()


def test_disabled_tracer_does_not_import_the_xray_sdk() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from metrics_guard import observability as o; t = o.tracer();"
        "f = t.capture_lambda_handler(capture_response=False)(lambda e, c: 1);"
        "assert f(None, None) == 1; print('aws_xray_sdk' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env={"POWERTOOLS_TRACE_DISABLED": "true", "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == "False"
