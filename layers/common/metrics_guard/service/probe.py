"""Probe one cluster: run the check families, correlate into causes, return the findings document.

This is the one entry point the CLI, the Lambda handlers and the responder's re-check share. Every call's
timeout is capped by the time left before ``deadline_s``; cluster trouble never raises, it becomes findings.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TYPE_CHECKING, Literal, TypeVar
from urllib.parse import quote

from metrics_guard.bulk import bulk
from metrics_guard.checks._base import (
    CONNECT,
    OTHER,
    TIMEOUT,
    TLS,
    TOO_LARGE,
    Call,
    Decoded,
    decode_call,
    finding,
)
from metrics_guard.checks.apiservice import (
    ApiServiceObservation,
    apiservice_symptom,
    check_apiservice,
    read_apiservice,
)
from metrics_guard.checks.coverage import CoverageObservation, check_coverage
from metrics_guard.checks.discovery import DiscoveryObservation, check_discovery
from metrics_guard.checks.end_to_end import EndToEndObservation, check_end_to_end
from metrics_guard.checks.metrics_server import MetricsServerObservation, check_metrics_server
from metrics_guard.checks.per_apiserver import (
    ApiserverObservation,
    PerApiserverObservation,
    check_per_apiserver,
)
from metrics_guard.checks.policy import ProbePolicy
from metrics_guard.decode.apiservice import APIService
from metrics_guard.decode.core import (
    METADATA_LIST_ACCEPT,
    POD_TABLE_ACCEPT,
    POD_TABLE_QUERY,
    POD_TABLE_QUERY_CELLS,
    Node,
    Pod,
    decode_endpointslice_list,
    decode_list_size,
    decode_names,
    decode_node_list,
    decode_pod,
    decode_pod_list,
    decode_pod_rows,
    decode_service,
)
from metrics_guard.decode.discovery import AGGREGATED_ACCEPT
from metrics_guard.decode.metrics import PodUsage, decode_node_metrics_list, decode_pod_metrics_list
from metrics_guard.decode.text import UNAVAILABLE_GAUGE, FamilyEnd
from metrics_guard.diagnosis import correlate
from metrics_guard.errors import (
    DecodeError,
    KubeConnectError,
    KubeTimeoutError,
    KubeTLSError,
    MetricsGuardError,
    ResponseTooLargeError,
)
from metrics_guard.model import Code, Finding, FindingsDocument, Status, Target
from metrics_guard.ports import (
    CertificateSource,
    Enough,
    KubeTransport,
    NodeMaterial,
    NodeRef,
    TlsProber,
)

if TYPE_CHECKING:
    # The certificate checks (and cryptography under them) are imported by the certs family when it runs:
    # the metrics probe never loads them, and diagnose loads them while its first GETs are in flight.
    from metrics_guard.checks.certificates import TlsObservation

__all__ = ["ProbeKind", "ProbePolicy", "ProbeTargets", "run_probe"]

ProbeKind = Literal["metrics", "certs", "all"]
REACHABILITY_CHECK = "probe.reachability"
_log = logging.getLogger("metrics_guard.probe")
T = TypeVar("T")
#: Per-apiserver direct GETs share one connection while each answers within this time (see _apiserver_calls).
_SEQUENTIAL_WHILE_UNDER_S = 1.0
_RUNNING = "fieldSelector=status.phase%3DRunning"
RUNNING_PODS_PATH = f"/api/v1/pods?{_RUNNING}"
#: Running pods are listed as a server-side Table, from the watch cache, in pages of this many where the
#: server pages such lists: kube-apiserver encodes a row and the pod's metadata instead of the whole Pod,
#: and reads no page of it from etcd (see docs/benchmarks.md, scale).
POD_TABLE_PAGE = 5000
#: From this many pods in the cluster, running pods are listed namespace by namespace (cells only, several
#: lists at a time) instead of in one Table with each pod's metadata: kube-apiserver encodes a third of the
#: bytes and the lists share its cores. Below it, the one list is cheaper than the extra requests.
BY_NAMESPACE_FROM_PODS = 20_000
#: ... as long as there are at most this many namespaces (each is one request).
BY_NAMESPACE_MAX_NAMESPACES = 1000
BY_NAMESPACE_WORKERS = 4
#: A PodMetricsList item of a one-container pod is ~350 bytes: its size, divided by this, bounds the pods.
POD_METRICS_BYTES_PER_POD = 300
#: A Table gives creationTimestamp, not status.startTime: pods that would be reported without (or with
#: stale) PodMetrics and were created before the grace period are read one by one for their startTime, up
#: to this many; beyond it, the running pods are listed again in full (the exact, expensive path).
MAX_START_LOOKUPS = 100


@dataclass(frozen=True, slots=True)
class ProbeTargets:
    cluster: str
    front: KubeTransport
    #: Each control-plane node with a transport straight to its apiserver (may be empty).
    apiservers: Sequence[tuple[NodeRef, KubeTransport]] = field(default_factory=tuple)
    certificates: CertificateSource | None = None
    nodes: Sequence[NodeRef] = field(default_factory=tuple)
    tls: TlsProber | None = None
    #: The CA the clients trust for the apiservers (the kubeconfig's): each apiserver's serving certificate
    #: is verified against it in one handshake. None: the system trust store.
    apiserver_ca_pem: str | None = None


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self._end = time.monotonic() + max(seconds, 0.0)

    def remaining(self) -> float:
        return self._end - time.monotonic()


def _get(
    transport: KubeTransport,
    path: str,
    deadline: _Deadline,
    *,
    accept: str = "application/json",
    enough: Enough | None = None,
) -> Call:
    endpoint = transport.endpoint
    remaining = deadline.remaining()
    if remaining <= 0.05:
        return Call(endpoint, path, None, TIMEOUT, "overall deadline reached before the request")
    start = time.monotonic()
    kind: str
    try:
        response = transport.get(path, accept=accept, timeout_s=remaining, enough=enough)
    except KubeTimeoutError as exc:
        kind, error = TIMEOUT, str(exc)
    except KubeConnectError as exc:
        kind, error = CONNECT, str(exc)
    except KubeTLSError as exc:
        kind, error = TLS, str(exc)
    except ResponseTooLargeError as exc:
        kind, error = TOO_LARGE, str(exc)
    except MetricsGuardError as exc:
        kind, error = OTHER, str(exc)
    else:
        elapsed = response.elapsed_s or (time.monotonic() - start)
        return Call(endpoint, path, response, elapsed_s=elapsed)
    return Call(
        endpoint, path, None, kind, error.splitlines()[0][:300] if error else kind, time.monotonic() - start
    )


def _without_body(call: Call) -> Call:
    return replace(call, response=replace(call.response, body=b"")) if call.response else call


def _paged(
    transport: KubeTransport,
    path: str,
    decoder: Callable[[bytes], tuple[tuple[T, ...], str | None]],
    limit: int,
    deadline: _Deadline,
    *,
    accept: str = "application/json",
    first_query: str = "",
) -> tuple[Call, Decoded[tuple[T, ...]]]:
    """``first_query`` goes on the first page only (``resourceVersion=0``: a continue token carries its own)."""
    items: list[T] = []
    token: str | None = None
    first: Call | None = None
    sep = "&" if "?" in path else "?"
    for _ in range(10_000):
        page_path = f"{path}{sep}limit={limit}" + (
            f"&continue={quote(token, safe='')}" if token else (f"&{first_query}" if first_query else "")
        )
        call = _get(transport, page_path, deadline, accept=accept)
        if not call.ok:
            return call, Decoded(None, None)
        try:
            page, token = decoder(call.body)
        except DecodeError as exc:
            return call, Decoded(None, str(exc))
        # the first page's call is returned for its status and timing, not its body (~70 MB unpaged)
        first = first or _without_body(call)
        del call
        items.extend(page)
        if not token:
            break
    assert first is not None
    return first, Decoded(tuple(items))


def _nodes_page(body: bytes) -> tuple[tuple[Node, ...], str | None]:
    page = decode_node_list(body)
    return page.items, page.continue_token


def _pods_page(body: bytes) -> tuple[tuple[Pod, ...], str | None]:
    page = decode_pod_list(body)
    return page.items, page.continue_token


def _pod_rows_page(body: bytes) -> tuple[tuple[Pod, ...], str | None]:
    page = decode_pod_rows(body, phase="Running")
    return page.items, page.continue_token


def list_running_pods(
    transport: KubeTransport,
    policy: ProbePolicy,
    deadline: _Deadline,
    *,
    pod_metrics_bytes: Callable[[], int | None] | None = None,
) -> tuple[Call, Decoded[tuple[Pod, ...]]]:
    """The running pods for the coverage check: a server-side Table (PodList from a server without
    Tables) from the apiserver's watch cache (``resourceVersion=0``; kube-apiserver then answers in one
    page, a newer one may page it). Pods from a Table carry creationTimestamp (or their Age) as
    ``started``, and the cache may lag: settle_pod_starts reads the pods that would be reported one by
    one. In a large cluster (``BY_NAMESPACE_FROM_PODS``) the Tables are asked for namespace by namespace,
    without the pods' metadata (see ``_running_pods_by_namespace``).

    How large: ``pod_metrics_bytes`` waits for the caller's PodMetricsList and gives its size (None: it
    had no body), about ``POD_METRICS_BYTES_PER_POD`` per pod; the lists then start once that large body
    is in, so that it has the apiservers to itself and the lists are encoded while it is decoded. Without
    that hint, one GET of a single pod's metadata reads the list's size (``remainingItemCount``)."""
    known = pod_metrics_bytes() if pod_metrics_bytes is not None else None
    if known is not None:
        pods = known // POD_METRICS_BYTES_PER_POD
    else:
        size = _get(transport, "/api/v1/pods?limit=1", deadline, accept=METADATA_LIST_ACCEPT)
        pods = decode_call(size, lambda body: decode_list_size(body, what="PodList")).value or 0
    if pods >= BY_NAMESPACE_FROM_PODS:
        by_namespace = _running_pods_by_namespace(transport, policy, deadline)
        if by_namespace is not None:
            return by_namespace
    return _paged(
        transport,
        f"{RUNNING_PODS_PATH}&{POD_TABLE_QUERY}",
        _pod_rows_page,
        max(policy.page_limit, POD_TABLE_PAGE),
        deadline,
        accept=POD_TABLE_ACCEPT,
        first_query="resourceVersion=0",
    )


def body_size(future: Future[Call], deadline: _Deadline) -> Callable[[], int | None]:
    """A wait for the call that gives its body's size (None: no 2xx body), holding on to neither the
    future nor the body (a ~60 MB PodMetricsList must be free to go once decoded): ``pod_metrics_bytes``
    of ``list_running_pods``."""
    done = threading.Event()
    size: list[int | None] = [None]

    def arrived(f: Future[Call]) -> None:
        call = None if f.cancelled() or f.exception() is not None else f.result()
        size[0] = len(call.body) if call is not None and call.ok else None
        done.set()

    future.add_done_callback(arrived)

    def wait() -> int | None:
        done.wait(timeout=max(deadline.remaining(), 0.0))
        return size[0]

    return wait


def _namespaces_page(body: bytes) -> tuple[tuple[str, ...], str | None]:
    return decode_names(body, what="NamespaceList")


def _running_pods_by_namespace(
    transport: KubeTransport, policy: ProbePolicy, deadline: _Deadline
) -> tuple[Call, Decoded[tuple[Pod, ...]]] | None:
    """The running pods as one cells-only Table per namespace, ``BY_NAMESPACE_WORKERS`` at a time, each
    decoded as it comes. None (the caller lists them in one Table) when the namespaces cannot be listed
    (e.g. no RBAC for it) or are too many. A failed list is returned as the whole list's failure."""
    listed, namespaces = _paged(
        transport, "/api/v1/namespaces", _namespaces_page, policy.page_limit, deadline
    )
    if namespaces.value is None or len(namespaces.value) > BY_NAMESPACE_MAX_NAMESPACES:
        _log.info("running pods in one list", extra={"namespaces_status": listed.status})
        return None

    def one(namespace: str) -> tuple[Call, Decoded[tuple[Pod, ...]]]:
        path = (
            f"/api/v1/namespaces/{quote(namespace, safe='')}/pods?{_RUNNING}"
            f"&{POD_TABLE_QUERY_CELLS}&resourceVersion=0"
        )
        call = _get(transport, path, deadline, accept=POD_TABLE_ACCEPT)
        received = time.time()
        pods = decode_call(
            call,
            lambda body: decode_pod_rows(body, phase="Running", namespace=namespace, now_s=received).items,
        )
        return _without_body(call), pods  # kept for its status and timing, not its body

    workers = min(BY_NAMESPACE_WORKERS, max(len(namespaces.value), 1))
    pods: list[Pod] = []
    first: Call | None = None
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pods") as pool:
        for call, page in pool.map(one, namespaces.value):
            if page.value is None:
                pool.shutdown(wait=False, cancel_futures=True)
                return call, Decoded(None, page.error)
            first = first or call
            pods.extend(page.value)
    return first or listed, Decoded(tuple(pods))


