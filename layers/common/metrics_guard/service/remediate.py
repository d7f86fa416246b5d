"""The responder: guard, plan, execute, verify. Pure orchestration over the ports of ``remediate_ports``.

One call per event:

* :meth:`Responder.handle_event` for a finding from the bus (``remediable_by`` = ``reissue-aggregator-cert``);
* :meth:`Responder.handle_command_status` for SSM's ``EC2 Command Status-change Notification`` of a rollout
  that outlived the invocation that started it.

Safety (docs/responder.md): mode ``off | dry-run | auto`` (default dry-run); the finding must be remediable;
an idempotency claim on fingerprint + window; one rollout per cluster (lock with expiry); a cooldown and a
daily budget; the failure is re-checked first; the CA must be one of the cluster's requestheader CAs; one
command for all nodes, one node at a time, stopping at the first failure (the node script restores that
node); the key travels only through the material store and is deleted when the command ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final, Literal, TypeAlias

from metrics_guard.errors import ConfigError, MetricsGuardError, RemediationRefused
from metrics_guard.model import (
    REMEDIABLE_CODES,
    Code,
    Finding,
    FindingsDocument,
    Json,
    Remedy,
    Severity,
    Status,
    Target,
)
from metrics_guard.pki.issue import (
    CaMaterial,
    IssuePolicy,
    choose_common_name,
    common_name_of,
    issue_proxy_client_cert,
    parse_ca_secret,
    validate_ca,
)
from metrics_guard.ports import CertificateSource, FindingSink, NodeRef
from metrics_guard.service.remediate_ports import (
    CaSource,
    CommandProgress,
    CommandRunner,
    InvocationState,
    MaterialStore,
    NodeLayout,
    NodeOutcome,
    NodeResolver,
    RequestheaderReader,
    Rollout,
    RolloutCommand,
    RolloutPhase,
    RolloutStep,
    RolloutStore,
    StepNotifier,
    Strategy,
)

log = logging.getLogger(__name__)

Mode: TypeAlias = Literal["off", "dry-run", "auto"]
MODES: Final = ("off", "dry-run", "auto")
CHECK: Final = "remediation"
TARGET: Final = Target("cert", "proxy-client")

#: Codes that must be gone (besides the remediable ones) before a rollout counts as verified: the APIService
#: is Available from every apiserver and node metrics flow.
VERIFY_BLOCKING: Final = frozenset(
    {
        Code.APISERVICE_MISSING,
        Code.AGGREGATOR_NETWORK_TIMEOUT,
        Code.AGGREGATOR_PROXY_CERT_REJECTED,
        Code.METRICS_SERVER_NOT_READY,
        Code.METRICS_SERVER_UNREACHABLE,
        Code.NODE_METRICS_MISSING,
        Code.METRICS_STALE,
        Code.APISERVERS_DISAGREE,
    }
)

Action: TypeAlias = Literal[
    "disabled",
    "ignored",
    "duplicate",
    "busy",
    "covered",
    "refused",
    "resolved",
    "planned",
    "pending",
    "remediated",
    "failed",
]


def parse_mode(value: str | None) -> Mode:
    """The responder's mode; an unknown value is a configuration error (the function refuses to start)."""
    text = "dry-run" if value in {None, ""} else str(value).strip().lower()
    if text == "off":
        return "off"
    if text == "dry-run":
        return "dry-run"
    if text == "auto":
        return "auto"
    raise ConfigError(f"unknown responder mode {value!r}: expected one of {', '.join(MODES)}")


@dataclass(frozen=True, slots=True)
class ResponderPolicy:
    mode: Mode = "dry-run"
    ca_secret_arn: str = ""
    cooldown: timedelta = timedelta(hours=6)
    daily_budget: int = 3
    lock_ttl: timedelta = timedelta(hours=2)
    idempotency_window: timedelta = timedelta(hours=1)
    strategy: Strategy = "reload-then-restart"
    layout: NodeLayout = "binary"
    kubeconfig_path: str = "/etc/kubernetes/admin.conf"
    apiserver_url: str = "https://127.0.0.1:6443"
    node_timeout_s: int = 300
    reload_wait_s: int = 90
    verify_timeout_s: float = 180.0
    verify_interval_s: float = 10.0
    #: Seconds of the invocation kept back for saving state and publishing.
    margin_s: float = 20.0
    #: SecureString names: ``<prefix>/<cluster>/<rollout id>``; the template sets ``/<stack>/material``.
    parameter_prefix: str = "/metrics-guard/material"
    issue: IssuePolicy = field(default_factory=IssuePolicy)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"unknown responder mode {self.mode!r}")
        if self.daily_budget < 1:
            raise ConfigError("daily_budget must be at least 1")


