"""A simulated kubelet: the one simulated component of the devcluster (a real one needs a container runtime).

As a kubelet does, it registers its Node, renews its Lease in kube-node-lease and posts NodeStatus, posts
the status of the pods bound to it (Running; Ready from the pod's readinessProbe when it has one, probed
over HTTPS as a kubelet does: without verifying the serving certificate), and serves `/metrics/resource`
(Prometheus text) and `/healthz` over HTTPS with a serving certificate signed by the cluster CA.
Clients of the HTTPS server are not authenticated (a real kubelet would use webhook authn/authz).

Run inside the node's network namespace: python -m devcluster.kubelet CONFIG.json
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import json
import signal
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from devcluster import promtext
from devcluster.kube import JSON, Credentials, Kube, KubeError

LEASE_RENEW_S = 2.0
NODE_STATUS_S = 10.0
POD_SYNC_S = 2.0
POD_IP_ANNOTATION = "devcluster.metrics-guard.io/pod-ip"


def _ts(t: float | None = None) -> str:
    return dt.datetime.fromtimestamp(t if t is not None else time.time(), dt.UTC).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )


def _micro(t: float | None = None) -> str:
    return dt.datetime.fromtimestamp(t if t is not None else time.time(), dt.UTC).strftime(
        "%Y-%m-%dT%H:%M:%S.%fZ"
    )


def _parse_ts(s: str | None) -> float | None:
    if not s:
        return None
    try:
        return dt.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def log(msg: str, **fields: Any) -> None:
    extra = " ".join(f"{k}={v!r}" for k, v in fields.items())
    sys.stdout.write(f"{_micro()} {msg} {extra}\n")
    sys.stdout.flush()


class Probe:
    """State of one pod's readiness probe (httpGet), following the pod spec's thresholds."""

    def __init__(self) -> None:
        self.ready = False
        self.failures = 0
        self.successes = 0
        self.last = 0.0

    def run(self, spec: JSON, ip: str, container: JSON, now: float) -> None:
        period = float(spec.get("periodSeconds", 10))
        if now - self.last < period:
            return
        self.last = now
        http_get = spec.get("httpGet") or {}
        port = http_get.get("port", 80)
        if isinstance(port, str):
            port = next((p["containerPort"] for p in container.get("ports", []) if p.get("name") == port), 0)
        ok = _http_probe(
            http_get.get("host") or ip,
            int(port),
            str(http_get.get("path", "/")),
            str(http_get.get("scheme", "HTTP")).upper() == "HTTPS",
            float(spec.get("timeoutSeconds", 1)),
        )
        if ok:
            self.failures = 0
            self.successes += 1
            if self.successes >= int(spec.get("successThreshold", 1)):
                self.ready = True
        else:
            self.successes = 0
            self.failures += 1
            if self.failures >= int(spec.get("failureThreshold", 3)):
                self.ready = False


def _http_probe(host: str, port: int, path: str, https: bool, timeout: float) -> bool:
    conn: http.client.HTTPConnection
    if https:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE  # as a kubelet's HTTPS probe does
        conn = http.client.HTTPSConnection(host, port, timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"User-Agent": "kube-probe/1.36"})
        resp = conn.getresponse()
        resp.read()
        return 200 <= resp.status < 400
    except (OSError, ssl.SSLError, http.client.HTTPException):
        return False
    finally:
        conn.close()


class Kubelet:
    def __init__(self, cfg: JSON) -> None:
        self.cfg = cfg
        self.name: str = cfg["node"]
        self.ip: str = cfg["ip"]
        self.port: int = int(cfg["port"])
        self.kube = Kube(
            cfg["api_url"], Credentials(Path(cfg["ca"]), Path(cfg["cert"]), Path(cfg["key"])), timeout=5
        )
        self.boot = time.time() - 3600
        self.containers: tuple[promtext.Container, ...] = ()
        self.probes: dict[str, Probe] = {}
        self.stop = threading.Event()

    # ---------------------------------------------------------------- HTTPS server
    def serve(self) -> ThreadingHTTPServer:
        kubelet = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?", 1)[0]
                if path in ("/healthz", "/livez", "/readyz"):
                    self._reply(200, b"ok", "text/plain; charset=utf-8")
                elif path == "/metrics/resource":
                    body = promtext.render(kubelet.name, kubelet.boot, kubelet.containers, time.time())
                    self._reply(200, body.encode(), "text/plain; version=0.0.4; charset=utf-8")
                else:
                    self._reply(404, b"404 page not found\n", "text/plain; charset=utf-8")

            def _reply(self, status: int, body: bytes, ctype: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        server = ThreadingHTTPServer((self.ip, self.port), Handler)
        server.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cfg["serving_cert"], self.cfg["serving_key"])
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        log("serving", address=f"{self.ip}:{self.port}")
        return server

    # ---------------------------------------------------------------- node
    def node_status(self) -> JSON:
        now = _ts()
        cap = self.cfg.get("capacity", {"cpu": "4", "memory": "8Gi", "pods": "110"})
        conditions = [
            (
                "MemoryPressure",
                "False",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ]
        return {
            "capacity": cap,
            "allocatable": cap,
            "addresses": [
                {"type": "InternalIP", "address": self.ip},
                {"type": "Hostname", "address": self.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.port}},
            "nodeInfo": {
                "machineID": self.name,
                "systemUUID": self.name,
                "bootID": f"boot-{int(self.boot)}",
                "kernelVersion": "6.1.0",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "containerRuntimeVersion": "containerd://1.7.24",
                "kubeletVersion": self.cfg.get("version", "v1.36.3"),
                "kubeProxyVersion": "",
                "operatingSystem": "linux",
                "architecture": "amd64",
            },
            "conditions": [
                {
                    "type": t,
                    "status": s,
                    "reason": r,
                    "message": m,
                    "lastHeartbeatTime": now,
                    "lastTransitionTime": now,
                }
                for t, s, r, m in conditions
            ],
        }

    def register(self) -> None:
        node = {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": {
                    "kubernetes.io/hostname": self.name,
                    "kubernetes.io/os": "linux",
                    "kubernetes.io/arch": "amd64",
                },
            },
            "status": self.node_status(),
        }
        self.kube.create("/api/v1/nodes", node)
        self.post_node_status()
        log("registered node")

    def post_node_status(self) -> None:
        path = f"/api/v1/nodes/{self.name}"
        current = self.kube.get(path)
        status = self.node_status()
        old = {c["type"]: c for c in current.get("status", {}).get("conditions", [])}
        for cond in status["conditions"]:
            prev = old.get(cond["type"])
            if prev and prev.get("status") == cond["status"]:
                cond["lastTransitionTime"] = prev.get("lastTransitionTime", cond["lastTransitionTime"])
        self.kube.merge_patch(f"{path}/status", {"status": status})

    def renew_lease(self) -> None:
        path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}"
        spec = {"holderIdentity": self.name, "leaseDurationSeconds": 40, "renewTime": _micro()}
        try:
            self.kube.merge_patch(path, {"spec": spec})
        except KubeError as exc:
            if exc.status != 404:
                raise
            lease = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": "kube-node-lease"},
                "spec": spec,
            }
            self.kube.create("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", lease)

    # ---------------------------------------------------------------- pods
    def sync_pods(self) -> None:
        pods = self.kube.get(f"/api/v1/pods?fieldSelector=spec.nodeName%3D{self.name}").get("items", [])
        containers: list[promtext.Container] = []
        seen: set[str] = set()
        now = time.time()
        for pod in pods:
            meta = pod["metadata"]
            if meta.get("deletionTimestamp"):
                continue
            key = f"{meta['namespace']}/{meta['name']}"
            seen.add(key)
            status = pod.get("status", {})
            ip = meta.get("annotations", {}).get(POD_IP_ANNOTATION) or self.ip
            started = _parse_ts(status.get("startTime")) or now
            ready = True
            for c in pod["spec"]["containers"]:
                probe_spec = c.get("readinessProbe")
                if probe_spec:
                    probe = self.probes.setdefault(f"{key}/{c['name']}", Probe())
                    probe.run(probe_spec, ip, c, now)
                    ready = ready and probe.ready
                containers.append(promtext.Container(meta["namespace"], meta["name"], c["name"], started))
            self._post_pod_status(pod, ip, started, ready)
        self.containers = tuple(containers)
        for key in list(self.probes):
            if key.rsplit("/", 1)[0] not in seen:
                del self.probes[key]

    def _post_pod_status(self, pod: JSON, ip: str, started: float, ready: bool) -> None:
        meta = pod["metadata"]
        status = pod.get("status", {})
        old = {c["type"]: c for c in status.get("conditions", [])}
        want = {
            "PodReadyToStartContainers": True,
            "Initialized": True,
            "Ready": ready,
            "ContainersReady": ready,
            "PodScheduled": True,
        }
        current_ready = {t: (old.get(t, {}).get("status") == "True") for t in want}
        statuses = status.get("containerStatuses") or []
        if (
            status.get("phase") == "Running"
            and status.get("podIP") == ip
            and current_ready == want
            and len(statuses) == len(pod["spec"]["containers"])
            and all(bool(s.get("ready")) == ready for s in statuses)
        ):
            return
        now = _ts()
        conditions = []
        for t, value in want.items():
            s = "True" if value else "False"
            prev = old.get(t)
            cond = {
                "type": t,
                "status": s,
                "lastProbeTime": None,
                "lastTransitionTime": prev["lastTransitionTime"]
                if prev and prev.get("status") == s and prev.get("lastTransitionTime")
                else now,
            }
            if not value and t in ("Ready", "ContainersReady"):
                cond["reason"] = "ContainersNotReady"
                cond["message"] = (
                    "containers with unready status: ["
                    + " ".join(c["name"] for c in pod["spec"]["containers"])
                    + "]"
                )
            conditions.append(cond)
        container_statuses = [
            {
                "name": c["name"],
                "image": c.get("image", ""),
                "imageID": c.get("image", "") + "@sha256:" + "0" * 64,
                "containerID": "containerd://"
                + hashlib.sha256(f"{meta['uid']}/{c['name']}".encode()).hexdigest(),
                "ready": ready,
                "started": True,
                "restartCount": 0,
                "state": {"running": {"startedAt": _ts(started)}},
            }
            for c in pod["spec"]["containers"]
        ]
        new_status = {
            "phase": "Running",
            "conditions": conditions,
            "hostIP": self.ip,
            "hostIPs": [{"ip": self.ip}],
            "podIP": ip,
            "podIPs": [{"ip": ip}],
            "startTime": _ts(started),
            "containerStatuses": container_statuses,
        }
        self.kube.merge_patch(
            f"/api/v1/namespaces/{meta['namespace']}/pods/{meta['name']}/status", {"status": new_status}
        )
        log("pod status", pod=f"{meta['namespace']}/{meta['name']}", ready=ready, ip=ip)

    # ---------------------------------------------------------------- main loop
    def run(self) -> None:
        self.serve()
        registered = False
        last_lease = last_status = last_pods = 0.0
        while not self.stop.is_set():
            now = time.monotonic()
            try:
                if not registered:
                    self.register()
                    registered = True
                    last_status = now
                if now - last_lease >= LEASE_RENEW_S:
                    self.renew_lease()
                    last_lease = now
                if now - last_status >= NODE_STATUS_S:
                    self.post_node_status()
                    last_status = now
                if now - last_pods >= POD_SYNC_S:
                    self.sync_pods()
                    last_pods = now
            except KubeError as exc:
                log("api error", error=str(exc))
            self.stop.wait(0.5)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        sys.stderr.write("usage: python -m devcluster.kubelet CONFIG.json\n")
        return 2
    cfg = json.loads(Path(argv[0]).read_text())
    kubelet = Kubelet(cfg)
    signal.signal(signal.SIGTERM, lambda *_: kubelet.stop.set())
    kubelet.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
