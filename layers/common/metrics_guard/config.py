"""Settings of the Lambda functions (read once from the environment) and the cluster registry.

Settings are a pydantic model filled from ``os.environ`` by :func:`settings` (cached per cold start);
pydantic-settings is not used because it adds import time for no gain here.

The cluster registry is a JSON list held in an SSM parameter; :func:`parse_registry` validates it entry by
entry and reports one clear error per bad entry, naming the entry and the field, so that one typo never
hides the other clusters.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from metrics_guard.errors import ConfigError

ResponderMode = Literal["off", "dry-run", "auto"]
Layout = Literal["binary", "kubeadm", "eks"]

#: Environment variable -> Settings field.
ENV: Final = {
    "EVENT_BUS_NAME": "event_bus_name",
    "TOPIC_ARN": "topic_arn",
    "TABLE_NAME": "table_name",
    "REGISTRY_PARAMETER": "registry_parameter",
    "SLACK_WEBHOOK_SECRET_ARN": "slack_webhook_secret_arn",
    "CA_SECRET_ARN": "ca_secret_arn",
    "REMINDER_HOURS": "reminder_hours",
    "FLAP_WINDOW_MINUTES": "flap_window_minutes",
    "FLAP_THRESHOLD": "flap_threshold",
    "WARN_DAYS": "warn_days",
    "FAIL_DAYS": "fail_days",
    "PROBE_CONCURRENCY": "probe_concurrency",
    "PROBE_MARGIN_SECONDS": "probe_margin_s",
    "PROBE_MAX_SECONDS": "probe_max_s",
    "RESPONDER_MODE": "responder_mode",
    "READ_MATERIAL_DOCUMENT": "read_material_document",
    "REMEDIATION_DOCUMENT": "remediation_document",
    "POWERTOOLS_METRICS_NAMESPACE": "metrics_namespace",
    "AUDIT_RETENTION_DAYS": "audit_retention_days",
    "MATERIAL_PARAMETER_PREFIX": "material_parameter_prefix",
    "MATERIAL_KMS_KEY_ID": "material_kms_key_id",
    "REMEDIATION_STRATEGY": "remediation_strategy",
    "NODE_KUBECONFIG": "node_kubeconfig",
    "COOLDOWN_HOURS": "cooldown_hours",
    "DAILY_BUDGET": "daily_budget",
    "VERIFY_TIMEOUT_SECONDS": "verify_timeout_s",
    "VERIFY_INTERVAL_SECONDS": "verify_interval_s",
}


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    event_bus_name: str = "default"
    topic_arn: str | None = None
    table_name: str | None = None
    registry_parameter: str | None = None
    slack_webhook_secret_arn: str | None = None
    ca_secret_arn: str | None = None
    reminder_hours: float = Field(default=6.0, gt=0)
    flap_window_minutes: float = Field(default=60.0, gt=0)
    flap_threshold: int = Field(default=4, ge=2)
    warn_days: int = Field(default=30, ge=1)
    fail_days: int = Field(default=7, ge=0)
    probe_concurrency: int = Field(default=4, ge=1, le=64)
    probe_margin_s: float = Field(default=5.0, ge=0)
    probe_max_s: float = Field(default=60.0, gt=0)
    responder_mode: ResponderMode = "dry-run"
    read_material_document: str | None = None
    remediation_document: str | None = None
    metrics_namespace: str = "MetricsGuard"
    audit_retention_days: int = Field(default=400, ge=1)
    #: Where the rollout's SecureString goes: ``<prefix>/<cluster>/<rollout id>`` (template: /<stack>/material/).
    material_parameter_prefix: Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]{1,900}$")] = (
        "/metrics-guard/material/"
    )
    material_kms_key_id: str | None = None
    remediation_strategy: Literal["reload-then-restart", "restart"] = "reload-then-restart"
    node_kubeconfig: Annotated[str, Field(pattern=r"^/[A-Za-z0-9_./-]{1,4096}$")] = (
        "/etc/kubernetes/admin.conf"
    )
    cooldown_hours: float = Field(default=6.0, ge=0)
    daily_budget: int = Field(default=3, ge=1)
    verify_timeout_s: float = Field(default=180.0, gt=0)
    verify_interval_s: float = Field(default=10.0, gt=0)

    @field_validator(
        "topic_arn",
        "table_name",
        "registry_parameter",
        "slack_webhook_secret_arn",
        "ca_secret_arn",
        "read_material_document",
        "remediation_document",
        "material_kms_key_id",
        mode="before",
    )
    @classmethod
    def _empty_is_none(cls, value: object) -> object:
        # CloudFormation cannot omit an environment variable conditionally: "" means not configured.
        return None if value == "" else value


def settings_from_env(environ: Mapping[str, str]) -> Settings:
    values = {field: environ[name] for name, field in ENV.items() if name in environ}
    try:
        return Settings.model_validate(values)
    except ValidationError as exc:
        fields = {str(field): name for name, field in ENV.items()}
        problems = "; ".join(
            f"{fields.get(str(err['loc'][0]), err['loc'][0]) if err['loc'] else '?'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid settings: {problems}") from exc


@cache
def settings() -> Settings:
    """The process's settings, read once per cold start."""
    return settings_from_env(os.environ)


