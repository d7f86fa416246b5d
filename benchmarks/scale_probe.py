"""The checker's side of the scale benchmark, run as a whole process, through the product's own code paths
(the kube transport, decode/, checks/coverage, service.probe's pager).

  python -m benchmarks.scale_probe --kubeconfig K --mode top
      what ``kubectl top pods -A`` does: GET the PodMetricsList, decode it, print one line per pod
      (NAMESPACE NAME CPU(cores) MEMORY(bytes)).
  python -m benchmarks.scale_probe --kubeconfig K --mode coverage
      the whole coverage check: NodeMetricsList and PodMetricsList, Nodes and running Pods (a server-side
      Table, ``service.probe.list_running_pods``) listed page by page, ``settle_pod_starts`` and
      ``check_coverage``, as ``metrics-guard diagnose`` does; prints the findings' status counts.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from metrics_guard.adapters.kube import transport_from_kubeconfig
from metrics_guard.checks._base import decode_call
from metrics_guard.checks.coverage import CoverageObservation, check_coverage
from metrics_guard.checks.policy import ProbePolicy
from metrics_guard.decode.metrics import decode_node_metrics_list, decode_pod_metrics_list
from metrics_guard.ports import TransportLimits
from metrics_guard.service.probe import (
    _Deadline,
    _get,
    _nodes_page,
    _paged,
    body_size,
    list_running_pods,
    settle_pod_starts,
)

GV = "/apis/metrics.k8s.io/v1beta1"
LIMITS = TransportLimits(read_timeout_s=60.0)


def top(kubeconfig: str, timeout_s: float) -> int:
    transport = transport_from_kubeconfig(kubeconfig, None, limits=LIMITS)
    call = _get(transport, f"{GV}/pods", _Deadline(timeout_s))
    if not call.ok:
        print(f"GET failed: {call.status} {call.error}", file=sys.stderr)
        return 1
    pods = decode_pod_metrics_list(call.body)
    del call
    out = sys.stdout
    write = out.write
    write(f"{'NAMESPACE':<16} {'NAME':<40} {'CPU(cores)':<11} MEMORY(bytes)\n")
    for p in pods:
        write(
            f"{p.namespace:<16} {p.name:<40} {p.cpu_nanocores // 1_000_000}m{'':<8} {p.memory_bytes >> 20}Mi\n"
        )
    out.flush()
    return 0


def coverage(kubeconfig: str, timeout_s: float) -> int:
    transport = transport_from_kubeconfig(kubeconfig, None, limits=LIMITS)
    deadline = _Deadline(timeout_s)
    policy = ProbePolicy()
    now = datetime.now(UTC)
    # The calls of service.probe._Runner.metrics that coverage needs, submitted as it submits them: the
    # Metrics API GETs (metrics backend) and the Node and running-Pod lists (etcd-backed kube-apiserver)
    # at the same time, each list page after page.
    with ThreadPoolExecutor(max_workers=4) as pool:
        node_metrics_f = pool.submit(_get, transport, f"{GV}/nodes", deadline)
        pod_metrics_f = pool.submit(_get, transport, f"{GV}/pods", deadline)
        nodes_f = pool.submit(_paged, transport, "/api/v1/nodes", _nodes_page, policy.page_limit, deadline)
        pods_f = pool.submit(
            list_running_pods,
            transport,
            policy,
            deadline,
            pod_metrics_bytes=body_size(pod_metrics_f, deadline),
        )
        node_metrics = decode_call(node_metrics_f.result(), decode_node_metrics_list)
        pod_metrics = decode_call(pod_metrics_f.result(), decode_pod_metrics_list)
        del node_metrics_f, pod_metrics_f  # as service.probe does: the bodies go before the pod Table comes
        _, nodes = nodes_f.result()
        _, pods = pods_f.result()
    pods = settle_pod_starts(transport, pods, pod_metrics.value, policy, now=now, deadline=deadline)
    findings = check_coverage(
        CoverageObservation("bench", nodes.value, pods.value, node_metrics.value, pod_metrics.value),
        policy,
        now=now,
    )
    counts = Counter(f"{f.status.value}:{f.code.value}" for f in findings)
    print(
        f"nodes {len(nodes.value or ())}, running pods {len(pods.value or ())}, "
        f"node metrics {len(node_metrics.value or ())}, pod metrics {len(pod_metrics.value or ())}; "
        f"findings {dict(counts)}"
    )
    return 0 if findings and all(f.ok for f in findings) else 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.scale_probe")
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--mode", choices=("top", "coverage"), required=True)
    parser.add_argument("--timeout", type=float, default=300.0)
    args = parser.parse_args(argv)
    if args.mode == "top":
        return top(args.kubeconfig, args.timeout)
    return coverage(args.kubeconfig, args.timeout)


if __name__ == "__main__":
    sys.exit(main())
