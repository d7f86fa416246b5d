"""The ``metrics-guard`` command. ``metrics-guard diagnose`` probes one cluster and explains what it finds.

Exit codes: 0 all ok, 1 warnings only, 2 at least one failure, 3 could not run at all, 64 usage error.
Heavy modules (the probe, cryptography, the kubernetes adapter) are imported only once the flags are valid.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn

if TYPE_CHECKING:
    from datetime import datetime

    from metrics_guard.model import FindingsDocument

EXIT_CANNOT_RUN = 3
EXIT_USAGE = 64


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _days(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a whole number of days: {text!r}") from exc
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="metrics-guard", description="Check and explain the aggregated Metrics API.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    diag = sub.add_parser("diagnose", help="probe one cluster and explain what is wrong")
    diag.add_argument(
        "--kubeconfig", metavar="P", help="kubeconfig file (default: $KUBECONFIG or ~/.kube/config)"
    )
    diag.add_argument("--context", metavar="C", help="kubeconfig context (default: current context)")
    diag.add_argument("--endpoints", metavar="URL[,URL...]", help="each apiserver directly, not the front")
    diag.add_argument(
        "--node-root",
        metavar="DIR",
        action="append",
        default=[],
        help="a control-plane node's root (repeatable)",
    )
    diag.add_argument("-o", "--output", choices=("text", "json"), default="text")
    diag.add_argument(
        "--timeout", metavar="S", type=_positive, default=60.0, help="overall deadline (default 60)"
    )
    diag.add_argument("--warn-days", type=_days, default=30)
    diag.add_argument("--fail-days", type=_days, default=7)
    return parser


# ----------------------------------------------------------------------------------------------- output

_COLOURS = {"ok": "32", "warn": "33", "fail": "31", "error": "35"}


def _use_colour(stream: IO[str]) -> bool:
    return stream.isatty() and "NO_COLOR" not in os.environ and os.environ.get("TERM") != "dumb"


def render_text(document: FindingsDocument, *, colour: bool) -> str:
    from metrics_guard.diagnosis import explain
    from metrics_guard.model import Status

    def paint(status: str, text: str) -> str:
        return f"\033[{_COLOURS[status]}m{text}\033[0m" if colour else text

    rows: list[tuple[str, str, str, str]] = []
    ok_by_check: dict[str, int] = {}
    for f in document.findings:
        if f.ok:
            ok_by_check[f.check] = ok_by_check.get(f.check, 0) + 1
    collapsed: set[str] = {c for c, n in ok_by_check.items() if n > 6}
    emitted: set[str] = set()
    for f in sorted(document.findings, key=lambda f: (-f.status.rank, f.check, str(f.target))):
        if f.ok and f.check in collapsed:
            if f.check in emitted:
                continue
            emitted.add(f.check)
            rows.append(("ok", f.check, f"({ok_by_check[f.check]} targets)", "all ok"))
            continue
        rows.append((f.status.value, f.check, str(f.target), f.summary))
    width_check = max([len(r[1]) for r in rows] + [5])
    width_target = max([len(r[2]) for r in rows] + [6])
    lines = [
        f"cluster {document.cluster}: {paint(document.status.value, document.status.value.upper())}",
        "",
        f"{'STATUS':<6}  {'CHECK':<{width_check}}  {'TARGET':<{width_target}}  SUMMARY",
    ]
    for status, check, target, summary in rows:
        lines.append(
            f"{paint(status, f'{status:<6}')}  {check:<{width_check}}  {target:<{width_target}}  {summary}"
        )
    causes: dict[str, list[str]] = {}
    remedies: dict[str, str | None] = {}
    for f in document.findings:
        if f.status is Status.OK:
            continue
        causes.setdefault(f.code.value, []).append(str(f.target))
        remedies.setdefault(f.code.value, f.remedy)
    if causes:
        lines += ["", "Causes and remedies:"]
        from metrics_guard.model import Code

        for code, targets in causes.items():
            shown = ", ".join(sorted(set(targets))[:6])
            lines.append(f"  {paint('fail', code)} ({shown})")
            lines.append(f"    {explain(Code(code))}")
            if remedies.get(code):
                lines.append(f"    Remedy: {remedies[code]}")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- running


def clock() -> datetime:
    """The CLI's clock (tests replace it)."""
    from datetime import UTC, datetime

    return datetime.now(UTC)


