"""Where things live: the repository, the state directory, the binary cache, and per-cluster names."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# devcluster/devcluster/paths.py -> repository root is two levels above the package directory.
REPO_ROOT = PACKAGE_DIR.parent.parent
TOOLS_DIR = PACKAGE_DIR.parent / "tools"
DEFAULT_KUBERNETES_VERSION = "v1.36.3"


def home_dir() -> Path:
    """The cluster's state directory: $DEVCLUSTER_HOME or `.devcluster/` in the repository."""
    env = os.environ.get("DEVCLUSTER_HOME")
    return Path(env).resolve() if env else REPO_ROOT / ".devcluster"


def cache_dir() -> Path:
    """Built binaries, shared by every clone on the machine: $DEVCLUSTER_CACHE or ~/.cache/..."""
    env = os.environ.get("DEVCLUSTER_CACHE")
    if env:
        return Path(env).resolve()
    return Path.home() / ".cache" / "metrics-guard" / "devcluster"


def name_prefix(home: Path) -> str:
    """A short prefix unique to one state directory, for network namespaces and interfaces.

    Interface names are limited to 15 characters: the prefix is 7 ("dc" + 5 hex digits).
    """
    digest = hashlib.sha256(str(home.resolve()).encode()).hexdigest()
    return "dc" + digest[:5]
