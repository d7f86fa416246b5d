"""Slack incoming webhook: Block Kit message over urllib, retried with backoff (429 Retry-After honoured).

The webhook URL is a secret (it grants posting): it is never logged; errors name only the HTTP status.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Final

from metrics_guard.errors import MetricsGuardError
from metrics_guard.model import Json

RETRYABLE_STATUS: Final = frozenset({429, 500, 502, 503, 504})


class SlackError(MetricsGuardError):
    """The webhook refused the message or could not be reached after every attempt."""


class SlackWebhook:
    def __init__(
        self,
        url: Callable[[], str],
        *,
        attempts: int = 3,
        backoff_s: float = 0.5,
        timeout_s: float = 5.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._url = url
        self._attempts = attempts
        self._backoff_s = backoff_s
        self._timeout_s = timeout_s
        self._sleep = sleep

    def post(self, payload: dict[str, Json]) -> None:
        url = self._url()
        if not url.startswith(("https://", "http://127.0.0.1", "http://localhost")):
            raise SlackError("Slack webhook URL must be https")
        body = json.dumps(payload).encode()
        last = "not attempted"
        for attempt in range(self._attempts):
            if attempt:
                self._sleep(self._backoff_s * 2 ** (attempt - 1))
            request = urllib.request.Request(  # noqa: S310 - scheme checked above
                url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=self._timeout_s) as response:  # noqa: S310
                    response.read()
                    return
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code}"
                if exc.code not in RETRYABLE_STATUS:
                    raise SlackError(f"Slack webhook refused the message: {last}") from exc
                retry_after = exc.headers.get("Retry-After") if exc.headers else None
                if retry_after and retry_after.isdigit():
                    self._sleep(min(float(retry_after), 10.0))
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                last = type(exc).__name__
        raise SlackError(f"Slack webhook failed after {self._attempts} attempts: {last}")


def webhook_url_from_secret(secret: str) -> str:
    """The secret holds the bare URL or ``{"url": ...}`` / ``{"webhook_url": ...}``."""
    text = secret.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise SlackError("Slack webhook secret is not valid JSON") from exc
        for key in ("url", "webhook_url"):
            if isinstance(data, dict) and isinstance(data.get(key), str):
                return str(data[key])
        raise SlackError("Slack webhook secret has no url field")
    return text
