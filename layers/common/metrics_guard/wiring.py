"""Composition root of the Lambda functions: real adapters built once per cold start (cached).

Handlers call these factories; tests build the same objects from fakes instead.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from functools import cache
from typing import TYPE_CHECKING

from metrics_guard.config import settings
from metrics_guard.errors import ConfigError
from metrics_guard.service.jobs import ProbeJob
from metrics_guard.service.notify import Notifier, NotifyPolicy
from metrics_guard.service.respond import ResponderDeps

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.idempotency import BasePersistenceLayer, IdempotencyConfig


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
        sink=EventBridgeSink(aws_clients.events(), cfg.event_bus_name),
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


@cache
def responder() -> ResponderDeps:
    from metrics_guard.adapters import aws_clients
    from metrics_guard.adapters.dynamodb import DynamoTable

    cfg = settings()
    table = DynamoTable(
        aws_clients.dynamodb(),
        _require(cfg.table_name, "TABLE_NAME"),
        now=utcnow,
        audit_retention=timedelta(days=cfg.audit_retention_days),
    )
    return ResponderDeps(audit=table, mode=cfg.responder_mode, remediation_document=cfg.remediation_document)


@cache
def idempotency() -> tuple[IdempotencyConfig, BasePersistenceLayer]:
    """Config and persistence layer for handlers that must not act twice on one event (key: event id)."""
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
