"""responder: remediable failing findings and SSM command status changes -> service/respond.py (guard,
plan, reissue the proxy client certificate, roll it through SSM, verify). Mode off | dry-run | auto."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from metrics_guard import lambda_entry
from metrics_guard.model import Json
from metrics_guard.observability import logger as make_logger
from metrics_guard.observability import metrics as make_metrics
from metrics_guard.observability import tracer as make_tracer

lambda_entry.check_responder_settings()  # an unknown RESPONDER_MODE: ConfigError, the function refuses to start
logger = make_logger()
tracer = make_tracer()
metrics = make_metrics()


@logger.inject_lambda_context(clear_state=True)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics(capture_cold_start_metric=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Json]:
    return lambda_entry.respond(event, context, logger=logger, metrics=metrics)
