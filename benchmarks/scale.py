"""Scale benchmark (issue 3, section 7): 150,000 pods and 5,000 nodes through the real aggregated path.

Set-up, on the devcluster of $DEVCLUSTER_HOME (through ``devcluster.api.Cluster`` and its admin
credentials; no devcluster file is changed):
1. 50 namespaces through the API; 5,000 Node and 150,000 Pod objects (Running, bound, tolerating every
   taint, no Ready condition so that the node-lifecycle controller has nothing to rewrite) written straight
   into the cluster's etcd in transactions of 128 puts: the bulk path (the apiservers' watch caches pick
   them up as from any write). The time taken is reported.
2. The backend (benchmarks/backend.py) in a network namespace of its own on the devcluster's bridge
   (address .60), with a serving certificate for metrics-server.kube-system.svc signed by the cluster CA
   (the APIService's caBundle); a selector-less Service kube-system/metrics-bench with its Endpoints and
   EndpointSlice, and the APIService v1beta1.metrics.k8s.io re-pointed at it.
3. Alternated in the same run: ``kubectl top pods -A`` (the devcluster's kubectl), ``scale_probe --mode
   top`` and ``scale_probe --mode coverage``: wall, CPU, peak RSS.
Tear-down: the APIService back to metrics-server, the Service and endpoints deleted, the backend stopped
(by PID), the namespace and veth removed. The seeded objects stay (the cluster is throw-away).
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import http.client
import json
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks.data import NAMESPACES, Scale, node_metrics_list, pod_metrics_list
from benchmarks.harness import Command, alternate, process_env, table, write_result

TARGET_TOP = 0.5
TARGET_COVERAGE = 1.0
TARGET_RSS_MIB = 300.0
BACKEND_HOST_OCTET = 60
BACKEND_PORT = 443
BENCH_SERVICE = "metrics-bench"
APISERVICE = "v1beta1.metrics.k8s.io"
ROOT = Path(__file__).resolve().parents[1]


def _cluster() -> Any:
    from devcluster.api import Cluster

    return Cluster()


# ------------------------------------------------------------------------------------------ seeding


def _node(name: str, i: int, now: str) -> dict[str, Any]:
    return {
        "kind": "Node",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "uid": str(uuid.uuid4()),
            "creationTimestamp": now,
            "labels": {"kubernetes.io/hostname": name, "metrics-guard/bench": "true"},
        },
        "spec": {},
        "status": {
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "8", "memory": "31Gi", "pods": "110"},
            "conditions": [
                {
                    "type": "Ready",
                    "status": "True",
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                    "reason": "KubeletReady",
                    "message": "bench node",
                }
            ],
            "addresses": [
                {"type": "InternalIP", "address": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}"}
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
        },
    }


def _pod(scale: Scale, i: int, started: str) -> tuple[str, dict[str, Any]]:
    ns, name, node = scale.pod(i)
    containers = ["app", "istio-proxy", "log-shipper", "config-reloader"][: scale.containers(i)]
    return ns, {
        "kind": "Pod",
        "apiVersion": "v1",
        "metadata": {
            "name": name,
            "namespace": ns,
            "uid": str(uuid.uuid4()),
            "creationTimestamp": started,
            "labels": {"app": f"app-{i % 997}", "pod-template-hash": "7d4f8b6c9d"},
        },
        "spec": {
            "nodeName": node,
            "containers": [{"name": c, "image": "registry.example/bench:1"} for c in containers],
            "tolerations": [{"operator": "Exists"}],
            "restartPolicy": "Always",
            "schedulerName": "default-scheduler",
            "enableServiceLinks": False,
            "automountServiceAccountToken": False,
        },
        "status": {
            "phase": "Running",
            "hostIP": "10.0.0.1",
            "podIP": f"10.200.{i // 256 % 256}.{i % 256}",
            "startTime": started,
            "qosClass": "BestEffort",
        },
    }


def _etcd_puts(etcd: str, batches: list[list[tuple[str, bytes]]], workers: int = 4) -> None:
    host = etcd.split("://", 1)[1]

    def send(chunk: list[list[tuple[str, bytes]]]) -> None:
        conn = http.client.HTTPConnection(host, timeout=60)
        for batch in chunk:
            body = json.dumps(
                {
                    "success": [
                        {
                            "requestPut": {
                                "key": base64.b64encode(k.encode()).decode(),
                                "value": base64.b64encode(v).decode(),
                            }
                        }
                        for k, v in batch
                    ]
                }
            )
            conn.request("POST", "/v3/kv/txn", body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            data = response.read()
            if response.status != 200 or b'"succeeded":true' not in data.replace(b" ", b""):
                raise RuntimeError(f"etcd txn failed: {response.status} {data[:200]!r}")
        conn.close()

    chunks = [batches[i::workers] for i in range(workers)]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(send, chunks))


def seed(cluster: Any, scale: Scale) -> dict[str, float]:
    kube = cluster.kube(timeout=60.0)
    t0 = time.perf_counter()
    for n in range(NAMESPACES):
        kube.create(
            "/api/v1/namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": f"bench-{n:02d}"}},
        )
    t_ns = time.perf_counter() - t0
    now = dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    started = (now - dt.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    puts: list[tuple[str, bytes]] = []
    for i in range(scale.nodes):
        name = scale.node_name(i)
        puts.append(
            (f"/registry/minions/{name}", json.dumps(_node(name, i, stamp), separators=(",", ":")).encode())
        )
    for i in range(scale.pods):
        ns, pod = _pod(scale, i, started)
        puts.append(
            (
                f"/registry/pods/{ns}/{pod['metadata']['name']}",
                json.dumps(pod, separators=(",", ":")).encode(),
            )
        )
    t_build = time.perf_counter() - t0 - t_ns
    batches = [puts[i : i + 128] for i in range(0, len(puts), 128)]
    etcd = f"http://{cluster.state['subnet']}.1:2379"
    t1 = time.perf_counter()
    _etcd_puts(etcd, batches)
    t_write = time.perf_counter() - t1
    print(f"  {len(puts)} objects built in {t_build:.1f} s, written to etcd in {t_write:.1f} s", flush=True)
    # the objects are in etcd; wait until the front's watch cache lists them all
    t2 = time.perf_counter()
    for _ in range(300):
        page = kube.get("/api/v1/pods?limit=1")  # remainingItemCount is only given without selectors
        remaining = page.get("metadata", {}).get("remainingItemCount", 0) + len(page.get("items", []))
        if remaining >= scale.pods:
            break
        time.sleep(1)
    t_visible = time.perf_counter() - t2
    return {
        "namespaces_s": t_ns,
        "build_objects_s": t_build,
        "etcd_write_s": t_write,
        "visible_through_api_s": t_visible,
        "objects": float(len(puts)),
    }


# ------------------------------------------------------------------------------------------ backend


def _serving_cert(cluster: Any, out: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    pki = Path(cluster.pki_dir)
    ca = x509.load_pem_x509_certificate((pki / "ca.pem").read_bytes())
    ca_key = serialization.load_pem_private_key((pki / "ca-key.pem").read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    dns = [f"{BENCH_SERVICE}.kube-system.svc", "metrics-server.kube-system.svc"]
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns[0])]))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())  # type: ignore[arg-type]
    )
    cert_path, key_path = out / "backend.pem", out / "backend-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return cert_path, key_path


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True)


class Backend:
    def __init__(self, cluster: Any, workdir: Path, scale: Scale) -> None:
        self.cluster = cluster
        self.prefix = str(cluster.state["prefix"])
        self.ns = f"{self.prefix}-bench"
        self.veth = f"{self.prefix}bv"
        self.addr = f"{cluster.state['subnet']}.{BACKEND_HOST_OCTET}"
        self.workdir = workdir
        self.scale = scale
        self.proc: subprocess.Popen[bytes] | None = None
        self.previous_service: dict[str, Any] | None = None

    def start(self) -> None:
        kube = self.cluster.kube(timeout=60.0)
        # The cluster's own pods, namespace by namespace: one unpaginated list of all 150,000 pods takes
        # over a minute on a loaded machine (and timed out here).
        real_pods = [
            (p["metadata"]["namespace"], p["metadata"]["name"], len(p["spec"]["containers"]))
            for ns in kube.get("/api/v1/namespaces")["items"]
            if not ns["metadata"]["name"].startswith("bench-")
            for p in kube.get(f"/api/v1/namespaces/{ns['metadata']['name']}/pods")["items"]
        ]
        real_nodes = [
            n["metadata"]["name"]
            for n in kube.get("/api/v1/nodes?labelSelector=!metrics-guard/bench")["items"]
        ]
        pods_file, nodes_file = self.workdir / "pods.json", self.workdir / "nodes.json"
        pods_file.write_bytes(pod_metrics_list(self.scale, real_pods))
        nodes_file.write_bytes(
            node_metrics_list([self.scale.node_name(i) for i in range(self.scale.nodes)] + real_nodes)
        )
        cert, key = _serving_cert(self.cluster, self.workdir)
        _ip("netns", "add", self.ns)
        _ip("link", "add", self.veth, "type", "veth", "peer", "name", self.veth + "p")
        _ip("link", "set", self.veth + "p", "netns", self.ns)
        _ip("link", "set", self.veth, "master", str(self.cluster.state["bridge"]))
        _ip("link", "set", self.veth, "up")
        inside = ["netns", "exec", self.ns, "ip"]
        _ip(*inside, "link", "set", "lo", "up")
        _ip(*inside, "addr", "add", f"{self.addr}/24", "dev", self.veth + "p")
        _ip(*inside, "link", "set", self.veth + "p", "up")
        _ip(*inside, "route", "add", "default", "via", f"{self.cluster.state['subnet']}.1")
        log = (self.workdir / "backend.log").open("wb")
        self.proc = subprocess.Popen(
            [
                "ip",
                "netns",
                "exec",
                self.ns,
                sys.executable,
                "-m",
                "benchmarks.backend",
                "--cert",
                str(cert),
                "--key",
                str(key),
                "--host",
                self.addr,
                "--port",
                str(BACKEND_PORT),
                "--nodes",
                str(nodes_file),
                "--pods",
                str(pods_file),
            ],
            cwd=str(ROOT),
            env=process_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        time.sleep(3)
        self._register(kube)

    def _register(self, kube: Any) -> None:
        meta = {"name": BENCH_SERVICE, "namespace": "kube-system", "labels": {"metrics-guard/bench": "true"}}
        kube.create(
            "/api/v1/namespaces/kube-system/services",
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": meta,
                "spec": {
                    "ports": [{"name": "https", "port": 443, "targetPort": BACKEND_PORT, "protocol": "TCP"}]
                },
            },
        )
        kube.create(
            "/api/v1/namespaces/kube-system/endpoints",
            {
                "apiVersion": "v1",
                "kind": "Endpoints",
                "metadata": meta,
                "subsets": [
                    {"addresses": [{"ip": self.addr}], "ports": [{"name": "https", "port": BACKEND_PORT}]}
                ],
            },
        )
        kube.create(
            "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices",
            {
                "apiVersion": "discovery.k8s.io/v1",
                "kind": "EndpointSlice",
                "metadata": {
                    **meta,
                    "labels": {
                        "kubernetes.io/service-name": BENCH_SERVICE,
                        "endpointslice.kubernetes.io/managed-by": "metrics-guard-bench",
                    },
                },
                "addressType": "IPv4",
                "endpoints": [{"addresses": [self.addr], "conditions": {"ready": True}}],
                "ports": [{"name": "https", "port": BACKEND_PORT, "protocol": "TCP"}],
            },
        )
        current = kube.get(f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}")
        self.previous_service = current["spec"]["service"]
        kube.merge_patch(
            f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}",
            {"spec": {"service": {"name": BENCH_SERVICE, "namespace": "kube-system", "port": 443}}},
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):  # not routed yet
                body = kube.get("/apis/metrics.k8s.io/v1beta1/nodes", timeout=60)
                if len(body.get("items", [])) >= self.scale.nodes:
                    return
            time.sleep(1)
        raise RuntimeError("the APIService never reached the bench backend")

    def stop(self) -> None:
        kube = self.cluster.kube(timeout=60.0)
        if self.previous_service is not None:
            kube.merge_patch(
                f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}",
                {"spec": {"service": self.previous_service}},
            )
        for path in (
            f"/api/v1/namespaces/kube-system/services/{BENCH_SERVICE}",
            f"/api/v1/namespaces/kube-system/endpoints/{BENCH_SERVICE}",
            f"/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices/{BENCH_SERVICE}",
        ):
            with contextlib.suppress(Exception):  # best effort
                kube.delete(path)
        if self.proc is not None:
            self.proc.terminate()  # `ip netns exec` execs python: this PID is the backend
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        _ip("netns", "del", self.ns, check=False)
        _ip("link", "del", self.veth, check=False)


# ------------------------------------------------------------------------------------------ measure


def measure(state: dict[str, Any], *, rounds: int) -> dict[str, object]:
    kubeconfig = state["kubeconfigs"]["metrics-guard"]
    kubectl = str(_cluster().state["bin"]["kubectl"])
    py = [sys.executable, "-m", "benchmarks.scale_probe", "--kubeconfig", kubeconfig]
    commands = [
        Command("kubectl top pods -A", [kubectl, "--kubeconfig", kubeconfig, "top", "pods", "-A"]),
        Command("scale_probe --mode top", [*py, "--mode", "top"], cwd=str(ROOT)),
        Command("scale_probe --mode coverage", [*py, "--mode", "coverage"], cwd=str(ROOT)),
    ]
    # Right after the APIService is re-pointed, the apiservers' aggregated discovery may still leave the
    # group out for a while (kubectl then says "Metrics API not available"): wait until kubectl sees it.
    for _ in range(60):
        probe = subprocess.run(list(commands[0].argv), capture_output=True, check=False)
        if probe.returncode == 0:
            break
        time.sleep(2)
    return {"summaries": alternate(commands, rounds=rounds)}


def run(state: dict[str, Any], *, rounds: int = 5, scale: Scale | None = None) -> dict[str, object]:
    scale = scale or Scale()
    cluster = _cluster()
    with tempfile.TemporaryDirectory(prefix="mg-scale-") as tmp:
        existing = cluster.kube(timeout=60.0).get("/api/v1/pods?limit=1")
        count = existing.get("metadata", {}).get("remainingItemCount", 0) + len(existing.get("items", []))
        seeding: dict[str, float] = {}
        if count < scale.pods:
            print(f"seeding {scale.nodes} nodes and {scale.pods} pods ...", flush=True)
            seeding = seed(cluster, scale)
        backend = Backend(cluster, Path(tmp), scale)
        try:
            print("starting the bench backend and re-pointing the APIService ...", flush=True)
            backend.start()
            results = measure(state, rounds=rounds)
        finally:
            backend.stop()
    summaries = results["summaries"]
    assert isinstance(summaries, dict)
    k = summaries["kubectl top pods -A"]
    t = summaries["scale_probe --mode top"]
    c = summaries["scale_probe --mode coverage"]
    rows = [
        ["process", "wall median s", "wall min-max s", "CPU s", "peak RSS MiB", "wall vs kubectl", "target"]
    ]
    for s, target in ((k, None), (t, TARGET_TOP), (c, TARGET_COVERAGE)):
        ratio = s.wall_median_s / k.wall_median_s
        rows.append(
            [
                s.name,
                f"{s.wall_median_s:.2f}",
                f"{s.wall_min_s:.2f}-{s.wall_max_s:.2f}",
                f"{s.cpu_median_s:.2f}",
                f"{s.rss_median_mib:.0f}",
                f"{ratio:.2f}x",
                ""
                if target is None
                else f"<= {target}x, <= {TARGET_RSS_MIB:.0f} MiB: "
                + ("met" if ratio <= target and s.rss_median_mib <= TARGET_RSS_MIB else "MISSED"),
            ]
        )
    seed_text = (
        f"seeding: {seeding['objects']:.0f} objects built in {seeding['build_objects_s']:.1f} s, written to etcd in "
        f"{seeding['etcd_write_s']:.1f} s, all listed by the front after {seeding['visible_through_api_s']:.1f} s more"
        if seeding
        else "seeding: objects already present"
    )
    text = (
        f"scale: {scale.pods} pods, {scale.nodes} nodes through the aggregated path ({rounds} alternated rounds)\n"
        f"{table(rows)}\n{seed_text}"
    )
    payload: dict[str, object] = {
        "scale": {"pods": scale.pods, "nodes": scale.nodes},
        "rounds": rounds,
        "seeding": seeding,
        **results,
    }
    write_result("scale", payload, text)
    print(text, flush=True)
    return payload
