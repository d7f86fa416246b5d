"""The cluster registry from an SSM parameter (String or SecureString), through Powertools Parameters."""

from __future__ import annotations

from typing import TYPE_CHECKING, Final

from metrics_guard.config import Registry, parse_registry
from metrics_guard.errors import ConfigError

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

MAX_AGE_S: Final = 60


class RegistryReader:
    def __init__(self, provider: SSMProvider, parameter_name: str, *, max_age_s: int = MAX_AGE_S) -> None:
        self._provider = provider
        self._name = parameter_name
        self._max_age_s = max_age_s

    def load(self) -> Registry:
        from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

        try:
            value = self._provider.get(self._name, max_age=self._max_age_s, decrypt=True)
        except GetParameterError as exc:
            raise ConfigError(f"cluster registry parameter {self._name} unreadable") from exc
        if isinstance(value, bytes):
            value = value.decode()
        if not isinstance(value, str):
            raise ConfigError(f"cluster registry parameter {self._name} is not a string")
        return parse_registry(value)


def ssm_provider() -> SSMProvider:
    from aws_lambda_powertools.utilities.parameters import SSMProvider

    from metrics_guard.adapters import aws_clients

    return SSMProvider(boto3_client=aws_clients.ssm())
