"""Composition root of the Lambda functions: real adapters built once per cold start (cached).

Each factory imports what only it needs, so that a function's cold start pays for its own service alone
(the probes never import the notifier's or the responder's modules).

Handlers call these factories; tests build the same objects from fakes instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from metrics_guard.config import settings
from metrics_guard.errors import ConfigError
from metrics_guard.service.jobs import ProbeJob

if TYPE_CHECKING:
    from collections.abc import Callable

    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig

    from metrics_guard.model import FindingsDocument
    from metrics_guard.service.notify import Notifier
    from metrics_guard.service.probe import ProbeKind, ProbePolicy, ProbeTargets
    from metrics_guard.service.respond import RespondDeps


def utcnow() -> datetime:
    return datetime.now(UTC)


def _require(value: str | None, name: str) -> str:
    if not value:
        raise ConfigError(f"{name} is not set")
    return value


@cache
def probe_job() -> ProbeJob:
    from metrics_guard.adapters import aws_clients
    from metrics_guard.adapters.connect import AwsClusterConnector
    from metrics_guard.adapters.eventbridge import EventBridgeSink
    from metrics_guard.adapters.params import RegistryReader, ssm_provider
    from metrics_guard.adapters.secrets import SecretReader, secrets_provider
    from metrics_guard.ports import TransportLimits
    from metrics_guard.service.probe import ProbePolicy, run_probe
    from metrics_guard.service.run import RunLimits

    cfg = settings()
    return ProbeJob(
        registry=RegistryReader(ssm_provider(), _require(cfg.registry_parameter, "REGISTRY_PARAMETER")),
        connector=AwsClusterConnector(
            SecretReader(secrets_provider()),
            limits=TransportLimits(),
            read_material_document=cfg.read_material_document,
        ),
        probe=run_probe,
        sink=EventBridgeSink(aws_clients.in_background(aws_clients.events), cfg.event_bus_name),
        policy=ProbePolicy(warn_days=cfg.warn_days, fail_days=cfg.fail_days),
        limits=RunLimits(
            concurrency=cfg.probe_concurrency, margin_s=cfg.probe_margin_s, max_per_cluster_s=cfg.probe_max_s
        ),
        now=utcnow,
    )


@cache
def notifier() -> Notifier:
    from metrics_guard.adapters import aws_clients
    from metrics_guard.adapters.dynamodb import DynamoTable
    from metrics_guard.adapters.secrets import SecretReader, secrets_provider
    from metrics_guard.adapters.slack import SlackWebhook, webhook_url_from_secret
    from metrics_guard.adapters.sns import SnsNotifier
    from metrics_guard.service.notify import Notifier, NotifyPolicy

    cfg = settings()
    table = DynamoTable(
        aws_clients.dynamodb(),
        _require(cfg.table_name, "TABLE_NAME"),
        now=utcnow,
        audit_retention=timedelta(days=cfg.audit_retention_days),
    )
    slack = None
    if cfg.slack_webhook_secret_arn:
        reader = SecretReader(secrets_provider())
        arn = cfg.slack_webhook_secret_arn
        slack = SlackWebhook(lambda: webhook_url_from_secret(reader.secret_string(arn)))
    return Notifier(
        store=table,
        sns=SnsNotifier(aws_clients.sns(), cfg.topic_arn) if cfg.topic_arn else None,
        slack=slack,
        audit=table,
        policy=NotifyPolicy(
            reminder=timedelta(hours=cfg.reminder_hours),
            flap_window=timedelta(minutes=cfg.flap_window_minutes),
            flap_threshold=cfg.flap_threshold,
        ),
        now=utcnow,
    )


def _late_run_probe(
    targets: ProbeTargets,
    policy: ProbePolicy,
    *,
    kind: ProbeKind,
    now: Callable[[], datetime],
    deadline_s: float,
) -> FindingsDocument:
    """``run_probe`` looked up at call time, so that a test may stand a fake probe in for the real one."""
    from metrics_guard.service import probe as probe_module

    return probe_module.run_probe(targets, policy, kind=kind, now=now, deadline_s=deadline_s)


@cache
def responder() -> RespondDeps:
    """The responder's service: a Responder per cluster on the real adapters (see docs/responder.md).

    Raises ``ConfigError`` for an unknown mode (the handler also checks it at import: the function refuses
    to start) and, in auto mode, for a missing remediation document.
    """
    import time
    import uuid

    from metrics_guard.adapters import aws_clients
    from metrics_guard.adapters.connect import AwsClusterConnector
    from metrics_guard.adapters.dynamodb_rollouts import DynamoRolloutStore
    from metrics_guard.adapters.eventbridge import EventBridgeSink
    from metrics_guard.adapters.params import RegistryReader, ssm_provider
    from metrics_guard.adapters.requestheader import KubeRequestheaderReader
    from metrics_guard.adapters.secrets import SecretReader, secrets_provider
    from metrics_guard.adapters.ssm_runner import Ec2NodeResolver, SsmCommandRunner, SsmMaterialStore
    from metrics_guard.adapters.step_notifier import SnsStepNotifier
    from metrics_guard.ports import TransportLimits
    from metrics_guard.service import probe as probe_module
    from metrics_guard.service.cluster_responders import ClusterResponders, SharedDeps
    from metrics_guard.service.remediate import ResponderPolicy, parse_mode
    from metrics_guard.service.respond import RespondDeps

    cfg = settings()
    mode = parse_mode(cfg.responder_mode)
    document = cfg.remediation_document
    if mode == "auto" and not document:
        raise ConfigError("REMEDIATION_DOCUMENT is not set (required in auto mode)")
    policy = ResponderPolicy(
        mode=mode,
        ca_secret_arn=cfg.ca_secret_arn or "",
        cooldown=timedelta(hours=cfg.cooldown_hours),
        daily_budget=cfg.daily_budget,
        strategy=cfg.remediation_strategy,
        kubeconfig_path=cfg.node_kubeconfig,
        verify_timeout_s=cfg.verify_timeout_s,
        verify_interval_s=cfg.verify_interval_s,
        parameter_prefix=cfg.material_parameter_prefix.rstrip("/"),
    )
    store = DynamoRolloutStore(
        aws_clients.dynamodb(),
        _require(cfg.table_name, "TABLE_NAME"),
        now=utcnow,
        audit_retention=timedelta(days=cfg.audit_retention_days),
    )
    secrets = SecretReader(secrets_provider())
    nodes = Ec2NodeResolver(aws_clients.ec2)
    shared = SharedDeps(
        policy=policy,
        registry=RegistryReader(ssm_provider(), _require(cfg.registry_parameter, "REGISTRY_PARAMETER")),
        connector=AwsClusterConnector(
            secrets, limits=TransportLimits(), read_material_document=cfg.read_material_document, nodes=nodes
        ),
        probe=_late_run_probe,
        probe_policy=probe_module.ProbePolicy(warn_days=cfg.warn_days, fail_days=cfg.fail_days),
        probe_deadline_s=cfg.probe_max_s,
        planes=nodes,
        requestheader_for=KubeRequestheaderReader,
        runner=SsmCommandRunner(aws_clients.ssm(), document or "unset"),
        materials=SsmMaterialStore(aws_clients.ssm(), kms_key_id=cfg.material_kms_key_id),
        store=store,
        ca=secrets,
        findings=EventBridgeSink(aws_clients.events(), cfg.event_bus_name),
        now=utcnow,
        sleep=time.sleep,
        new_id=lambda: uuid.uuid4().hex[:16],
        notifier=SnsStepNotifier(aws_clients.sns(), cfg.topic_arn) if cfg.topic_arn else None,
    )
    return RespondDeps(
        mode=mode,
        remediation_document=document,
        responders=ClusterResponders(shared),
        store=store,
        window=policy.idempotency_window,
    )


@cache
def idempotency() -> tuple[IdempotencyConfig, BasePersistenceLayer]:
    """Config and persistence layer for handlers that must not act twice on one event.

    The key is the ``id`` member of what the handler hands over: the responder passes the finding's
    fingerprint + window (``service.respond.idempotency_key``), not the EventBridge event id.
    """
    from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig

    from metrics_guard.adapters import aws_clients
    from metrics_guard.adapters.dynamodb import idempotency_layer

    cfg = settings()
    layer = idempotency_layer(_require(cfg.table_name, "TABLE_NAME"), aws_clients.dynamodb())
    return IdempotencyConfig(event_key_jmespath="id", expires_after_seconds=24 * 3600), layer


def reset() -> None:
    for factory in (probe_job, notifier, responder, idempotency, settings):
        clear = getattr(factory, "cache_clear", None)  # absent when a test replaced the factory
        if clear is not None:
            clear()
