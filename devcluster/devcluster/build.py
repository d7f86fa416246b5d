"""Building the Go binaries from the tools modules into a cache outside the repository.

Cache layout: `<cache>/<component>-<module version>-<sha256(go.sum)[:12]>/<component>`; the default cache is
`~/.cache/metrics-guard/devcluster` ($DEVCLUSTER_CACHE overrides it), so a fresh clone on the same machine
reuses the binaries, and Go's own module and build caches stay in their default places under $HOME.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from devcluster import paths
from devcluster.errors import DevclusterError, UsageError

ETCD_MODULE = "etcd-v3.6.16"
METRICS_SERVER_MODULE = "metrics-server-v0.8.0"
HEARTBEAT_S = 15.0


def _k8s_ldflags(version: str) -> str:
    major, minor = version.lstrip("v").split(".")[:2]
    parts = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        parts += [
            f"-X {pkg}.gitVersion={version}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
        ]
    return " ".join(parts)


@dataclass(frozen=True)
class Component:
    name: str
    module_dir: str
    package: str
    ldflags: str

    @property
    def module_path(self) -> Path:
        return paths.TOOLS_DIR / self.module_dir

    def cache_path(self) -> Path:
        go_sum = self.module_path / "go.sum"
        digest = hashlib.sha256(go_sum.read_bytes()).hexdigest()[:12]
        version = self.module_dir.rsplit("-", 1)[-1]
        return paths.cache_dir() / f"{self.name}-{version}-{digest}" / self.name


def components(kubernetes_version: str) -> list[Component]:
    k8s_dir = f"kubernetes-{kubernetes_version}"
    if not (paths.TOOLS_DIR / k8s_dir / "go.mod").is_file():
        known = sorted(p.name.removeprefix("kubernetes-") for p in paths.TOOLS_DIR.glob("kubernetes-v*"))
        raise UsageError(f"no tools module for Kubernetes {kubernetes_version} (known: {', '.join(known)})")
    k8s = _k8s_ldflags(kubernetes_version)
    return [
        Component("etcd", ETCD_MODULE, "go.etcd.io/etcd/server/v3", "-s -w"),
        Component("kube-apiserver", k8s_dir, "k8s.io/kubernetes/cmd/kube-apiserver", k8s),
        Component("kube-controller-manager", k8s_dir, "k8s.io/kubernetes/cmd/kube-controller-manager", k8s),
        Component("kubectl", k8s_dir, "k8s.io/kubernetes/cmd/kubectl", k8s),
        Component(
            "metrics-server", METRICS_SERVER_MODULE, "sigs.k8s.io/metrics-server/cmd/metrics-server", "-s -w"
        ),
    ]


ENVTEST_COMPONENTS = ("etcd", "kube-apiserver", "kubectl")


def _say(msg: str) -> None:
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


_VERSION_RE = re.compile(r"\bv\d+\.\d+\.\d+\S*")


def _binary_version(path: Path) -> str | None:
    """The Kubernetes version a kube-apiserver or kubectl binary reports (`Kubernetes v1.36.3`)."""
    args = ["version", "--client"] if path.name == "kubectl" else ["--version"]
    try:
        out = subprocess.run(
            [str(path), *args], capture_output=True, text=True, timeout=20, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    found = _VERSION_RE.search(out)
    return found.group(0) if found else None


def _envtest(name: str, kubernetes_version: str) -> Path | None:
    """The envtest binary for ``name``, if $KUBEBUILDER_ASSETS has one of the requested Kubernetes version
    (envtest ships one version: a kube-apiserver or kubectl of another version is not used)."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if not assets or name not in ENVTEST_COMPONENTS:
        return None
    candidate = Path(assets) / name
    if not (candidate.is_file() and os.access(candidate, os.X_OK)):
        return None
    if name != "etcd" and _binary_version(candidate) != kubernetes_version:
        return None
    return candidate


def resolve(kubernetes_version: str) -> dict[str, Path]:
    """Paths of the binaries that already exist (envtest or cache), without building."""
    found: dict[str, Path] = {}
    for comp in components(kubernetes_version):
        path = _envtest(comp.name, kubernetes_version) or comp.cache_path()
        if path.is_file():
            found[comp.name] = path
    return found


def build(kubernetes_version: str, *, quiet_if_cached: bool = False) -> dict[str, Path]:
    """Build every missing binary; return the path of each."""
    go = shutil.which("go")
    result: dict[str, Path] = {}
    for comp in components(kubernetes_version):
        envtest = _envtest(comp.name, kubernetes_version)
        if envtest:
            result[comp.name] = envtest
            if not quiet_if_cached:
                _say(f"  {comp.name:<24} from KUBEBUILDER_ASSETS ({envtest})")
            continue
        target = comp.cache_path()
        if target.is_file():
            result[comp.name] = target
            if not quiet_if_cached:
                _say(f"  {comp.name:<24} cached ({target})")
            continue
        if go is None:
            raise DevclusterError(f"missing binary {comp.name} and no `go` on PATH to build it")
        _build_one(go, comp, target)
        result[comp.name] = target
    return result


def _build_one(go: str, comp: Component, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmpdir = Path(tempfile.mkdtemp(prefix=f".{comp.name}-", dir=target.parent))
    out = tmpdir / comp.name
    cmd = [go, "build", "-trimpath", f"-ldflags={comp.ldflags}", "-o", str(out), comp.package]
    log_path = tmpdir / "build.log"
    start = time.monotonic()
    _say(f"  {comp.name:<24} building ({comp.module_dir})")
    try:
        with log_path.open("wb") as log:
            proc = subprocess.Popen(cmd, cwd=comp.module_path, stdout=log, stderr=subprocess.STDOUT)
            while True:
                try:
                    rc = proc.wait(timeout=HEARTBEAT_S)
                    break
                except subprocess.TimeoutExpired:
                    _say(f"  {comp.name:<24} ... still building, {time.monotonic() - start:.0f}s")
        if rc != 0 or not out.is_file():
            tail = log_path.read_text(errors="replace").splitlines()[-25:]
            sys.stderr.write(f"build failed: (cd {comp.module_path} && {' '.join(cmd)})\n")
            sys.stderr.write("\n".join(tail) + "\n")
            raise DevclusterError(f"building {comp.name} failed (exit {rc})")
        out.replace(target)
        _say(f"  {comp.name:<24} built in {time.monotonic() - start:.0f}s")
    except KeyboardInterrupt:
        proc.kill()
        raise
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
