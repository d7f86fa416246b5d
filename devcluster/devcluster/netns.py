"""Network namespaces, veth pairs and a bridge in 198.18.0.0/15, and the nftables DROP of a cut route."""

from __future__ import annotations

import fcntl
import ipaddress
import re
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from devcluster.errors import DevclusterError

RANGE = ipaddress.ip_network("198.18.0.0/15")
LOCK_FILE = Path("/run/devcluster-network.lock")
NFT_TABLE = "devcluster"


def run(cmd: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(cmd), capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        raise DevclusterError(f"`{' '.join(cmd)}` failed: {(proc.stderr or proc.stdout).strip()}")
    return proc


def used_subnets() -> set[int]:
    """Third octets (198.18.X / 198.19.X as 0..511) of every 198.18.0.0/15 address in the root namespace."""
    out = run(["ip", "-o", "-4", "addr", "show"]).stdout
    used: set[int] = set()
    for m in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)/", out):
        addr = ipaddress.ip_address(m.group(1))
        if addr in RANGE:
            used.add((int(addr) - int(RANGE.network_address)) >> 8)
    return used


def subnet_base(index: int) -> str:
    """'198.18.X' for an index 0..511."""
    base = ipaddress.ip_address(int(RANGE.network_address) + (index << 8))
    return str(base).rsplit(".", 1)[0]


class Lock:
    """A machine-wide lock around picking a subnet and claiming it (two `up`s at once)."""

    def __enter__(self) -> Lock:
        self._fh = LOCK_FILE.open("a")
        fcntl.flock(self._fh, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fh, fcntl.LOCK_UN)
        self._fh.close()


def check_tools() -> None:
    if shutil.which("ip") is None:
        raise DevclusterError("missing `ip` (Debian package iproute2)")


def create_bridge(bridge: str, base: str, host_addrs: Sequence[str]) -> None:
    run(["ip", "link", "add", bridge, "type", "bridge"])
    for addr in host_addrs:
        run(["ip", "addr", "add", f"{addr}/24", "dev", bridge])
    run(["ip", "link", "set", bridge, "up"])


def create_netns(ns: str, bridge: str, veth: str, addr: str, gateway: str) -> None:
    peer = veth + "p"
    run(["ip", "netns", "add", ns])
    run(["ip", "link", "add", veth, "type", "veth", "peer", "name", peer])
    run(["ip", "link", "set", peer, "netns", ns])
    run(["ip", "link", "set", veth, "master", bridge])
    run(["ip", "link", "set", veth, "up"])
    inside = ["ip", "netns", "exec", ns]
    run([*inside, "ip", "link", "set", "lo", "up"])
    run([*inside, "ip", "link", "set", peer, "name", "eth0"])
    run([*inside, "ip", "addr", "add", f"{addr}/24", "dev", "eth0"])
    run([*inside, "ip", "link", "set", "eth0", "up"])
    run([*inside, "ip", "route", "add", "default", "via", gateway])


def delete_netns(ns: str) -> None:
    run(["ip", "netns", "del", ns], check=False)


def delete_link(name: str) -> None:
    run(["ip", "link", "del", name], check=False)


def netns_exists(ns: str) -> bool:
    return ns in run(["ip", "netns", "list"], check=False).stdout.split()


def ensure_nft() -> str:
    """The nft binary; installs Debian's nftables (as root) when it is missing."""
    nft = shutil.which("nft")
    if nft:
        return nft
    run(["apt-get", "update", "-qq"])
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nftables"])
    nft = shutil.which("nft")
    if not nft:
        raise DevclusterError("missing `nft` (Debian package nftables) and installing it failed")
    return nft


def drop_inbound(ns: str, sources: Sequence[str], port: int) -> None:
    """In namespace `ns`, silently drop TCP packets from `sources` to `port` (a route that is not there)."""
    nft = ensure_nft()
    saddrs = ", ".join(sources)
    ruleset = (
        f"table inet {NFT_TABLE} {{\n"
        "  chain input {\n"
        "    type filter hook input priority 0; policy accept;\n"
        f"    ip saddr {{ {saddrs} }} tcp dport {port} drop\n"
        "  }\n"
        "}\n"
    )
    remove_drop(ns)
    proc = subprocess.run(
        ["ip", "netns", "exec", ns, nft, "-f", "-"],
        input=ruleset,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise DevclusterError(f"nft failed in {ns}: {proc.stderr.strip()}")


def remove_drop(ns: str) -> None:
    nft = shutil.which("nft")
    if nft:
        run(["ip", "netns", "exec", ns, nft, "delete", "table", "inet", NFT_TABLE], check=False)
