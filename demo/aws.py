"""The application's AWS resources in a moto server, the local Slack receiver, and calling the Lambda
handlers under ``functions/`` with events as EventBridge delivers them (read back from SQS targets)."""

from __future__ import annotations

import contextlib
import http.server
import importlib.util
import io
import json
import os
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType, TracebackType
from typing import TYPE_CHECKING, Any

from metrics_guard.model import Json

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_ssm import SSMClient

REPO = Path(__file__).resolve().parent.parent
NAME = "metrics-guard-demo"
ACCOUNT = "123456789012"  # moto's default account
BUS = f"{NAME}-findings"
TABLE = f"{NAME}-state"
REGISTRY_PARAMETER = f"/{NAME}/clusters"
CLUSTER_SECRET = f"{NAME}/clusters/devcluster"
CA_SECRET = f"{NAME}/requestheader-ca"
SLACK_SECRET = f"{NAME}/slack-webhook"
NOTIFIER_PATTERN: dict[str, Json] = {"source": ["metrics-guard"], "detail-type": ["Metrics Guard Finding"]}
RESPONDER_PATTERN: dict[str, Json] = {
    "source": ["metrics-guard"],
    "detail-type": ["Metrics Guard Finding"],
    "detail": {"remediable_by": ["reissue-aggregator-cert"], "status": ["warn", "fail"]},
}


# ----------------------------------------------------------------------------------------- Slack receiver


class SlackReceiver:
    """A loopback HTTP server that accepts Slack incoming-webhook posts and keeps their JSON payloads."""

    def __init__(self) -> None:
        self.payloads: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                try:
                    data = json.loads(body)
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver._lock:
                    receiver.payloads.append(data if isinstance(data, dict) else {"raw": data})
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/services/T000/B000/demo"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def take(self) -> list[dict[str, Any]]:
        with self._lock:
            out, self.payloads = self.payloads, []
        return out

    def __enter__(self) -> SlackReceiver:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.shutdown()
        self._server.server_close()


def slack_text(payload: dict[str, Any]) -> str:
    """One line from a Block Kit payload: the header and the first section."""
    parts: list[str] = []
    for block in payload.get("blocks", []):
        text = block.get("text") if isinstance(block, dict) else None
        if isinstance(text, dict) and isinstance(text.get("text"), str):
            parts.append(text["text"].replace("\n", " "))
        if len(parts) == 2:
            break
    return " | ".join(parts) or str(payload.get("text", ""))


# ---------------------------------------------------------------------------------------------- resources


