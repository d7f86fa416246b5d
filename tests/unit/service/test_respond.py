"""The responder's service seam and per-cluster wiring, over in-memory fakes.

Covers the ordering fix: a rollout covers every node, so the other nodes' findings of one failure are
answered "covered" (never refused for the cooldown that rollout started), during and after the rollout.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from metrics_guard.errors import CredentialsError
from metrics_guard.model import Code
from metrics_guard.service.remediate_ports import CommandState
from metrics_guard.service.respond import CommandStatus, FindingClaim, idempotency_key, respond
from tests.unit.service.responder_fakes import (
    CLUSTER,
    ScriptedProbe,
    World,
    document,
    proxy_finding,
    remaining,
    tagged_registry,
)
from tests.unit.service.serverless_fakes import T0, FakeConnector
from tests.unit.service.test_remediate import FakeRunner


def claim(index: int, *, at: datetime = T0, cluster: str = CLUSTER) -> FindingClaim:
    f = proxy_finding(index, at=at, cluster=cluster)
    return FindingClaim(f.cluster, f.fingerprint, f.observed_at, f.to_json())


def test_expired_all_one_rollout_the_other_nodes_are_covered() -> None:
    w = World(probe=ScriptedProbe([document([1, 2, 3]), document([])]))
    first = respond(claim(1), w.deps, remaining_s=remaining)
    w.now += timedelta(minutes=4)
    others = [respond(claim(i), w.deps, remaining_s=remaining) for i in (2, 3)]
    assert first["action"] == "remediated"
    assert [o["action"] for o in others] == ["covered", "covered"]
    assert all(o["rollout_id"] == first["rollout_id"] for o in others)
    assert "already resolved" in str(others[0]["message"])
    assert w.codes() == [Code.REMEDIATION_PLANNED, Code.REMEDIATED]  # no REMEDIATION_REFUSED noise
    assert len(w.runner.started) == 1
    assert [n.index for n in w.runner.started[0].nodes] == [1, 2, 3]


def test_concurrent_events_during_the_rollout_are_covered() -> None:
    w = World(runner=FakeRunner(script=[CommandState.IN_PROGRESS, CommandState.SUCCESS]))
    first = respond(claim(2), w.deps, remaining_s=lambda: 25.0)
    during = [respond(claim(i), w.deps, remaining_s=remaining) for i in (1, 3)]
    assert first["action"] == "pending"
    assert [d["action"] for d in during] == ["covered", "covered"]
    assert len(w.runner.started) == 1
    done = respond(
        CommandStatus(str(first["command_id"]), "mg-remediate", "Success"), w.deps, remaining_s=remaining
    )
    assert done["action"] == "remediated"
    assert Code.REMEDIATION_REFUSED not in w.codes()


def test_after_a_failed_rollout_the_same_failure_is_covered_not_refused() -> None:
    w = World(runner=FakeRunner(fail_node=1))
    first = respond(claim(2), w.deps, remaining_s=remaining)
    again = respond(claim(3), w.deps, remaining_s=remaining)
    assert (first["action"], again["action"]) == ("failed", "covered")
    assert w.codes() == [Code.REMEDIATION_PLANNED, Code.REMEDIATION_FAILED]


def test_a_new_failure_after_the_rollout_still_meets_the_cooldown() -> None:
    w = World(probe=ScriptedProbe([document([2]), document([]), document([2])]))
    assert respond(claim(2), w.deps, remaining_s=remaining)["action"] == "remediated"
    w.now += timedelta(hours=1)
    later = respond(claim(2, at=w.now), w.deps, remaining_s=remaining)
    assert later["action"] == "refused" and "cooldown" in str(later["message"])


def test_dry_run_publishes_one_plan_per_cluster() -> None:
    w = World(mode="dry-run", probe=ScriptedProbe([document([1, 2, 3])]))
    results = [respond(claim(i), w.deps, remaining_s=remaining) for i in (1, 2, 3)]
    assert [r["action"] for r in results] == ["planned", "covered", "covered"]
    assert w.codes() == [Code.REMEDIATION_PLANNED]
    assert not w.runner.started and not w.materials


def test_two_invocations_for_one_finding_act_once() -> None:
    w = World()
    first = respond(claim(2), w.deps, remaining_s=remaining)
    second = respond(claim(2), w.deps, remaining_s=remaining)
    assert (first["action"], second["action"]) == ("remediated", "duplicate")
    assert len(w.runner.started) == 1


def test_forged_claim_is_refused() -> None:
    w = World()
    f = proxy_finding(2)
    detail = f.to_json() | {"code": "NODE_METRICS_MISSING", "check": "nodes.metrics"}
    out = respond(
        FindingClaim(f.cluster, str(detail["fingerprint"]), T0, detail), w.deps, remaining_s=remaining
    )
    assert out["action"] == "refused"
    assert w.codes() == [Code.REMEDIATION_REFUSED] and not w.runner.started


@pytest.mark.parametrize(
    ("world", "reason"),
    [
        (lambda: World(registry=tagged_registry("other")), "not in the registry"),
        (lambda: World(registry=tagged_registry(CLUSTER, layout="eks")), "EKS"),
        (
            lambda: World(connector=FakeConnector(broken={CLUSTER: CredentialsError("secret x unreadable")})),
            "cannot connect",
        ),
    ],
    ids=["unknown-cluster", "eks", "unreadable-credentials"],
)
def test_clusters_that_cannot_be_remediated_are_refused(world: object, reason: str) -> None:
    w = world()  # type: ignore[operator]
    out = respond(claim(2), w.deps, remaining_s=remaining)
    assert out["action"] == "refused" and reason in str(out["message"]), out
    assert w.codes() == [Code.REMEDIATION_REFUSED] and not w.runner.started and not w.materials


def test_the_plan_uses_the_resolved_nodes_and_the_entry_layout() -> None:
    w = World(registry=tagged_registry(CLUSTER, layout="kubeadm"))
    respond(claim(3), w.deps, remaining_s=remaining)
    (command,) = w.runner.started
    assert command.layout == "kubeadm"
    # apiserver 2 fails (the re-check says so): first, then the others by index.
    assert [n.instance_id for n in command.nodes] == [
        "i-0000000000000000b",
        "i-0000000000000000a",
        "i-0000000000000000c",
    ]
    assert command.parameter_name.startswith(f"/mg/material/{CLUSTER}/")


def test_command_status_events() -> None:
    w = World(runner=FakeRunner(script=[CommandState.IN_PROGRESS, CommandState.SUCCESS]))
    first = respond(claim(2), w.deps, remaining_s=lambda: 25.0)
    command_id = str(first["command_id"])
    assert (
        respond(CommandStatus(command_id, "someone-elses", "Success"), w.deps, remaining_s=remaining)[
            "action"
        ]
        == "ignored"
    )
    assert (
        respond(CommandStatus(command_id, "mg-remediate", "InProgress"), w.deps, remaining_s=remaining)[
            "message"
        ]
        == "command not finished yet"
    )
    assert (
        respond(CommandStatus("nope", "mg-remediate", "Success"), w.deps, remaining_s=remaining)["message"]
        == "command belongs to no rollout"
    )
    done = respond(CommandStatus(command_id, "mg-remediate", "Success"), w.deps, remaining_s=remaining)
    assert done["action"] == "remediated"
    again = respond(CommandStatus(command_id, "mg-remediate", "Success"), w.deps, remaining_s=remaining)
    assert again["action"] == "duplicate"
    assert len(w.runner.started) == 1


def test_mode_off_does_nothing() -> None:
    w = World(mode="off")
    assert respond(claim(2), w.deps, remaining_s=remaining)["action"] == "disabled"
    assert not w.published and w.probe.calls == 0


def test_idempotency_key_is_fingerprint_and_window() -> None:
    a, b = claim(2), claim(2, at=T0 + timedelta(minutes=10))
    assert idempotency_key(a, timedelta(hours=1)) == idempotency_key(b, timedelta(hours=1))
    assert idempotency_key(a, timedelta(hours=1)) != idempotency_key(claim(3), timedelta(hours=1))
    assert idempotency_key(CommandStatus("c", "d", "Success"), timedelta(hours=1)) == "command#c#Success"


def test_steps_are_audited_and_notified_without_key_material() -> None:
    w = World()
    respond(claim(2), w.deps, remaining_s=remaining)
    kinds = [k for _, k, _ in w.store.audit_log]
    assert kinds[0] == "remediation.recheck" and kinds[-1] == "remediation.remediated"
    assert [s.step for s in w.steps] == [k.removeprefix("remediation.") for k in kinds]
    text = repr(w.steps) + repr(w.store.audit_log) + repr(w.published) + repr(w.runner.started)
    assert "PRIVATE KEY" not in text
