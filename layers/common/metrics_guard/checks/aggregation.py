"""Aggregation-layer configuration: the ``extension-apiserver-authentication`` ConfigMap (the union of all
apiservers) and each apiserver's own flags (systemd unit or static-pod manifest), which is what finds a single
apiserver started without the requestheader / proxy-client flags."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from metrics_guard.checks._base import Call, call_failure_summary, decode_call, finding
from metrics_guard.checks.policy import ProbePolicy
from metrics_guard.decode.core import AuthenticationConfig, decode_authentication_configmap
from metrics_guard.errors import InputError
from metrics_guard.model import Code, Finding, Json, Status, Target
from metrics_guard.pki.inspect import load_pem_bundle
from metrics_guard.ports import NodeMaterial

CONFIG_CHECK = "aggregation.config"
FLAGS_CHECK = "aggregation.flags"

REQUIRED_KEYS: Final = ("requestheader-client-ca-file", "requestheader-username-headers")
REQUIRED_FLAGS: Final = (
    "requestheader-client-ca-file",
    "requestheader-username-headers",
    "proxy-client-cert-file",
    "proxy-client-key-file",
)
REPORTED_FLAGS: Final = (
    "requestheader-allowed-names",
    "requestheader-group-headers",
    "requestheader-extra-headers-prefix",
    "enable-aggregator-routing",
    "client-ca-file",
)


@dataclass(frozen=True, slots=True)
class AggregationObservation:
    cluster: str
    configmap_call: Call | None
    materials: Sequence[NodeMaterial] | None


def read_auth_config(call: Call | None) -> AuthenticationConfig | None:
    if call is None:
        return None
    return decode_call(call, decode_authentication_configmap).value


def _config_finding(obs: AggregationObservation, now: datetime) -> Finding | None:
    call = obs.configmap_call
    if call is None:
        return None
    target = Target("configmap", "extension-apiserver-authentication")
    evidence: dict[str, Json] = {"request": call.evidence()}

    def make(status: Status, code: Code, summary: str) -> Finding:
        return finding(
            cluster=obs.cluster,
            now=now,
            check=CONFIG_CHECK,
            target=target,
            status=status,
            code=code,
            summary=summary,
            evidence=evidence,
        )

    if call.status == 404:
        return make(
            Status.FAIL,
            Code.AGGREGATION_NOT_CONFIGURED,
            "ConfigMap kube-system/extension-apiserver-authentication does not exist",
        )
    decoded = decode_call(call, decode_authentication_configmap)
    if decoded.value is None:
        return make(Status.ERROR, Code.PROBE_ERROR, decoded.error or call_failure_summary(call))
    config = decoded.value
    keys: list[Json] = list(config.keys)
    evidence["keys"] = keys
    evidence["allowed_names"] = None if config.allowed_names is None else list(config.allowed_names)
    problems: list[str] = list(config.problems)
    missing = [k for k in REQUIRED_KEYS if k not in config.keys]
    if missing:
        problems.append(f"no {', '.join(missing)}: no apiserver provides the requestheader settings")
    for key, pem in (
        ("requestheader-client-ca-file", config.requestheader_ca_pem),
        ("client-ca-file", config.client_ca_pem),
    ):
        if pem is None:
            continue
        try:
            evidence[f"{key}_certs"] = len(load_pem_bundle(pem, what=key))
        except InputError as exc:
            problems.append(str(exc))
    if problems:
        listed: list[Json] = []
        listed.extend(problems)
        evidence["problems"] = listed
        return make(Status.FAIL, Code.AGGREGATION_NOT_CONFIGURED, "; ".join(problems))
    names = "any CN" if config.allowed_names == () else ", ".join(config.allowed_names or ())
    return make(Status.OK, Code.OK, f"requestheader settings present (allowed names: {names})")


def check_aggregation(obs: AggregationObservation, policy: ProbePolicy, *, now: datetime) -> list[Finding]:
    out: list[Finding] = []
    config = _config_finding(obs, now)
    if config is not None:
        out.append(config)
    for material in obs.materials or ():
        target = Target("apiserver", str(material.node.index))
        evidence: dict[str, Json] = {"node": material.node.name, "layout": material.layout}
        for flag in (*REQUIRED_FLAGS, *REPORTED_FLAGS):
            evidence[flag] = material.flags.get(flag)
        if material.errors and not material.flags:
            errors: list[Json] = []
            errors.extend(material.errors)
            evidence["errors"] = errors
            status, code = Status.ERROR, Code.PROBE_ERROR
            summary = f"flags of apiserver {material.node.index} could not be read: {material.errors[0]}"
        else:
            missing = [f for f in REQUIRED_FLAGS if not material.flags.get(f)]
            if missing:
                status, code = Status.FAIL, Code.AGGREGATION_NOT_CONFIGURED
                summary = f"apiserver {material.node.index} ({material.node.name}) runs without --{', --'.join(missing)}"
            else:
                status, code = Status.OK, Code.OK
                summary = f"apiserver {material.node.index} has the aggregation-layer flags"
        out.append(
            finding(
                cluster=obs.cluster,
                now=now,
                check=FLAGS_CHECK,
                target=target,
                status=status,
                code=code,
                summary=summary,
                evidence=evidence,
            )
        )
    return out
