"""The demo: a real local control plane, the application's AWS resources in moto, one scenario end to end.

healthy probe -> fault -> probe -> diagnosis -> findings on the bus -> rules' SQS targets -> notifier
function -> SNS (read back from its SQS subscription) and Slack (local receiver) -> responder in auto mode
(service/remediate.Responder: local runner of the real node script, DynamoDB rollout store on moto, the CA
secret from moto) -> per-node progress -> verification -> next probe -> resolved notification.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from demo import aws
from demo.local import LocalCluster, patch_noderoot_rebase, utcnow
from demo.moto import MotoServer
from demo.ui import Timeline
from metrics_guard.model import Code, Finding, FindingsDocument, Remedy, Status
from metrics_guard.ports import KubeTransport, NodeRef
from metrics_guard.service.remediate import Outcome, verified
from metrics_guard.service.remediate_ports import RolloutStep, Strategy

CLUSTER = "devcluster"
CERT_FILE = "etc/ssl/kubernetes/metrics-server.pem"
Expect = Literal["remediated", "refused", "failed", "diagnosis"]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    title: str
    faults: tuple[tuple[str, int | None], ...]
    code: Code
    expect: Expect
    strategy: Strategy = "reload-then-restart"
    wrong_ca: bool = False
    detect_timeout_s: float = 120.0


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario(
            "expired-one",
            "proxy client certificate expired on apiserver 2 of 3",
            (("proxy-cert-expired", 2),),
            Code.PROXY_CERT_EXPIRED,
            "remediated",
        ),
        Scenario(
            "expired-all",
            "proxy client certificate expired on all three apiservers",
            (("proxy-cert-expired", None),),
            Code.PROXY_CERT_EXPIRED,
            "remediated",
        ),
        Scenario(
            "wrong-cn",
            "proxy client certificate with a CN outside requestheader-allowed-names",
            (("proxy-cert-wrong-cn", None),),
            Code.PROXY_CERT_CN_NOT_ALLOWED,
            "remediated",
        ),
        Scenario(
            "ca-mismatch",
            "expired certificate, but the CA secret holds another CA: the responder must refuse",
            (("proxy-cert-expired", 2),),
            Code.PROXY_CERT_EXPIRED,
            "refused",
            wrong_ca=True,
        ),
        Scenario(
            "rollback",
            "expired certificate on apiserver 2, whose kube-apiserver will not come back after a restart",
            (("proxy-cert-expired", 2), ("apiserver-restart-fails", 2)),
            Code.PROXY_CERT_EXPIRED,
            "failed",
            strategy="restart",
        ),
        Scenario(
            "no-route",
            "packets from the apiservers to metrics-server silently dropped (no overlay route)",
            (("no-route-to-metrics-server", None),),
            Code.AGGREGATOR_NETWORK_TIMEOUT,
            "diagnosis",
            detect_timeout_s=240.0,
        ),
    )
}


class DemoError(Exception):
    """An expectation of the scenario did not hold (reported in one line)."""


# ------------------------------------------------------------------------------------------------ helpers


def _kubectl(cluster: Any, *args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [cluster.bin("kubectl"), f"--kubeconfig={cluster.kubeconfig('admin')}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def service_account_token(cluster: Any) -> str | None:
    """A bearer token for the probe (what the cluster credentials secret holds): a ServiceAccount bound to
    the devcluster's metrics-guard roles. None when the cluster cannot mint one."""
    for args in (
        ("create", "serviceaccount", "metrics-guard", "-n", "kube-system"),
        (
            "create",
            "clusterrolebinding",
            "metrics-guard-sa",
            "--clusterrole=metrics-guard",
            "--serviceaccount=kube-system:metrics-guard",
        ),
        (
            "create",
            "rolebinding",
            "metrics-guard-sa",
            "-n",
            "kube-system",
            "--role=metrics-guard",
            "--serviceaccount=kube-system:metrics-guard",
        ),
    ):
        done = _kubectl(cluster, *args)
        if done.returncode != 0 and "already exists" not in done.stderr.lower():
            return None
    token = _kubectl(cluster, "create", "token", "metrics-guard", "-n", "kube-system", "--duration=2h")
    text = token.stdout.strip()
    return text if token.returncode == 0 and text else None


