from __future__ import annotations

import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from metrics_guard import cli
from metrics_guard.ports import KubeTransport
from tests.fakes.kube import FakeTlsProber, FakeTransport, fixture_cluster
from tests.unit.service.test_probe_fixtures import NOW


def schema() -> dict[str, Any]:
    text = resources.files("metrics_guard").joinpath("schemas/findings.v1.json").read_text()
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def _patch(monkeypatch: pytest.MonkeyPatch, transport: FakeTransport) -> None:
    from metrics_guard.adapters import kube

    def fake(path: str | None, context: str | None, **_: Any) -> KubeTransport:
        return transport

    monkeypatch.setattr(kube, "transport_from_kubeconfig", fake)
    from metrics_guard.adapters import tls

    monkeypatch.setattr(tls, "SocketTlsProber", lambda: FakeTlsProber({}))
    monkeypatch.setattr(cli, "clock", lambda: NOW)


@pytest.mark.parametrize(
    ("scenario", "exit_code"), [("healthy", 0), ("fault_backend_hang", 2)], ids=["healthy", "hang"]
)
def test_json_output_validates_and_exit_code(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], scenario: str, exit_code: int
) -> None:
    _patch(monkeypatch, fixture_cluster(scenario))
    assert cli.main(["diagnose", "-o", "json", "--timeout", "20"]) == exit_code
    document = json.loads(capsys.readouterr().out)
    jsonschema.validate(document, schema())
    assert document["schema"] == "metrics-guard.findings/v1"


def test_text_output_is_a_table_with_causes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    _patch(monkeypatch, fixture_cluster("fault_backend_hang"))
    assert cli.main(["diagnose"]) == 2
    out = capsys.readouterr().out
    assert "STATUS" in out and "AGGREGATOR_NETWORK_TIMEOUT" in out and "Remedy:" in out
    assert "\033[" not in out


def test_unreachable_is_exit_3(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from metrics_guard.errors import KubeConnectError

    _patch(monkeypatch, FakeTransport(routes={"/version": KubeConnectError("connection refused")}))
    assert cli.main(["diagnose"]) == 3
    assert "cannot reach" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [["diagnose", "--timeout", "x"], ["diagnose", "-o", "yaml"], ["nope"], [], ["diagnose", "--bogus"]],
    ids=["timeout", "output", "command", "none", "flag"],
)
def test_usage_errors_exit_64(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 64
    assert "Traceback" not in capsys.readouterr().err


def test_unknown_context_is_one_line_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "users: [{name: u, user: {token: t}}]\ncontexts: [{name: real, context: {cluster: c, user: u}}]\n"
        "current-context: real\n"
    )
    assert cli.main(["diagnose", "--kubeconfig", str(config), "--context", "missing"]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err


def test_bad_kubeconfig_is_exit_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(": not yaml [")
    assert cli.main(["diagnose", "--kubeconfig", str(config)]) == 3
    assert "Traceback" not in capsys.readouterr().err


def test_cli_import_is_light() -> None:
    import subprocess
    import sys

    code = "import sys, metrics_guard.cli; print(int(any(m.startswith(('cryptography','kubernetes')) for m in sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "0"
