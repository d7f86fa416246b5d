"""The devcluster: bring up, inspect, break, heal and tear down a real local control plane."""

from __future__ import annotations

import base64
import concurrent.futures
import contextlib
import datetime as dt
import fcntl
import json
import os
import shutil
import signal
import socket
import ssl
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from devcluster import build, faults, manifests, netns, paths, pki, procs, unitfile
from devcluster.errors import DevclusterError, UsageError
from devcluster.kube import JSON, Credentials, Kube, KubeError

API_PORT = 6443
KUBELET_PORT = 10250
METRICS_SERVER_PORT = 10250
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
SERVICE_CIDR = "198.19.0.0/16"
FIRST_SERVICE_IP = "198.19.0.1"
METRICS_SERVER_DNS = "metrics-server.kube-system.svc"
APISERVICE = "v1beta1.metrics.k8s.io"
SSL_DIR = "etc/ssl/kubernetes"
UNIT_PATH = "etc/systemd/system/kube-apiserver.service"
AGGREGATION_FLAGS = (
    "requestheader-client-ca-file",
    "requestheader-allowed-names",
    "requestheader-extra-headers-prefix",
    "requestheader-group-headers",
    "requestheader-username-headers",
    "proxy-client-cert-file",
    "proxy-client-key-file",
)
RESTART_FAILS_FLAG = "--unit-cannot-start=injected-by-devcluster"
APISERVER_READY_TIMEOUT = 90.0
HEALTH_TIMEOUT = 240.0

Progress = Callable[[str], None]


