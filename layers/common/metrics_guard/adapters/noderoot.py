"""CertificateSource over node-root directories: a control-plane host's filesystem laid out under a directory
(the devcluster, or a mounted node filesystem). Reads kube-apiserver's flags from its systemd unit
(``etc/systemd/system/kube-apiserver.service``, binary install) or its static-pod manifest
(``etc/kubernetes/manifests/kube-apiserver.yaml``, kubeadm), rebases the absolute paths of the flags onto the
root, and returns public material only: the private key is read to derive its public key's SHA-256, never
returned."""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from metrics_guard.errors import InputError
from metrics_guard.ports import NodeMaterial, NodeRef

UNIT: Final = "etc/systemd/system/kube-apiserver.service"
MANIFEST: Final = "etc/kubernetes/manifests/kube-apiserver.yaml"
MAX_FILE_BYTES: Final = 1 << 20


def _logical_lines(text: str) -> list[str]:
    out: list[str] = []
    current = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not current and (not line.strip() or line.lstrip().startswith(("#", ";"))):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        current += line
        out.append(current.strip())
        current = ""
    if current.strip():
        out.append(current.strip())
    return out


def unit_argv(text: str) -> list[str]:
    """argv of the last ``ExecStart=`` of the ``[Service]`` section of a systemd unit."""
    section = ""
    argv: list[str] = []
    for line in _logical_lines(text):
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        key, sep, value = line.partition("=")
        if section != "Service" or not sep or key.strip() != "ExecStart":
            continue
        value = value.strip().lstrip("-@+!:")
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise InputError(f"ExecStart cannot be parsed: {exc}") from exc
    if not argv:
        raise InputError("no ExecStart= in [Service]")
    return argv


def manifest_argv(text: str) -> list[str]:
    """The kube-apiserver container's command of a kubeadm static-pod manifest (the ``- --flag=value`` list)."""
    argv: list[str] = []
    in_command = False
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped in ("command:", "args:"):
            in_command = True
            continue
        if in_command:
            if stripped.startswith("- "):
                item = stripped[2:].strip().strip("'\"")
                argv.append(item)
                continue
            if stripped and not stripped.startswith("#"):
                in_command = False
    if not argv:
        raise InputError("no command in the static-pod manifest")
    if argv[0].startswith("--"):
        argv.insert(0, "kube-apiserver")
    return argv


def flags_of(argv: Sequence[str]) -> dict[str, str]:
    flags: dict[str, str] = {}
    for arg in argv[1:]:
        if arg.startswith("--"):
            name, sep, value = arg[2:].partition("=")
            flags[name] = value if sep else "true"
    return flags


def rebase(root: Path, path: str) -> Path:
    """An absolute path of the node, as seen under ``root``; relative paths are taken from the root too.

    A path already inside ``root`` is kept (a unit written with host paths into the node root, as the
    devcluster's are; the remediation script's ``rebase`` does the same)."""
    candidate = Path(path)
    if candidate.is_absolute() and candidate.is_relative_to(root) and root.is_absolute():
        return candidate
    return root / path.lstrip("/")


def _read(path: Path) -> bytes:
    with path.open("rb") as handle:
        data = handle.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise InputError(f"{path.name}: larger than {MAX_FILE_BYTES} bytes")
    return data


class NodeRootSource:
    """Reads each NodeRef's ``node_root`` (or the root given for its index)."""

    def __init__(self, roots: Mapping[int, str] | None = None) -> None:
        self._roots = dict(roots or {})

    def read(self, nodes: Sequence[NodeRef]) -> Sequence[NodeMaterial]:
        return [self._read_one(node) for node in nodes]

    def _read_one(self, node: NodeRef) -> NodeMaterial:
        root_text = self._roots.get(node.index) or node.node_root
        errors: list[str] = []
        if not root_text:
            return NodeMaterial(node, "unknown", {}, None, None, None, None, ("no node root given",))
        root = Path(root_text)
        layout = "binary"
        flags: dict[str, str] = {}
        try:
            if (root / UNIT).is_file():
                flags = flags_of(unit_argv(_read(root / UNIT).decode("utf-8", "replace")))
            elif (root / MANIFEST).is_file():
                layout = "kubeadm"
                flags = flags_of(manifest_argv(_read(root / MANIFEST).decode("utf-8", "replace")))
            else:
                errors.append(f"neither {UNIT} nor {MANIFEST} under the node root")
        except (OSError, InputError) as exc:
            errors.append(f"kube-apiserver flags: {exc}")
        cert_path = flags.get("proxy-client-cert-file") or None
        cert_pem: str | None = None
        key_sha: str | None = None
        ca_pem: str | None = None
        if cert_path:
            try:
                cert_pem = _read(rebase(root, cert_path)).decode("ascii", "replace")
            except (OSError, InputError) as exc:
                errors.append(f"proxy client cert {cert_path}: {type(exc).__name__}")
        key_path = flags.get("proxy-client-key-file")
        if key_path:
            try:
                from metrics_guard.pki.inspect import private_key_public_sha256  # cryptography: when read

                key_sha = private_key_public_sha256(_read(rebase(root, key_path)))
            except (OSError, InputError) as exc:
                errors.append(f"proxy client key {key_path}: {type(exc).__name__}")
        ca_path = flags.get("requestheader-client-ca-file")
        if ca_path:
            try:
                ca_pem = _read(rebase(root, ca_path)).decode("ascii", "replace")
            except (OSError, InputError) as exc:
                errors.append(f"requestheader CA {ca_path}: {type(exc).__name__}")
        return NodeMaterial(
            node=node,
            layout=layout,
            flags=flags,
            proxy_client_cert_path=cert_path,
            proxy_client_cert_pem=cert_pem,
            proxy_client_key_public_sha256=key_sha,
            requestheader_ca_pem=ca_pem,
            errors=tuple(errors),
        )