@dataclass(frozen=True, slots=True)
class ResponderDeps:
    probe: Callable[[], FindingsDocument]
    runner: CommandRunner
    materials: MaterialStore
    store: RolloutStore
    ca: CaSource
    nodes: NodeResolver
    requestheader: RequestheaderReader
    findings: FindingSink
    now: Callable[[], datetime]
    sleep: Callable[[float], None]
    new_id: Callable[[], str]
    certificates: CertificateSource | None = None
    notifier: StepNotifier | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    action: Action
    message: str
    cluster: str | None = None
    rollout_id: str | None = None
    command_id: str | None = None
    findings: tuple[Finding, ...] = ()

    def to_json(self) -> dict[str, Json]:
        return {
            "action": self.action,
            "message": self.message,
            "cluster": self.cluster,
            "rollout_id": self.rollout_id,
            "command_id": self.command_id,
            "findings": [f.to_json() for f in self.findings],
        }


@dataclass(frozen=True, slots=True)
class Plan:
    cluster: str
    nodes: tuple[NodeRef, ...]
    failing: tuple[int, ...]
    strategy: Strategy
    common_name: str

    def to_json(self) -> dict[str, Json]:
        return {
            "nodes": [n.name for n in self.nodes],
            "order": [n.index for n in self.nodes],
            "failing": list(self.failing),
            "strategy": self.strategy,
            "common_name": self.common_name,
        }


def order_nodes(nodes: Sequence[NodeRef], failing: Sequence[int]) -> tuple[NodeRef, ...]:
    """Failing nodes first, then the others, each group by index (then name): deterministic."""
    bad = set(failing)
    return tuple(sorted(nodes, key=lambda n: (n.index not in bad, n.index, n.name)))


def failing_remediable(doc: FindingsDocument) -> list[Finding]:
    return [
        f
        for f in doc.findings
        if not f.ok and f.code in REMEDIABLE_CODES and f.remediable_by is Remedy.REISSUE_AGGREGATOR_CERT
    ]


def failing_indexes(findings: Sequence[Finding]) -> tuple[int, ...]:
    out: set[int] = set()
    for f in findings:
        for kind, name in ((f.target.kind, f.target.name), (f.target.where_kind, f.target.where_name)):
            if kind == "apiserver" and name is not None and name.isdigit():
                out.add(int(name))
    return tuple(sorted(out))


def verified(doc: FindingsDocument) -> bool:
    """The APIService is Available, node metrics flow and no proxy-cert finding is left."""
    return not any(
        not f.ok and (f.code in REMEDIABLE_CODES or f.code in VERIFY_BLOCKING) for f in doc.findings
    )


