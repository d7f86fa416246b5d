"""Symptom -> cause -> remedy: the catalogue of explanations and remedies, and the correlation of the
check families' findings into the most specific cause (see docs/checks.md)."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Final

from metrics_guard.model import Code, Finding, Json, Status

#: One line each: what the code means, in the operator's terms.
EXPLANATION: Final[dict[Code, str]] = {
    Code.OK: "Everything checked is in order.",
    Code.APISERVICE_MISSING: "No APIService v1beta1.metrics.k8s.io is registered: nothing serves the Metrics API.",
    Code.METRICS_SERVICE_MISSING: "The APIService points at a Service (or port) that does not exist.",
    Code.METRICS_SERVER_NOT_READY: "metrics-server's pod is not Ready, so its Service has no endpoints.",
    Code.METRICS_SERVER_UNREACHABLE: "kube-apiserver reaches metrics-server's address but gets no usable answer.",
    Code.AGGREGATOR_NETWORK_TIMEOUT: "The apiservers' requests to metrics-server time out while metrics-server "
    "is Ready: the control plane has no network path to it.",
    Code.AGGREGATOR_PROXY_CERT_REJECTED: "metrics-server rejects the aggregator's proxy client certificate "
    "(bad status 401/403).",
    Code.PROXY_CERT_EXPIRED: "The aggregator proxy client certificate has expired (or is not yet valid).",
    Code.PROXY_CERT_EXPIRING: "The aggregator proxy client certificate expires soon.",
    Code.PROXY_CERT_WRONG_CA: "The aggregator proxy client certificate is not signed by the requestheader CA.",
    Code.PROXY_CERT_CN_NOT_ALLOWED: "The aggregator proxy client certificate's CN is not in requestheader-allowed-names.",
    Code.METRICS_SERVER_TLS_UNTRUSTED: "metrics-server's serving certificate does not verify against the "
    "APIService caBundle: the APIService may say Available while every request fails.",
    Code.AGGREGATION_NOT_CONFIGURED: "The aggregation layer is not (fully) configured on this apiserver.",
    Code.NODE_METRICS_MISSING: "metrics-server has no metrics for this node (or for its pods).",
    Code.METRICS_STALE: "The metrics are older than the freshness threshold.",
    Code.CA_EXPIRING: "A CA certificate expires soon.",
    Code.CERT_EXPIRING: "A certificate expires soon.",
    Code.APISERVERS_DISAGREE: "The apiservers do not agree: some see the Metrics API, some do not.",
    Code.PROBE_ERROR: "metrics-guard could not check this.",
}

_REISSUE: Final = (
    "reissue the aggregator proxy client certificate (--proxy-client-cert-file / --proxy-client-key-file) from the "
    "CA in --requestheader-client-ca-file, with a CN listed in --requestheader-allowed-names and EKU clientAuth, on "
    "each affected control-plane node, then restart kube-apiserver there one node at a time "
    "(kubeadm: `kubeadm certs renew front-proxy-client`); `metrics-guard` responder can do this"
)

REMEDY: Final[dict[Code, str]] = {
    Code.APISERVICE_MISSING: "Deploy metrics-server (its manifest registers APIService v1beta1.metrics.k8s.io).",
    Code.METRICS_SERVICE_MISSING: "Re-apply metrics-server's manifest: Service kube-system/metrics-server must "
    "exist with the port named in the APIService's spec.service, and its selector must match the pod.",
    Code.METRICS_SERVER_NOT_READY: "Make metrics-server Ready: `kubectl -n kube-system describe pod -l "
    "k8s-app=metrics-server` and its log; usually every kubelet scrape fails (kubelet serving certificate, port "
    "10250 blocked) or the process is stopped or hung.",
    Code.METRICS_SERVER_UNREACHABLE: "Check that metrics-server runs and listens on the Service's target port, "
    "and that no network policy or firewall refuses connections from the control-plane hosts.",
    Code.AGGREGATOR_NETWORK_TIMEOUT: "Give the control-plane hosts a route to the pod network: run the CNI agent "
    "(flanneld, calico-node, …) on the masters, or run metrics-server with hostNetwork: true and kube-apiserver "
    "with --enable-aggregator-routing=true; check that firewalls / security groups pass metrics-server's secure "
    "port from the masters (test: curl -k https://<metrics-server pod IP>:<port>/readyz from a master).",
    Code.AGGREGATOR_PROXY_CERT_REJECTED: "Inspect the proxy client certificate on every control-plane node "
    "(run `metrics-guard diagnose --node-root …` or the cert probe); if it is the cause, "
    + _REISSUE
    + "; if "
    "metrics-server was started with an old --requestheader-client-ca-file, restart it.",
    Code.PROXY_CERT_EXPIRED: "Renew it: " + _REISSUE + ".",
    Code.PROXY_CERT_EXPIRING: "Renew it before it expires: " + _REISSUE + ".",
    Code.PROXY_CERT_WRONG_CA: "Sign it with the requestheader CA: " + _REISSUE + ".",
    Code.PROXY_CERT_CN_NOT_ALLOWED: "Either "
    + _REISSUE
    + ", or add its CN to --requestheader-allowed-names on "
    "every apiserver.",
    Code.METRICS_SERVER_TLS_UNTRUSTED: "Give metrics-server a stable serving certificate (--tls-cert-file / "
    "--tls-private-key-file) for <service>.<namespace>.svc signed by the CA in the APIService's caBundle, or "
    "put the CA that signed it in spec.caBundle (cert-manager's cainjector can keep them in step).",
    Code.AGGREGATION_NOT_CONFIGURED: "Start kube-apiserver with --requestheader-client-ca-file, "
    "--requestheader-allowed-names, --requestheader-username-headers=X-Remote-User, "
    "--requestheader-group-headers=X-Remote-Group, --requestheader-extra-headers-prefix=X-Remote-Extra-, "
    "--proxy-client-cert-file and --proxy-client-key-file (and --enable-aggregator-routing=true without "
    "kube-proxy on the masters), the same on every control-plane node.",
    Code.NODE_METRICS_MISSING: "Check the node's kubelet: running, reachable from metrics-server on its port "
    "(10250), serving certificate trusted (metrics-server log 'Failed to scrape node'); a NotReady node needs its "
    "kubelet back first.",
    Code.METRICS_STALE: "metrics-server's scrapes are late: check its /livez (metric-collection-timely), its log "
    "and the kubelets' response times.",
    Code.CA_EXPIRING: "Rotate the CA before it expires: make a new CA, add it next to the old one in the bundle, "
    "reissue the certificates it signs, then retire the old CA.",
    Code.CERT_EXPIRING: "Renew this certificate before it expires.",
    Code.APISERVERS_DISAGREE: "Make the control-plane nodes identical: compare the named apiservers' flags and "
    "certificates with the healthy ones.",
    Code.PROBE_ERROR: "See the evidence: the probe's credentials, its RBAC (get/list on the objects checked, get "
    "on /metrics) or the reachability of the endpoint.",
}


def remedy_for(code: Code) -> str | None:
    return REMEDY.get(code)


def explain(code: Code) -> str:
    return EXPLANATION.get(code, code.value)


# ------------------------------------------------------------------------------------------ correlation

#: Findings that report symptoms of the Metrics API path; correlation gives them the established cause.
SYMPTOM_CHECKS: Final = frozenset(
    {"metrics-api.apiservice", "metrics-api.discovery", "metrics-api.end-to-end", "metrics-api.apiserver"}
)
#: Codes a symptom finding carries before correlation, which a more specific cause replaces.
REPLACEABLE: Final = frozenset(
    {
        Code.METRICS_SERVER_UNREACHABLE,
        Code.AGGREGATOR_NETWORK_TIMEOUT,
        Code.AGGREGATOR_PROXY_CERT_REJECTED,
        Code.METRICS_SERVER_NOT_READY,
        Code.METRICS_SERVER_TLS_UNTRUSTED,
    }
)
_NODE_CAUSE_ORDER: Final = (
    Code.AGGREGATION_NOT_CONFIGURED,
    Code.PROXY_CERT_EXPIRED,
    Code.PROXY_CERT_WRONG_CA,
    Code.PROXY_CERT_CN_NOT_ALLOWED,
    Code.AGGREGATOR_PROXY_CERT_REJECTED,
)
_AUTH: Final = frozenset({"backend-401", "backend-403"})


def _index(finding: Finding) -> int | None:
    target = finding.target
    name = (
        target.where_name
        if target.where_kind == "apiserver"
        else (target.name if target.kind == "apiserver" else None)
    )
    if name is None or not name.isdigit():
        return None
    return int(name)


def correlate(findings: Sequence[Finding]) -> list[Finding]:
    """Give every failing symptom finding the most specific cause the other findings establish.

    The symptom finding keeps its check, target and evidence (plus ``symptom_code`` and ``caused_by``), so
    its fingerprint is unchanged; only the finding that is the cause itself is remediable.
    """
    node_causes: dict[int, list[Finding]] = {}
    for f in findings:
        if f.status is not Status.FAIL:
            continue
        idx = _index(f)
        if idx is None:
            continue
        if (f.check == "certs.proxy-client" and f.code in _NODE_CAUSE_ORDER) or (
            f.check == "aggregation.flags" and f.code is Code.AGGREGATION_NOT_CONFIGURED
        ):
            node_causes.setdefault(idx, []).append(f)
    ms_ready: bool | None = None
    tls_cause: Finding | None = None
    for f in findings:
        if f.check == "metrics-server.ready":
            if f.code is Code.METRICS_SERVER_NOT_READY:
                ms_ready = False
            elif f.status is Status.OK:
                ms_ready = True
        if f.check == "certs.metrics-server-serving" and f.code is Code.METRICS_SERVER_TLS_UNTRUSTED:
            tls_cause = f
    symptoms = {
        str(f.evidence.get("symptom"))
        for f in findings
        if f.check in SYMPTOM_CHECKS and not f.ok and f.evidence.get("symptom") is not None
    }
    apiserver_down = any(f.check == "metrics-api.apiserver" and f.status is Status.FAIL for f in findings)

    def node_cause(index: int | None) -> Finding | None:
        pool = [c for i, cs in node_causes.items() if index is None or i == index for c in cs]
        pool.sort(key=lambda c: (_NODE_CAUSE_ORDER.index(c.code), str(c.target)))
        return pool[0] if pool else None

    primary: Code | None = None
    causes: list[Finding] = []
    if tls_cause is not None or "backend-tls" in symptoms:
        primary = Code.METRICS_SERVER_TLS_UNTRUSTED
        causes = [tls_cause] if tls_cause else []
    elif symptoms & _AUTH or (apiserver_down and node_cause(None) is not None):
        cause = node_cause(None)
        primary = cause.code if cause else Code.AGGREGATOR_PROXY_CERT_REJECTED
        causes = [c for cs in node_causes.values() for c in cs if c.code is primary]
    elif ms_ready is False:
        primary = Code.METRICS_SERVER_NOT_READY
    elif symptoms & {"timeout", "no-route"}:
        primary = Code.AGGREGATOR_NETWORK_TIMEOUT
    elif "connection-refused" in symptoms:
        primary = Code.METRICS_SERVER_UNREACHABLE
    elif "missing-endpoints" in symptoms:
        primary = Code.METRICS_SERVER_NOT_READY
    elif symptoms & {"endpoints-not-found", "service-not-found", "service-port"}:
        primary = Code.METRICS_SERVICE_MISSING
    if primary is None:
        return list(findings)

    out: list[Finding] = []
    for f in findings:
        replace_it = f.check in SYMPTOM_CHECKS and f.status is Status.FAIL and f.code in REPLACEABLE
        unreachable_probe = (
            f.check == "certs.metrics-server-serving"
            and f.code is Code.PROBE_ERROR
            and f.evidence.get("error_kind") in ("connect", "timeout")
        )
        if not (replace_it or unreachable_probe):
            out.append(f)
            continue
        code, why = primary, causes
        if f.check == "metrics-api.apiserver":
            own = node_cause(_index(f))
            if own is not None:
                code, why = own.code, [own]
        if code is f.code and not why:
            out.append(f)
            continue
        evidence = dict(f.evidence)
        evidence["symptom_code"] = f.code.value
        caused_by: list[Json] = [str(c.target) for c in why]
        evidence["caused_by"] = caused_by
        where = f" on {', '.join(str(c.target) for c in why[:3])}" if why else ""
        out.append(
            dataclasses.replace(
                f,
                code=code,
                status=Status.FAIL,
                summary=f"{f.summary} [cause: {code.value}{where}]",
                evidence=evidence,
                remedy=remedy_for(code),
                remediable_by=None,
            )
        )
    return out