@bulk
def settle_pod_starts(
    transport: KubeTransport,
    pods: Decoded[tuple[Pod, ...]],
    pod_metrics: tuple[PodUsage, ...] | None,
    policy: ProbePolicy,
    *,
    now: datetime,
    deadline: _Deadline,
) -> Decoded[tuple[Pod, ...]]:
    """Make the pods the coverage check would report exact: a pod from a Table whose ``started`` is its
    creationTimestamp and that is past the grace period by it, but has no (or stale) PodMetrics, may have
    started within the grace period (check_coverage leaves those out): read its startTime. Pods with fresh
    PodMetrics are counted as checked either way (their findings' status does not depend on it)."""
    if pods.value is None or pod_metrics is None:
        return pods
    now_s = now.timestamp()
    stamps = {(m.namespace, m.name): m.timestamp for m in pod_metrics}
    wanted: list[int] = []
    for i, p in enumerate(pods.value):
        if p.started_exact or not p.node or p.deleting or now_s - p.started <= policy.pod_grace_s:
            continue
        stamp = stamps.get((p.namespace, p.name))
        if stamp is None or (stamp > 0 and now_s - stamp > policy.max_metrics_age_s):
            wanted.append(i)
    if not wanted:
        return pods
    if len(wanted) > MAX_START_LOOKUPS:
        _, full = _paged(transport, RUNNING_PODS_PATH, _pods_page, max(policy.page_limit, 2000), deadline)
        return full if full.value is not None else pods
    settled = list(pods.value)
    gone: set[int] = set()
    for i in wanted:
        p = settled[i]
        call = _get(transport, f"/api/v1/namespaces/{quote(p.namespace)}/pods/{quote(p.name)}", deadline)
        if call.status == 404:
            gone.add(i)
            continue
        exact = decode_call(call, decode_pod).value
        if exact is not None:
            settled[i] = exact
    return Decoded(tuple(p for i, p in enumerate(settled) if i not in gone))


