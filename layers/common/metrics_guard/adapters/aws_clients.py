"""boto3 clients, built once per cold start (one cached factory per service).

``boto3`` is imported here, lazily, so that a function that never talks to a service never pays for it.
The endpoint follows the SDK's own configuration (``AWS_ENDPOINT_URL``, ``AWS_ENDPOINT_URL_<SERVICE>``),
which is how the tests point every client at a moto server on loopback.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from botocore.config import Config
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_ec2 import EC2Client
    from mypy_boto3_events import EventBridgeClient
    from mypy_boto3_secretsmanager import SecretsManagerClient
    from mypy_boto3_sns import SNSClient
    from mypy_boto3_ssm import SSMClient
    from mypy_boto3_sts import STSClient


def _config() -> Config:
    from botocore.config import Config

    return Config(connect_timeout=5, read_timeout=15, retries={"mode": "standard", "max_attempts": 4})


@cache
def events() -> EventBridgeClient:
    import boto3

    return boto3.client("events", config=_config())


@cache
def sns() -> SNSClient:
    import boto3

    return boto3.client("sns", config=_config())


@cache
def dynamodb() -> DynamoDBClient:
    import boto3

    return boto3.client("dynamodb", config=_config())


@cache
def secretsmanager() -> SecretsManagerClient:
    import boto3

    return boto3.client("secretsmanager", config=_config())


@cache
def ssm() -> SSMClient:
    import boto3

    return boto3.client("ssm", config=_config())


@cache
def ec2() -> EC2Client:
    import boto3

    return boto3.client("ec2", config=_config())


@cache
def sts() -> STSClient:
    import boto3

    return boto3.client("sts", config=_config())


def reset() -> None:
    """Forget every client (tests that change the endpoint between cases)."""
    for factory in (events, sns, dynamodb, secretsmanager, ssm, ec2, sts):
        factory.cache_clear()