class Responder:
    def __init__(self, policy: ResponderPolicy, deps: ResponderDeps) -> None:
        self.policy = policy
        self.deps = deps

    # ------------------------------------------------------------------------------------ entry points

    def handle_event(self, detail: Mapping[str, Any], *, remaining_s: Callable[[], float]) -> Outcome:
        """A finding event's ``detail`` (a Finding plus ``cluster``)."""
        if self.policy.mode == "off":
            return Outcome("disabled", "responder mode is off")
        cluster = str(detail.get("cluster") or "unknown")
        claimed = detail.get("remediable_by")
        try:
            finding = Finding.from_json(detail)
        except (ValueError, KeyError, TypeError) as exc:
            if claimed is not None:
                code = detail.get("code")
                return self._refuse(
                    cluster,
                    None,
                    f"event claims remediable_by={claimed!s} for code {code!s}, which is not remediable",
                    {"reason": "not-remediable", "code": str(code)},
                    error=exc,
                )
            return Outcome("ignored", f"not a finding event: {type(exc).__name__}", cluster)
        if finding.remediable_by is not Remedy.REISSUE_AGGREGATOR_CERT or finding.status not in {
            Status.WARN,
            Status.FAIL,
        }:
            return Outcome("ignored", "finding is not a failing remediable finding", finding.cluster)
        return self._respond(finding, remaining_s)

    def handle_command_status(self, command_id: str, *, remaining_s: Callable[[], float]) -> Outcome:
        """SSM says the command changed status: continue the rollout it belongs to, if any."""
        rollout = self.deps.store.rollout_for_command(command_id)
        if rollout is None:
            return Outcome("ignored", "command belongs to no rollout", command_id=command_id)
        if rollout.phase in {RolloutPhase.REMEDIATED, RolloutPhase.FAILED}:
            return Outcome(
                "duplicate", "rollout already finished", rollout.cluster, rollout.rollout_id, command_id
            )
        return self._continue(rollout, remaining_s)

    # --------------------------------------------------------------------------------------- the guard

    def _respond(self, finding: Finding, remaining_s: Callable[[], float]) -> Outcome:
        """Guard order: claim -> lock -> covered by a rollout? -> re-check -> cooldown/budget -> plan -> CA.

        A rollout covers every node of the cluster, so the coverage test comes before the cooldown: the other
        nodes' findings of one failure (``expired-all`` gives one per node, handed over concurrently) are
        answered "covered by rollout X" and never refused for the cooldown that rollout started.
        """
        d, p, cluster = self.deps, self.policy, finding.cluster
        now = d.now()
        key = f"remediate#{finding.fingerprint}#{self._window(finding)}"
        if not d.store.claim(key, p.idempotency_window * 2):
            self._step(cluster, None, "duplicate", "finding already handled in this window", {"key": key})
            return Outcome("duplicate", "finding already handled in this window", cluster)
        owner = d.new_id()
        lock = f"remediation#{cluster}"
        if not d.store.acquire_lock(lock, owner, p.lock_ttl):
            return self._contended(finding, now)
        keep_lock = False
        try:
            recent = d.store.rollouts_since(cluster, now - timedelta(days=1))
            covering = _covering(recent, finding)
            if covering is not None:
                return self._covered(finding, covering)
            self._step(cluster, None, "recheck", "re-running the checks before acting", {})
            try:
                doc = d.probe()
            except MetricsGuardError as exc:
                return self._refuse(
                    cluster,
                    finding,
                    f"cannot re-check the failure: {exc}",
                    {"reason": "recheck-failed"},
                    error=exc,
                )
            still = failing_remediable(doc)
            if not still:
                self._step(cluster, None, "resolved", "the failure no longer holds: nothing to do", {})
                return Outcome("resolved", "the failure no longer holds", cluster)
            if p.mode == "auto":
                last = max((r.started_at for r in recent), default=None)
                if last is not None and now - last < p.cooldown:
                    return self._refuse(
                        cluster,
                        finding,
                        f"cooldown: last rollout started at {last.isoformat()}, cooldown {p.cooldown}",
                        {"reason": "cooldown", "last_rollout_at": last.isoformat()},
                    )
                if len(recent) >= p.daily_budget:
                    return self._refuse(
                        cluster,
                        finding,
                        f"daily budget spent: {len(recent)} rollouts in the last 24 h (max {p.daily_budget})",
                        {"reason": "budget", "rollouts_24h": len(recent)},
                    )
            try:
                plan = self._plan(cluster, still)
                ca = self._check_ca(cluster, now)
            except RemediationRefused as exc:
                return self._refuse(cluster, finding, str(exc), {"reason": "refused"})
            if p.mode == "dry-run":
                # One plan per cluster and window: the plan covers every node, like a rollout.
                if not d.store.claim(f"planned#{cluster}#{self._window(finding)}", p.idempotency_window * 2):
                    message = "a plan for this cluster was already published in this window"
                    self._step(cluster, None, "covered", message, {"trigger": _trigger(finding)})
                    return Outcome("covered", message, cluster)
                planned = self._finding(
                    cluster,
                    code=Code.REMEDIATION_PLANNED,
                    status=Status.WARN,
                    severity=Severity.LOW,
                    summary=f"dry-run: would reissue the proxy client certificate (CN={plan.common_name}) and roll "
                    f"{len(plan.nodes)} control-plane node(s) in order {[n.index for n in plan.nodes]}",
                    evidence={"mode": "dry-run", "plan": plan.to_json(), "trigger": _trigger(finding)},
                )
                self._publish(planned)
                self._step(cluster, None, "planned", planned.summary, {"plan": plan.to_json()})
                return Outcome("planned", planned.summary, cluster, findings=(planned,))
            outcome = self._execute(finding, plan, ca, owner, remaining_s)
            keep_lock = outcome.action == "pending"
            return outcome
        finally:
            if not keep_lock:
                d.store.release_lock(lock, owner)

    def _window(self, finding: Finding) -> int:
        return window_of(finding.observed_at, self.policy.idempotency_window)

    def _contended(self, finding: Finding, now: datetime) -> Outcome:
        """Another invocation holds the cluster's lock: its rollout (or plan) covers this node too."""
        active = [
            r
            for r in self.deps.store.rollouts_since(finding.cluster, now - self.policy.lock_ttl)
            if r.phase in {RolloutPhase.STARTING, RolloutPhase.RUNNING, RolloutPhase.VERIFYING}
        ]
        covering = max(active, key=lambda r: r.started_at, default=None) or _covering(
            self.deps.store.rollouts_since(finding.cluster, now - timedelta(days=1)), finding
        )
        if covering is not None:
            return self._covered(finding, covering)
        message = "another invocation holds the cluster's lock; what it does covers every node"
        self._step(finding.cluster, None, "busy", message, {"trigger": _trigger(finding)})
        return Outcome("busy", message, finding.cluster)

    def _covered(self, finding: Finding, rollout: Rollout) -> Outcome:
        message = f"covered by rollout {rollout.rollout_id} ({rollout.phase.value}), which rolls every node"
        if rollout.phase is RolloutPhase.REMEDIATED:
            message = f"already resolved: covered by rollout {rollout.rollout_id} (remediated)"
        self._step(
            finding.cluster,
            rollout.rollout_id,
            "covered",
            message,
            {"trigger": _trigger(finding), "command_id": rollout.command_id},
        )
        return Outcome("covered", message, finding.cluster, rollout.rollout_id, rollout.command_id)

    def _plan(self, cluster: str, failing: Sequence[Finding]) -> Plan:
        d = self.deps
        nodes = list(d.nodes.resolve(cluster))
        if not nodes:
            raise _Refusal("no control-plane node found for the cluster (the SSM target matches no instance)")
        indexes = failing_indexes(failing)
        allowed = d.requestheader.read(cluster).allowed_names
        current: str | None = None
        if d.certificates is not None:
            for material in d.certificates.read(nodes):
                cn = common_name_of(material.proxy_client_cert_pem)
                if cn and (not allowed or cn in allowed):
                    current = cn
                    break
        name = choose_common_name(current, allowed, default=self.policy.issue.default_common_name)
        return Plan(cluster, order_nodes(nodes, indexes), indexes, self.policy.strategy, name)

    def _check_ca(self, cluster: str, now: datetime) -> CaMaterial:
        d, p = self.deps, self.policy
        if not p.ca_secret_arn:
            raise _Refusal("no CA secret configured (CA_SECRET_ARN)")
        try:
            text = d.ca.secret_string(p.ca_secret_arn)
        except RemediationRefused:
            raise
        except MetricsGuardError as exc:  # the message names the secret, never its value
            raise _Refusal(f"the CA secret cannot be read: {exc}") from exc
        ca = parse_ca_secret(text)
        validate_ca(ca, d.requestheader.read(cluster).ca_pems, now=now, policy=p.issue)
        return ca

    # ------------------------------------------------------------------------------------- execution

    def _execute(
        self, finding: Finding, plan: Plan, ca: CaMaterial, owner: str, remaining_s: Callable[[], float]
    ) -> Outcome:
        d, p, cluster = self.deps, self.policy, plan.cluster
        now = d.now()
        issued = issue_proxy_client_cert(ca, common_name=plan.common_name, policy=p.issue, now=now)
        rollout_id = d.new_id()
        parameter = f"{p.parameter_prefix.rstrip('/')}/{cluster}/{rollout_id}"
        rollout = Rollout(
            rollout_id=rollout_id,
            cluster=cluster,
            fingerprint=finding.fingerprint,
            started_at=now,
            phase=RolloutPhase.STARTING,
            nodes=plan.nodes,
            parameter_name=parameter,
            cert_sha256=issued.sha256,
            strategy=plan.strategy,
            lock_owner=owner,
        )
        # Recorded before anything is sent: a crash after this point can never lead to a second command.
        d.store.save_rollout(rollout)
        planned = self._finding(
            cluster,
            code=Code.REMEDIATION_PLANNED,
            status=Status.WARN,
            severity=Severity.LOW,
            summary=f"rolling a new proxy client certificate (CN={plan.common_name}) to {len(plan.nodes)} node(s)",
            evidence={
                "mode": "auto",
                "plan": plan.to_json(),
                "rollout_id": rollout_id,
                "certificate": dict(issued.public_summary()),
                "trigger": _trigger(finding),
            },
        )
        self._publish(planned)
        self._step(cluster, rollout_id, "issued", "new certificate issued", dict(issued.public_summary()))
        command = RolloutCommand(
            rollout_id=rollout_id,
            cluster=cluster,
            nodes=plan.nodes,
            parameter_name=parameter,
            expected_sha256=issued.sha256,
            strategy=plan.strategy,
            layout=p.layout,
            kubeconfig_path=p.kubeconfig_path,
            apiserver_url=p.apiserver_url,
            node_timeout_s=p.node_timeout_s,
            reload_wait_s=p.reload_wait_s,
        )
        try:
            d.materials.put(parameter, issued.bundle_b64())
            command_id = d.runner.start(command)
        except MetricsGuardError as exc:
            self._delete_material(rollout)
            failed = rollout.with_(phase=RolloutPhase.FAILED, finished_at=d.now())
            d.store.save_rollout(failed)
            return self._finish_failed(failed, f"could not start the rollout: {exc}", None)
        rollout = rollout.with_(phase=RolloutPhase.RUNNING, command_id=command_id)
        d.store.save_rollout(rollout)
        self._step(
            cluster,
            rollout_id,
            "started",
            "command sent",
            {"command_id": command_id, "order": [n.index for n in plan.nodes]},
        )
        return self._continue(rollout, remaining_s)

    def _continue(self, rollout: Rollout, remaining_s: Callable[[], float]) -> Outcome:
        d, p = self.deps, self.policy
        if rollout.command_id is None:
            # Sent or not, we cannot know: never send a second command. Report and stop.
            failed = rollout.with_(phase=RolloutPhase.FAILED, finished_at=d.now())
            d.store.save_rollout(failed)
            self._delete_material(rollout)
            return self._finish_failed(
                failed, "the rollout was interrupted before its command id was saved", None
            )
        budget = max(0.0, remaining_s() - p.margin_s)
        progress = d.runner.wait(rollout.command_id, rollout.nodes, timeout_s=budget)
        self._report_nodes(rollout, progress)
        rollout = rollout.with_(outcomes=progress.nodes)
        if not progress.done:
            d.store.save_rollout(rollout)
            self._step(
                rollout.cluster,
                rollout.rollout_id,
                "waiting",
                "command still running: continuing from its SSM status-change event",
                {"command_id": rollout.command_id},
            )
            return Outcome(
                "pending", "command still running", rollout.cluster, rollout.rollout_id, rollout.command_id
            )
        # Only one invocation finishes a rollout (the status event may race the invocation that polls).
        if not d.store.claim(f"finish#{rollout.rollout_id}", p.lock_ttl):
            return Outcome(
                "duplicate",
                "another invocation is finishing this rollout",
                rollout.cluster,
                rollout.rollout_id,
                rollout.command_id,
            )
        self._delete_material(rollout)
        if not progress.succeeded:
            failed = rollout.with_(phase=RolloutPhase.FAILED, finished_at=d.now())
            d.store.save_rollout(failed)
            return self._finish_failed(failed, _failure_summary(progress), progress)
        rollout = rollout.with_(phase=RolloutPhase.VERIFYING)
        d.store.save_rollout(rollout)
        self._step(
            rollout.cluster, rollout.rollout_id, "verifying", "re-probing until the Metrics API works", {}
        )
        ok, last = self._verify(remaining_s)
        if not ok:
            failed = rollout.with_(phase=RolloutPhase.FAILED, finished_at=d.now())
            d.store.save_rollout(failed)
            left = sorted({f"{f.code.value}@{f.target}" for f in last.findings if not f.ok}) if last else []
            return self._finish_failed(
                failed,
                f"every node installed the certificate but verification failed: {', '.join(left)}",
                progress,
            )
        done = rollout.with_(phase=RolloutPhase.REMEDIATED, finished_at=d.now())
        d.store.save_rollout(done)
        remediated = self._finding(
            rollout.cluster,
            code=Code.REMEDIATED,
            status=Status.OK,
            severity=Severity.INFO,
            summary=f"proxy client certificate reissued on {len(progress.nodes)} node(s); Metrics API verified",
            evidence=self._evidence(done, progress),
        )
        self._publish(remediated)
        self._step(rollout.cluster, rollout.rollout_id, "remediated", remediated.summary, {})
        d.store.release_lock(f"remediation#{rollout.cluster}", rollout.lock_owner)
        return Outcome(
            "remediated",
            remediated.summary,
            rollout.cluster,
            rollout.rollout_id,
            rollout.command_id,
            (remediated,),
        )

    def _verify(self, remaining_s: Callable[[], float]) -> tuple[bool, FindingsDocument | None]:
        d, p = self.deps, self.policy
        limit = min(p.verify_timeout_s, max(0.0, remaining_s() - p.margin_s))
        start = d.now()
        last: FindingsDocument | None = None
        while True:
            try:
                last = d.probe()
            except MetricsGuardError as exc:
                log.warning("verification probe failed", extra={"error": type(exc).__name__})
            else:
                if verified(last):
                    return True, last
            if (d.now() - start).total_seconds() + p.verify_interval_s > limit:
                return False, last
            d.sleep(p.verify_interval_s)

    # -------------------------------------------------------------------------------------- reporting

    def _finish_failed(self, rollout: Rollout, reason: str, progress: CommandProgress | None) -> Outcome:
        d = self.deps
        finding = self._finding(
            rollout.cluster,
            code=Code.REMEDIATION_FAILED,
            status=Status.FAIL,
            severity=Severity.HIGH,
            summary=f"remediation failed: {reason}",
            evidence=self._evidence(rollout, progress) | {"reason": reason},
        )
        self._publish(finding)
        self._step(rollout.cluster, rollout.rollout_id, "failed", finding.summary, {})
        d.store.release_lock(f"remediation#{rollout.cluster}", rollout.lock_owner)
        return Outcome(
            "failed", finding.summary, rollout.cluster, rollout.rollout_id, rollout.command_id, (finding,)
        )

    def _refuse(
        self,
        cluster: str,
        finding: Finding | None,
        reason: str,
        evidence: dict[str, Json],
        *,
        error: BaseException | None = None,
    ) -> Outcome:
        refused = self._finding(
            cluster,
            code=Code.REMEDIATION_REFUSED,
            status=Status.WARN,
            severity=Severity.MEDIUM,
            summary=f"remediation refused: {reason}",
            evidence=evidence
            | ({"trigger": _trigger(finding)} if finding else {})
            | {"mode": self.policy.mode},
        )
        self._publish(refused)
        self._step(
            cluster, None, "refused", refused.summary, {"error": type(error).__name__ if error else None}
        )
        return Outcome("refused", refused.summary, cluster, findings=(refused,))

    def _report_nodes(self, rollout: Rollout, progress: CommandProgress) -> None:
        seen = {(o.node.index, o.state) for o in rollout.outcomes}
        for outcome in progress.nodes:
            if (outcome.node.index, outcome.state) in seen or outcome.state is InvocationState.PENDING:
                continue
            reason = outcome.result.reason if outcome.result else (outcome.detail or "")
            self._step(
                rollout.cluster,
                rollout.rollout_id,
                "node",
                f"{outcome.node.name}: {outcome.state.value} {reason}".strip(),
                outcome.to_json(),
            )

    def _evidence(self, rollout: Rollout, progress: CommandProgress | None) -> dict[str, Json]:
        nodes = progress.nodes if progress is not None else rollout.outcomes
        return {
            "mode": self.policy.mode,
            "rollout_id": rollout.rollout_id,
            "command_id": rollout.command_id,
            "strategy": rollout.strategy,
            "cert_sha256": rollout.cert_sha256,
            "nodes": [o.to_json() for o in nodes],
            "trigger_fingerprint": rollout.fingerprint,
        }

    def _finding(
        self,
        cluster: str,
        *,
        code: Code,
        status: Status,
        severity: Severity,
        summary: str,
        evidence: dict[str, Json],
    ) -> Finding:
        return Finding(
            check=CHECK,
            status=status,
            severity=severity,
            code=code,
            target=TARGET,
            summary=summary,
            cluster=cluster,
            observed_at=self.deps.now(),
            evidence=evidence,
            remedy=None,
            remediable_by=None,
        )

    def _publish(self, finding: Finding) -> None:
        result = self.deps.findings.publish([finding])
        if result.failed:
            log.warning(
                "remediation finding not delivered",
                extra={"code": finding.code.value, "failures": list(result.failed)},
            )

    def _step(
        self, cluster: str, rollout_id: str | None, step: str, message: str, details: dict[str, Json]
    ) -> None:
        record: dict[str, Json] = {"rollout_id": rollout_id, "step": step, "message": message} | details
        log.info("remediation step", extra={"cluster": cluster, "rollout_id": rollout_id, "step": step})
        self.deps.store.audit(cluster, f"remediation.{step}", record)
        if self.deps.notifier is not None:
            self.deps.notifier.step(RolloutStep(cluster, rollout_id, step, message, details))

    def _delete_material(self, rollout: Rollout) -> None:
        try:
            self.deps.materials.delete(rollout.parameter_name)
        except MetricsGuardError as exc:
            self._step(
                rollout.cluster,
                rollout.rollout_id,
                "cleanup-failed",
                f"could not delete the material parameter: {exc}",
                {"parameter": rollout.parameter_name},
            )


