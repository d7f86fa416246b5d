"""The node script run for real against temporary node roots, a fake apiserver and a fake restart hook."""

from __future__ import annotations

import os
import stat
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from metrics_guard.adapters.local_runner import script_path
from metrics_guard.service.remediate_ports import ScriptResult
from tests.unit.remediation.fake_apiserver import FakeNode, Material, sha_file

SHELLCHECK = Path(__file__).resolve().parents[3] / ".venv" / "bin" / "shellcheck"


@pytest.fixture
def make_node(tmp_path: Path) -> Iterator[Callable[..., FakeNode]]:
    made: list[FakeNode] = []
    counter = iter(range(100))

    def factory(**kwargs: object) -> FakeNode:
        base = tmp_path / f"n{next(counter)}"
        base.mkdir()
        node = FakeNode(base, **kwargs)  # type: ignore[arg-type]
        made.append(node)
        return node

    yield factory
    for node in made:
        node.close()


def result(proc: subprocess.CompletedProcess[str]) -> ScriptResult:
    parsed = ScriptResult.parse(proc.stdout)
    assert parsed is not None, proc.stdout + proc.stderr
    return parsed


def assert_no_key(proc: subprocess.CompletedProcess[str], material: Material) -> None:
    text = proc.stdout + proc.stderr
    body = [line for line in material.key_pem.splitlines() if line and not line.startswith("-----")]
    assert all(line not in text for line in body)
    assert material.bundle_b64()[:40] not in text


def test_binary_hot_reload(make_node: Callable[..., FakeNode]) -> None:
    node = make_node(layout="binary", hot_reload=True)
    new = node.new_material()
    node.good.add(new.sha256)
    before = node.hashes()
    proc = node.run(new)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = result(proc)
    assert (r.status, r.changed, r.restarted, r.cert_sha256) == ("installed", True, False, new.sha256)
    assert node.cert_path.read_text() == new.cert_pem and node.hashes() != before
    assert stat.S_IMODE(node.cert_path.stat().st_mode) == 0o644
    assert stat.S_IMODE(node.key_path.stat().st_mode) == 0o600
    assert node.restarts() == 0
    backups = [p for p in node.tmp.iterdir() if p.name.startswith("backup-")]
    assert (
        len(backups) == 1
        and sha_file(backups[0] / "cert") == before[0]
        and sha_file(backups[0] / "key") == before[1]
    )
    assert_no_key(proc, new)
    assert not list(node.cert_path.parent.glob(".metrics-guard.*"))


def test_binary_restart_when_reload_is_not_seen(make_node: Callable[..., FakeNode]) -> None:
    node = make_node(layout="binary", hot_reload=False)
    new = node.new_material()
    node.good.add(new.sha256)
    proc = node.run(new)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    r = result(proc)
    assert (r.status, r.restarted) == ("installed", True)
    assert node.restarts() == 1


def test_second_run_changes_nothing(make_node: Callable[..., FakeNode]) -> None:
    node = make_node(layout="binary")
    new = node.new_material()
    node.good.add(new.sha256)
    assert node.run(new).returncode == 0
    inode, mtime, hashes = node.cert_path.stat().st_ino, node.cert_path.stat().st_mtime_ns, node.hashes()
    proc = node.run(new)
    assert proc.returncode == 0, proc.stdout
    r = result(proc)
    assert (r.status, r.changed, r.restarted) == ("unchanged", False, False)
    assert (node.cert_path.stat().st_ino, node.cert_path.stat().st_mtime_ns, node.hashes()) == (
        inode,
        mtime,
        hashes,
    )
    assert node.restarts() == 0


def test_kubeadm_restart_strategy(make_node: Callable[..., FakeNode]) -> None:
    node = make_node(layout="kubeadm", hot_reload=False)
    new = node.new_material()
    node.good.add(new.sha256)
    proc = node.run(new, strategy="restart")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert result(proc).restarted and node.restarts() == 1
    assert node.cert_path.read_text() == new.cert_pem


def test_key_not_matching_cert_touches_nothing(make_node: Callable[..., FakeNode]) -> None:
    node = make_node()
    bad = node.new_material(mismatched_key=True)
    before = node.hashes()
    proc = node.run(bad)
    assert proc.returncode == 2
    assert "does not match" in result(proc).reason
    assert node.hashes() == before and node.restarts() == 0
    assert_no_key(proc, bad)


def test_unexpected_sha_touches_nothing(make_node: Callable[..., FakeNode]) -> None:
    node = make_node()
    new = node.new_material()
    before = node.hashes()
    proc = node.run(new, expected="0" * 64)
    assert proc.returncode == 2 and "expected" in result(proc).reason
    assert node.hashes() == before


def test_aggregator_still_failing_restores_byte_identical(make_node: Callable[..., FakeNode]) -> None:
    node = make_node(hot_reload=True)  # new certificate never accepted
    new = node.new_material()
    before = node.hashes()
    proc = node.run(new)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    r = result(proc)
    assert r.status == "restored" and "previous files restored" in r.reason
    assert node.hashes() == before
    assert stat.S_IMODE(node.key_path.stat().st_mode) == 0o600
    assert node.restarts() == 2  # the strategy's restart, then the restart after restoring
    assert proc.stderr.strip().splitlines()[-1].startswith("metrics-guard: ")


def test_restart_fails_restores_byte_identical(make_node: Callable[..., FakeNode]) -> None:
    node = make_node(hot_reload=False)
    (node.state / "restart-fails").touch()
    new = node.new_material()
    node.good.add(new.sha256)
    before = node.hashes()
    proc = node.run(new, strategy="restart")
    assert proc.returncode == 3, proc.stdout
    r = result(proc)
    assert r.status == "restore-failed" and "restarting kube-apiserver failed" in r.reason
    assert node.hashes() == before
    assert_no_key(proc, new)


def test_unit_without_proxy_flags_is_refused(make_node: Callable[..., FakeNode]) -> None:
    node = make_node()
    unit = node.root / "etc/systemd/system/kube-apiserver.service"
    unit.write_text("[Service]\nExecStart=/usr/local/bin/kube-apiserver --secure-port=6443\n")
    proc = node.run(node.new_material())
    assert proc.returncode == 2 and "aggregation not configured" in result(proc).reason


def test_usage_errors() -> None:
    proc = subprocess.run(
        ["bash", str(script_path()), "--strategy", "yolo"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 2 and "unknown strategy" in proc.stderr


@pytest.mark.skipif(not SHELLCHECK.exists(), reason="shellcheck not installed in .venv")
def test_shellcheck_clean() -> None:
    proc = subprocess.run([str(SHELLCHECK), str(script_path())], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_script_is_executable_text() -> None:
    assert os.access(script_path(), os.R_OK)
    assert script_path().read_text().startswith("#!/usr/bin/env bash\n")