@dataclass
class Resources:
    events: EventBridgeClient
    sqs: SQSClient
    sns: SNSClient
    ddb: DynamoDBClient
    secrets: SecretsManagerClient
    ssm: SSMClient
    topic_arn: str = ""
    queues: dict[str, str] = field(default_factory=dict)  # name -> url
    secret_arns: dict[str, str] = field(default_factory=dict)

    @classmethod
    def clients(cls) -> Resources:
        from metrics_guard.adapters import aws_clients

        aws_clients.reset()
        import boto3

        return cls(
            events=aws_clients.events(),
            sqs=boto3.client("sqs"),
            sns=aws_clients.sns(),
            ddb=aws_clients.dynamodb(),
            secrets=aws_clients.secretsmanager(),
            ssm=aws_clients.ssm(),
        )

    def _queue(self, name: str) -> str:
        url = self.sqs.create_queue(QueueName=name)["QueueUrl"]
        self.queues[name] = url
        return str(
            self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        )

    def create(self, *, ca_secret: str, cluster_secret: str, slack_url: str, registry: str) -> None:
        """Bus, rules -> SQS queues (the functions' event sources), topic -> SQS subscription, table,
        secrets, registry parameter."""
        self.events.create_event_bus(Name=BUS)
        for rule, pattern in (("notifier", NOTIFIER_PATTERN), ("responder", RESPONDER_PATTERN)):
            arn = self._queue(f"{NAME}-{rule}")
            self.events.put_rule(Name=f"{NAME}-{rule}", EventBusName=BUS, EventPattern=json.dumps(pattern))
            self.events.put_targets(
                Rule=f"{NAME}-{rule}", EventBusName=BUS, Targets=[{"Id": rule, "Arn": arn}]
            )
        self.topic_arn = self.sns.create_topic(Name=f"{NAME}-alerts")["TopicArn"]
        inbox = self._queue(f"{NAME}-sns-inbox")
        self.sns.subscribe(TopicArn=self.topic_arn, Protocol="sqs", Endpoint=inbox)
        self.ddb.create_table(
            TableName=TABLE,
            KeySchema=[
                {"AttributeName": "pk", "KeyType": "HASH"},
                {"AttributeName": "sk", "KeyType": "RANGE"},
            ],
            AttributeDefinitions=[
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
        self.ddb.update_time_to_live(
            TableName=TABLE, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
        )
        for name, value in (
            (CA_SECRET, ca_secret),
            (CLUSTER_SECRET, cluster_secret),
            (SLACK_SECRET, slack_url),
        ):
            self.secret_arns[name] = self.secrets.create_secret(Name=name, SecretString=value)["ARN"]
        self.ssm.put_parameter(Name=REGISTRY_PARAMETER, Value=registry, Type="String")

    def function_env(self, mode: str = "auto") -> dict[str, str]:
        """The functions' environment, as the template sets it."""
        return {
            "EVENT_BUS_NAME": BUS,
            "TOPIC_ARN": self.topic_arn,
            "TABLE_NAME": TABLE,
            "REGISTRY_PARAMETER": REGISTRY_PARAMETER,
            "SLACK_WEBHOOK_SECRET_ARN": self.secret_arns[SLACK_SECRET],
            "CA_SECRET_ARN": self.secret_arns[CA_SECRET],
            "RESPONDER_MODE": mode,
            "POWERTOOLS_SERVICE_NAME": NAME,
            "POWERTOOLS_LOG_LEVEL": "ERROR",
            "POWERTOOLS_METRICS_DISABLED": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "MetricsGuard",
        }

    def drain(self, queue: str, *, wait_s: int = 1) -> list[dict[str, Any]]:
        """Every message now in a queue (bodies as JSON), deleted once read."""
        url = self.queues[f"{NAME}-{queue}"]
        out: list[dict[str, Any]] = []
        while True:
            response = self.sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_s)
            messages = response.get("Messages", [])
            if not messages:
                return out
            for message in messages:
                body = json.loads(message["Body"])
                if isinstance(body, dict) and "detail-type" in body:
                    # moto's SQS target omits the envelope's ``account``; EventBridge always sends it.
                    body.setdefault("account", ACCOUNT)
                out.append(body)
                self.sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            wait_s = 0


# ----------------------------------------------------------------------------------------------- handlers


class LambdaContext:
    """Enough of the Lambda context for Powertools' decorators and the handlers."""

    def __init__(self, function: str, timeout_s: float = 900.0) -> None:
        import time

        self.function_name = f"{NAME}-{function}"
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{self.function_name}"
        self.log_stream_name = "demo"
        self._deadline = time.monotonic() + timeout_s

    def get_remaining_time_in_millis(self) -> int:
        import time

        return max(0, int((self._deadline - time.monotonic()) * 1000))


_HANDLERS: dict[str, ModuleType] = {}


def handler_module(function: str) -> ModuleType:
    """``functions/<function>/app.py``, imported once (after the environment is set)."""
    if function not in _HANDLERS:
        path = REPO / "functions" / function / "app.py"
        spec = importlib.util.spec_from_file_location(f"demo_function_{function}", path)
        if spec is None or spec.loader is None:
            raise ImportError(f"cannot load {path}")
        module = importlib.util.module_from_spec(spec)
        with quiet():
            spec.loader.exec_module(module)
        _HANDLERS[function] = module
    return _HANDLERS[function]


@contextlib.contextmanager
def quiet() -> Iterator[io.StringIO]:
    """Powertools' structured logs and EMF blobs are for CloudWatch, not for the demo's timeline."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        yield buffer


def invoke(function: str, event: dict[str, Any], timeout_s: float = 900.0) -> dict[str, Any]:
    module = handler_module(function)
    with quiet():
        result = module.lambda_handler(event, LambdaContext(function, timeout_s))
    return dict(result) if isinstance(result, dict) else {"result": result}


def set_env(values: dict[str, str]) -> None:
    os.environ.update(values)
    from metrics_guard import wiring
    from metrics_guard.adapters import aws_clients

    aws_clients.reset()
    wiring.reset()
