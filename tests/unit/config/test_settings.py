from __future__ import annotations

import pytest

from metrics_guard.config import settings_from_env
from metrics_guard.errors import ConfigError


def test_defaults() -> None:
    cfg = settings_from_env({})
    assert cfg.responder_mode == "dry-run"
    assert cfg.reminder_hours == 6.0
    assert cfg.event_bus_name == "default"


def test_empty_strings_mean_not_configured() -> None:
    cfg = settings_from_env({"SLACK_WEBHOOK_SECRET_ARN": "", "CA_SECRET_ARN": "", "REMINDER_HOURS": "2"})
    assert cfg.slack_webhook_secret_arn is None
    assert cfg.ca_secret_arn is None
    assert cfg.reminder_hours == 2.0


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({"RESPONDER_MODE": "yolo"}, "RESPONDER_MODE"),
        ({"PROBE_CONCURRENCY": "0"}, "PROBE_CONCURRENCY"),
        ({"REMINDER_HOURS": "soon"}, "REMINDER_HOURS"),
    ],
    ids=["unknown-mode", "zero-concurrency", "not-a-number"],
)
def test_bad_settings_name_the_variable(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        settings_from_env(env)