def _apiservice_path(name: str) -> str:
    return f"/apis/apiregistration.k8s.io/v1/apiservices/{name}"


def _group_version(name: str) -> tuple[str, str]:
    version, _, group = name.partition(".")
    return group, version


class _Runner:
    def __init__(
        self, targets: ProbeTargets, policy: ProbePolicy, deadline: _Deadline, moment: datetime
    ) -> None:
        self.t = targets
        self.policy = policy
        self.deadline = deadline
        self.now = moment
        self.pool = ThreadPoolExecutor(max_workers=max(policy.max_workers, 2), thread_name_prefix="probe")

    def get(
        self,
        path: str,
        *,
        accept: str = "application/json",
        transport: KubeTransport | None = None,
        enough: Enough | None = None,
    ) -> Future[Call]:
        return self.pool.submit(
            _get, transport or self.t.front, path, self.deadline, accept=accept, enough=enough
        )

    def wait(self, future: Future[T]) -> T:
        return future.result(timeout=max(self.deadline.remaining(), 0.0) + 5.0)

    # ----------------------------------------------------------------------------------------- families

    def metrics(self, apiservice_call: Future[Call]) -> list[Finding]:
        policy = self.policy
        group, version = _group_version(policy.apiservice)
        gv = f"{group}/{version}"
        # Per apiserver: its /metrics (only up to the aggregator's gauge: the connection is then dropped)
        # and a chain of its other GETs one after the other on one kept-alive connection (one TLS
        # handshake, client certificate included, instead of one per GET). Submitted first: they are the
        # longest paths of the probe, and kube-apiserver gathers all its metrics before the first byte.
        own_metrics = [
            self.get("/metrics", accept="text/plain", transport=tr, enough=FamilyEnd(UNAVAILABLE_GAUGE))
            for _, tr in self.t.apiservers
        ]
        per_apiserver = [
            self.pool.submit(self._apiserver_calls, node, tr, gv, m)
            for (node, tr), m in zip(self.t.apiservers, own_metrics, strict=True)
        ]
        apis = self.get("/apis", accept=AGGREGATED_ACCEPT)
        gv_call = self.get(f"/apis/{gv}")
        nodes_call = self.get(f"/apis/{gv}/nodes")
        pods_call = self.get(f"/apis/{gv}/pods")
        baseline = self.get("/api")
        node_list = self.pool.submit(
            _paged, self.t.front, "/api/v1/nodes", _nodes_page, policy.page_limit, self.deadline
        )
        pod_list = self.pool.submit(
            list_running_pods,
            self.t.front,
            policy,
            self.deadline,
            pod_metrics_bytes=body_size(pods_call, self.deadline),
        )
        out: list[Finding] = []
        ap_call = self.wait(apiservice_call)
        apiservice = read_apiservice(ap_call).value
        out += check_apiservice(
            ApiServiceObservation(self.t.cluster, policy.apiservice, ap_call), policy, now=self.now
        )
        ms = self.metrics_server(apiservice)
        out += check_discovery(
            DiscoveryObservation(self.t.cluster, group, version, self.wait(apis), self.wait(gv_call)),
            policy,
            now=self.now,
        )
        n_call, p_call = self.wait(nodes_call), self.wait(pods_call)
        node_metrics = decode_call(n_call, decode_node_metrics_list)
        pod_metrics = decode_call(p_call, decode_pod_metrics_list)
        out += check_end_to_end(
            EndToEndObservation(
                self.t.cluster,
                gv,
                n_call,
                p_call,
                self.wait(baseline),
                node_metrics,
                pod_metrics,
                apiservice_symptom(apiservice),
            ),
            policy,
            now=self.now,
        )
        # The Metrics API bodies (~60 MB at 150k pods) are decoded and judged: let them go before the
        # running-pod Table (~70 MB) arrives, so the two large bodies are never held at once.
        del n_call, p_call, nodes_call, pods_call
        _, nodes = self.wait(node_list)
        _, pods = self.wait(pod_list)
        pods = settle_pod_starts(
            self.t.front, pods, pod_metrics.value, policy, now=self.now, deadline=self.deadline
        )
        out += check_coverage(
            CoverageObservation(
                self.t.cluster, nodes.value, pods.value, node_metrics.value, pod_metrics.value
            ),
            policy,
            now=self.now,
        )
        if ms is not None:
            out += check_metrics_server(ms, policy, now=self.now)
        if per_apiserver:
            observed = [self.wait(f) for f in per_apiserver]
            out += check_per_apiserver(
                PerApiserverObservation(self.t.cluster, policy.apiservice, observed), policy, now=self.now
            )
        return out

    def _apiserver_calls(
        self, node: NodeRef, transport: KubeTransport, gv: str, own_metrics: Future[Call]
    ) -> ApiserverObservation:
        """The apiserver's readiness and its repeated direct Metrics API GETs (its /metrics runs beside
        them). While the answers come back quickly they go one after the other (one kept-alive
        connection); once one is slow or fails without a response (a timeout: the symptom of a broken
        path), the rest go in parallel, so that a broken apiserver costs about two timeouts, not one per
        request."""
        path = f"/apis/{gv}/nodes"
        readyz = _get(transport, "/readyz?verbose", self.deadline, accept="text/plain")
        calls: list[Call] = []
        wanted = max(self.policy.per_apiserver_requests, 1)
        while len(calls) < wanted:
            call = _get(transport, path, self.deadline)
            calls.append(call)
            if call.response is None or call.elapsed_s > _SEQUENTIAL_WHILE_UNDER_S:
                rest = [self.get(path, transport=transport) for _ in range(wanted - len(calls))]
                calls += [self.wait(f) for f in rest]
        return ApiserverObservation(node, self.wait(own_metrics), tuple(calls), readyz)

    def metrics_server(self, apiservice: APIService | None) -> MetricsServerObservation | None:
        if apiservice is None or apiservice.is_local or apiservice.service_name is None:
            return None
        ns, name = apiservice.service_namespace or "default", apiservice.service_name
        service_call = self.wait(self.get(f"/api/v1/namespaces/{ns}/services/{name}"))
        slices = self.get(
            f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector="
            + quote(f"kubernetes.io/service-name={name}", safe="")
        )
        pods_call: Call | None = None
        service = decode_call(service_call, decode_service).value
        if service is not None and service.selector:
            selector = ",".join(f"{k}={v}" for k, v in service.selector)
            pods_call = self.wait(
                self.get(f"/api/v1/namespaces/{ns}/pods?labelSelector={quote(selector, safe='')}")
            )
        return MetricsServerObservation(
            self.t.cluster, ns, name, apiservice.service_port, service_call, pods_call, self.wait(slices)
        )

    def certs(self, apiservice_call: Future[Call]) -> list[Finding]:
        policy = self.policy
        configmap = self.get("/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication")
        from metrics_guard.checks.aggregation import (
            AggregationObservation,
            check_aggregation,
            read_auth_config,
        )
        from metrics_guard.checks.certificates import CertificatesObservation, check_certificates, host_port

        nodes = list(self.t.nodes) or [node for node, _ in self.t.apiservers]
        materials_future: Future[Sequence[NodeMaterial]] | None = None
        if self.t.certificates is not None and nodes:
            materials_future = self.pool.submit(self.t.certificates.read, nodes)
        apiserver_tls: list[Future[tuple[NodeRef, TlsObservation]]] = []
        if self.t.tls is not None:
            for node in nodes:
                if node.apiserver_url:
                    host, port = host_port(node.apiserver_url)
                    apiserver_tls.append(self.pool.submit(self._tls_pair, node, host, port, host))
        apiservice = read_apiservice(self.wait(apiservice_call)).value
        ms_tls: TlsObservation | None = None
        if self.t.tls is not None and apiservice is not None and apiservice.service_name:
            ms_tls = self._metrics_server_tls(apiservice)
        cm_call = self.wait(configmap)
        materials: Sequence[NodeMaterial] | None = None
        if materials_future is not None:
            try:
                materials = self.wait(materials_future)
            except MetricsGuardError as exc:
                materials = [
                    NodeMaterial(n, "unknown", {}, None, None, None, None, (f"certificate source: {exc}",))
                    for n in nodes
                ]
        out = check_aggregation(
            AggregationObservation(self.t.cluster, cm_call, materials), policy, now=self.now
        )
        out += check_certificates(
            CertificatesObservation(
                self.t.cluster,
                read_auth_config(cm_call),
                materials,
                apiservice,
                ms_tls,
                [self.wait(f) for f in apiserver_tls],
            ),
            policy,
            now=self.now,
        )
        return out

    def _tls(self, host: str, port: int, server_name: str, ca_pem: str | None) -> TlsObservation:
        from metrics_guard.checks.certificates import TlsObservation

        assert self.t.tls is not None
        timeout = min(max(self.deadline.remaining(), 0.1), 10.0)
        try:
            peer = self.t.tls.peer_certificates(
                host, port, server_name=server_name, ca_pem=ca_pem, timeout_s=timeout
            )
        except KubeTimeoutError as exc:
            return TlsObservation(host, port, server_name, None, TIMEOUT, str(exc))
        except KubeConnectError as exc:
            return TlsObservation(host, port, server_name, None, CONNECT, str(exc))
        except MetricsGuardError as exc:
            return TlsObservation(host, port, server_name, None, OTHER, str(exc))
        return TlsObservation(host, port, server_name, peer)

    def _tls_pair(
        self, node: NodeRef, host: str, port: int, server_name: str
    ) -> tuple[NodeRef, TlsObservation]:
        return node, self._tls(host, port, server_name, self.t.apiserver_ca_pem)

    def _metrics_server_tls(self, apiservice: APIService) -> TlsObservation | None:
        ns, name = apiservice.service_namespace or "default", apiservice.service_name or ""
        call = self.wait(
            self.get(
                f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices?labelSelector="
                + quote(f"kubernetes.io/service-name={name}", safe="")
            )
        )
        endpoints = decode_call(call, decode_endpointslice_list).value
        if not endpoints:
            return None
        ready = [e for e in endpoints if e.ready] or list(endpoints)
        endpoint = ready[0]
        port = endpoint.ports[0][1] if endpoint.ports else apiservice.service_port
        return self._tls(endpoint.ip, port, f"{name}.{ns}.svc", apiservice.ca_bundle_pem)


