"""SecretReader: cluster credentials JSON validated; errors name the secret, never its value."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError
from botocore.exceptions import ClientError

from metrics_guard.adapters.secrets import ClusterCredentials, SecretReader, secret_label
from metrics_guard.errors import CredentialsError

ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:metrics-guard/clusters/prod-AbCdEf"
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


class FakeProvider:
    def __init__(self, value: object = None, error: str | None = None) -> None:
        self.value = value
        self.error = error

    def get(self, name: str, max_age: int | None = None, **_: Any) -> object:
        if self.error:
            cause = ClientError({"Error": {"Code": self.error, "Message": "no"}}, "GetSecretValue")
            raise GetParameterError(str(cause)) from cause
        return self.value


def reader(value: object = None, error: str | None = None) -> SecretReader:
    return SecretReader(FakeProvider(value, error))  # type: ignore[arg-type]


def test_label_drops_the_random_suffix() -> None:
    assert secret_label(ARN) == "metrics-guard/clusters/prod"


def test_credentials() -> None:
    creds = reader(json.dumps({"token": " abc.def ", "ca_pem": PEM})).cluster_credentials(ARN)
    assert creds == ClusterCredentials(token="abc.def", ca_pem=PEM)
    assert "abc.def" not in repr(creds)


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (None, "ResourceNotFoundException", "unreadable: ResourceNotFoundException"),
        (None, "AccessDeniedException", "unreadable: AccessDeniedException"),
        ("token-in-plain-text", None, "is not JSON"),
        (json.dumps(["x"]), None, "must be a JSON object"),
        (json.dumps({"ca_pem": PEM}), None, "has no token field"),
        (json.dumps({"token": "", "ca_pem": PEM}), None, "token must be a non-empty string"),
        (json.dumps({"token": "t0ken-value", "ca_pem": "nope"}), None, "ca_pem is not a PEM"),
    ],
    ids=["missing", "denied", "not-json", "not-object", "no-token", "empty-token", "bad-ca"],
)
def test_bad_secrets(value: object, error: str | None, message: str) -> None:
    with pytest.raises(CredentialsError, match=message) as caught:
        reader(value, error).cluster_credentials(ARN)
    assert "metrics-guard/clusters/prod" in str(caught.value)
    assert "t0ken-value" not in str(caught.value) and "token-in-plain-text" not in str(caught.value)
