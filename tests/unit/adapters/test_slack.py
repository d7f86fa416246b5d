"""SlackWebhook: retried with backoff on 429/5xx, refused at once on 4xx, never names the URL."""

from __future__ import annotations

import io
import json
import urllib.error
import urllib.request
from email.message import Message
from typing import Any

import pytest

from metrics_guard.adapters.slack import SlackError, SlackWebhook, webhook_url_from_secret

URL = "https://hooks.slack.com/services/T000/B000/SECRETSECRET"


class FakeOpener:
    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.requests: list[urllib.request.Request] = []

    def __call__(self, request: urllib.request.Request, timeout: float) -> Any:
        self.requests.append(request)
        status = self.statuses.pop(0)
        if status == 200:
            return io.BytesIO(b"ok")
        headers = Message()
        if status == 429:
            headers["Retry-After"] = "1"
        raise urllib.error.HTTPError(request.full_url, status, "err", headers, io.BytesIO(b""))


@pytest.fixture
def opener(monkeypatch: pytest.MonkeyPatch) -> FakeOpener:
    fake = FakeOpener()
    monkeypatch.setattr(urllib.request, "urlopen", fake)
    return fake


def test_posts_json(opener: FakeOpener) -> None:
    opener.statuses = [200]
    SlackWebhook(lambda: URL, sleep=lambda _: None).post({"text": "hi", "blocks": []})
    (request,) = opener.requests
    assert request.get_method() == "POST"
    assert json.loads(request.data) == {"text": "hi", "blocks": []}  # type: ignore[arg-type]


def test_retries_with_backoff_then_succeeds(opener: FakeOpener) -> None:
    opener.statuses = [503, 429, 200]
    sleeps: list[float] = []
    SlackWebhook(lambda: URL, attempts=3, backoff_s=0.5, sleep=sleeps.append).post({"text": "x"})
    assert sleeps == [0.5, 1.0, 1.0]  # backoff, Retry-After, backoff


def test_gives_up_without_naming_the_url(opener: FakeOpener) -> None:
    opener.statuses = [500, 500, 500]
    with pytest.raises(SlackError) as caught:
        SlackWebhook(lambda: URL, sleep=lambda _: None).post({"text": "x"})
    assert "HTTP 500" in str(caught.value) and "SECRET" not in str(caught.value)


def test_client_errors_are_not_retried(opener: FakeOpener) -> None:
    opener.statuses = [404]
    with pytest.raises(SlackError, match="HTTP 404"):
        SlackWebhook(lambda: URL, sleep=lambda _: None).post({"text": "x"})
    assert len(opener.requests) == 1


@pytest.mark.parametrize(
    "secret",
    [URL, json.dumps({"url": URL}), json.dumps({"webhook_url": URL}) + "\n"],
    ids=["bare", "url", "webhook_url"],
)
def test_url_from_secret(secret: str) -> None:
    assert webhook_url_from_secret(secret) == URL


def test_plain_http_is_refused() -> None:
    with pytest.raises(SlackError):
        SlackWebhook(lambda: "http://hooks.example/x").post({"text": "x"})
