"""boto3 clients, built once per cold start (one cached factory per service).

``boto3`` is imported here, lazily, so that a function that never talks to a service never pays for it.
The endpoint follows the SDK's own configuration (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_<SERVICE>``),
which is how the tests point every client at a moto server on loopback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future
from functools import cache
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient


T = TypeVar("T")
#: botocore does not promise that one session builds clients safely from several threads: one at a time.
_creating = threading.Lock()


def _client(service: str) -> object:
    import boto3

    with _creating:
        return boto3.client(service, config=_config())  # type: ignore[call-overload]


def in_background(factory: Callable[[], T]) -> Callable[[], T]:
    """Start ``factory`` in a thread now; the returned getter waits for its client (or raises its error).

    A probe builds the EventBridge client this way: it is made while the probe waits on the network,
    instead of before it (about 10 ms of a cold start's CPU, spent while the process would be idle)."""
    result: Future[T] = Future()

    def build() -> None:
        try:
            result.set_result(factory())
        except BaseException as exc:  # noqa: BLE001 - handed to whoever asks for the client
            result.set_exception(exc)

    threading.Thread(target=build, name=f"client-{getattr(factory, '__name__', 'aws')}", daemon=True).start()
    return result.result


def _config() -> Config:
    from botocore.config import Config

    return Config(connect_timeout=5, read_timeout=15, retries={"mode": "standard", "max_attempts": 4})


@cache
def events() -> EventBridgeClient:
    return _client("events")  # type: ignore[return-value]


@cache
def sns() -> SNSClient:
    return _client("sns")  # type: ignore[return-value]


@cache
def dynamodb() -> DynamoDBClient:
    return _client("dynamodb")  # type: ignore[return-value]


@cache
def secretsmanager() -> SecretsManagerClient:
    return _client("secretsmanager")  # type: ignore[return-value]


@cache
def ssm() -> SSMClient:
    return _client("ssm")  # type: ignore[return-value]


@cache
def ec2() -> EC2Client:
    return _client("ec2")  # type: ignore[return-value]


@cache
def sts() -> STSClient:
    return _client("sts")  # type: ignore[return-value]


def reset() -> None:
    """Forget every client (tests that change the endpoint between cases)."""
    for factory in (events, sns, dynamodb, secretsmanager, ssm, ec2, sts):
        factory.cache_clear()
