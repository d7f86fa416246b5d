"""APIService objects (apiregistration.k8s.io/v1) and lists of them."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict

from metrics_guard.decode._json import as_dict, as_list, as_str, expect_object, load_object, parse_time
from metrics_guard.errors import DecodeError


class RawCondition(TypedDict, total=False):
    type: str
    status: str
    reason: str
    message: str
    lastTransitionTime: str


class RawServiceReference(TypedDict, total=False):
    namespace: str
    name: str
    port: int


class RawAPIServiceSpec(TypedDict, total=False):
    service: RawServiceReference | None
    group: str
    version: str
    caBundle: str
    insecureSkipTLSVerify: bool


class RawAPIService(TypedDict, total=False):
    kind: str
    metadata: dict[str, Any]
    spec: RawAPIServiceSpec
    status: dict[str, list[RawCondition]]


@dataclass(frozen=True, slots=True)
class Condition:
    type: str
    status: str  # "True" | "False" | "Unknown"
    reason: str
    message: str
    last_transition: datetime | None


@dataclass(frozen=True, slots=True)
class APIService:
    name: str
    group: str
    version: str
    service_namespace: str | None
    service_name: str | None
    service_port: int
    ca_bundle_pem: str | None
    insecure_skip_tls_verify: bool
    available: Condition | None

    @property
    def is_local(self) -> bool:
        return self.service_name is None

    @property
    def is_available(self) -> bool:
        return self.available is not None and self.available.status == "True"


def _condition(raw: Any, *, what: str) -> Condition:
    data = expect_object(raw, what=what)
    return Condition(
        type=as_str(data.get("type")),
        status=as_str(data.get("status"), "Unknown"),
        reason=as_str(data.get("reason")),
        message=as_str(data.get("message")),
        last_transition=parse_time(data.get("lastTransitionTime"), what=what),
    )


def apiservice_from_object(raw: Any) -> APIService:
    data = expect_object(raw, what="APIService", kinds=())
    meta = as_dict(data.get("metadata"))
    name = as_str(meta.get("name"))
    if not name:
        raise DecodeError("APIService: no metadata.name")
    spec = as_dict(data.get("spec"))
    service = spec.get("service")
    svc = as_dict(service)
    ca_pem: str | None = None
    ca_b64 = spec.get("caBundle")
    if isinstance(ca_b64, str) and ca_b64:
        try:
            ca_pem = base64.b64decode(ca_b64, validate=True).decode("utf-8", "replace")
        except (binascii.Error, ValueError) as exc:
            raise DecodeError(f"APIService {name}: caBundle is not base64") from exc
    available: Condition | None = None
    for raw_condition in as_list(as_dict(data.get("status")).get("conditions"), what=f"APIService {name}"):
        condition = _condition(raw_condition, what=f"APIService {name} condition")
        if condition.type == "Available":
            available = condition
    port = svc.get("port", 443)
    return APIService(
        name=name,
        group=as_str(spec.get("group")),
        version=as_str(spec.get("version")),
        service_namespace=as_str(svc.get("namespace")) or None if service else None,
        service_name=as_str(svc.get("name")) or None if service else None,
        service_port=port if isinstance(port, int) and not isinstance(port, bool) else 443,
        ca_bundle_pem=ca_pem,
        insecure_skip_tls_verify=spec.get("insecureSkipTLSVerify") is True,
        available=available,
    )


def decode_apiservice(body: bytes | str) -> APIService:
    return apiservice_from_object(load_object(body, what="APIService", kinds=("APIService",)))


def decode_apiservice_list(body: bytes | str) -> tuple[APIService, ...]:
    data = load_object(body, what="APIServiceList", kinds=("APIServiceList",))
    return tuple(apiservice_from_object(item) for item in as_list(data.get("items"), what="APIServiceList"))
