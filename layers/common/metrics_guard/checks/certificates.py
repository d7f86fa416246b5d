"""Certificates of the aggregation chain: requestheader CA and client CA (ConfigMap), the aggregator proxy
client certificate of every control-plane node, metrics-server's serving certificate against the APIService
caBundle (TLS handshake), and each apiserver's serving certificate (SAN covers the endpoint)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

from cryptography import x509

from metrics_guard.checks._base import finding
from metrics_guard.checks.policy import ProbePolicy
from metrics_guard.decode.apiservice import APIService
from metrics_guard.decode.core import AuthenticationConfig
from metrics_guard.errors import InputError
from metrics_guard.model import Code, Finding, Json, Severity, Status, Target
from metrics_guard.pki.inspect import CertInfo, covers_host, find_issuer, inspect, load_pem_bundle
from metrics_guard.ports import NodeMaterial, NodeRef, PeerCertificates

PROXY_CHECK = "certs.proxy-client"
PROXY_AGREE_CHECK = "certs.proxy-client-agreement"
CA_CHECK = {"requestheader": "certs.requestheader-ca", "client": "certs.client-ca"}
SERVING_CHECK = "certs.metrics-server-serving"
APISERVER_SERVING_CHECK = "certs.apiserver-serving"


@dataclass(frozen=True, slots=True)
class TlsObservation:
    """A handshake with a TLS server: what it presented, or why there was nothing."""

    host: str
    port: int
    server_name: str
    peer: PeerCertificates | None
    error_kind: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class CertificatesObservation:
    cluster: str
    auth: AuthenticationConfig | None
    materials: Sequence[NodeMaterial] | None
    apiservice: APIService | None = None
    metrics_server_tls: TlsObservation | None = None
    apiserver_tls: Sequence[tuple[NodeRef, TlsObservation]] = field(default_factory=tuple)


def _parse_bundle(pem: str | None, what: str) -> tuple[tuple[x509.Certificate, ...], str | None]:
    if not pem:
        return (), None
    try:
        return load_pem_bundle(pem, what=what), None
    except InputError as exc:
        return (), str(exc)


def _expiry(info: CertInfo, policy: ProbePolicy, now: datetime) -> Status:
    days = info.days_left(now)
    if days < policy.fail_days:
        return Status.FAIL
    if days < policy.warn_days:
        return Status.WARN
    return Status.OK


# ----------------------------------------------------------------------------------------- proxy client


@dataclass(frozen=True, slots=True)
class ProxyVerdict:
    index: int
    code: Code
    status: Status
    issuer: str | None
    common_name: str | None
    cert_sha256: str | None


def _proxy_finding(
    material: NodeMaterial,
    *,
    cas: tuple[x509.Certificate, ...],
    ca_source: str,
    allowed: tuple[str, ...] | None,
    policy: ProbePolicy,
    cluster: str,
    now: datetime,
) -> tuple[Finding, ProxyVerdict]:
    node = material.node
    target = Target("cert", "proxy-client").at("apiserver", str(node.index))
    evidence: dict[str, Json] = {"node": node.name, "path": material.proxy_client_cert_path}
    problems: list[tuple[Code, Status, str]] = []
    info: CertInfo | None = None
    if not material.flags.get("proxy-client-cert-file") and material.flags:
        problems.append(
            (
                Code.AGGREGATION_NOT_CONFIGURED,
                Status.FAIL,
                f"apiserver {node.index} has no --proxy-client-cert-file",
            )
        )
    elif material.proxy_client_cert_pem is None:
        reason = material.errors[0] if material.errors else "certificate file not readable"
        problems.append(
            (Code.PROBE_ERROR, Status.ERROR, f"proxy client certificate of apiserver {node.index}: {reason}")
        )
    else:
        certs, error = _parse_bundle(material.proxy_client_cert_pem, "proxy client certificate")
        if error is not None or not certs:
            problems.append((Code.AGGREGATOR_PROXY_CERT_REJECTED, Status.FAIL, error or "no certificate"))
        else:
            leaf = certs[0]
            info = inspect(leaf)
            evidence["certificate"] = info.to_json(now)
            if now > info.not_after:
                problems.append(
                    (Code.PROXY_CERT_EXPIRED, Status.FAIL, f"expired {info.not_after:%Y-%m-%d %H:%M} UTC")
                )
            elif now < info.not_before:
                problems.append(
                    (
                        Code.PROXY_CERT_EXPIRED,
                        Status.FAIL,
                        f"not valid before {info.not_before:%Y-%m-%d %H:%M} UTC",
                    )
                )
            if cas:
                issuer = find_issuer(leaf, cas)
                evidence["ca_source"] = ca_source
                if issuer is None:
                    problems.append(
                        (
                            Code.PROXY_CERT_WRONG_CA,
                            Status.FAIL,
                            f"not signed by the requestheader CA ({ca_source})",
                        )
                    )
                else:
                    evidence["signed_by"] = issuer.subject.rfc4514_string()
            else:
                evidence["ca_source"] = None
            if allowed and info.common_name not in allowed:
                problems.append(
                    (
                        Code.PROXY_CERT_CN_NOT_ALLOWED,
                        Status.FAIL,
                        f"CN={info.common_name} is not in requestheader-allowed-names {list(allowed)}",
                    )
                )
            if not info.allows_client_auth():
                problems.append((Code.AGGREGATOR_PROXY_CERT_REJECTED, Status.FAIL, "EKU lacks clientAuth"))
            key_sha = material.proxy_client_key_public_sha256
            evidence["key_matches"] = None if key_sha is None else key_sha == info.public_key_sha256
            if key_sha is not None and key_sha != info.public_key_sha256:
                problems.append(
                    (
                        Code.AGGREGATOR_PROXY_CERT_REJECTED,
                        Status.FAIL,
                        "private key does not match the certificate",
                    )
                )
            expiry = _expiry(info, policy, now)
            if now <= info.not_after and expiry is not Status.OK:
                problems.append(
                    (
                        Code.PROXY_CERT_EXPIRING,
                        expiry,
                        f"expires in {info.days_left(now):.1f} days ({info.not_after:%Y-%m-%d})",
                    )
                )
    order = [
        Code.AGGREGATION_NOT_CONFIGURED,
        Code.PROBE_ERROR,
        Code.PROXY_CERT_EXPIRED,
        Code.PROXY_CERT_WRONG_CA,
        Code.PROXY_CERT_CN_NOT_ALLOWED,
        Code.AGGREGATOR_PROXY_CERT_REJECTED,
        Code.PROXY_CERT_EXPIRING,
    ]
    if problems:
        problems.sort(key=lambda p: order.index(p[0]))
        code, status, _ = problems[0]
        listed: list[Json] = []
        listed.extend(f"{c.value}: {text}" for c, _, text in problems)
        evidence["problems"] = listed
        summary = f"proxy client cert of apiserver {node.index}: " + "; ".join(t for _, _, t in problems)
    else:
        code, status = Code.OK, Status.OK
        assert info is not None
        summary = (
            f"proxy client cert of apiserver {node.index}: CN={info.common_name}, valid "
            f"{info.days_left(now):.0f} more days, signed by the requestheader CA"
        )
    remediable = code in (
        Code.PROXY_CERT_EXPIRED,
        Code.PROXY_CERT_EXPIRING,
        Code.PROXY_CERT_WRONG_CA,
        Code.PROXY_CERT_CN_NOT_ALLOWED,
        Code.AGGREGATOR_PROXY_CERT_REJECTED,
    )
    result = finding(
        cluster=cluster,
        now=now,
        check=PROXY_CHECK,
        target=target,
        status=status,
        code=code,
        summary=summary,
        evidence=evidence,
        severity=Severity.CRITICAL
        if status is Status.FAIL and code is not Code.PROXY_CERT_EXPIRING
        else None,
        remediable=remediable,
    )
    verdict = ProxyVerdict(
        node.index,
        code,
        status,
        info.issuer if info else None,
        info.common_name if info else None,
        info.sha256 if info else None,
    )
    return result, verdict


# --------------------------------------------------------------------------------------------------- CAs


def _ca_finding(
    kind: str,
    *,
    pem: str | None,
    relevant_keys: set[str] | None,
    policy: ProbePolicy,
    cluster: str,
    now: datetime,
) -> Finding | None:
    if pem is None:
        return None
    check = CA_CHECK[kind]
    target = Target("cert", f"{kind}-ca")
    certs, error = _parse_bundle(pem, f"{kind}-ca bundle")
    if error is not None:
        return finding(
            cluster=cluster,
            now=now,
            check=check,
            target=target,
            status=Status.FAIL,
            code=Code.AGGREGATION_NOT_CONFIGURED if kind == "requestheader" else Code.PROBE_ERROR,
            summary=f"ConfigMap extension-apiserver-authentication: {error}",
        )
    infos = [inspect(c) for c in certs]
    listed: list[Json] = [i.to_json(now) for i in infos]
    evidence: dict[str, Json] = {"certificates": listed}
    worst = Status.OK
    worst_info: CertInfo | None = None
    live = [i for i in infos if now <= i.not_after]
    if not live:
        return finding(
            cluster=cluster,
            now=now,
            check=check,
            target=target,
            status=Status.FAIL,
            code=Code.CA_EXPIRING,
            summary=f"every {kind} CA in the bundle has expired",
            evidence=evidence,
        )
    for info in live:
        if relevant_keys is not None and info.public_key_sha256 not in relevant_keys:
            continue
        status = _expiry(info, policy, now)
        if status.rank > worst.rank:
            worst, worst_info = status, info
    if worst_info is not None:
        summary = (
            f"{kind} CA {worst_info.common_name} expires in {worst_info.days_left(now):.1f} days "
            f"({worst_info.not_after:%Y-%m-%d})"
        )
        return finding(
            cluster=cluster,
            now=now,
            check=check,
            target=target,
            status=worst,
            code=Code.CA_EXPIRING,
            summary=summary,
            evidence=evidence,
        )
    soonest = min(live, key=lambda i: i.not_after)
    return finding(
        cluster=cluster,
        now=now,
        check=check,
        target=target,
        status=Status.OK,
        code=Code.OK,
        summary=f"{len(live)} {kind} CA(s), the first to expire in {soonest.days_left(now):.0f} days",
        evidence=evidence,
    )


# ------------------------------------------------------------------------------------------ TLS servers


def _serving_finding(obs: CertificatesObservation, policy: ProbePolicy, now: datetime) -> Finding | None:
    tls = obs.metrics_server_tls
    if tls is None:
        return None
    target = Target("cert", "metrics-server-serving")
    evidence: dict[str, Json] = {"address": f"{tls.host}:{tls.port}", "server_name": tls.server_name}
    apiservice = obs.apiservice

    def make(status: Status, code: Code, summary: str) -> Finding:
        return finding(
            cluster=obs.cluster,
            now=now,
            check=SERVING_CHECK,
            target=target,
            status=status,
            code=code,
            summary=summary,
            evidence=evidence,
        )

    if tls.peer is None and tls.error_kind in ("connect", "timeout"):
        # The pod network is often unreachable from where the probe runs: no claim either way.
        return None
    if tls.peer is None:
        evidence["error_kind"] = tls.error_kind
        evidence["error"] = tls.error
        return make(Status.ERROR, Code.PROBE_ERROR, f"TLS handshake with metrics-server failed: {tls.error}")
    if not tls.peer.chain_pem:
        return make(Status.ERROR, Code.PROBE_ERROR, "metrics-server presented no certificate")
    certs, error = _parse_bundle(tls.peer.chain_pem[0], "metrics-server serving certificate")
    if error is not None or not certs:
        return make(Status.FAIL, Code.METRICS_SERVER_TLS_UNTRUSTED, error or "no certificate")
    info = inspect(certs[0])
    evidence["certificate"] = info.to_json(now)
    evidence["verified"] = tls.peer.verified
    evidence["verify_error"] = tls.peer.verify_error
    problems: list[str] = []
    skip = apiservice is not None and apiservice.insecure_skip_tls_verify
    evidence["insecure_skip_tls_verify"] = skip
    bundle = apiservice.ca_bundle_pem if apiservice is not None else None
    if not skip:
        cas, bundle_error = _parse_bundle(bundle, "APIService caBundle")
        if bundle_error is not None:
            problems.append(bundle_error)
        elif cas and find_issuer(certs[0], cas) is None and not any(c == certs[0] for c in cas):
            problems.append("not signed by a CA of the APIService caBundle")
        if not tls.peer.verified and tls.peer.verify_error:
            problems.append(f"handshake verification: {tls.peer.verify_error}")
        if not covers_host(info, tls.server_name):
            problems.append(f"SANs {list(info.dns_names)} do not cover {tls.server_name}")
    if now > info.not_after or now < info.not_before:
        problems.append(f"outside its validity ({info.not_before:%Y-%m-%d} to {info.not_after:%Y-%m-%d})")
    if problems:
        listed: list[Json] = []
        listed.extend(problems)
        evidence["problems"] = listed
        return make(
            Status.FAIL,
            Code.METRICS_SERVER_TLS_UNTRUSTED,
            "metrics-server serving cert: " + "; ".join(problems),
        )
    expiry = _expiry(info, policy, now)
    if expiry is not Status.OK:
        return make(
            expiry,
            Code.CERT_EXPIRING,
            f"metrics-server serving cert expires in {info.days_left(now):.1f} days",
        )
    note = " (APIService has insecureSkipTLSVerify)" if skip else ""
    return make(Status.OK, Code.OK, f"metrics-server serving cert for {tls.server_name} verifies{note}")


def _apiserver_serving(
    node: NodeRef, tls: TlsObservation, policy: ProbePolicy, cluster: str, now: datetime
) -> Finding:
    target = Target("cert", "serving").at("apiserver", str(node.index))
    evidence: dict[str, Json] = {"address": f"{tls.host}:{tls.port}"}

    def make(status: Status, code: Code, summary: str) -> Finding:
        return finding(
            cluster=cluster,
            now=now,
            check=APISERVER_SERVING_CHECK,
            target=target,
            status=status,
            code=code,
            summary=summary,
            evidence=evidence,
        )

    if tls.peer is None or not tls.peer.chain_pem:
        evidence["error"] = tls.error
        return make(
            Status.ERROR, Code.PROBE_ERROR, f"TLS handshake with apiserver {node.index} failed: {tls.error}"
        )
    certs, error = _parse_bundle(tls.peer.chain_pem[0], "apiserver serving certificate")
    if error is not None or not certs:
        return make(Status.ERROR, Code.PROBE_ERROR, error or "no certificate")
    info = inspect(certs[0])
    evidence["certificate"] = info.to_json(now)
    evidence["verified"] = tls.peer.verified
    if not covers_host(info, tls.host):
        return make(
            Status.ERROR,
            Code.PROBE_ERROR,
            f"apiserver {node.index} serving cert does not cover {tls.host} (SANs {list(info.dns_names + info.ip_addresses)})",
        )
    expiry = _expiry(info, policy, now)
    if now > info.not_after:
        return make(Status.FAIL, Code.CERT_EXPIRING, f"apiserver {node.index} serving cert has expired")
    if expiry is not Status.OK:
        return make(
            expiry,
            Code.CERT_EXPIRING,
            f"apiserver {node.index} serving cert expires in {info.days_left(now):.1f} days",
        )
    return make(
        Status.OK,
        Code.OK,
        f"apiserver {node.index} serving cert covers {tls.host}, {info.days_left(now):.0f} days left",
    )


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname or "", parts.port or 443


# ------------------------------------------------------------------------------------------------ check


def check_certificates(obs: CertificatesObservation, policy: ProbePolicy, *, now: datetime) -> list[Finding]:
    out: list[Finding] = []
    auth = obs.auth
    allowed = auth.allowed_names if auth is not None else None
    cm_cas, _ = _parse_bundle(auth.requestheader_ca_pem if auth else None, "requestheader-client-ca-file")
    verdicts: list[ProxyVerdict] = []
    relevant: set[str] = set()
    for material in obs.materials or ():
        cas, source = cm_cas, "ConfigMap extension-apiserver-authentication"
        if not cas:
            cas, _ = _parse_bundle(material.requestheader_ca_pem, "node requestheader CA")
            source = f"--requestheader-client-ca-file of apiserver {material.node.index}"
        node_allowed = allowed
        if node_allowed is None and material.flags.get("requestheader-allowed-names") is not None:
            node_allowed = tuple(n for n in material.flags["requestheader-allowed-names"].split(",") if n)
        result, verdict = _proxy_finding(
            material,
            cas=cas,
            ca_source=source,
            allowed=node_allowed,
            policy=policy,
            cluster=obs.cluster,
            now=now,
        )
        out.append(result)
        verdicts.append(verdict)
        if material.proxy_client_cert_pem:
            leaf, _ = _parse_bundle(material.proxy_client_cert_pem, "proxy client certificate")
            if leaf:
                issuer = find_issuer(leaf[0], cas)
                if issuer is not None:
                    relevant.add(inspect(issuer).public_key_sha256)
    if auth is not None:
        rh = _ca_finding(
            "requestheader",
            pem=auth.requestheader_ca_pem,
            relevant_keys=relevant or None,
            policy=policy,
            cluster=obs.cluster,
            now=now,
        )
        cl = _ca_finding(
            "client", pem=auth.client_ca_pem, relevant_keys=None, policy=policy, cluster=obs.cluster, now=now
        )
        out.extend(f for f in (rh, cl) if f is not None)
    if len(verdicts) >= 2:
        groups = {(v.status is Status.OK, v.issuer, v.common_name) for v in verdicts}
        evidence: dict[str, Json] = {
            "apiservers": [
                {"apiserver": v.index, "code": v.code.value, "issuer": v.issuer, "cn": v.common_name}
                for v in verdicts
            ]
        }
        if len(groups) > 1:
            odd = sorted(v.index for v in verdicts if v.status is not Status.OK) or sorted(
                v.index for v in verdicts
            )
            out.append(
                finding(
                    cluster=obs.cluster,
                    now=now,
                    check=PROXY_AGREE_CHECK,
                    target=Target("cert", "proxy-client"),
                    status=Status.WARN,
                    code=Code.APISERVERS_DISAGREE,
                    summary="the apiservers' proxy client certs differ (apiserver "
                    + ", ".join(str(i) for i in odd)
                    + " stands out)",
                    evidence=evidence,
                )
            )
        else:
            out.append(
                finding(
                    cluster=obs.cluster,
                    now=now,
                    check=PROXY_AGREE_CHECK,
                    target=Target("cert", "proxy-client"),
                    status=Status.OK,
                    code=Code.OK,
                    summary=f"all {len(verdicts)} apiservers' proxy client certs agree",
                    evidence=evidence,
                )
            )
    serving = _serving_finding(obs, policy, now)
    if serving is not None:
        out.append(serving)
    for node, tls in obs.apiserver_tls:
        out.append(_apiserver_serving(node, tls, policy, obs.cluster, now))
    return out
