"""The responder's orchestration with in-memory fakes: guard, plan, execute, resume, verify."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from metrics_guard.adapters.local_runner import InMemoryRolloutStore
from metrics_guard.errors import ConfigError
from metrics_guard.model import Code, Finding, FindingsDocument, Remedy, Severity, Status, Target
from metrics_guard.ports import NodeRef, PublishResult
from metrics_guard.service.remediate import Responder, ResponderDeps, ResponderPolicy, order_nodes, parse_mode
from metrics_guard.service.remediate_ports import (
    CommandProgress,
    CommandState,
    InvocationState,
    NodeOutcome,
    RequestheaderConfig,
    RolloutCommand,
    ScriptResult,
)
from tests.unit.remediation.certs import cert_pem, key_pem, make_ca

CLUSTER = "dev"
START = datetime(2030, 1, 1, 12, tzinfo=UTC)
NODES = tuple(NodeRef(index=i, name=f"apiserver-{i}", instance_id=f"i-{i:017x}") for i in (1, 2, 3))


def finding(
    code: Code = Code.PROXY_CERT_EXPIRED, index: int = 2, *, ok: bool = False, at: datetime = START
) -> Finding:
    return Finding(
        check="certs.proxy-client",
        status=Status.OK if ok else Status.FAIL,
        severity=Severity.INFO if ok else Severity.CRITICAL,
        code=Code.OK if ok else code,
        target=Target("cert", "proxy-client", "apiserver", str(index)),
        summary="proxy client certificate expired",
        cluster=CLUSTER,
        observed_at=at,
        remediable_by=None if ok else Remedy.REISSUE_AGGREGATOR_CERT,
    )


def doc(*findings: Finding) -> FindingsDocument:
    return FindingsDocument(CLUSTER, START, tuple(findings))


FAILING = doc(finding(), finding(ok=True, index=1), finding(ok=True, index=3))
HEALTHY = doc(finding(ok=True, index=1), finding(ok=True, index=2), finding(ok=True, index=3))


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class FakeRunner:
    """Scripted SSM: ``script`` is the list of progress answers, one per wait()."""

    script: list[CommandState] = field(default_factory=lambda: [CommandState.SUCCESS])
    fail_node: int | None = None
    started: list[RolloutCommand] = field(default_factory=list)
    touched: list[int] = field(default_factory=list)
    waits: int = 0

    def start(self, command: RolloutCommand) -> str:
        self.started.append(command)
        return f"cmd-{len(self.started)}"

    def wait(self, command_id: str, nodes: Sequence[NodeRef], *, timeout_s: float) -> CommandProgress:
        state = self.script[min(self.waits, len(self.script) - 1)]
        self.waits += 1
        outcomes = []
        stop = False
        for position, node in enumerate(nodes):
            if not state.terminal:
                s = (
                    InvocationState.SUCCESS
                    if position == 0
                    else InvocationState.IN_PROGRESS
                    if position == 1
                    else InvocationState.PENDING
                )
            elif stop:
                s = InvocationState.NOT_RUN
            elif self.fail_node == node.index:
                s, stop = InvocationState.FAILED, True
            else:
                s = InvocationState.SUCCESS
            if s in {InvocationState.SUCCESS, InvocationState.FAILED} and node.index not in self.touched:
                self.touched.append(node.index)
            status = {"Success": "installed", "Failed": "restored"}.get(s.value, "")
            result = ScriptResult(status, True, False, "ab" * 32, "ok") if status else None
            outcomes.append(NodeOutcome(node, s, result))
        final = CommandState.FAILED if state.terminal and stop else state
        return CommandProgress(command_id, final, tuple(outcomes))


@dataclass
class Harness:
    mode: str = "auto"
    probes: list[FindingsDocument] = field(default_factory=lambda: [FAILING, HEALTHY])
    clock: Clock = field(default_factory=Clock)
    runner: FakeRunner = field(default_factory=FakeRunner)
    materials: dict[str, str] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    published: list[Finding] = field(default_factory=list)
    nodes: tuple[NodeRef, ...] = NODES
    secret: str = ""
    cluster_cas: tuple[str, ...] = ()
    ids: int = 0
    probe_calls: int = 0

    def __post_init__(self) -> None:
        ca, key = make_ca()
        if not self.secret:
            self.secret = json.dumps({"cert_pem": cert_pem(ca), "key_pem": key_pem(key)})
            self.cluster_cas = (cert_pem(ca),)
        self.store = InMemoryRolloutStore(self.clock)
        self.responder = self.build()

    def build(self) -> Responder:
        h = self

        class Materials:
            def put(self, name: str, value: str) -> None:
                h.materials[name] = value

            def delete(self, name: str) -> None:
                h.deleted.append(name)
                h.materials.pop(name, None)

        class Ca:
            def secret_string(self, arn: str) -> str:
                return h.secret

        class Nodes:
            def resolve(self, cluster: str) -> Sequence[NodeRef]:
                return h.nodes

        class Rh:
            def read(self, cluster: str) -> RequestheaderConfig:
                return RequestheaderConfig(h.cluster_cas, ("aggregator",))

        class Sink:
            def publish(self, findings: Sequence[Finding]) -> PublishResult:
                h.published.extend(findings)
                return PublishResult(sent=len(findings))

        def probe() -> FindingsDocument:
            h.probe_calls += 1
            return h.probes[min(h.probe_calls - 1, len(h.probes) - 1)]

        def new_id() -> str:
            h.ids += 1
            return f"id{h.ids}"

        policy = ResponderPolicy(
            mode=parse_mode(self.mode), ca_secret_arn="arn:aws:secretsmanager:x", verify_interval_s=10
        )
        deps = ResponderDeps(
            probe=probe,
            runner=self.runner,
            materials=Materials(),
            store=self.store,
            ca=Ca(),
            nodes=Nodes(),
            requestheader=Rh(),
            findings=Sink(),
            now=self.clock,
            sleep=self.clock.sleep,
            new_id=new_id,
        )
        return Responder(policy, deps)

    def event(self, f: Finding | None = None) -> dict[str, Any]:
        return (f or finding()).to_json()

    def codes(self) -> list[Code]:
        return [f.code for f in self.published]


def plenty() -> float:
    return 600.0


def test_dry_run_publishes_a_plan_and_touches_nothing() -> None:
    h = Harness(mode="dry-run")
    out = h.responder.handle_event(h.event(), remaining_s=plenty)
    assert out.action == "planned"
    assert h.codes() == [Code.REMEDIATION_PLANNED]
    plan = h.published[0].evidence["plan"]
    assert isinstance(plan, dict) and plan["order"] == [2, 1, 3] and plan["failing"] == [2]
    assert not h.runner.started and not h.materials and not h.store.rollouts
    assert not h.store.locks


def test_auto_rollout_remediates() -> None:
    h = Harness()
    out = h.responder.handle_event(h.event(), remaining_s=plenty)
    assert out.action == "remediated", out.message
    assert h.codes() == [Code.REMEDIATION_PLANNED, Code.REMEDIATED]
    (command,) = h.runner.started
    assert [n.index for n in command.nodes] == [2, 1, 3]
    assert h.deleted == [command.parameter_name] and not h.materials
    evidence = h.published[-1].evidence
    assert (
        evidence["command_id"] == "cmd-1"
        and isinstance(evidence["nodes"], list)
        and len(evidence["nodes"]) == 3
    )
    assert not h.store.locks
    steps = [kind for _, kind, _ in h.store.audit_log]
    assert (
        steps[:2] == ["remediation.recheck", "remediation.issued"] and steps[-1] == "remediation.remediated"
    )


def test_still_failing_check_first_resolved_means_no_action() -> None:
    h = Harness(probes=[HEALTHY])
    out = h.responder.handle_event(h.event(), remaining_s=plenty)
    assert out.action == "resolved" and not h.runner.started and not h.published


def test_duplicate_events_act_once() -> None:
    h = Harness()
    first = h.responder.handle_event(h.event(), remaining_s=plenty)
    second = h.responder.handle_event(h.event(), remaining_s=plenty)
    assert (first.action, second.action) == ("remediated", "duplicate")
    assert len(h.runner.started) == 1


def test_lock_contention_one_rollout() -> None:
    h = Harness(runner=FakeRunner(script=[CommandState.IN_PROGRESS]))
    first = h.responder.handle_event(h.event(), remaining_s=plenty)
    # Another finding of the same cluster (another node) while the first rollout runs.
    other = h.responder.handle_event(h.event(finding(index=3)), remaining_s=plenty)
    # The running rollout covers every node: no second rollout, no refusal.
    assert (first.action, other.action) == ("pending", "covered")
    assert other.rollout_id == first.rollout_id
    assert len(h.runner.started) == 1 and Code.REMEDIATION_REFUSED not in h.codes()


def test_lock_held_before_any_rollout_is_saved_is_busy() -> None:
    h = Harness()
    assert h.store.acquire_lock(f"remediation#{CLUSTER}", "someone-else", timedelta(hours=2))
    out = h.responder.handle_event(h.event(), remaining_s=plenty)
    assert out.action == "busy" and not h.runner.started and not h.published


def test_cooldown_and_budget() -> None:
    h = Harness(probes=[FAILING, HEALTHY, FAILING, HEALTHY])
    assert h.responder.handle_event(h.event(), remaining_s=plenty).action == "remediated"
    h.clock.now += timedelta(hours=2)
    out = h.responder.handle_event(h.event(finding(at=h.clock.now)), remaining_s=plenty)
    assert out.action == "refused" and "cooldown" in out.message
    assert h.published[-1].code is Code.REMEDIATION_REFUSED
    # Budget: three rollouts in the last day, cooldown off.
    h2 = Harness(probes=[FAILING, HEALTHY] * 5)
    policy = ResponderPolicy(mode="auto", ca_secret_arn="x", cooldown=timedelta(0))
    h2.responder.policy = policy
    actions = []
    for hour in range(4):
        h2.clock.now = START + timedelta(hours=hour * 2)
        actions.append(
            h2.responder.handle_event(h2.event(finding(at=h2.clock.now)), remaining_s=plenty).action
        )
    assert actions == ["remediated", "remediated", "remediated", "refused"]
    assert "budget" in h2.published[-1].summary


def test_resume_after_timeout_touches_no_node_twice() -> None:
    h = Harness(runner=FakeRunner(script=[CommandState.IN_PROGRESS, CommandState.SUCCESS]))
    first = h.responder.handle_event(h.event(), remaining_s=lambda: 25.0)
    assert first.action == "pending" and first.command_id == "cmd-1"
    assert h.store.locks  # kept for the rest of the rollout
    assert h.materials  # the nodes still need the material
    # A new Lambda invocation, from SSM's status-change event.
    resumed = h.build().handle_command_status("cmd-1", remaining_s=plenty)
    assert resumed.action == "remediated"
    assert len(h.runner.started) == 1 and sorted(h.runner.touched) == [1, 2, 3]
    assert len(h.runner.touched) == 3
    again = h.build().handle_command_status("cmd-1", remaining_s=plenty)
    assert again.action == "duplicate"
    assert not h.store.locks and not h.materials


def test_failed_second_node_stops_and_reports() -> None:
    h = Harness(runner=FakeRunner(fail_node=1))
    out = h.responder.handle_event(h.event(), remaining_s=plenty)
    assert out.action == "failed"
    final = h.published[-1]
    assert final.code is Code.REMEDIATION_FAILED and final.evidence["command_id"] == "cmd-1"
    nodes = final.evidence["nodes"]
    assert isinstance(nodes, list)
    states = [n["state"] for n in nodes if isinstance(n, dict)]
    assert states == ["Success", "Failed", "NotRun"]
    assert h.runner.touched == [2, 1]
    assert not h.materials and not h.store.locks


def test_verification_failure_is_reported() -> None:
    h = Harness(probes=[FAILING, FAILING])
    out = h.responder.handle_event(h.event(), remaining_s=plenty)
    assert out.action == "failed" and "verification failed" in out.message
    assert h.clock.now - START <= timedelta(minutes=3, seconds=10)


def test_non_remediable_claim_refused() -> None:
    h = Harness()
    event = finding(ok=True).to_json() | {
        "status": "fail",
        "code": "NODE_METRICS_MISSING",
        "remediable_by": "reissue-aggregator-cert",
    }
    event.pop("fingerprint")
    out = h.responder.handle_event(event, remaining_s=plenty)
    assert out.action == "refused" and h.codes() == [Code.REMEDIATION_REFUSED]
    assert not h.runner.started


@pytest.mark.parametrize("case", ["foreign-ca", "malformed", "no-nodes"])
def test_refusals_touch_nothing(case: str) -> None:
    h = Harness()
    if case == "foreign-ca":
        h.cluster_cas = (cert_pem(make_ca("requestheader-ca")[0]),)
    elif case == "malformed":
        h.secret = "{not json"
    else:
        h.nodes = ()
    out = h.responder.handle_event(h.event(), remaining_s=plenty)
    assert out.action == "refused", out.message
    assert h.codes() == [Code.REMEDIATION_REFUSED]
    assert not h.runner.started and not h.materials and not h.store.locks


def test_mode_off_and_unknown_mode() -> None:
    h = Harness(mode="off")
    assert h.responder.handle_event(h.event(), remaining_s=plenty).action == "disabled"
    with pytest.raises(ConfigError):
        parse_mode("yolo")


def test_no_key_material_anywhere(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    h = Harness()
    h.responder.handle_event(h.event(), remaining_s=plenty)
    ca_key = json.loads(h.secret)["key_pem"]
    captured = json.dumps([f.to_json() for f in h.published]) + json.dumps(h.store.audit_log) + caplog.text
    captured += repr(h.runner.started) + repr(list(h.store.rollouts.values()))
    for marker in ("PRIVATE KEY", ca_key.splitlines()[1]):
        assert marker not in captured
    assert "PRIVATE KEY" not in json.dumps(
        [vars(c) if hasattr(c, "__dict__") else repr(c) for c in h.runner.started]
    )


def test_order_nodes_is_deterministic() -> None:
    shuffled = (NODES[2], NODES[0], NODES[1])
    assert [n.index for n in order_nodes(shuffled, [3])] == [3, 1, 2]
    assert [n.index for n in order_nodes(shuffled, [])] == [1, 2, 3]
