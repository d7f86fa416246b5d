"""What the thin handlers under ``functions/`` hand their event to: parse into a typed model, call one
service, shape the result. Bad input never raises (an async invoke would retry it): it becomes a structured
error result, one log line and the InvalidEvents metric. Nothing here logs event bodies or secrets.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from aws_lambda_powertools.metrics import MetricUnit
from pydantic import ValidationError

from metrics_guard import observability as obs
from metrics_guard.config import settings
from metrics_guard.errors import ConfigError, InputError
from metrics_guard.model import Json
from metrics_guard.request_model import DiagnoseRequest, ProbeRequest, validation_summary
from metrics_guard.service.measure import Gauge

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from metrics_guard.model import Finding
    from metrics_guard.service.respond import CommandStatus, FindingClaim


class PowertoolsMetricsWriter:
    """``MetricsWriter`` on Powertools: counters on the shared Metrics, gauges as their own EMF documents."""

    def __init__(self, metrics: Metrics, namespace: str = obs.NAMESPACE) -> None:
        self._metrics = metrics
        self._namespace = namespace

    def count(self, name: str, value: float = 1.0) -> None:
        self._metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)

    def gauge(self, gauge: Gauge) -> None:
        obs.emit_gauge(
            gauge.name, gauge.value, MetricUnit(gauge.unit), dict(gauge.dimensions), namespace=self._namespace
        )


def rejected(
    logger: Logger, metrics: Metrics, reason: str, *, kind: str = "invalid-event"
) -> dict[str, Json]:
    logger.warning("event rejected", extra={"reason": reason, "error": kind})
    metrics.add_metric(name=obs.INVALID_EVENTS, unit=MetricUnit.Count, value=1)
    return {"ok": False, "error": kind, "detail": reason}


def _remaining(context: LambdaContext) -> float:
    return context.get_remaining_time_in_millis() / 1000.0


def probe(
    event: Mapping[str, Any],
    context: LambdaContext,
    *,
    kind: Literal["metrics", "certs"],
    logger: Logger,
    metrics: Metrics,
) -> dict[str, Json]:
    logger.set_correlation_id(context.aws_request_id)
    try:
        request = ProbeRequest.model_validate(event)
    except ValidationError as exc:
        return rejected(logger, metrics, validation_summary(exc))
    if request.probe != kind:
        return rejected(logger, metrics, f"this function runs the {kind} probe, not {request.probe}")
    from metrics_guard import wiring

    try:
        job = wiring.probe_job()
    except ConfigError as exc:
        return rejected(logger, metrics, str(exc), kind="configuration")
    writer = PowertoolsMetricsWriter(metrics, settings().metrics_namespace)
    result = job.run(request.clusters, kind=kind, remaining_s=lambda: _remaining(context), metrics=writer)
    obs.emit_gauge(
        obs.PROBE_RUNS,
        1,
        MetricUnit.Count,
        {obs.PROBE_DIMENSION: kind},
        namespace=settings().metrics_namespace,
    )
    logger.info(
        "probe finished", extra={"probe": kind, "status": result["status"], "published": result["published"]}
    )
    return {"ok": True, **result}


def diagnose(
    event: Mapping[str, Any], context: LambdaContext, *, logger: Logger, metrics: Metrics
) -> dict[str, Json]:
    logger.set_correlation_id(context.aws_request_id)
    try:
        request = DiagnoseRequest.model_validate(event)
    except ValidationError as exc:
        return rejected(logger, metrics, validation_summary(exc))
    from metrics_guard import wiring

    try:
        job = wiring.probe_job()
    except ConfigError as exc:
        return rejected(logger, metrics, str(exc), kind="configuration")
    writer = PowertoolsMetricsWriter(metrics, settings().metrics_namespace)
    result = job.run(
        request.clusters,
        kind="all",
        remaining_s=lambda: _remaining(context),
        metrics=writer,
        include_documents=True,
    )
    return {"documents": result["documents"], "published": result["published"], "status": result["status"]}


def _findings(event: Mapping[str, Any]) -> list[Finding]:
    # The event models (and Powertools' parser models under them) only where they are used: not in the probes.
    from metrics_guard.events_model import FindingEvent, SnsFindingEvent

    if "Records" in event:
        return [d.finding() for d in SnsFindingEvent.model_validate(event).findings()]
    return [FindingEvent.model_validate(event).detail.finding()]


def notify(
    event: Mapping[str, Any], context: LambdaContext, *, logger: Logger, metrics: Metrics
) -> dict[str, Json]:
    if isinstance(event.get("id"), str):
        logger.set_correlation_id(event["id"])
    try:
        findings = _findings(event)
    except (ValidationError, InputError) as exc:
        reason = validation_summary(exc) if isinstance(exc, ValidationError) else str(exc)
        return rejected(logger, metrics, reason)
    from metrics_guard import wiring

    try:
        notifier = wiring.notifier()
    except ConfigError as exc:
        return rejected(logger, metrics, str(exc), kind="configuration")
    metrics.add_metric(name=obs.FINDINGS_RECEIVED, unit=MetricUnit.Count, value=len(findings))
    outcomes = [notifier.handle(f) for f in findings]  # AwsError from SNS propagates: retried, then DLQ
    for outcome in outcomes:
        if outcome.notice is not None:
            metrics.add_metric(name=obs.NOTIFICATIONS_SENT, unit=MetricUnit.Count, value=1)
            logger.info(
                "notified",
                extra={
                    "fingerprint": outcome.fingerprint,
                    "notice": outcome.notice.value,
                    "slack": outcome.slack,
                },
            )
        if outcome.slack == "failed":
            metrics.add_metric(name=obs.SLACK_FAILURES, unit=MetricUnit.Count, value=1)
    return {"ok": True, "outcomes": [o.to_json() for o in outcomes]}


def check_responder_settings() -> None:
    """At import of the responder's handler: an unknown mode (or any invalid setting) raises ``ConfigError``,
    so the function refuses to start instead of acting on a guess."""
    from metrics_guard.service.remediate import parse_mode

    parse_mode(settings().responder_mode)


def _responder_event(event: Mapping[str, Any]) -> FindingClaim | CommandStatus:
    from metrics_guard.events_model import FindingEvent, SsmCommandStatusEvent
    from metrics_guard.model import parse_rfc3339
    from metrics_guard.service.respond import CommandStatus, FindingClaim

    if event.get("source") == "aws.ssm":
        status = SsmCommandStatusEvent.model_validate(event).detail
        return CommandStatus(status.command_id, status.document_name, status.status)
    detail = FindingEvent.model_validate(event).detail
    try:
        observed_at = parse_rfc3339(detail.observed_at)
    except ValueError as exc:
        raise InputError("detail.observed_at: not an RFC 3339 time") from exc
    # Handed over as it arrived: the Responder refuses an inconsistent claim (REMEDIATION_REFUSED).
    return FindingClaim(detail.cluster, detail.fingerprint, observed_at, detail.model_dump(mode="json"))


def respond(
    event: Mapping[str, Any], context: LambdaContext, *, logger: Logger, metrics: Metrics
) -> dict[str, Json]:
    from metrics_guard.service.respond import idempotency_key
    from metrics_guard.service.respond import respond as respond_service

    if isinstance(event.get("id"), str):
        logger.set_correlation_id(event["id"])
    try:
        parsed = _responder_event(event)
    except (ValidationError, InputError) as exc:
        reason = validation_summary(exc) if isinstance(exc, ValidationError) else str(exc)
        return rejected(logger, metrics, reason)
    from metrics_guard import wiring

    try:
        deps = wiring.responder()
        config, store = wiring.idempotency()
    except ConfigError as exc:
        return rejected(logger, metrics, str(exc), kind="configuration")
    from aws_lambda_powertools.utilities.idempotency import idempotent_function
    from aws_lambda_powertools.utilities.idempotency.exceptions import IdempotencyAlreadyInProgressError

    config.register_lambda_context(context)

    @idempotent_function(  # type: ignore[untyped-decorator]
        data_keyword_argument="key", config=config, persistence_store=store
    )
    def once(key: dict[str, str]) -> dict[str, Json]:
        return respond_service(parsed, deps, remaining_s=lambda: _remaining(context))

    metrics.add_metric(name=obs.RESPONDER_EVENTS, unit=MetricUnit.Count, value=1)
    key = idempotency_key(parsed, deps.window)
    try:
        result: dict[str, Json] = once(key={"id": key})
    except IdempotencyAlreadyInProgressError:
        # Another invocation is acting on this very finding (or command status) right now.
        result = {"action": "duplicate", "message": "another invocation is handling this event"}
    logger.info(
        "responder event handled",
        extra={"action": result.get("action"), "cluster": result.get("cluster"), "key": key},
    )
    return {"ok": True, **result}