def _print(msg: str) -> None:
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Cluster:
    """One devcluster, identified by its state directory (DEVCLUSTER_HOME)."""

    def __init__(self, home: Path | None = None, progress: Progress = _print) -> None:
        self.home = (home or paths.home_dir()).resolve()
        self.progress = progress
        self.prefix = paths.name_prefix(self.home)
        self.state_file = self.home / "state.json"
        self.state: dict[str, Any] = {}
        if self.state_file.is_file():
            self.state = json.loads(self.state_file.read_text())

    # ------------------------------------------------------------------ state, locking, layout
    def save(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=2, sort_keys=True))
        tmp.replace(self.state_file)

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / ".lock").open("a") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                if self.state_file.is_file():
                    self.state = json.loads(self.state_file.read_text())
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def require_state(self) -> None:
        if not self.state:
            raise DevclusterError(f"no devcluster in {self.home} (run `devcluster up`)")

    @property
    def pki_dir(self) -> Path:
        return self.home / "pki"

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    @property
    def gateway(self) -> str:
        return f"{self.state['subnet']}.1"

    @property
    def front_url(self) -> str:
        return f"https://{self.gateway}:{API_PORT}"

    def apiserver_ip(self, i: int) -> str:
        return f"{self.state['subnet']}.{10 + i}"

    def apiserver_url(self, i: int) -> str:
        return f"https://{self.apiserver_ip(i)}:{API_PORT}"

    @property
    def ms_ip(self) -> str:
        return f"{self.state['subnet']}.50"

    def node_ip(self, j: int) -> str:
        return f"{self.state['subnet']}.{100 + j}"

    @property
    def apiserver_count(self) -> int:
        return int(self.state["apiservers"])

    @property
    def node_names(self) -> list[str]:
        return [f"node-{j}" for j in range(1, int(self.state["nodes"]) + 1)]

    def node_root(self, i: int) -> Path:
        if not 1 <= i <= self.apiserver_count:
            raise UsageError(f"apiserver index must be 1..{self.apiserver_count}")
        return self.home / "nodes" / f"apiserver-{i}"

    def ns_of(self, short: str) -> str:
        return f"{self.prefix}-{short}"

    @property
    def ms_node(self) -> str:
        """metrics-server's pod runs on the last node, so kubelet-down on node-1 keeps it Ready."""
        return self.node_names[-1]

    def kubeconfig(self, user: str = "admin") -> Path:
        if user not in ("admin", "metrics-guard"):
            raise UsageError("--user must be admin or metrics-guard")
        self.require_state()
        return self.home / "kubeconfigs" / f"{user}.kubeconfig"

    def creds(self, name: str = "admin") -> Credentials:
        return Credentials(
            self.pki_dir / "ca.pem", self.pki_dir / f"{name}.pem", self.pki_dir / f"{name}-key.pem"
        )

    def kube(self, url: str | None = None, user: str = "admin", timeout: float = 10.0) -> Kube:
        return Kube(url or self.front_url, self.creds(user), timeout=timeout)

    def bin(self, name: str) -> str:
        return str(self.state["bin"][name])

    def proc(self, name: str) -> procs.ProcRecord | None:
        rec: procs.ProcRecord | None = self.state.get("pids", {}).get(name)
        return rec

    def _record(self, name: str, rec: procs.ProcRecord) -> None:
        self.state.setdefault("pids", {})[name] = rec
        self.save()

    # ------------------------------------------------------------------ up
    def running(self) -> bool:
        return bool(self.state) and procs.alive(self.proc("etcd"))

    def up(
        self,
        *,
        apiservers: int = 3,
        nodes: int = 3,
        pods_per_node: int = 5,
        kubernetes_version: str = paths.DEFAULT_KUBERNETES_VERSION,
    ) -> dict[str, Any]:
        if apiservers < 1 or nodes < 1 or pods_per_node < 0:
            raise UsageError("--apiservers and --nodes must be at least 1, --pods-per-node at least 0")
        with self.locked():
            if self.running():
                self.progress(f"devcluster already running in {self.home}")
                return self.status()
            if self.state:
                self.progress("stale state found (processes gone): cleaning up first")
                self._teardown()
            if os.geteuid() != 0:
                raise DevclusterError("devcluster up needs root (network namespaces, bridge)")
            netns.check_tools()
            t0 = time.monotonic()
            self.progress(f"binaries (Kubernetes {kubernetes_version}):")
            binaries = build.build(kubernetes_version)
            self.state = {
                "kubernetes_version": kubernetes_version,
                "apiservers": apiservers,
                "nodes": nodes,
                "pods_per_node": pods_per_node,
                "bin": {k: str(v) for k, v in binaries.items()},
                "pids": {},
                "faults": [],
                "restart_fails": [],
                "prefix": self.prefix,
            }
            try:
                self._up_network()
                self._up_pki()
                self._up_etcd()
                self._up_apiservers()
                self._up_front()
                self._bootstrap_objects()
                self._up_controller_manager()
                self._up_kubelets()
                self._up_metrics_server()
                self.progress(
                    "waiting for the Metrics API (APIService Available, metrics for every node and pod)"
                )
                self.wait_healthy(timeout=HEALTH_TIMEOUT)
            except DevclusterError as exc:
                raise DevclusterError(f"{exc} (logs in {self.logs}; `devcluster down` cleans up)") from exc
            self.progress(f"devcluster up in {time.monotonic() - t0:.0f}s: {self.front_url}")
            self.progress(f"  kubeconfig: {self.kubeconfig('admin')}")
            return self.status()

    def _up_network(self) -> None:
        with netns.Lock():
            used = netns.used_subnets()
            index = next((i for i in range(1, 512) if i not in used), None)
            if index is None:
                raise DevclusterError("no free /24 left in 198.18.0.0/15")
            self.state["subnet"] = netns.subnet_base(index)
            self.state["bridge"] = f"{self.prefix}br"
            self.save()
            host_addrs = [self.gateway] + [self.apiserver_ip(i) for i in range(1, self.apiserver_count + 1)]
            netns.create_bridge(self.state["bridge"], self.state["subnet"], host_addrs)
        netns.create_netns(
            self.ns_of("ms"), self.state["bridge"], f"{self.prefix}vm", self.ms_ip, self.gateway
        )
        for j, _name in enumerate(self.node_names, start=1):
            netns.create_netns(
                self.ns_of(f"node-{j}"),
                self.state["bridge"],
                f"{self.prefix}v{j}",
                self.node_ip(j),
                self.gateway,
            )
        self.progress(
            f"network: bridge {self.state['bridge']} {self.state['subnet']}.0/24, "
            f"{len(self.node_names) + 1} namespaces"
        )

    # ------------------------------------------------------------------ PKI
    def _up_pki(self) -> None:
        d = self.pki_dir
        ca = pki.make_ca("kubernetes-ca")
        pki.write_pair(ca, d / "ca.pem", d / "ca-key.pem")
        fp_ca = pki.make_ca("front-proxy-ca")
        pki.write_pair(fp_ca, d / "front-proxy-ca.pem", d / "front-proxy-ca-key.pem")
        pki.write_pair(
            pki.issue(fp_ca, "aggregator", client=True),
            d / "metrics-server.pem",
            d / "metrics-server-key.pem",
        )
        sa = pki.new_key()
        pki.write_file(d / "service-account-key.pem", pki.key_pem(sa), private=True)
        pki.write_file(d / "service-account.pem", pki.public_key_pem(sa))
        clients = {
            "admin": ("admin", ["system:masters"]),
            "metrics-guard": ("metrics-guard", []),
            "kube-controller-manager": ("system:kube-controller-manager", []),
            "metrics-server-client": ("system:metrics-server", []),
            "apiserver-kubelet-client": ("kube-apiserver-kubelet-client", ["system:masters"]),
        }
        for file, (cn, orgs) in clients.items():
            pki.write_pair(
                pki.issue(ca, cn, orgs=orgs, client=True), d / f"{file}.pem", d / f"{file}-key.pem"
            )
        pki.write_pair(
            pki.issue(
                ca,
                METRICS_SERVER_DNS,
                server=True,
                dns=[METRICS_SERVER_DNS, "metrics-server.kube-system", "metrics-server"],
                ips=[self.ms_ip],
            ),
            d / "metrics-server-serving.pem",
            d / "metrics-server-serving-key.pem",
        )
        for j, name in enumerate(self.node_names, start=1):
            pki.write_pair(
                pki.issue(ca, f"system:node:{name}", orgs=["system:nodes"], client=True),
                d / f"kubelet-{name}.pem",
                d / f"kubelet-{name}-key.pem",
            )
            pki.write_pair(
                pki.issue(ca, name, server=True, dns=[name], ips=[self.node_ip(j)]),
                d / f"kubelet-{name}-serving.pem",
                d / f"kubelet-{name}-serving-key.pem",
            )
        for i in range(1, self.apiserver_count + 1):
            pki.write_pair(
                pki.issue(
                    ca,
                    "kube-apiserver",
                    server=True,
                    dns=[
                        "kubernetes",
                        "kubernetes.default",
                        "kubernetes.default.svc",
                        "kubernetes.default.svc.cluster.local",
                        "localhost",
                        f"apiserver-{i}",
                    ],
                    ips=[self.apiserver_ip(i), self.gateway, "127.0.0.1", FIRST_SERVICE_IP],
                ),
                d / f"apiserver-{i}.pem",
                d / f"apiserver-{i}-key.pem",
            )
        # metrics-server's live serving cert (faults replace it; heal copies the pristine one back)
        live = self.home / "metrics-server"
        live.mkdir(parents=True, exist_ok=True)
        shutil.copy2(d / "metrics-server-serving.pem", live / "tls.crt")
        shutil.copy2(d / "metrics-server-serving-key.pem", live / "tls.key")
        self._write_kubeconfigs()
        self.progress("pki: cluster CA, front-proxy (requestheader) CA, serving and client certificates")

    def _kubeconfig_text(self, user: str, cert: str, server: str) -> str:
        def b64(p: Path) -> str:
            return base64.b64encode(p.read_bytes()).decode()

        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "devcluster",
                    "cluster": {"server": server, "certificate-authority-data": b64(self.pki_dir / "ca.pem")},
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": b64(self.pki_dir / f"{cert}.pem"),
                        "client-key-data": b64(self.pki_dir / f"{cert}-key.pem"),
                    },
                }
            ],
            "contexts": [{"name": f"{user}@devcluster", "context": {"cluster": "devcluster", "user": user}}],
            "current-context": f"{user}@devcluster",
        }
        return json.dumps(cfg, indent=2) + "\n"

    def _write_kubeconfigs(self) -> None:
        d = self.home / "kubeconfigs"
        for user, cert in (
            ("admin", "admin"),
            ("metrics-guard", "metrics-guard"),
            ("kube-controller-manager", "kube-controller-manager"),
            ("metrics-server", "metrics-server-client"),
        ):
            pki.write_file(
                d / f"{user}.kubeconfig",
                self._kubeconfig_text(user, cert, self.front_url).encode(),
                private=True,
            )

    # ------------------------------------------------------------------ etcd
    def _check_port(self, ip: str, port: int, what: str) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                s.bind((ip, port))
            except OSError as exc:
                raise DevclusterError(f"port {ip}:{port} for {what} is busy ({exc.strerror})") from exc

    def _up_etcd(self) -> None:
        gw = self.gateway
        self._check_port(gw, ETCD_CLIENT_PORT, "etcd")
        self._check_port(gw, ETCD_PEER_PORT, "etcd peer")
        data = self.home / "etcd"
        argv = [
            self.bin("etcd"),
            "--name=etcd-1",
            f"--data-dir={data}",
            f"--listen-client-urls=http://{gw}:{ETCD_CLIENT_PORT}",
            f"--advertise-client-urls=http://{gw}:{ETCD_CLIENT_PORT}",
            f"--listen-peer-urls=http://{gw}:{ETCD_PEER_PORT}",
            f"--initial-advertise-peer-urls=http://{gw}:{ETCD_PEER_PORT}",
            f"--initial-cluster=etcd-1=http://{gw}:{ETCD_PEER_PORT}",
            "--initial-cluster-state=new",
            "--quota-backend-bytes=2147483648",
            "--snapshot-count=10000",
            "--log-level=warn",
        ]
        self._record("etcd", procs.start(argv, self.logs / "etcd.log"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://{gw}:{ETCD_CLIENT_PORT}/health", timeout=2) as r:
                    if b'"true"' in r.read():
                        self.progress(
                            f"etcd: http://{gw}:{ETCD_CLIENT_PORT} (plain HTTP on the bridge address)"
                        )
                        return
            except OSError:
                pass
            if not procs.alive(self.proc("etcd")):
                raise DevclusterError("etcd exited at start (logs/etcd.log)")
            time.sleep(0.3)
        raise DevclusterError("etcd did not become healthy within 30s (logs/etcd.log)")

    # ------------------------------------------------------------------ apiservers
    def apiserver_argv(self, i: int, *, aggregation: bool = True) -> list[str]:
        root = self.node_root(i)
        s = root / SSL_DIR
        ip = self.apiserver_ip(i)
        argv = [
            str(root / "usr/local/bin/kube-apiserver"),
            f"--advertise-address={ip}",
            f"--bind-address={ip}",
            f"--secure-port={API_PORT}",
            f"--etcd-servers=http://{self.gateway}:{ETCD_CLIENT_PORT}",
            "--allow-privileged=true",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--client-ca-file={s / 'ca.pem'}",
            f"--tls-cert-file={s / 'kubernetes.pem'}",
            f"--tls-private-key-file={s / 'kubernetes-key.pem'}",
            f"--kubelet-certificate-authority={s / 'ca.pem'}",
            f"--kubelet-client-certificate={s / 'apiserver-kubelet-client.pem'}",
            f"--kubelet-client-key={s / 'apiserver-kubelet-client-key.pem'}",
            "--kubelet-preferred-address-types=InternalIP",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-account-key-file={s / 'service-account.pem'}",
            f"--service-account-signing-key-file={s / 'service-account-key.pem'}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
        ]
        if aggregation:
            argv += [
                f"--requestheader-client-ca-file={s / 'front-proxy-ca.pem'}",
                "--requestheader-allowed-names=aggregator",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-username-headers=X-Remote-User",
                f"--proxy-client-cert-file={s / 'metrics-server.pem'}",
                f"--proxy-client-key-file={s / 'metrics-server-key.pem'}",
            ]
        argv += ["--enable-aggregator-routing=true", "--event-ttl=1h", "--profiling=false", "--v=2"]
        return argv

    def write_unit(self, i: int, *, aggregation: bool = True) -> None:
        text = unitfile.render(
            f"Kubernetes API Server (devcluster apiserver-{i})",
            self.apiserver_argv(i, aggregation=aggregation),
        )
        pki.write_file(self.node_root(i) / UNIT_PATH, text.encode())

    def _node_ssl_files(self, i: int) -> dict[str, Path]:
        """node-root file name -> pristine source in pki/."""
        d = self.pki_dir
        return {
            "ca.pem": d / "ca.pem",
            "ca-key.pem": d / "ca-key.pem",
            "front-proxy-ca.pem": d / "front-proxy-ca.pem",
            "front-proxy-ca-key.pem": d / "front-proxy-ca-key.pem",
            "metrics-server.pem": d / "metrics-server.pem",
            "metrics-server-key.pem": d / "metrics-server-key.pem",
            "kubernetes.pem": d / f"apiserver-{i}.pem",
            "kubernetes-key.pem": d / f"apiserver-{i}-key.pem",
            "service-account.pem": d / "service-account.pem",
            "service-account-key.pem": d / "service-account-key.pem",
            "apiserver-kubelet-client.pem": d / "apiserver-kubelet-client.pem",
            "apiserver-kubelet-client-key.pem": d / "apiserver-kubelet-client-key.pem",
        }

    def restore_node_files(self, i: int, names: tuple[str, ...] | None = None) -> None:
        s = self.node_root(i) / SSL_DIR
        s.mkdir(parents=True, exist_ok=True)
        for name, src in self._node_ssl_files(i).items():
            if names is None or name in names:
                pki.write_file(s / name, src.read_bytes(), private=name.endswith("key.pem"))

    def _make_node_root(self, i: int) -> None:
        root = self.node_root(i)
        self.restore_node_files(i)
        link = root / "usr/local/bin/kube-apiserver"
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(self.bin("kube-apiserver"))
        (root / "var/log").mkdir(parents=True, exist_ok=True)
        self.write_unit(i)

    def _up_apiservers(self) -> None:
        for i in range(1, self.apiserver_count + 1):
            self._check_port(self.apiserver_ip(i), API_PORT, f"apiserver {i}")
            self._make_node_root(i)
        t = time.monotonic()
        self.restart_apiservers(list(range(1, self.apiserver_count + 1)))
        self.progress(
            f"apiservers: {self.apiserver_count} ready in {time.monotonic() - t:.0f}s "
            f"({', '.join(self.apiserver_url(i) for i in range(1, self.apiserver_count + 1))})"
        )

    def _start_apiserver(self, i: int) -> None:
        argv = unitfile.parse_exec_start((self.node_root(i) / UNIT_PATH).read_text())
        if i in self.state.get("restart_fails", []):
            argv.append(RESTART_FAILS_FLAG)
        self._record(f"apiserver-{i}", procs.start(argv, self.logs / f"apiserver-{i}.log"))

    def apiserver_ready(self, i: int, timeout: float = 2.0) -> bool:
        try:
            status, _ = self.kube(self.apiserver_url(i), timeout=timeout).request_raw("GET", "/readyz")
        except KubeError:
            return False
        return status == 200

    def restart_apiservers(self, indexes: list[int], *, timeout: float = APISERVER_READY_TIMEOUT) -> None:
        """Stop, re-read the unit's ExecStart, start; wait for /readyz (all in parallel)."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(indexes))) as pool:
            list(pool.map(lambda i: procs.stop(self.proc(f"apiserver-{i}")), indexes))
        for i in indexes:
            self._start_apiserver(i)
        deadline = time.monotonic() + timeout
        pending = set(indexes)
        while pending:
            for i in sorted(pending):
                if not procs.alive(self.proc(f"apiserver-{i}")):
                    raise DevclusterError(
                        f"apiserver {i} failed to start: it exited (logs/apiserver-{i}.log)"
                    )
                if self.apiserver_ready(i):
                    pending.discard(i)
            if pending and time.monotonic() > deadline:
                raise DevclusterError(
                    f"apiserver {min(pending)} did not become ready within {timeout:.0f}s "
                    f"(logs/apiserver-{min(pending)}.log)"
                )
            if pending:
                time.sleep(0.5)

    def restart_apiserver(self, i: int) -> None:
        self.require_state()
        self.node_root(i)
        with self.locked():
            self.restart_apiservers([i])

    # ------------------------------------------------------------------ front, objects, kcm
    def _up_front(self) -> None:
        self._check_port(self.gateway, API_PORT, "the front load balancer")
        argv = [sys.executable, "-m", "devcluster.lb", f"{self.gateway}:{API_PORT}"]
        argv += [f"{self.apiserver_ip(i)}:{API_PORT}" for i in range(1, self.apiserver_count + 1)]
        self._record("front-lb", procs.start(argv, self.logs / "front-lb.log", env=self._py_env()))
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            with contextlib.suppress(KubeError):
                if self.kube().request_raw("GET", "/readyz", timeout=2)[0] == 200:
                    self.progress(f"front: {self.front_url} (round-robin TCP over the apiservers)")
                    return
            time.sleep(0.3)
        raise DevclusterError("front load balancer did not answer within 15s (logs/front-lb.log)")

    def _py_env(self) -> dict[str, str]:
        pkg_parent = str(paths.PACKAGE_DIR.parent)
        existing = os.environ.get("PYTHONPATH", "")
        return {"PYTHONPATH": pkg_parent + (os.pathsep + existing if existing else "")}

    def _bootstrap_objects(self) -> None:
        kube = self.kube()
        ca_pem = (self.pki_dir / "ca.pem").read_bytes()
        workload_pods = manifests.workload_pods(self.node_names, int(self.state["pods_per_node"]))
        objs = manifests.bootstrap(ca_pem, self.ms_ip, self.ms_node, METRICS_SERVER_PORT) + workload_pods
        deadline = time.monotonic() + 60
        pending = list(objs)
        last_error = ""
        while pending and time.monotonic() < deadline:
            retry = []
            for collection, obj in pending:
                try:
                    kube.create(collection, obj)
                except KubeError as exc:
                    # e.g. the default ServiceAccount is not there yet
                    retry.append((collection, obj))
                    last_error = f"{obj['kind']} {obj['metadata']['name']}: {exc}"
            pending = retry
            if pending:
                time.sleep(1)
        if pending:
            raise DevclusterError(f"could not create {len(pending)} objects, last: {last_error}")
        self.state["pods"] = [
            f"{o['metadata']['namespace']}/{o['metadata']['name']}" for _, o in workload_pods
        ]
        self.state["pods"].append(f"kube-system/{manifests.METRICS_SERVER_POD}")
        self.save()
        self.progress(f"objects: RBAC, Service, APIService {APISERVICE}, {len(self.state['pods'])} pods")

    def _kcm_argv(self) -> list[str]:
        kc = self.home / "kubeconfigs" / "kube-controller-manager.kubeconfig"
        return [
            self.bin("kube-controller-manager"),
            f"--kubeconfig={kc}",
            "--secure-port=0",
            "--leader-elect=false",
            "--use-service-account-credentials=true",
            "--controllers=node-lifecycle-controller,endpointslice-controller,endpoints-controller,"
            "serviceaccount-controller,serviceaccount-token-controller,namespace-controller",
            f"--service-account-private-key-file={self.pki_dir / 'service-account-key.pem'}",
            f"--root-ca-file={self.pki_dir / 'ca.pem'}",
            "--node-monitor-period=2s",
            "--node-monitor-grace-period=16s",
            "--v=2",
        ]

    def _up_controller_manager(self) -> None:
        self._record(
            "kube-controller-manager",
            procs.start(self._kcm_argv(), self.logs / "kube-controller-manager.log"),
        )
        self.progress("kube-controller-manager: node lifecycle (grace 16s), EndpointSlice, service accounts")

    # ------------------------------------------------------------------ kubelets, metrics-server
    def _kubelet_config(self, j: int, name: str) -> Path:
        d = self.pki_dir
        cfg = {
            "node": name,
            "ip": self.node_ip(j),
            "port": KUBELET_PORT,
            "api_url": self.front_url,
            "ca": str(d / "ca.pem"),
            "cert": str(d / f"kubelet-{name}.pem"),
            "key": str(d / f"kubelet-{name}-key.pem"),
            "serving_cert": str(d / f"kubelet-{name}-serving.pem"),
            "serving_key": str(d / f"kubelet-{name}-serving-key.pem"),
            "version": self.state["kubernetes_version"],
        }
        path = self.home / "kubelets" / f"{name}.json"
        pki.write_file(path, json.dumps(cfg, indent=2).encode())
        return path

    def start_kubelet(self, name: str) -> None:
        j = self.node_names.index(name) + 1
        cfg = self._kubelet_config(j, name)
        argv = [sys.executable, "-m", "devcluster.kubelet", str(cfg)]
        rec = procs.start(
            argv, self.logs / f"kubelet-{name}.log", netns=self.ns_of(f"node-{j}"), env=self._py_env()
        )
        self._record(f"kubelet-{name}", rec)

    def _up_kubelets(self) -> None:
        for name in self.node_names:
            self.start_kubelet(name)
        self.progress(f"kubelets: {len(self.node_names)} simulated, each in its own network namespace")

    def _ms_argv(self) -> list[str]:
        kc = self.home / "kubeconfigs" / "metrics-server.kubeconfig"
        live = self.home / "metrics-server"
        return [
            self.bin("metrics-server"),
            f"--bind-address={self.ms_ip}",
            f"--secure-port={METRICS_SERVER_PORT}",
            f"--tls-cert-file={live / 'tls.crt'}",
            f"--tls-private-key-file={live / 'tls.key'}",
            f"--kubeconfig={kc}",
            f"--authentication-kubeconfig={kc}",
            f"--authorization-kubeconfig={kc}",
            "--kubelet-preferred-address-types=InternalIP",
            "--kubelet-use-node-status-port",
            f"--kubelet-certificate-authority={self.pki_dir / 'ca.pem'}",
            "--metric-resolution=15s",
            "--v=2",
        ]

    def start_metrics_server(self) -> None:
        rec = procs.start(self._ms_argv(), self.logs / "metrics-server.log", netns=self.ns_of("ms"))
        self._record("metrics-server", rec)

    def _up_metrics_server(self) -> None:
        self.start_metrics_server()
        self.progress(f"metrics-server: https://{self.ms_ip}:{METRICS_SERVER_PORT} (pod on {self.ms_node})")

    # ------------------------------------------------------------------ health
    def health_problems(self) -> list[str]:
        """What is not yet healthy (empty list = healthy)."""
        problems = [
            f"apiserver {i} not ready"
            for i in range(1, self.apiserver_count + 1)
            if not self.apiserver_ready(i)
        ]
        if problems:
            return problems
        kube = self.kube(timeout=5)
        try:
            svc = kube.get(f"/apis/apiregistration.k8s.io/v1/apiservices/{APISERVICE}")
            cond: dict[str, str] = next(
                (c for c in svc.get("status", {}).get("conditions", []) if c["type"] == "Available"), {}
            )
            if cond.get("status") != "True":
                return [f"APIService not Available: {cond.get('reason')}: {cond.get('message')}"]
            nodes = kube.get("/api/v1/nodes").get("items", [])
            not_ready = [
                n["metadata"]["name"]
                for n in nodes
                if not any(
                    c["type"] == "Ready" and c["status"] == "True" for c in n["status"].get("conditions", [])
                )
            ]
            missing_nodes = set(self.node_names) - {n["metadata"]["name"] for n in nodes}
            if missing_nodes or not_ready:
                return [f"nodes not registered/Ready: {sorted(missing_nodes | set(not_ready))}"]
            for i in range(1, self.apiserver_count + 1):
                got = self.kube(self.apiserver_url(i), timeout=5).get("/apis/metrics.k8s.io/v1beta1/nodes")
                names = {m["metadata"]["name"] for m in got.get("items", [])}
                if set(self.node_names) - names:
                    return [
                        f"node metrics via apiserver {i} missing for {sorted(set(self.node_names) - names)}"
                    ]
            pods = kube.get("/apis/metrics.k8s.io/v1beta1/pods").get("items", [])
            have = {f"{p['metadata']['namespace']}/{p['metadata']['name']}" for p in pods}
            missing = set(self.state.get("pods", [])) - have
            if missing:
                return [f"pod metrics missing for {len(missing)} pods"]
        except KubeError as exc:
            return [str(exc)]
        return []

    def wait_healthy(self, timeout: float = HEALTH_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        start = time.monotonic()
        last = ""
        last_print = 0.0
        while True:
            problems = self.health_problems()
            if not problems:
                return
            now = time.monotonic()
            if problems[0] != last or now - last_print > 15:
                self.progress(f"  ... {now - start:.0f}s: {problems[0]}")
                last, last_print = problems[0], now
            if now > deadline:
                raise DevclusterError(f"not healthy after {timeout:.0f}s: {problems[0]}")
            time.sleep(1)

    # ------------------------------------------------------------------ status
    def _tls_ok(self, host: str, port: int, path: str, server_name: str, ca: Path) -> bool:
        ctx = ssl.create_default_context(cafile=str(ca))
        try:
            with (
                socket.create_connection((host, port), timeout=2) as raw,
                ctx.wrap_socket(raw, server_hostname=server_name) as tls,
            ):
                tls.settimeout(2)
                tls.sendall(
                    f"GET {path} HTTP/1.1\r\nHost: {server_name}\r\nConnection: close\r\n\r\n".encode()
                )
                head = tls.recv(64)
                return head.startswith(b"HTTP/1.1 200")
        except (OSError, ssl.SSLError):
            return False

    def status(self) -> dict[str, Any]:
        self.require_state()
        ms_rec = self.proc("metrics-server")
        ms_state = procs.state(ms_rec)
        ms_healthy = ms_state not in (None, "T", "t") and self._tls_ok(
            self.ms_ip, METRICS_SERVER_PORT, "/livez", METRICS_SERVER_DNS, self.pki_dir / "ca.pem"
        )
        return {
            "kubernetes_version": self.state["kubernetes_version"],
            "front_url": self.front_url,
            "apiservers": [
                {
                    "index": i,
                    "url": self.apiserver_url(i),
                    "node_root": str(self.node_root(i)),
                    "healthy": procs.alive(self.proc(f"apiserver-{i}")) and self.apiserver_ready(i),
                }
                for i in range(1, self.apiserver_count + 1)
            ],
            "metrics_server": {
                "url": f"https://{self.ms_ip}:{METRICS_SERVER_PORT}",
                "healthy": ms_healthy,
                "pod": f"kube-system/{manifests.METRICS_SERVER_POD}",
                "node": self.ms_node,
                "netns": self.ns_of("ms"),
            },
            "nodes": [
                {
                    "name": name,
                    "address": self.node_ip(j),
                    "kubelet_up": procs.alive(self.proc(f"kubelet-{name}"))
                    and self._tls_ok(
                        self.node_ip(j), KUBELET_PORT, "/healthz", self.node_ip(j), self.pki_dir / "ca.pem"
                    ),
                    "netns": self.ns_of(f"node-{j}"),
                }
                for j, name in enumerate(self.node_names, start=1)
            ],
            "kubeconfigs": {u: str(self.kubeconfig(u)) for u in ("admin", "metrics-guard")},
            "home": str(self.home),
            "ca_file": str(self.pki_dir / "ca.pem"),
            "faults": self.state.get("faults", []),
            "restart_fails": self.state.get("restart_fails", []),
            "pids": {k: v["pid"] for k, v in self.state.get("pids", {}).items() if procs.alive(v)},
            "pods": self.state.get("pods", []),
        }

    # ------------------------------------------------------------------ down
    def down(self) -> bool:
        """Stop everything; returns False when there was nothing to stop."""
        with self.locked():
            if not self.state:
                if (
                    self.home.exists()
                    and (self.home / "state.json").exists() is False
                    and not any(self.home.iterdir())
                ):
                    shutil.rmtree(self.home, ignore_errors=True)
                return False
            self._teardown()
            return True

    def _teardown(self) -> None:
        pids = self.state.get("pids", {})
        order = (
            ["metrics-server"]
            + [k for k in pids if k.startswith("kubelet-")]
            + ["kube-controller-manager", "front-lb"]
            + [k for k in pids if k.startswith("apiserver-")]
            + ["etcd"]
        )
        recs = [pids[k] for k in order if k in pids]
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(recs))) as pool:
            list(pool.map(lambda r: procs.stop(r, timeout=8), recs))
        prefix = self.state.get("prefix", self.prefix)
        netns.delete_netns(f"{prefix}-ms")
        for j in range(1, int(self.state.get("nodes", 0)) + 1):
            netns.delete_netns(f"{prefix}-node-{j}")
            netns.delete_link(f"{prefix}v{j}")
        netns.delete_link(f"{prefix}vm")
        if self.state.get("bridge"):
            netns.delete_link(self.state["bridge"])
        shutil.rmtree(self.home, ignore_errors=True)
        self.state = {}

    # ------------------------------------------------------------------ faults
    def break_fault(
        self, name: str, *, apiserver: int | None = None, node: str | None = None
    ) -> dict[str, Any]:
        fault = faults.lookup(name)
        self.require_state()
        with self.locked():
            targets, node_name = faults.resolve_targets(
                fault, apiserver, node, self.apiserver_count, self.node_names
            )
            record: dict[str, Any] = {
                "name": name,
                "apiservers": targets,
                "node": node_name,
                "at": _now().isoformat(),
            }
            getattr(self, "_break_" + name.replace("-", "_"))(record)
            self.state.setdefault("faults", []).append(record)
            self.save()
            return record

    def _proxy_cert(self, kind: str) -> pki.Pair:
        fp_ca = pki.load_pair(self.pki_dir / "front-proxy-ca.pem", self.pki_dir / "front-proxy-ca-key.pem")
        now = _now()
        if kind == "expired":
            return pki.issue(
                fp_ca,
                "aggregator",
                client=True,
                not_before=now - dt.timedelta(days=366),
                not_after=now - dt.timedelta(days=1),
            )
        if kind == "wrong-cn":
            return pki.issue(fp_ca, "front-proxy-client", client=True)
        if kind == "wrong-ca":
            return pki.issue(pki.make_ca("front-proxy-ca"), "aggregator", client=True)
        return pki.issue(
            fp_ca,
            "aggregator",
            client=True,
            not_before=now - dt.timedelta(days=362),
            not_after=now + dt.timedelta(days=3),
        )

    def _write_proxy_cert(self, i: int, pair: pki.Pair) -> None:
        s = self.node_root(i) / SSL_DIR
        pki.write_pair(pair, s / "metrics-server.pem", s / "metrics-server-key.pem")

    def _break_proxy(self, record: dict[str, Any], kind: str) -> None:
        for i in record["apiservers"]:
            self._write_proxy_cert(i, self._proxy_cert(kind))
        self.restart_apiservers(record["apiservers"])

    def _break_proxy_cert_expired(self, record: dict[str, Any]) -> None:
        self._break_proxy(record, "expired")

    def _break_proxy_cert_wrong_cn(self, record: dict[str, Any]) -> None:
        self._break_proxy(record, "wrong-cn")

    def _break_proxy_cert_wrong_ca(self, record: dict[str, Any]) -> None:
        self._break_proxy(record, "wrong-ca")

    def _break_proxy_cert_expiring(self, record: dict[str, Any]) -> None:
        self._break_proxy(record, "expiring")

    def _break_requestheader_ca_expiring(self, record: dict[str, Any]) -> None:
        now = _now()
        ca = pki.make_ca(
            "front-proxy-ca", not_before=now - dt.timedelta(days=345), not_after=now + dt.timedelta(days=20)
        )
        for i in record["apiservers"]:
            s = self.node_root(i) / SSL_DIR
            pki.write_pair(ca, s / "front-proxy-ca.pem", s / "front-proxy-ca-key.pem")
            self._write_proxy_cert(
                i,
                pki.issue(
                    ca,
                    "aggregator",
                    client=True,
                    not_before=now - dt.timedelta(days=1),
                    not_after=now + dt.timedelta(days=19),
                ),
            )
        self.restart_apiservers(record["apiservers"])
        # metrics-server picks the new CA up from the ConfigMap once its informer has re-listed: wait for that,
        # so the fault leaves a working cluster whose requestheader CA is about to expire.
        self._wait_metrics_api(90)

    def _wait_metrics_api(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(KubeError):
                if self.kube(timeout=5).request_raw("GET", "/apis/metrics.k8s.io/v1beta1/nodes")[0] == 200:
                    return True
            time.sleep(1)
        return False

    def _break_aggregation_disabled(self, record: dict[str, Any]) -> None:
        for i in record["apiservers"]:
            self.write_unit(i, aggregation=False)
        self.restart_apiservers(record["apiservers"])

    def _break_metrics_server_down(self, record: dict[str, Any]) -> None:
        procs.stop(self.proc("metrics-server"))

    def _break_metrics_server_hang(self, record: dict[str, Any]) -> None:
        if not procs.signal_proc(self.proc("metrics-server"), signal.SIGSTOP):
            raise DevclusterError("metrics-server is not running")

    def _break_no_route_to_metrics_server(self, record: dict[str, Any]) -> None:
        sources = [self.gateway] + [self.apiserver_ip(i) for i in range(1, self.apiserver_count + 1)]
        netns.drop_inbound(self.ns_of("ms"), sources, METRICS_SERVER_PORT)

    def _break_metrics_server_serving_cert_mismatch(self, record: dict[str, Any]) -> None:
        other = pki.make_ca("metrics-server-self-signed-ca")
        pair = pki.issue(other, METRICS_SERVER_DNS, server=True, dns=[METRICS_SERVER_DNS], ips=[self.ms_ip])
        live = self.home / "metrics-server"
        pki.write_pair(pair, live / "tls.crt", live / "tls.key")
        procs.stop(self.proc("metrics-server"))
        self.start_metrics_server()

    def _break_kubelet_down(self, record: dict[str, Any]) -> None:
        procs.stop(self.proc(f"kubelet-{record['node']}"))

    def _break_apiserver_restart_fails(self, record: dict[str, Any]) -> None:
        fails = set(self.state.get("restart_fails", []))
        fails.update(record["apiservers"])
        self.state["restart_fails"] = sorted(fails)

    def heal(self, *, wait: bool = True) -> list[str]:
        """Undo the recorded faults, make sure every process runs, wait for health. Returns what was healed."""
        self.require_state()
        with self.locked():
            recorded = list(self.state.get("faults", []))
            restart: set[int] = set()
            reset_configmap = False
            ms_restart = ms_cont = False
            for rec in recorded:
                name = rec["name"]
                if name in faults.PROXY_CERT_FAULTS:
                    for i in rec["apiservers"]:
                        self.restore_node_files(i, ("metrics-server.pem", "metrics-server-key.pem"))
                    restart.update(rec["apiservers"])
                elif name == "requestheader-ca-expiring":
                    for i in rec["apiservers"]:
                        self.restore_node_files(
                            i,
                            (
                                "front-proxy-ca.pem",
                                "front-proxy-ca-key.pem",
                                "metrics-server.pem",
                                "metrics-server-key.pem",
                            ),
                        )
                    restart.update(rec["apiservers"])
                    reset_configmap = True
                elif name == "aggregation-disabled":
                    for i in rec["apiservers"]:
                        self.write_unit(i)
                    restart.update(rec["apiservers"])
                elif name == "metrics-server-hang":
                    ms_cont = True
                elif name == "no-route-to-metrics-server":
                    netns.remove_drop(self.ns_of("ms"))
                elif name == "metrics-server-serving-cert-mismatch":
                    live = self.home / "metrics-server"
                    shutil.copy2(self.pki_dir / "metrics-server-serving.pem", live / "tls.crt")
                    shutil.copy2(self.pki_dir / "metrics-server-serving-key.pem", live / "tls.key")
                    ms_restart = True
            self.state["restart_fails"] = []
            for i in range(1, self.apiserver_count + 1):
                if not procs.alive(self.proc(f"apiserver-{i}")):
                    restart.add(i)
            self.save()
            if restart:
                self.restart_apiservers(sorted(restart))
            if reset_configmap:
                self._reset_auth_configmap()
            if not procs.alive(self.proc("etcd")):
                raise DevclusterError("etcd is not running; `devcluster down && devcluster up` to start over")
            if not procs.alive(self.proc("front-lb")):
                self._up_front()
            if not procs.alive(self.proc("kube-controller-manager")):
                self._up_controller_manager()
            for name in self.node_names:
                if not procs.alive(self.proc(f"kubelet-{name}")):
                    self.start_kubelet(name)
            ms = self.proc("metrics-server")
            if ms_cont:
                procs.signal_proc(ms, signal.SIGCONT)
            if ms_restart:
                procs.stop(ms)
            if not procs.alive(self.proc("metrics-server")):
                self.start_metrics_server()
            elif procs.state(ms) in ("T", "t"):
                procs.signal_proc(ms, signal.SIGCONT)
            self.state["faults"] = []
            self.save()
        if wait:
            self.wait_healthy()
        return [r["name"] for r in recorded]

    def _reset_auth_configmap(self) -> None:
        """Delete extension-apiserver-authentication so the (already restarted) apiservers rewrite it."""
        kube = self.kube()
        path = "/api/v1/namespaces/kube-system/configmaps/extension-apiserver-authentication"
        want = (self.pki_dir / "front-proxy-ca.pem").read_text().strip()
        kube.delete(path)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                cm = kube.get(path)
                ca = cm.get("data", {}).get("requestheader-client-ca-file", "").strip()
                if ca == want:
                    return
                if ca and ca.count("BEGIN CERTIFICATE") > 1:
                    kube.delete(path)
            except KubeError as exc:
                if exc.status != 404:
                    raise
            time.sleep(0.5)
        raise DevclusterError("extension-apiserver-authentication was not rewritten within 60s")


def now_iso() -> str:
    return _now().isoformat()


def kubectl_argv(cluster: Cluster, args: list[str], user: str = "admin") -> list[str]:
    return [cluster.bin("kubectl"), f"--kubeconfig={cluster.kubeconfig(user)}", *args]


def load_json(path: Path) -> JSON:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise DevclusterError(f"{path}: not a JSON object")
    return data
