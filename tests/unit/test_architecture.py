"""The layering rules of the code base, checked on the source: only adapters import SDKs, handlers stay thin."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "layers" / "common" / "metrics_guard"
FUNCTIONS = ROOT / "functions"
SDKS = ("boto3", "botocore", "kubernetes", "urllib3", "requests")
MAX_HANDLER_LINES = 60


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def sdk_imports(path: Path) -> list[str]:
    return sorted(m for m in imported_modules(path) if m.split(".")[0] in SDKS)


def core_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "adapters" not in p.relative_to(PACKAGE).parts)


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_core_does_not_import_sdks(path: Path) -> None:
    assert sdk_imports(path) == [], f"{path.name} imports an SDK outside adapters/"


def test_only_the_kube_adapter_imports_kubernetes() -> None:
    users = sorted(
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if any(m.split(".")[0] == "kubernetes" for m in imported_modules(p))
    )
    assert all(u.startswith("adapters/kube") for u in users), users


def handlers() -> list[Path]:
    return sorted(FUNCTIONS.glob("*/app.py"))


@pytest.mark.parametrize("path", handlers(), ids=lambda p: p.parent.name)
def test_handlers_are_thin_and_sdk_free(path: Path) -> None:
    assert sdk_imports(path) == []
    code_lines = [
        line
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert len(code_lines) <= MAX_HANDLER_LINES


def test_every_contract_function_has_a_handler() -> None:
    assert {p.parent.name for p in handlers()} >= {
        "metrics_probe",
        "cert_probe",
        "diagnose",
        "notifier",
        "responder",
    }
