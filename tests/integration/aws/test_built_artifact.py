"""The ``sam build`` output, run for real: each handler under awslambdaric on python3.13 against a
stand-in of the Lambda Runtime API, with the layer laid out as Lambda mounts it (``/opt/python``) and only
what the Lambda runtime itself provides (boto3) besides. Proves the artifact imports and answers."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.aws import runtime_api as lambda_runtime
from tests.integration.aws.runtime_api import RuntimeApi
from tests.moto_server import FAKE_ENV, MotoServer

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
BUILD = ROOT / ".aws-sam" / "build"
EVENTS = ROOT / "events"


def python313() -> Path:
    found = lambda_runtime.python313()
    if found is None:
        pytest.skip("python3.13 is not installed")
    return found


@pytest.fixture(scope="module")
def runtime_packages() -> Path:
    """awslambdaric and boto3 for python3.13: what the Lambda python3.13 runtime brings (cached)."""
    return lambda_runtime.runtime_packages(python313())


@pytest.fixture(scope="module")
def built() -> Path:
    if not (BUILD / "template.yaml").exists():
        pytest.skip("no sam build output: run `make build` first")
    return BUILD


@pytest.fixture(scope="module")
def opt(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The layer as Lambda mounts it: <opt>/python/..."""
    opt = tmp_path_factory.mktemp("opt")
    shutil.copytree(built / "CommonLayer" / "python", opt / "python", symlinks=True)
    return opt


@pytest.fixture
def runtime_api() -> Iterator[RuntimeApi]:
    api = RuntimeApi()
    yield api
    api.close()


def run_handler(
    function: str, event: object, *, opt: Path, packages: Path, api: RuntimeApi, env: dict[str, str]
) -> tuple[object, str]:
    task = BUILD / function
    request_id = api.invoke(event)
    argv, process_env = lambda_runtime.handler_argv_env(
        python=python313(),
        task=task,
        opt=opt,
        packages=packages,
        api=api,
        function=function,
        env={**FAKE_ENV, **env},
    )
    process = subprocess.Popen(
        argv,
        env=process_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        answer = api.answers.get(timeout=60)
    finally:
        process.kill()
        output, _ = process.communicate(timeout=10)
    assert answer.kind == "response", (answer, output.decode(errors="replace"))
    assert answer.request_id == request_id
    return answer.body, output.decode(errors="replace")


def test_layer_is_precompiled_unchecked_hash(opt: Path) -> None:
    pyc = next((opt / "python" / "metrics_guard" / "__pycache__").glob("model.cpython-313.pyc"))
    flags = int.from_bytes(pyc.read_bytes()[4:8], "little")
    assert flags == 0b01  # hash-based, not checked against the source
    for dropped in ("boto3", "botocore", "kubernetes/aio", "aiohttp"):
        assert not (opt / "python" / dropped).exists(), dropped


def test_metrics_probe_artifact_answers(
    opt: Path, runtime_packages: Path, runtime_api: RuntimeApi, moto_server: MotoServer
) -> None:
    moto_server.reset()
    moto_server.client("ssm").put_parameter(Name="/artifact/clusters", Type="String", Value="[]")
    moto_server.client("events").create_event_bus(Name="artifact-findings")
    body, output = run_handler(
        "MetricsProbeFunction",
        json.loads((EVENTS / "schedule.json").read_text()),
        opt=opt,
        packages=runtime_packages,
        api=runtime_api,
        env={
            "AWS_ENDPOINT_URL": moto_server.endpoint,
            "REGISTRY_PARAMETER": "/artifact/clusters",
            "EVENT_BUS_NAME": "artifact-findings",
            "POWERTOOLS_METRICS_NAMESPACE": "MetricsGuard",
        },
    )
    assert body == {
        "ok": True,
        "clusters": [],
        "status": "ok",
        "published": 0,
        "publish_failed": [],
        "trimmed": 0,
    }
    assert '"ProbeRuns"' in output  # the EMF document went to stdout


@pytest.mark.parametrize(
    "function", ["CertProbeFunction", "DiagnoseFunction", "NotifierFunction", "ResponderFunction"]
)
def test_every_artifact_rejects_a_malformed_event(
    function: str, opt: Path, runtime_packages: Path, runtime_api: RuntimeApi
) -> None:
    body, output = run_handler(
        function, {"action": "nonsense"}, opt=opt, packages=runtime_packages, api=runtime_api, env={}
    )
    assert isinstance(body, dict) and body["ok"] is False and body["error"] == "invalid-event"
    assert "event rejected" in output
