"""A minimal Kubernetes REST client over TLS with client certificates (server verified against the CA).

Used by the devcluster itself and by the simulated kubelets, which must stay small and start fast.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

JSON = dict[str, Any]


class KubeError(Exception):
    """An HTTP error status from the apiserver, or a transport failure (status 0)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"{status}: {message}" if status else message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Credentials:
    ca: Path
    cert: Path
    key: Path


def ssl_context(creds: Credentials, *, server_hostname_check: bool = True) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(creds.ca))
    ctx.check_hostname = server_hostname_check
    ctx.load_cert_chain(str(creds.cert), str(creds.key))
    return ctx


class Kube:
    """GET/POST/PUT/PATCH/DELETE JSON against one base URL; a fresh connection per request."""

    def __init__(self, base_url: str, creds: Credentials, *, timeout: float = 10.0) -> None:
        parts = urlsplit(base_url)
        self.base_url = base_url
        self.host = parts.hostname or ""
        self.port = parts.port or 443
        self.creds = creds
        self.timeout = timeout
        self._ctx = ssl_context(creds)

    def request_raw(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> tuple[int, bytes]:
        conn = http.client.HTTPSConnection(
            self.host, self.port, context=self._ctx, timeout=timeout or self.timeout
        )
        try:
            headers = {"Accept": "application/json"}
            if body is not None:
                headers["Content-Type"] = content_type
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (TimeoutError, OSError, ssl.SSLError, http.client.HTTPException) as exc:
            raise KubeError(0, f"{method} {self.base_url}{path}: {exc}") from exc
        finally:
            conn.close()

    def request(
        self,
        method: str,
        path: str,
        obj: JSON | None = None,
        content_type: str = "application/json",
        timeout: float | None = None,
    ) -> JSON:
        body = json.dumps(obj).encode() if obj is not None else None
        status, data = self.request_raw(method, path, body, content_type, timeout)
        if status >= 400:
            message = data.decode(errors="replace")
            with contextlib.suppress(ValueError, AttributeError):
                message = str(json.loads(data).get("message", message))
            raise KubeError(status, message)
        if not data:
            return {}
        try:
            parsed = json.loads(data)
        except ValueError as exc:
            raise KubeError(status, f"not JSON: {data[:200]!r}") from exc
        return parsed if isinstance(parsed, dict) else {"items": parsed}

    def get(self, path: str, timeout: float | None = None) -> JSON:
        return self.request("GET", path, timeout=timeout)

    def create(self, collection: str, obj: JSON, *, exist_ok: bool = True) -> JSON:
        try:
            return self.request("POST", collection, obj)
        except KubeError as exc:
            if exc.status == 409 and exist_ok:
                return {}
            raise

    def apply(self, collection: str, name: str, obj: JSON) -> JSON:
        """Create, or replace when it exists (keeping resourceVersion)."""
        try:
            return self.request("POST", collection, obj)
        except KubeError as exc:
            if exc.status != 409:
                raise
        current = self.get(f"{collection}/{name}")
        obj = json.loads(json.dumps(obj))
        obj.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
        return self.request("PUT", f"{collection}/{name}", obj)

    def merge_patch(self, path: str, patch: JSON) -> JSON:
        return self.request("PATCH", path, patch, content_type="application/merge-patch+json")

    def delete(self, path: str) -> None:
        try:
            self.request("DELETE", path)
        except KubeError as exc:
            if exc.status != 404:
                raise