class _Refusal(RemediationRefused):
    pass


def window_of(observed_at: datetime, window: timedelta) -> int:
    """The idempotency window a finding falls in (also the Powertools key of the handler)."""
    return int(observed_at.timestamp() // window.total_seconds())


def _covering(recent: Sequence[Rollout], finding: Finding) -> Rollout | None:
    """The latest rollout that started at or after the finding was observed: it acted on this failure
    (whatever node the finding names, a rollout rolls every node), so the finding needs nothing more."""
    after = [r for r in recent if r.cluster == finding.cluster and r.started_at >= finding.observed_at]
    return max(after, key=lambda r: r.started_at, default=None)


def _trigger(finding: Finding | None) -> dict[str, Json]:
    if finding is None:
        return {}
    return {"code": finding.code.value, "target": str(finding.target), "fingerprint": finding.fingerprint}


def _failure_summary(progress: CommandProgress) -> str:
    parts = []
    for o in progress.nodes:
        if o.state is InvocationState.SUCCESS:
            continue
        reason = o.result.reason if o.result else (o.detail or "")
        parts.append(f"{o.node.name} {o.state.value}{': ' + reason if reason else ''}")
    return f"command {progress.command_id} {progress.state.value}; " + ("; ".join(parts) or "no node output")


__all__ = [
    "Mode",
    "NodeOutcome",
    "Outcome",
    "Plan",
    "Responder",
    "ResponderDeps",
    "ResponderPolicy",
    "order_nodes",
    "parse_mode",
    "verified",
    "window_of",
]
