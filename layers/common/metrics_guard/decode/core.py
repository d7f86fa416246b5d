"""Core objects the checks read: NodeList, PodList (paginated), Service, Endpoints / EndpointSlices,
the ``extension-apiserver-authentication`` ConfigMap and ``Status`` error bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple, TypedDict

from metrics_guard.decode._json import (
    as_dict,
    as_list,
    as_str,
    check_body,
    json_error,
    load_json,
    load_object,
    parse_time,
    walk_list,
)
from metrics_guard.errors import DecodeError


class RawNodeCondition(TypedDict, total=False):
    type: str
    status: str
    reason: str
    message: str


class RawNodeStatus(TypedDict, total=False):
    conditions: list[RawNodeCondition]
    addresses: list[dict[str, str]]


class RawNode(TypedDict, total=False):
    metadata: dict[str, Any]
    spec: dict[str, Any]
    status: RawNodeStatus


# ------------------------------------------------------------------------------------------------ Nodes


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    unschedulable: bool
    deleting: bool
    ready: bool | None  # None: no Ready condition reported
    ready_reason: str
    internal_ip: str | None
    created: datetime | None


@dataclass(frozen=True, slots=True)
class NodePage:
    items: tuple[Node, ...]
    continue_token: str | None


def _continue(data: dict[str, Any]) -> str | None:
    token = as_dict(data.get("metadata")).get("continue")
    return token if isinstance(token, str) and token else None


def node_from_object(raw: Any) -> Node:
    item = as_dict(raw)
    meta = as_dict(item.get("metadata"))
    name = as_str(meta.get("name"))
    status = as_dict(item.get("status"))
    ready: bool | None = None
    reason = ""
    for cond in as_list(status.get("conditions"), what=f"Node {name}"):
        c = as_dict(cond)
        if c.get("type") == "Ready":
            ready = c.get("status") == "True"
            reason = as_str(c.get("reason"))
    internal_ip = None
    for addr in as_list(status.get("addresses"), what=f"Node {name}"):
        a = as_dict(addr)
        if a.get("type") == "InternalIP":
            internal_ip = as_str(a.get("address")) or None
    return Node(
        name=name,
        unschedulable=as_dict(item.get("spec")).get("unschedulable") is True,
        deleting=meta.get("deletionTimestamp") is not None,
        ready=ready,
        ready_reason=reason,
        internal_ip=internal_ip,
        created=parse_time(meta.get("creationTimestamp"), what=f"Node {name}"),
    )


def decode_node_list(body: bytes | str) -> NodePage:
    data = load_object(body, what="NodeList", kinds=("NodeList",))
    items = tuple(node_from_object(i) for i in as_list(data.get("items"), what="NodeList"))
    return NodePage(items, _continue(data))


# ------------------------------------------------------------------------------------------------- Pods


class Pod(NamedTuple):
    """Compact: a PodList of 150,000 pods becomes 150,000 tuples. ``started`` is POSIX seconds or 0.0.

    From a server-side Table (``decode_pod_rows``) ``started`` is the pod's creationTimestamp, a lower
    bound of its ``status.startTime`` (which a Table does not carry): ``started_exact`` is then False.
    """

    namespace: str
    name: str
    node: str
    phase: str
    ready: bool
    deleting: bool
    started: float
    labels: tuple[tuple[str, str], ...]
    started_exact: bool = True


@dataclass(frozen=True, slots=True)
class PodPage:
    items: tuple[Pod, ...]
    continue_token: str | None


def pod_from_object(raw: Any, *, keep_labels: bool = False) -> Pod:
    item = as_dict(raw)
    meta = as_dict(item.get("metadata"))
    status = as_dict(item.get("status"))
    ready = False
    for cond in as_list(status.get("conditions"), what="Pod"):
        c = as_dict(cond)
        if c.get("type") == "Ready":
            ready = c.get("status") == "True"
    started = parse_time(status.get("startTime"), what="Pod")
    labels = tuple(sorted(as_dict(meta.get("labels")).items())) if keep_labels else ()
    return Pod(
        namespace=as_str(meta.get("namespace")),
        name=as_str(meta.get("name")),
        node=as_str(as_dict(item.get("spec")).get("nodeName")),
        phase=as_str(status.get("phase")),
        ready=ready,
        deleting=meta.get("deletionTimestamp") is not None,
        started=started.timestamp() if started else 0.0,
        labels=labels,
    )


def decode_pod(body: bytes | str) -> Pod:
    return pod_from_object(load_object(body, what="Pod", kinds=("Pod",)))


def decode_pod_list(body: bytes | str, *, keep_labels: bool = False) -> PodPage:
    data = load_object(body, what="PodList", kinds=("PodList",))
    items = tuple(
        pod_from_object(i, keep_labels=keep_labels) for i in as_list(data.get("items"), what="PodList")
    )
    return PodPage(items, _continue(data))


#: Ask for the pods as a server-side Table (kubectl's ``get`` Accept header): name, the Node column and the
#: object's metadata (namespace, creation and deletion timestamps) instead of the whole Pod, which is ~5x
#: the bytes for kube-apiserver to encode. A server without Table support answers with the PodList.
POD_TABLE_ACCEPT: Final = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
#: With the Table Accept header: each row's object is the pod's metadata (the default, said explicitly).
POD_TABLE_QUERY: Final = "includeObject=Metadata"
_TABLE_NONE: Final = "<none>"


def _timestamp(value: Any, *, what: str) -> float:
    moment = parse_time(value, what=what)
    return moment.timestamp() if moment else 0.0


class _RowFolder:
    """Folds the rows of a pod Table into Pod tuples, one at a time (a row is parsed, folded, dropped)."""

    def __init__(self, phase: str) -> None:
        self.phase = phase
        self.node_i = -1
        self.ready_i: int | None = None
        self.stamps: dict[Any, float] = {}
        self.pending: list[Any] = []  # rows seen before the columnDefinitions (not kube-apiserver's order)
        self.out: list[Pod] = []

    def columns(self, definitions: Any) -> None:
        columns = [as_str(as_dict(c).get("name")) for c in as_list(definitions, what="Table")]
        if "Node" not in columns:
            raise DecodeError(f"Pod Table: no Node column (columns: {', '.join(columns)[:120]})")
        self.node_i = columns.index("Node")
        self.ready_i = columns.index("Ready") if "Ready" in columns else None
        pending, self.pending = self.pending, []
        for row in pending:
            self.add(row)

    def add(self, raw: Any) -> None:
        if self.node_i < 0:
            self.pending.append(raw)
            return
        row = as_dict(raw)
        cells = as_list(row.get("cells"), what="Table row")
        meta = as_dict(as_dict(row.get("object")).get("metadata"))
        if not meta or len(cells) <= self.node_i:
            raise DecodeError("Pod Table: a row without its object metadata or Node cell")
        node = cells[self.node_i]
        ready = False
        ready_i = self.ready_i
        if ready_i is not None and ready_i < len(cells) and isinstance(cells[ready_i], str):
            have, _, want = cells[ready_i].partition("/")
            ready = bool(want) and have == want and want != "0"
        created = meta.get("creationTimestamp")
        started = self.stamps.get(created)
        if started is None:
            started = self.stamps[created] = _timestamp(created, what="Pod")
        self.out.append(
            Pod(
                namespace=as_str(meta.get("namespace")),
                name=as_str(meta.get("name")),
                node="" if not isinstance(node, str) or node == _TABLE_NONE else node,
                phase=self.phase,
                ready=ready,
                deleting=meta.get("deletionTimestamp") is not None,
                started=started,
                labels=(),
                started_exact=False,
            )
        )


def decode_pod_rows(body: bytes | str, *, phase: str) -> PodPage:
    """One page (or the whole, unpaginated list) of pods asked for with ``POD_TABLE_ACCEPT`` and
    ``fieldSelector=status.phase=<phase>`` (a Table row has no phase: the selector is what says it).

    A Table: walked row by row (a 150,000-row body is ~70 MB: never one tree of it), ``started`` from
    creationTimestamp, ``started_exact`` False. From a server that does not serve Tables, the PodList
    (decoded as ``decode_pod_list`` does)."""
    what = "PodList"
    check_body(body, what=what)
    text = body.decode("utf-8", "strict") if isinstance(body, bytes) else body
    head = text[:4096]
    if '"kind":"Table"' not in head.replace(" ", ""):
        return decode_pod_list(text)
    folder = _RowFolder(phase)
    try:
        members = walk_list(
            text, "rows", folder.add, on_member={"columnDefinitions": folder.columns}, what=what
        )
    except UnicodeDecodeError as exc:
        raise json_error(exc, body, what=what) from exc
    if members.get("kind") != "Table":
        raise DecodeError(f"{what}: expected kind Table/PodList, got {members.get('kind')!r}")
    if folder.node_i < 0:
        raise DecodeError("Pod Table: no columnDefinitions")
    return PodPage(tuple(folder.out), _continue(members))


# --------------------------------------------------------------------------------- Service and endpoints


@dataclass(frozen=True, slots=True)
class ServicePort:
    name: str
    port: int
    target_port: str


@dataclass(frozen=True, slots=True)
class Service:
    namespace: str
    name: str
    type: str
    cluster_ip: str
    selector: tuple[tuple[str, str], ...]
    ports: tuple[ServicePort, ...]

    def port_named(self, port: int) -> ServicePort | None:
        for item in self.ports:
            if item.port == port:
                return item
        return None


def decode_service(body: bytes | str) -> Service:
    data = load_object(body, what="Service", kinds=("Service",))
    meta = as_dict(data.get("metadata"))
    spec = as_dict(data.get("spec"))
    ports = tuple(
        ServicePort(
            name=as_str(as_dict(p).get("name")),
            port=int(as_dict(p).get("port") or 0),
            target_port=str(as_dict(p).get("targetPort", "")),
        )
        for p in as_list(spec.get("ports"), what="Service")
    )
    return Service(
        namespace=as_str(meta.get("namespace")),
        name=as_str(meta.get("name")),
        type=as_str(spec.get("type"), "ClusterIP"),
        cluster_ip=as_str(spec.get("clusterIP")),
        selector=tuple(sorted((str(k), str(v)) for k, v in as_dict(spec.get("selector")).items())),
        ports=ports,
    )


@dataclass(frozen=True, slots=True)
class EndpointAddress:
    ip: str
    ready: bool
    node: str | None
    ports: tuple[tuple[str, int], ...]  # (port name, port)


def decode_endpointslice_list(body: bytes | str) -> tuple[EndpointAddress, ...]:
    """EndpointSlices of one Service; an endpoint is ready when ``conditions.ready`` is nil or true."""
    data = load_object(body, what="EndpointSliceList", kinds=("EndpointSliceList",))
    out: list[EndpointAddress] = []
    for raw_slice in as_list(data.get("items"), what="EndpointSliceList"):
        eps = as_dict(raw_slice)
        ports = tuple(
            (as_str(as_dict(p).get("name")), int(as_dict(p).get("port") or 0))
            for p in as_list(eps.get("ports"), what="EndpointSlice")
        )
        for raw_ep in as_list(eps.get("endpoints"), what="EndpointSlice"):
            ep = as_dict(raw_ep)
            ready = as_dict(ep.get("conditions")).get("ready")
            node = ep.get("nodeName")
            for address in as_list(ep.get("addresses"), what="EndpointSlice"):
                out.append(
                    EndpointAddress(
                        str(address), ready is not False, node if isinstance(node, str) else None, ports
                    )
                )
    return tuple(out)


def decode_endpoints(body: bytes | str) -> tuple[EndpointAddress, ...]:
    """The legacy Endpoints object: ``addresses`` are ready, ``notReadyAddresses`` are not."""
    data = load_object(body, what="Endpoints", kinds=("Endpoints",))
    out: list[EndpointAddress] = []
    for raw_subset in as_list(data.get("subsets"), what="Endpoints"):
        subset = as_dict(raw_subset)
        ports = tuple(
            (as_str(as_dict(p).get("name")), int(as_dict(p).get("port") or 0))
            for p in as_list(subset.get("ports"), what="Endpoints")
        )
        for key, ready in (("addresses", True), ("notReadyAddresses", False)):
            for raw_addr in as_list(subset.get(key), what="Endpoints"):
                addr = as_dict(raw_addr)
                node = addr.get("nodeName")
                out.append(
                    EndpointAddress(
                        as_str(addr.get("ip")), ready, node if isinstance(node, str) else None, ports
                    )
                )
    return tuple(out)


# -------------------------------------------------------------------- extension-apiserver-authentication


@dataclass(frozen=True, slots=True)
class AuthenticationConfig:
    """The ``kube-system/extension-apiserver-authentication`` ConfigMap.

    ``allowed_names`` is None when the key is absent or unreadable (``problems`` says which); an empty tuple
    means any CN signed by the requestheader CA is accepted.
    """

    keys: tuple[str, ...]
    client_ca_pem: str | None
    requestheader_ca_pem: str | None
    allowed_names: tuple[str, ...] | None
    username_headers: tuple[str, ...] | None
    group_headers: tuple[str, ...] | None
    extra_headers_prefix: tuple[str, ...] | None
    problems: tuple[str, ...]


def _json_names(data: dict[str, Any], key: str, problems: list[str]) -> tuple[str, ...] | None:
    raw = data.get(key)
    if raw is None:
        return None
    try:
        value = json.loads(raw) if isinstance(raw, str) else None
    except ValueError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.append(f"{key} is not a JSON array of strings: {str(raw)[:60]!r}")
        return None
    return tuple(value)


def decode_authentication_configmap(body: bytes | str) -> AuthenticationConfig:
    data = load_object(body, what="ConfigMap extension-apiserver-authentication", kinds=("ConfigMap",))
    values = {str(k): v for k, v in as_dict(data.get("data")).items()}
    problems: list[str] = []
    return AuthenticationConfig(
        keys=tuple(sorted(values)),
        client_ca_pem=as_str(values.get("client-ca-file")) or None,
        requestheader_ca_pem=as_str(values.get("requestheader-client-ca-file")) or None,
        allowed_names=_json_names(values, "requestheader-allowed-names", problems),
        username_headers=_json_names(values, "requestheader-username-headers", problems),
        group_headers=_json_names(values, "requestheader-group-headers", problems),
        extra_headers_prefix=_json_names(values, "requestheader-extra-headers-prefix", problems),
        problems=tuple(problems),
    )


# ------------------------------------------------------------------------------------------------ Status


@dataclass(frozen=True, slots=True)
class StatusBody:
    code: int
    reason: str
    message: str


def decode_status(body: bytes | str) -> StatusBody:
    data = load_object(body, what="Status", kinds=("Status",))
    code = data.get("code")
    return StatusBody(
        code=code if isinstance(code, int) else 0,
        reason=as_str(data.get("reason")),
        message=as_str(data.get("message")),
    )


def error_text(body: bytes, *, limit: int = 300) -> str:
    """One line describing an error body: a Status message, or the start of a plain-text body."""
    try:
        return decode_status(body).message[:limit]
    except DecodeError:
        pass
    try:
        value = load_json(body, what="body")
        if isinstance(value, dict) and isinstance(value.get("message"), str):
            return str(value["message"])[:limit]
    except DecodeError:
        pass
    return " ".join(body[:limit].decode("utf-8", "replace").split())
