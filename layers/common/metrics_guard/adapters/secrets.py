"""Secrets Manager through Powertools Parameters (cached for ``max_age`` seconds per cold start).

A cluster's credentials secret is JSON ``{"token": "...", "ca_pem": "-----BEGIN CERTIFICATE-----..."}``
(for EKS ``token`` is absent: it is minted from STS). Errors name the secret (never its value) and carry
the service's error code.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from metrics_guard.errors import CredentialsError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

MAX_AGE_S: Final = 300


@dataclass(frozen=True, slots=True)
class ClusterCredentials:
    token: str | None = field(repr=False)
    ca_pem: str | None = field(repr=False)


def secret_label(arn: str) -> str:
    """The secret's name (last ARN part without the random suffix): safe to log."""
    name = arn.rsplit(":", 1)[-1]
    head, sep, tail = name.rpartition("-")
    return head if sep and len(tail) == 6 else name


def _error_code(exc: BaseException) -> str | None:
    cause = exc.__cause__ or exc.__context__
    response = getattr(cause, "response", None)
    if isinstance(response, dict):
        code = response.get("Error", {}).get("Code")
        return str(code) if code else None
    return None


class SecretReader:
    def __init__(self, provider: SecretsProvider, *, max_age_s: int = MAX_AGE_S) -> None:
        self._provider = provider
        self._max_age_s = max_age_s

    def secret_string(self, arn: str) -> str:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = self._provider.get(arn, max_age=self._max_age_s)
        except GetParameterError as exc:
            code = _error_code(exc)
            raise CredentialsError(f"secret {secret_label(arn)} unreadable: {code or 'error'}") from exc
        if isinstance(value, bytes):
            value = value.decode()
        if not isinstance(value, str) or not value:
            raise CredentialsError(f"secret {secret_label(arn)} is empty or binary")
        return value

    def cluster_credentials(self, arn: str, *, token_required: bool = True) -> ClusterCredentials:
        text = self.secret_string(arn)
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            # from None: the decode error object holds the whole secret text (exc.doc).
            raise CredentialsError(f"secret {secret_label(arn)} is not JSON") from None
        if not isinstance(data, dict):
            raise CredentialsError(f"secret {secret_label(arn)} must be a JSON object")
        token = data.get("token")
        ca_pem = data.get("ca_pem")
        if token is not None and (not isinstance(token, str) or not token.strip()):
            raise CredentialsError(f"secret {secret_label(arn)} field token must be a non-empty string")
        if token_required and token is None:
            raise CredentialsError(f"secret {secret_label(arn)} has no token field")
        if ca_pem is not None and (not isinstance(ca_pem, str) or "BEGIN CERTIFICATE" not in ca_pem):
            raise CredentialsError(f"secret {secret_label(arn)} field ca_pem is not a PEM certificate")
        return ClusterCredentials(token=token.strip() if token else None, ca_pem=ca_pem)


def secrets_provider() -> SecretsProvider:
    from aws_lambda_powertools.utilities.parameters import SecretsProvider

    from metrics_guard.adapters import aws_clients

    return SecretsProvider(boto3_client=aws_clients.secretsmanager())
