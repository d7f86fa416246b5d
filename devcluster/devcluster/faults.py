"""The fault table (CONTRACTS.md): names, default targets, and how each is produced."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from devcluster.errors import UsageError


class Target(StrEnum):
    ALL_APISERVERS = "all apiservers"
    APISERVER_1 = "apiserver 1"
    CLUSTER = "cluster"
    NONE = "-"
    NODE_1 = "node-1"


@dataclass(frozen=True)
class Fault:
    name: str
    default_target: Target
    produced_by: str

    @property
    def takes_apiserver(self) -> bool:
        return self.default_target in (Target.ALL_APISERVERS, Target.APISERVER_1)

    @property
    def takes_node(self) -> bool:
        return self.default_target is Target.NODE_1


PROXY_CERT_FAULTS = (
    "proxy-cert-expired",
    "proxy-cert-wrong-cn",
    "proxy-cert-wrong-ca",
    "proxy-cert-expiring",
)

FAULTS: dict[str, Fault] = {
    f.name: f
    for f in (
        Fault(
            "proxy-cert-expired",
            Target.ALL_APISERVERS,
            "expired proxy client cert + key on the node root, restart",
        ),
        Fault(
            "proxy-cert-wrong-cn",
            Target.ALL_APISERVERS,
            "valid proxy client cert with CN outside allowed-names",
        ),
        Fault("proxy-cert-wrong-ca", Target.ALL_APISERVERS, "valid proxy client cert signed by another CA"),
        Fault("proxy-cert-expiring", Target.ALL_APISERVERS, "valid proxy client cert with under 7 days left"),
        Fault(
            "requestheader-ca-expiring",
            Target.CLUSTER,
            "requestheader CA re-made with under 30 days left, proxy certs re-signed, apiservers restarted",
        ),
        Fault(
            "aggregation-disabled",
            Target.APISERVER_1,
            "apiserver restarted without requestheader/proxy flags",
        ),
        Fault("metrics-server-down", Target.NONE, "metrics-server stopped; its pod turns unready"),
        Fault("metrics-server-hang", Target.NONE, "metrics-server frozen (SIGSTOP)"),
        Fault(
            "no-route-to-metrics-server",
            Target.NONE,
            "packets from the apiservers to metrics-server dropped (nftables, in its netns)",
        ),
        Fault(
            "metrics-server-serving-cert-mismatch",
            Target.NONE,
            "metrics-server serving cert not signed by the caBundle CA, restart",
        ),
        Fault("kubelet-down", Target.NODE_1, "that kubelet stops serving and heartbeating"),
        Fault(
            "apiserver-restart-fails", Target.APISERVER_1, "that apiserver's next restart fails until heal"
        ),
    )
}


def valid_names() -> str:
    return ", ".join(FAULTS)


def lookup(name: str) -> Fault:
    try:
        return FAULTS[name]
    except KeyError:
        raise UsageError(f"unknown fault {name!r}; valid faults: {valid_names()}") from None


def resolve_targets(
    fault: Fault, apiserver: int | None, node: str | None, apiserver_count: int, node_names: list[str]
) -> tuple[list[int], str | None]:
    """(apiserver indexes, node name) the fault hits, validated against the cluster."""
    if apiserver is not None and not fault.takes_apiserver:
        raise UsageError(f"fault {fault.name} takes no --apiserver")
    if node is not None and not fault.takes_node:
        raise UsageError(f"fault {fault.name} takes no --node")
    if apiserver is not None and not 1 <= apiserver <= apiserver_count:
        raise UsageError(f"--apiserver must be 1..{apiserver_count}")
    if node is not None and node not in node_names:
        raise UsageError(f"unknown node {node!r} (nodes: {', '.join(node_names)})")
    if fault.default_target is Target.ALL_APISERVERS:
        return ([apiserver] if apiserver else list(range(1, apiserver_count + 1))), None
    if fault.default_target is Target.APISERVER_1:
        return [apiserver or 1], None
    if fault.default_target is Target.CLUSTER:
        return list(range(1, apiserver_count + 1)), None
    if fault.default_target is Target.NODE_1:
        return [], node or node_names[0]
    return [], None