def _probe_error(cluster: str, moment: datetime, check: str, target: Target, summary: str) -> Finding:
    return finding(
        cluster=cluster,
        now=moment,
        check=check,
        target=target,
        status=Status.ERROR,
        code=Code.PROBE_ERROR,
        summary=summary,
    )


def run_probe(
    targets: ProbeTargets,
    policy: ProbePolicy,
    *,
    kind: ProbeKind,
    now: Callable[[], datetime],
    deadline_s: float,
) -> FindingsDocument:
    """Never raises for cluster trouble: what could not be checked becomes a PROBE_ERROR finding."""
    moment = now()
    deadline = _Deadline(deadline_s)
    cluster = targets.cluster
    front = Target("endpoint", "front")
    version = _get(targets.front, "/version", deadline)
    if version.response is None or version.status in (401, 403):
        reason = version.error or f"HTTP {version.status} (credentials rejected)"
        _log.warning("probe.unreachable", extra={"cluster": cluster, "reason": reason})
        return FindingsDocument(
            cluster,
            moment,
            (
                _probe_error(
                    cluster, moment, REACHABILITY_CHECK, front, f"{targets.front.endpoint}: {reason}"
                ),
            ),
        )
    runner = _Runner(targets, policy, deadline, moment)
    findings: list[Finding] = [
        finding(
            cluster=cluster,
            now=moment,
            check=REACHABILITY_CHECK,
            target=front,
            status=Status.OK,
            code=Code.OK,
            summary=f"{targets.front.endpoint} answers ({version.elapsed_s * 1000:.0f} ms)",
            evidence={"request": version.evidence()},
        )
    ]
    try:
        apiservice_call = runner.get(_apiservice_path(policy.apiservice))
        families: list[Future[list[Finding]]] = []
        if kind in ("metrics", "all"):
            families.append(runner.pool.submit(runner.metrics, apiservice_call))
        if kind in ("certs", "all"):
            families.append(runner.pool.submit(runner.certs, apiservice_call))
        for family in families:
            try:
                result: list[Finding] = runner.wait(family)
                findings.extend(result)
            except TimeoutError:
                findings.append(
                    _probe_error(
                        cluster, moment, "probe.deadline", front, f"deadline of {deadline_s:.0f} s reached"
                    )
                )
            except MetricsGuardError as exc:
                findings.append(_probe_error(cluster, moment, "probe.internal", front, str(exc)))
            except Exception as exc:  # noqa: BLE001 - a bug must not take the scheduled probe down; logged
                _log.exception("probe.family_failed", extra={"cluster": cluster})
                findings.append(
                    _probe_error(
                        cluster, moment, "probe.internal", front, f"internal error: {type(exc).__name__}"
                    )
                )
    finally:
        runner.pool.shutdown(wait=False, cancel_futures=True)
    findings = correlate(findings)
    return FindingsDocument(cluster, moment, tuple(findings))