def _diagnose(args: argparse.Namespace) -> int:
    from metrics_guard.errors import ConfigError
    from metrics_guard.model import Status, exit_code
    from metrics_guard.ports import NodeRef
    from metrics_guard.service.probe import REACHABILITY_CHECK, ProbePolicy, ProbeTargets, run_probe

    if args.fail_days > args.warn_days:
        raise ConfigError("--fail-days must not exceed --warn-days")
    endpoints = [e.strip() for e in (args.endpoints or "").split(",") if e.strip()]
    for url in endpoints:
        if not url.startswith(("https://", "http://")):
            raise ConfigError(f"--endpoints: not a URL: {url!r}")
    for root in args.node_root:
        if not Path(root).is_dir():
            raise ConfigError(f"--node-root: not a directory: {root}")
    try:
        from metrics_guard.adapters import kube
    except ImportError as exc:
        raise ConfigError(f"Kubernetes access is not available: {exc}") from exc
    kubeconfig = args.kubeconfig
    front = kube.transport_from_kubeconfig(kubeconfig, args.context)
    count = max(len(endpoints), len(args.node_root))
    nodes = [
        NodeRef(
            index=i + 1,
            name=f"apiserver-{i + 1}",
            apiserver_url=endpoints[i] if i < len(endpoints) else None,
            node_root=args.node_root[i] if i < len(args.node_root) else None,
        )
        for i in range(count)
    ]
    apiservers = [
        (node, kube.transport_from_kubeconfig(kubeconfig, args.context, server_override=node.apiserver_url))
        for node in nodes
        if node.apiserver_url
    ]
    certificates = None
    if args.node_root:
        from metrics_guard.adapters.noderoot import NodeRootSource

        certificates = NodeRootSource()
    prober = None
    try:
        from metrics_guard.adapters.tls import SocketTlsProber

        prober = SocketTlsProber()
    except ImportError:
        prober = None
    ca_pem = getattr(front, "ca_pem", None)
    targets = ProbeTargets(
        cluster=args.context or "default",
        front=front,
        apiservers=apiservers,
        certificates=certificates,
        nodes=nodes,
        tls=prober,
        apiserver_ca_pem=ca_pem.decode("ascii", "replace") if isinstance(ca_pem, bytes) else None,
    )
    policy = ProbePolicy(warn_days=args.warn_days, fail_days=args.fail_days)
    document = run_probe(targets, policy, kind="all", now=clock, deadline_s=args.timeout)
    if args.output == "json":
        sys.stdout.write(json.dumps(document.to_json(), indent=2) + "\n")
    else:
        sys.stdout.write(render_text(document, colour=_use_colour(sys.stdout)))
    unreachable = any(f.check == REACHABILITY_CHECK and f.status is not Status.OK for f in document.findings)
    if unreachable:
        reason = next(f.summary for f in document.findings if f.check == REACHABILITY_CHECK)
        sys.stderr.write(f"metrics-guard: cannot reach the cluster: {reason}\n")
        return EXIT_CANNOT_RUN
    return exit_code(document.status)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from metrics_guard.errors import MetricsGuardError

    try:
        if args.command == "diagnose":
            return _diagnose(args)
    except MetricsGuardError as exc:
        sys.stderr.write(f"metrics-guard: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}\n")
        return EXIT_CANNOT_RUN
    except KeyboardInterrupt:
        sys.stderr.write("metrics-guard: interrupted\n")
        return 130
    return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
