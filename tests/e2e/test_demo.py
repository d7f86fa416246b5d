"""The demo's scenarios end to end (``python -m demo --scenario …``) on the session's devcluster.

The default scenario runs in ``make test``; the others are ``slow`` (``make test-all``). Each run checks the
exit code, the timeline's milestones and that no secret reached the output.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.devcluster_fixture import DevclusterHandle

REPO = Path(__file__).resolve().parents[2]
SECRET_MARKERS = ("PRIVATE KEY", "BEGIN EC", "BEGIN RSA", "eyJhbGci")

pytestmark = pytest.mark.e2e


def run_demo(scenario: str, cluster: DevclusterHandle) -> subprocess.CompletedProcess[str]:
    if os.geteuid() != 0:
        pytest.skip("the devcluster needs root (network namespaces)")
    env = dict(os.environ)
    env.pop("NO_COLOR", None)
    env["DEVCLUSTER_HOME"] = str(cluster.home)  # the demo runs on the session's cluster and heals it
    done = subprocess.run(
        [sys.executable, "-m", "demo", "--scenario", scenario],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
        env=env,
        check=False,
    )
    output = done.stdout + done.stderr
    for marker in SECRET_MARKERS:
        assert marker not in output, f"secret material ({marker}) in the demo's output"
    assert "Traceback" not in output
    assert "\033[" not in done.stdout, "plain output when piped"
    return done


def test_default_scenario_expired_one(devcluster: DevclusterHandle) -> None:
    done = run_demo("expired-one", devcluster)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    out = done.stdout
    for milestone in (
        "diagnosis: PROXY_CERT_EXPIRED on apiserver/2",
        "SNS   [metrics-guard] FAILING devcluster: PROXY_CERT_EXPIRED on cert/proxy-client@apiserver/2",
        "Slack FAILING: devcluster",
        "apiserver-2: Success",
        "REMEDIATED:",
        "RESOLVED devcluster: recovered on cert/proxy-client@apiserver/2",
        "fault -> resolved (total)",
        "cluster healthy at the end",
    ):
        assert milestone in out, milestone
    assert out.index("apiserver-2: Success") < out.index("apiserver-1: Success"), "failing node first"


@pytest.mark.slow
@pytest.mark.parametrize(
    ("scenario", "milestones"),
    [
        ("expired-all", ("REMEDIATED:", "apiserver-3: Success")),
        ("wrong-cn", ("diagnosis: PROXY_CERT_CN_NOT_ALLOWED", "REMEDIATED:")),
        ("ca-mismatch", ("REMEDIATION_REFUSED:", "byte-identical")),
        ("rollback", ("REMEDIATION_FAILED:", "apiserver-2: Failed", "byte-identical")),
        ("no-route", ("diagnosis: AGGREGATOR_NETWORK_TIMEOUT", "remedy:", "responder is not involved")),
    ],
)
def test_other_scenarios(devcluster: DevclusterHandle, scenario: str, milestones: tuple[str, ...]) -> None:
    done = run_demo(scenario, devcluster)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    for milestone in milestones:
        assert milestone in done.stdout, milestone
    assert "cluster healthy at the end" in done.stdout