def other_ca() -> tuple[str, str]:
    """A CA that is not the cluster's requestheader CA (the ca-mismatch scenario)."""
    from datetime import UTC, datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "front-proxy-ca")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def _clip(text: str, limit: int = 118) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class StaticNodes:
    def __init__(self, nodes: Sequence[NodeRef]) -> None:
        self._nodes = tuple(nodes)

    def resolve(self, cluster: str) -> Sequence[NodeRef]:
        return self._nodes


class LiveRunner:
    """The command runner, polled in short slices so that each node's progress shows as it happens."""

    def __init__(self, inner: Any, tl: Timeline) -> None:
        self._inner = inner
        self._tl = tl
        self._seen: dict[int, str] = {}

    def start(self, command: Any) -> str:
        command_id: str = self._inner.start(command)
        return command_id

    def wait(self, command_id: str, nodes: Sequence[NodeRef], *, timeout_s: float) -> Any:
        end = time.monotonic() + timeout_s
        while True:
            progress = self._inner.wait(
                command_id, nodes, timeout_s=min(1.0, max(0.0, end - time.monotonic()))
            )
            for outcome in progress.nodes:
                state = outcome.state.value
                if self._seen.get(outcome.node.index) == state or state == "Pending":
                    continue
                self._seen[outcome.node.index] = state
                reason = outcome.result.reason if outcome.result else (outcome.detail or "")
                style = {"Success": "ok", "InProgress": None, "NotRun": "warn"}.get(state, "fail")
                self._tl.line(
                    f"{self._tl.elapsed().strip():>6} {'node':<10} {outcome.node.name}: {state} {_clip(reason, 80)}",
                    style,
                    indent=2,
                )
            if progress.done or time.monotonic() >= end:
                return progress


class TimelineSteps:
    """The responder's StepNotifier: each step as a line of the timeline."""

    SHOWN: ClassVar[frozenset[str]] = frozenset(
        {
            "recheck",
            "planned",
            "issued",
            "started",
            "node",
            "verifying",
            "remediated",
            "failed",
            "refused",
        }
    )

    def __init__(self, tl: Timeline, on_step: Callable[[RolloutStep], None] | None = None) -> None:
        self._tl = tl
        self._on_step = on_step
        self._lock = threading.Lock()

    def step(self, step: RolloutStep) -> None:
        with self._lock:
            if self._on_step is not None:
                self._on_step(step)
            if step.step == "node":
                return  # shown live by LiveRunner
            if step.step not in self.SHOWN:
                self._tl.line(f"{step.step}: {_clip(step.message)}", "dim", indent=2)
                return
            text = step.message
            if step.step == "issued":
                d = step.details
                text = (
                    f"new certificate CN={d.get('common_name')} sha256={str(d.get('sha256'))[:16]}… "
                    f"valid until {str(d.get('not_after'))[:10]} (key only in the material store)"
                )
            elif step.step == "started":
                text = f"command {step.details.get('command_id')} sent, order {step.details.get('order')}"
            style = {"node": None, "remediated": "ok", "failed": "fail", "refused": "warn"}.get(step.step)
            if step.step == "node":
                state = str(step.details.get("state"))
                style = "ok" if state == "Success" else ("warn" if state == "NotRun" else "fail")
            self._tl.line(
                f"{self._tl.elapsed().strip():>6} {step.step:<10} {_clip(text, 100)}", style, indent=2
            )


# --------------------------------------------------------------------------------------------- the demo


