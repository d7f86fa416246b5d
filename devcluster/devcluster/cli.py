"""`devcluster <command>`: the command line of the local control plane."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence

from devcluster import build, faults, paths
from devcluster.cluster import Cluster, kubectl_argv
from devcluster.errors import DevclusterError, UsageError


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"devcluster: error: {message}\n")
        raise SystemExit(2)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="devcluster", description="A real local Kubernetes control plane for metrics-guard.")
    sub = p.add_subparsers(dest="cmd", required=True, parser_class=_Parser)
    b = sub.add_parser("build", help="build (or reuse) the Go binaries")
    b.add_argument("--kubernetes-version", default=paths.DEFAULT_KUBERNETES_VERSION)
    u = sub.add_parser("up", help="start the cluster (idempotent)")
    u.add_argument("--apiservers", type=int, default=3)
    u.add_argument("--nodes", type=int, default=3)
    u.add_argument("--pods-per-node", type=int, default=5)
    u.add_argument("--kubernetes-version", default=paths.DEFAULT_KUBERNETES_VERSION)
    s = sub.add_parser("status", help="show the cluster")
    s.add_argument("-o", "--output", choices=["text", "json"], default="text")
    sub.add_parser("down", help="stop everything and remove the state")
    k = sub.add_parser("kubeconfig", help="print the path of a kubeconfig")
    k.add_argument("--user", choices=["admin", "metrics-guard"], default="admin")
    n = sub.add_parser("node-root", help="print the node root of apiserver I")
    n.add_argument("index", type=int)
    r = sub.add_parser("restart-apiserver", help="re-read apiserver I's unit file and restart it")
    r.add_argument("index", type=int)
    br = sub.add_parser("break", help=f"inject a fault: {faults.valid_names()}")
    br.add_argument("fault")
    br.add_argument("--apiserver", type=int)
    br.add_argument("--node")
    sub.add_parser("heal", help="undo every fault and wait for a healthy cluster")
    sub.add_parser("faults", help="list the faults")
    kc = sub.add_parser("kubectl", help="kubectl with the admin kubeconfig", add_help=False)
    kc.add_argument("args", nargs=argparse.REMAINDER)
    return p


def _print_status(st: dict[str, object]) -> None:
    print(f"devcluster {st['kubernetes_version']}  front {st['front_url']}  home {st['home']}")
    for a in st["apiservers"]:  # type: ignore[attr-defined]
        print(
            f"  apiserver {a['index']}  {a['url']}  {'healthy' if a['healthy'] else 'UNHEALTHY'}  {a['node_root']}"
        )
    ms = st["metrics_server"]
    print(f"  metrics-server {ms['url']}  {'healthy' if ms['healthy'] else 'UNHEALTHY'}")  # type: ignore[index]
    for node in st["nodes"]:  # type: ignore[attr-defined]
        print(f"  {node['name']}  {node['address']}  kubelet {'up' if node['kubelet_up'] else 'DOWN'}")
    for user, path in st["kubeconfigs"].items():  # type: ignore[attr-defined]
        print(f"  kubeconfig {user}: {path}")
    if st.get("faults"):
        print("  faults: " + ", ".join(f["name"] for f in st["faults"]))  # type: ignore[attr-defined]


def run(argv: Sequence[str]) -> int:
    if argv and argv[0] == "kubectl":  # pass everything through untouched
        c = Cluster()
        c.require_state()
        cmd = kubectl_argv(c, list(argv[1:]))
        os.execv(cmd[0], cmd)  # noqa: S606 - a passthrough replaces this process
    args = _parser().parse_args(argv)
    c = Cluster()
    if args.cmd == "build":
        t = time.monotonic()
        build.build(args.kubernetes_version)
        print(f"binaries ready in {time.monotonic() - t:.0f}s")
    elif args.cmd == "up":
        c.up(
            apiservers=args.apiservers,
            nodes=args.nodes,
            pods_per_node=args.pods_per_node,
            kubernetes_version=args.kubernetes_version,
        )
    elif args.cmd == "status":
        st = c.status()
        if args.output == "json":
            print(json.dumps(st, indent=2))
        else:
            _print_status(st)
    elif args.cmd == "down":
        print("devcluster down" if c.down() else f"no devcluster in {c.home}")
    elif args.cmd == "kubeconfig":
        print(c.kubeconfig(args.user))
    elif args.cmd == "node-root":
        c.require_state()
        print(c.node_root(args.index))
    elif args.cmd == "restart-apiserver":
        t = time.monotonic()
        c.restart_apiserver(args.index)
        print(f"apiserver {args.index} restarted, ready in {time.monotonic() - t:.0f}s")
    elif args.cmd == "break":
        t = time.monotonic()
        rec = c.break_fault(args.fault, apiserver=args.apiserver, node=args.node)
        where = rec["node"] or (f"apiservers {rec['apiservers']}" if rec["apiservers"] else "metrics-server")
        print(f"broke {args.fault} ({where}) in {time.monotonic() - t:.0f}s")
    elif args.cmd == "heal":
        t = time.monotonic()
        healed = c.heal()
        print(f"healed {', '.join(healed) or 'nothing to heal'}; healthy in {time.monotonic() - t:.0f}s")
    elif args.cmd == "faults":
        for f in faults.FAULTS.values():
            print(f"{f.name:<40} {f.default_target.value:<16} {f.produced_by}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return run(list(sys.argv[1:] if argv is None else argv))
    except UsageError as exc:
        sys.stderr.write(f"devcluster: {exc}\n")
        return 2
    except DevclusterError as exc:
        sys.stderr.write(f"devcluster: {exc}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("devcluster: interrupted\n")
        return 130
    except Exception as exc:  # noqa: BLE001 - no traceback reaches the user
        sys.stderr.write(f"devcluster: unexpected error: {type(exc).__name__}: {exc}\n")
        return 1


if __name__ == "__main__":
    sys.exit(main())
