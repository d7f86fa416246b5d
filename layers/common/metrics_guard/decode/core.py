"""Core objects the checks read: NodeList, PodList (paginated), Service, Endpoints / EndpointSlices,
the ``extension-apiserver-authentication`` ConfigMap and ``Status`` error bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, NamedTuple, TypedDict

from metrics_guard.bulk import bulk
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


def decode_names(body: bytes | str, *, what: str) -> tuple[tuple[str, ...], str | None]:
    """The object names of one page of a list (``NamespaceList``, ``PartialObjectMetadataList``, ...)
    and its continue token."""
    data = load_object(body, what=what)
    items = as_list(data.get("items"), what=what)
    names = tuple(as_str(as_dict(as_dict(i).get("metadata")).get("name")) for i in items)
    if not all(names):
        raise DecodeError(f"{what}: an item without metadata.name")
    return names, _continue(data)


def decode_list_size(body: bytes | str, *, what: str) -> int | None:
    """How many objects the whole list holds, from a page of it (``limit``): its items plus the server's
    ``remainingItemCount``. None when the server does not say (a selector, or the last page)."""
    data = load_object(body, what=what)
    remaining = as_dict(data.get("metadata")).get("remainingItemCount")
    if not isinstance(remaining, int) or isinstance(remaining, bool):
        return None
    return len(as_list(data.get("items"), what=what)) + remaining


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


@bulk
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


@bulk
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
#: A list's items as their metadata only (PartialObjectMetadataList), e.g. to read a list's size.
METADATA_LIST_ACCEPT: Final = (
    "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
)
#: With the Table Accept header: each row's object is the pod's metadata (the default, said explicitly).
POD_TABLE_QUERY: Final = "includeObject=Metadata"
#: Per namespace: no object at all, the cells only (a third of the bytes of ``Metadata``, and about a third
#: of kube-apiserver's work at 150,000 pods); the namespace is the request's, ``started`` from the Age cell.
POD_TABLE_QUERY_CELLS: Final = "includeObject=None"
_TABLE_NONE: Final = "<none>"
#: Status cells of a pod with a deletionTimestamp (kubectl's printer: "Unknown" when its node is lost).
_DELETING_STATUS: Final = frozenset({"Terminating", "Unknown"})
_AGE_UNITS: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "y": 365 * 86400}


def parse_age(text: object) -> float | None:
    """A Table's Age cell (kube's HumanDuration: ``45s``, ``3m10s``, ``2h``, ``5d3h``, ``2y10d``) in seconds,
    rounded down by the printer to its last unit (seconds under 10 minutes); None when unreadable."""
    if not isinstance(text, str) or not text:
        return None
    total, number = 0, ""
    for char in text:
        if char.isdigit():
            number += char
            continue
        unit = _AGE_UNITS.get(char)
        if unit is None or not number:
            return None
        total += int(number) * unit
        number = ""
    return None if number else float(total)


def _timestamp(value: Any, *, what: str) -> float:
    moment = parse_time(value, what=what)
    return moment.timestamp() if moment else 0.0


class _RowFolder:
    """Folds the rows of a pod Table into Pod tuples, one at a time (a row is parsed, folded, dropped)."""

    def __init__(self, phase: str, namespace: str | None = None, now_s: float = 0.0) -> None:
        self.phase = phase
        self.namespace = namespace  # rows without their object (``POD_TABLE_QUERY_CELLS``) are of it
        self.now_s = now_s
        self.node_i = -1
        self.name_i = self.age_i = self.status_i = -1
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
        self.name_i, self.age_i, self.status_i = (
            columns.index(c) if c in columns else -1 for c in ("Name", "Age", "Status")
        )
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
        if not meta and self.namespace is not None:
            self._add_cells(cells)
            return
        if not meta or len(cells) <= self.node_i:
            raise DecodeError("Pod Table: a row without its object metadata or Node cell")
        node = cells[self.node_i]
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
                ready=self._ready(cells),
                deleting=meta.get("deletionTimestamp") is not None,
                started=started,
                labels=(),
                started_exact=False,
            )
        )

    def _ready(self, cells: list[Any]) -> bool:
        ready_i = self.ready_i
        if ready_i is not None and ready_i < len(cells) and isinstance(cells[ready_i], str):
            have, _, want = cells[ready_i].partition("/")
            return bool(want) and have == want and want != "0"
        return False

    def _add_cells(self, cells: list[Any]) -> None:
        """A row of ``POD_TABLE_QUERY_CELLS``: name, node, status and age from the cells."""
        width = max(self.node_i, self.name_i, self.age_i, self.status_i)
        if min(self.name_i, self.age_i, self.status_i) < 0 or len(cells) <= width:
            raise DecodeError("Pod Table: a row without its object needs the Name, Age and Status cells")
        name, node, age = cells[self.name_i], cells[self.node_i], parse_age(cells[self.age_i])
        if not isinstance(name, str) or not name or age is None:
            raise DecodeError(f"Pod Table: unreadable Name or Age cell in {str(cells)[:120]}")
        assert self.namespace is not None
        self.out.append(
            Pod(
                namespace=self.namespace,
                name=name,
                node="" if not isinstance(node, str) or node == _TABLE_NONE else node,
                phase=self.phase,
                ready=self._ready(cells),
                deleting=cells[self.status_i] in _DELETING_STATUS,
                started=self.now_s - age,
                labels=(),
                started_exact=False,
            )
        )


@bulk
def decode_pod_rows(
    body: bytes | str, *, phase: str, namespace: str | None = None, now_s: float = 0.0
) -> PodPage:
    """One page (or the whole, unpaginated list) of pods asked for with ``POD_TABLE_ACCEPT`` and
    ``fieldSelector=status.phase=<phase>`` (a Table row has no phase: the selector is what says it).

    A Table: walked row by row (a 150,000-row body is ~70 MB: never one tree of it), ``started`` from
    creationTimestamp, ``started_exact`` False. Asked with ``POD_TABLE_QUERY_CELLS`` in ``namespace``, rows
    carry no object: ``started`` is ``now_s`` (when the answer came) less the Age cell. From a server that
    does not serve Tables, the PodList (decoded as ``decode_pod_list`` does)."""
    what = "PodList"
    check_body(body, what=what)
    text = body.decode("utf-8", "strict") if isinstance(body, bytes) else body
    head = text[:4096]
    if '"kind":"Table"' not in head.replace(" ", ""):
        return decode_pod_list(text)
    folder = _RowFolder(phase, namespace, now_s)
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