@dataclass
class Demo:
    scenario: Scenario
    tl: Timeline = field(default_factory=Timeline)
    problems: list[str] = field(default_factory=list)

    def run(self) -> int:
        from devcluster.api import Cluster

        sc, tl = self.scenario, self.tl
        tl.phase(f"metrics-guard demo · scenario {sc.name}: {sc.title}")
        with contextlib.ExitStack() as stack:
            cluster = Cluster(progress=lambda _m: None)
            log_dir = Path(cluster.home)
            tl.phase("set-up")
            tl.line(f"devcluster up ({cluster.home}) …")
            status = cluster.up(apiservers=3, nodes=3, pods_per_node=5)
            if status.get("faults"):
                tl.line("healing faults left from an earlier run …")
                cluster.heal()
                status = cluster.status()
            local = LocalCluster.from_status({**status, "home": str(cluster.home)})
            tl.line(f"control plane: 3 apiservers behind {local.front_url}, 3 nodes, metrics-server", "ok")
            stack.callback(self._heal, cluster)
            log_dir.mkdir(parents=True, exist_ok=True)
            moto = stack.enter_context(MotoServer(log=log_dir / "moto.log"))
            aws.set_env(moto.env())
            tl.line(f"moto server on {moto.url} (pid {moto.pid})", "ok")
            slack = stack.enter_context(aws.SlackReceiver())
            tl.line(f"Slack webhook receiver on {slack.url.rsplit('/services', 1)[0]}", "ok")
            ca_cert, ca_key = other_ca() if sc.wrong_ca else local.requestheader_ca()
            token = service_account_token(cluster)
            front_ca = local.ca_file.read_text()
            if token is None:
                tl.line(
                    "could not mint a ServiceAccount token: probing with the metrics-guard kubeconfig", "warn"
                )
            registry = [
                {
                    "name": CLUSTER,
                    "endpoint": local.front_url,
                    "layout": "binary",
                    "credentials_secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:placeholder",
                    "control_plane": {
                        "instances": [
                            {"instance_id": f"i-{n.index:017x}", "apiserver_endpoint": n.apiserver_url}
                            for n in local.nodes
                        ]
                    },
                }
            ]
            res = aws.Resources.clients()
            res.create(
                ca_secret=json.dumps({"cert_pem": ca_cert, "key_pem": ca_key}),
                cluster_secret=json.dumps({"token": token or "unused", "ca_pem": front_ca}),
                slack_url=slack.url,
                registry="[]",
            )
            registry[0]["credentials_secret_arn"] = res.secret_arns[aws.CLUSTER_SECRET]
            res.ssm.put_parameter(
                Name=aws.REGISTRY_PARAMETER, Value=json.dumps(registry), Type="String", Overwrite=True
            )
            aws.set_env(res.function_env("auto"))
            tl.line(
                "moto: bus + 2 rules -> SQS (notifier, responder), SNS topic -> SQS inbox, DynamoDB table, "
                "3 secrets (requestheader CA"
                + (": a DIFFERENT CA" if sc.wrong_ca else " from the node root")
                + ", cluster credentials, Slack webhook), registry parameter",
                "ok",
            )
            self.local, self.res, self.slack, self.cluster = local, res, slack, cluster
            self.transport = self._transports(token)
            return self._scenario()
        return 1  # pragma: no cover - the with block returns

    # -------------------------------------------------------------------------------------- plumbing

    def _transports(self, token: str | None) -> Callable[[str | None], KubeTransport]:
        """Transports built from the registry entry and the credentials secret (the Lambda's path)."""
        from demo.local import kube_transport
        from metrics_guard.adapters import kube
        from metrics_guard.adapters.connect import AwsClusterConnector
        from metrics_guard.adapters.params import RegistryReader, ssm_provider
        from metrics_guard.adapters.secrets import SecretReader, secrets_provider
        from metrics_guard.ports import TransportLimits

        if token is None:
            return lambda url: kube_transport(self.local, url)
        entry = RegistryReader(ssm_provider(), aws.REGISTRY_PARAMETER).load().clusters[0]
        creds = AwsClusterConnector(
            SecretReader(secrets_provider()), limits=TransportLimits(), read_material_document=None
        ).credentials(entry)
        assert creds.token is not None and creds.ca_pem is not None
        secret_token, ca_pem = creds.token, creds.ca_pem
        self.tl.line(
            f"registry entry {entry.name!r} ({entry.endpoint}, {len(entry.control_plane.instances) if entry.control_plane else 0} "
            "control-plane nodes); probe credentials: ServiceAccount token from the secret",
            "ok",
        )
        return lambda url: kube.transport_from_token(url or entry.endpoint, secret_token, ca_pem)

    def probe(self) -> FindingsDocument:
        from demo.local import probe, probe_targets

        return probe(probe_targets(self.local, CLUSTER, transport=self.transport))

    def publish(self, findings: Sequence[Finding]) -> int:
        from metrics_guard.adapters import aws_clients
        from metrics_guard.adapters.eventbridge import EventBridgeSink

        result = EventBridgeSink(aws_clients.events(), aws.BUS).publish(findings)
        if result.failed:
            self.problems.append(f"{len(result.failed)} finding(s) not delivered to the bus")
        return result.sent

    def deliver(self) -> tuple[int, int]:
        """Notifier events from the rule's SQS target -> the notifier function; then what it sent."""
        events = self.res.drain("notifier")
        spoke = 0
        for event in events:
            result = aws.invoke("notifier", event)
            if not result.get("ok"):
                self.problems.append(f"notifier rejected an event: {result.get('detail')}")
            spoke += sum(1 for o in result.get("outcomes", []) if o.get("notice"))
        sns = self.res.drain("sns-inbox")
        slack = self.slack.take()
        tl = self.tl
        tl.line(f"notifier: {len(events)} event(s) from its rule's queue, {spoke} state change(s) told")
        for message in sns:
            tl.line(f"SNS   {message.get('Subject')}", "bold", indent=2)
        for payload in slack:
            tl.line(f"Slack {_clip(aws.slack_text(payload), 112)}", "bold", indent=2)
        return len(sns), len(slack)

    def show(self, doc: FindingsDocument, *, all_ok_line: str) -> None:
        bad = [f for f in doc.findings if not f.ok]
        if not bad:
            self.tl.status("ok", f"{len(doc.findings)} findings, all ok: {all_ok_line}")
            return
        self.tl.line(f"{len(doc.findings)} findings, {len(bad)} not ok:")
        for f in sorted(bad, key=lambda f: (f.status.value != "fail", str(f.target))):
            mark = " [remediable]" if f.remediable_by is Remedy.REISSUE_AGGREGATOR_CERT else ""
            self.tl.status(
                f.status.value, _clip(f"{f.code.value} {f.target}{mark}: {f.summary}", 112), indent=2
            )

    def diagnose(self, doc: FindingsDocument) -> list[Finding]:
        causes = [f for f in doc.findings if not f.ok and f.code is self.scenario.code]
        where = sorted({str(f.target) for f in causes if f.target.kind in {"cert", "apiserver"}})
        self.tl.line(
            f"diagnosis: {self.scenario.code.value}"
            + (f" on {', '.join(where)}" if where else "")
            + (f" — {causes[0].summary}" if causes else ""),
            "fail",
        )
        remedy = next((f.remedy for f in causes if f.remedy), None)
        if remedy:
            self.tl.line(f"remedy: {_clip(remedy, 130)}", "bold")
        return causes

    # -------------------------------------------------------------------------------------- scenario

    def _scenario(self) -> int:
        sc, tl = self.scenario, self.tl
        tl.phase("healthy probe (run_probe: front endpoint + each apiserver directly + node roots)")
        patch_noderoot_rebase()
        doc = self.probe()
        self.show(doc, all_ok_line="the Metrics API works through every apiserver")
        if not all(f.ok for f in doc.findings):
            raise DemoError("the cluster is not healthy before the fault")
        sent = self.publish(doc.findings)
        tl.line(f"{sent} findings on the bus")
        self.deliver()
        before = {n.index: self.local.hashes(n.index) for n in self.local.nodes}

        tl.phase("fault")
        tl.mark("fault")
        for name, apiserver in sc.faults:
            self.cluster.break_fault(name, apiserver=apiserver)
            tl.line(f"devcluster break {name}" + (f" --apiserver {apiserver}" if apiserver else ""), "warn")
        if any(name.startswith("proxy-cert") for name, _ in sc.faults):
            before = {n.index: self.local.hashes(n.index) for n in self.local.nodes}

        tl.phase("probe")
        deadline = time.monotonic() + sc.detect_timeout_s
        while True:
            doc = self.probe()
            if any(not f.ok and f.code is sc.code for f in doc.findings) or time.monotonic() > deadline:
                break
            tl.line(
                f"not yet visible ({', '.join(sorted({f.code.value for f in doc.findings if not f.ok})) or 'all ok'}); probing again in 5 s",
                "dim",
            )
            time.sleep(5)
        tl.mark("detected")
        self.show(doc, all_ok_line="")
        causes = self.diagnose(doc)
        if not causes:
            raise DemoError(f"the probe did not report {sc.code.value}")

        tl.phase("findings -> bus -> rules -> notifier -> SNS + Slack")
        sent = self.publish(doc.findings)
        tl.line(f"{sent} findings on the bus ({aws.BUS})")
        sns, slack = self.deliver()
        tl.mark("notified")
        if sns == 0 or slack == 0:
            self.problems.append("no SNS or Slack message for the failure")
        events = self.res.drain("responder")
        tl.line(
            f"responder rule: {len(events)} event(s) (remediable_by = reissue-aggregator-cert, status warn/fail)"
        )

        outcome: Outcome | None = None
        if sc.expect == "diagnosis":
            if events:
                self.problems.append("the responder rule matched a non-remediable failure")
            tl.line("nothing to repair: the responder is not involved", "ok")
        else:
            if not events:
                raise DemoError("no remediable finding reached the responder's queue")
            outcome = self.respond(events, before)
            tl.phase("notifications of the remediation")
            self.deliver()

        tl.phase("next probe")
        doc = self.probe()
        self.show(doc, all_ok_line="the Metrics API works again through every apiserver")
        if sc.expect == "remediated":
            if verified(doc) and all(f.ok for f in doc.findings):
                self.publish(doc.findings)
                self.deliver()
                tl.mark("resolved")
            else:
                self.problems.append("the cluster is not healthy after the remediation")
        self._expectations(outcome, before)
        return self._finish()

    def respond(self, events: list[dict[str, Any]], before: dict[int, dict[str, str]]) -> Outcome:
        sc, tl = self.scenario, self.tl
        tl.phase("responder (auto mode)")
        try:
            handled = aws.invoke("responder", events[0])
            tl.line(
                f"functions/responder handler: action={handled.get('action')} "
                "(service/respond.py records the event; the Responder below does the work)",
                "dim",
            )
        except Exception as exc:  # noqa: BLE001 - informative only, the demo goes on
            tl.line(f"functions/responder handler not usable here: {type(exc).__name__}", "dim")
        responder = self._responder()
        start = time.monotonic()
        remaining = lambda: 900.0 - (time.monotonic() - start)  # noqa: E731
        outcomes: list[Outcome] = []
        lock = threading.Lock()

        def one(event: dict[str, Any]) -> None:
            result = responder.handle_event(event["detail"], remaining_s=remaining)
            with lock:
                outcomes.append(result)

        # EventBridge invokes the function once per event, concurrently: the cluster lock lets one act.
        threads = [threading.Thread(target=one, args=(e,), daemon=True) for e in events]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=1200)
        acted = [o for o in outcomes if o.action not in {"busy", "duplicate", "ignored"}]
        for o in outcomes:
            if o.action in {"busy", "duplicate"}:
                tl.line(f"another event: {o.action} ({o.message})", "dim", indent=2)
        if len(acted) != 1:
            raise DemoError(f"expected one acting responder invocation, got {[o.action for o in outcomes]}")
        outcome = acted[0]
        if outcome.action in {"remediated", "failed"}:
            tl.mark("verified")
        style = {"remediated": "ok", "failed": "fail", "refused": "warn"}.get(outcome.action, "warn")
        code = outcome.findings[0].code.value if outcome.findings else "-"
        tl.status(style, f"{code}: {_clip(outcome.message, 100)}")
        after = {n.index: self.local.hashes(n.index) for n in self.local.nodes}
        if sc.expect in {"refused", "failed"}:
            for index in sorted(before):
                same = before[index] == after[index]
                digest = before[index][CERT_FILE][:16]
                now = after[index][CERT_FILE][:16]
                tl.line(
                    f"apiserver-{index} files before {digest}… after {now}… "
                    + ("byte-identical" if same else "CHANGED"),
                    "ok" if same else "warn",
                    indent=2,
                )
        self.after = after
        self.runs = list(self._runner_executions)
        return outcome

    def _responder(self) -> Any:
        from metrics_guard.adapters import aws_clients
        from metrics_guard.adapters.dynamodb_rollouts import DynamoRolloutStore
        from metrics_guard.adapters.eventbridge import EventBridgeSink
        from metrics_guard.adapters.local_runner import LocalCommandRunner, LocalMaterialStore
        from metrics_guard.adapters.noderoot import NodeRootSource
        from metrics_guard.adapters.requestheader import KubeRequestheaderReader
        from metrics_guard.adapters.secrets import SecretReader, secrets_provider
        from metrics_guard.service.remediate import Responder, ResponderDeps, ResponderPolicy

        local, tl = self.local, self.tl

        def on_step(step: RolloutStep) -> None:
            if step.step == "verifying":
                tl.mark("fixed")

        materials = LocalMaterialStore()
        runner = LocalCommandRunner(
            materials,
            kubeconfig=str(local.kubeconfig_admin),
            restart_command=local.restart_command(),
            extra_args=local.runner_args(),
            env=local.env(),
        )
        self._runner_executions = runner.executions
        self.store = DynamoRolloutStore(aws_clients.dynamodb(), aws.TABLE, now=utcnow)
        policy = ResponderPolicy(
            mode="auto",
            ca_secret_arn=self.res.secret_arns[aws.CA_SECRET],
            strategy=self.scenario.strategy,
            node_timeout_s=120,
            reload_wait_s=45,
            verify_timeout_s=180.0,
            verify_interval_s=5.0,
        )
        deps = ResponderDeps(
            probe=self.probe,
            runner=LiveRunner(runner, tl),
            materials=materials,
            store=self.store,
            ca=SecretReader(secrets_provider()),
            nodes=StaticNodes(local.nodes),
            requestheader=KubeRequestheaderReader(self.transport(None)),
            findings=EventBridgeSink(aws_clients.events(), aws.BUS),
            now=utcnow,
            sleep=time.sleep,
            new_id=lambda: uuid.uuid4().hex[:12],
            certificates=NodeRootSource(),
            notifier=TimelineSteps(tl, on_step),
        )
        tl.line(
            f"Responder: mode auto, strategy {policy.strategy}, one node at a time, "
            f"rollout store DynamoDB {aws.TABLE} (moto), CA from Secrets Manager (moto)",
            "dim",
        )
        return Responder(policy, deps)

    def _expectations(self, outcome: Outcome | None, before: dict[int, dict[str, str]]) -> None:
        sc = self.scenario
        if sc.expect == "diagnosis":
            return
        assert outcome is not None
        wanted = {"remediated": "remediated", "refused": "refused", "failed": "failed"}[sc.expect]
        if outcome.action != wanted:
            self.problems.append(f"responder outcome {outcome.action}, expected {wanted}")
        if sc.expect == "refused":
            if self.after != before:
                self.problems.append("a node root changed although the responder refused")
            if self.runs:
                self.problems.append("the node script ran although the responder refused")
        if sc.expect == "failed":
            if self.after.get(2) != before.get(2):
                self.problems.append("apiserver-2's files were not restored byte-identical")
            if [i for _, i in self.runs] != [2]:
                self.problems.append(
                    f"the rollout did not stop at apiserver-2 (ran on {[i for _, i in self.runs]})"
                )

    def _heal(self, cluster: Any) -> None:
        self.tl.phase("heal")
        try:
            healed = cluster.heal()
        except Exception as exc:  # noqa: BLE001 - reported, the exit code says it
            self.problems.append(f"heal failed: {_clip(str(exc), 80)}")
            self.tl.status("fail", f"devcluster heal failed: {_clip(str(exc), 80)}")
            return
        self.tl.line(f"devcluster heal: {', '.join(healed) if healed else 'nothing to undo'}", "dim")
        self.healthy_after_heal = not cluster.health_problems()

    def _finish(self) -> int:
        tl, sc = self.tl, self.scenario
        tl.phase("timeline")
        for a, b, label in (
            ("fault", "detected", "fault -> detected"),
            ("detected", "notified", "detected -> notified"),
            ("notified", "fixed", "notified -> fixed (rollout done)"),
            ("fixed", "verified", "fixed -> verified"),
            ("verified", "resolved", "verified -> resolved notification"),
            ("fault", "resolved", "fault -> resolved (total)"),
        ):
            if a in tl.marks and b in tl.marks:
                tl.line(f"{label:<36} {tl.since(a, b):>8}")
        tl.line(f"{'demo total':<36} {tl.elapsed().strip():>8}")
        if self.problems:
            for p in dict.fromkeys(self.problems):
                tl.status("fail", p)
            return 1
        tl.status("ok", f"scenario {sc.name}: as expected")
        return 0


def run(name: str) -> int:
    demo = Demo(SCENARIOS[name])
    code = demo.run()
    if getattr(demo, "healthy_after_heal", False) is False:
        demo.tl.status("fail", "the cluster is not healthy at the end")
        return 1
    demo.tl.status("ok", "cluster healthy at the end")
    return code


__all__ = ["SCENARIOS", "DemoError", "Scenario", "Status", "run"]
