"""Which tools module and ldflags each selectable Kubernetes version builds with (no Go needed)."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from devcluster import build, paths
from devcluster.errors import UsageError

K8S_COMPONENTS = ("kube-apiserver", "kube-controller-manager", "kubectl")


@pytest.mark.parametrize(("version", "minor"), [("v1.36.3", "36"), ("v1.35.4", "35")])
def test_each_version_has_its_tools_module_and_ldflags(version: str, minor: str) -> None:
    comps = {c.name: c for c in build.components(version)}
    for name in K8S_COMPONENTS:
        comp = comps[name]
        assert comp.module_dir == f"kubernetes-{version}"
        assert f"k8s.io/component-base/version.gitVersion={version}" in comp.ldflags
        assert f"k8s.io/client-go/pkg/version.gitMinor={minor}" in comp.ldflags
        assert comp.cache_path().parent.name.startswith(f"{name}-{version}-")


@pytest.mark.parametrize("version", ["v1.36.3", "v1.35.4"])
def test_tools_module_pins_its_release(version: str) -> None:
    go_mod = (paths.TOOLS_DIR / f"kubernetes-{version}" / "go.mod").read_text()
    assert re.search(rf"^\s*k8s\.io/kubernetes {re.escape(version)}\b", go_mod, re.M)
    staging = "v0." + version.split(".", 1)[1]
    replaced = re.findall(r"^\s*(k8s\.io/\S+) => k8s\.io/\S+ (\S+)$", go_mod, re.M)
    assert replaced and {v for _, v in replaced} == {staging}
    tools = set(re.findall(r"^\s*k8s\.io/kubernetes/cmd/(\S+)$", go_mod, re.M))
    assert tools == set(K8S_COMPONENTS)


def test_unknown_version_is_a_usage_error_listing_the_known() -> None:
    with pytest.raises(UsageError, match=r"v1\.35\.4.*v1\.36\.3"):
        build.components("v1.34.0")


def _fake_binary(directory: Path, name: str, output: str) -> None:
    path = directory / name
    path.write_text(f"#!/bin/sh\necho '{output}'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def test_envtest_binaries_only_for_their_own_version(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_binary(tmp_path, "kube-apiserver", "Kubernetes v1.36.3")
    _fake_binary(tmp_path, "kubectl", "Client Version: v1.36.3")
    _fake_binary(tmp_path, "etcd", "etcd Version: 3.6.4")
    monkeypatch.setenv("KUBEBUILDER_ASSETS", str(tmp_path))
    monkeypatch.setenv("DEVCLUSTER_CACHE", str(tmp_path / "cache"))
    assert build.resolve("v1.36.3") == {n: tmp_path / n for n in ("etcd", "kube-apiserver", "kubectl")}
    assert build.resolve("v1.35.4") == {"etcd": tmp_path / "etcd"}