# ------------------------------------------------------------------------------------------- registry

ClusterName = Annotated[str, Field(pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")]
HttpsUrl = Annotated[str, Field(pattern=r"^https://[^\s/]+(/[^\s]*)?$")]


class TargetTag(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    key: Annotated[str, Field(min_length=1, max_length=128)]
    value: Annotated[str, Field(min_length=1, max_length=256)]


class ControlPlaneInstance(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    instance_id: Annotated[str, Field(pattern=r"^(i|mi)-[0-9a-f]{8,17}$")]
    apiserver_endpoint: HttpsUrl | None = None


class ControlPlane(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    target_tag: TargetTag | None = None
    instances: tuple[ControlPlaneInstance, ...] = ()

    @model_validator(mode="after")
    def _one_way_to_reach(self) -> ControlPlane:
        if self.target_tag is None and not self.instances:
            raise ValueError("needs target_tag and/or instances")
        ids = [i.instance_id for i in self.instances]
        if len(set(ids)) != len(ids):
            raise ValueError("instance ids repeat")
        return self


class ClusterEntry(BaseModel):
    """One cluster of the registry."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: ClusterName
    endpoint: HttpsUrl
    layout: Layout
    credentials_secret_arn: Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:secretsmanager:")] | None = None
    #: EKS only: the EKS cluster name when it differs from ``name``; the CA when no secret carries it.
    eks_cluster_name: str | None = None
    ca_pem: str | None = None
    control_plane: ControlPlane | None = None

    def cross_field_problem(self) -> tuple[str, str] | None:
        """(field, message) of the first rule that spans fields, or None."""
        if self.layout != "eks" and self.credentials_secret_arn is None:
            return "credentials_secret_arn", "required unless layout is eks"
        if self.layout == "eks" and self.credentials_secret_arn is None and self.ca_pem is None:
            return "ca_pem", "an eks entry needs ca_pem, or credentials_secret_arn holding ca_pem"
        if self.layout == "eks" and self.control_plane is not None:
            return "control_plane", "not allowed for eks (AWS manages the control plane)"
        return None


#: Readable replacements of pydantic's pattern messages, by the field's last path element.
_PATTERN_HINTS: Final = {
    "name": "must be a DNS label: lowercase letters, digits and '-', at most 63 characters",
    "endpoint": "must be an https:// URL",
    "apiserver_endpoint": "must be an https:// URL",
    "credentials_secret_arn": "must be a Secrets Manager secret ARN",
    "instance_id": "must be an EC2 or managed instance id (i-… / mi-…)",
}


@dataclass(frozen=True, slots=True)
class RegistryError:
    """One bad entry: ``entry`` is its name when readable, else ``#<index>``; ``field`` the dotted path."""

    index: int
    entry: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"registry entry {self.entry!r} field {self.field!r}: {self.message}"


@dataclass(frozen=True, slots=True)
class Registry:
    clusters: tuple[ClusterEntry, ...]
    errors: tuple[RegistryError, ...] = ()

    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.clusters)


def _entry_label(index: int, raw: object) -> str:
    if isinstance(raw, dict) and isinstance(raw.get("name"), str) and raw["name"]:
        return str(raw["name"])
    return f"#{index}"


def parse_registry(text: str) -> Registry:
    """Validate the registry JSON. Raises ``ConfigError`` only when the document as a whole is unusable."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"cluster registry is not JSON (line {exc.lineno} column {exc.colno})") from exc
    if isinstance(raw, dict) and isinstance(raw.get("clusters"), list):
        raw = raw["clusters"]
    if not isinstance(raw, list):
        raise ConfigError("cluster registry must be a JSON list of clusters")
    return parse_registry_entries(raw)


def parse_registry_entries(raw: Sequence[object]) -> Registry:
    clusters: list[ClusterEntry] = []
    errors: list[RegistryError] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        label = _entry_label(index, item)
        try:
            entry = ClusterEntry.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            loc = ".".join(str(p) for p in first["loc"]) or "(entry)"
            message = first["msg"]
            if first["type"] == "string_pattern_mismatch" and first["loc"]:
                message = _PATTERN_HINTS.get(str(first["loc"][-1]), message)
            errors.append(RegistryError(index, label, loc, _short(message, first.get("input"))))
            continue
        problem = entry.cross_field_problem()
        if problem is not None:
            errors.append(RegistryError(index, label, problem[0], problem[1]))
            continue
        if entry.name in seen:
            errors.append(RegistryError(index, label, "name", "duplicate cluster name"))
            continue
        seen.add(entry.name)
        clusters.append(entry)
    return Registry(tuple(clusters), tuple(errors))


def _short(message: str, value: object) -> str:
    # Never echo long or nested input (it might be a pasted secret); short scalars help the operator.
    if isinstance(value, str | int | float) and not isinstance(value, bool) and len(str(value)) <= 64:
        if isinstance(value, str) and ("BEGIN" in value or len(value) > 40):
            return message
        return f"{message} (got {value!r})"
    return message
