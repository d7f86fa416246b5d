"""Keep the SSM documents in template.yaml equal to what the remediation package renders.

CloudFormation needs each document's content inside the template; the node scripts live (shellchecked and
tested) under ``metrics_guard/remediation/``, which renders the documents:
``document.document_content()`` (the responder's install script) and ``read_material.ssm.json`` (the
certificate probe's read-only script). The template holds each content between ``# BEGIN <name>`` and
``# END <name>`` markers.

    .venv/bin/python -m tests.template_sync --write    # rewrite template.yaml from the renderers
    .venv/bin/python -m tests.template_sync            # exit 1 when they differ
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
REMEDIATION = ROOT / "layers" / "common" / "metrics_guard" / "remediation"
INDENT = " " * 8  # the documents' Content indentation in template.yaml


def remediation_content() -> dict[str, Any]:
    from metrics_guard.remediation import document

    return dict(document.document_content())


def read_material_content() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((REMEDIATION / "read_material.ssm.json").read_text(encoding="utf-8"))
    return data


DOCUMENTS: dict[str, Callable[[], dict[str, Any]]] = {
    "remediation-document": remediation_content,
    "read-material-document": read_material_content,
}


def block(content: dict[str, Any]) -> str:
    text = yaml.safe_dump(
        content, default_flow_style=False, sort_keys=False, width=100_000, allow_unicode=True
    )
    return "".join(f"{INDENT}{line}\n" if line else "\n" for line in text.splitlines())


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(^ *# BEGIN {re.escape(name)}\n)(.*?)(^ *# END {re.escape(name)}\n)", re.S | re.M)


def render(template: str) -> str:
    for name, content in DOCUMENTS.items():
        wanted = block(content())

        def replace(match: re.Match[str], wanted: str = wanted) -> str:
            return match.group(1) + wanted + match.group(3)

        template, count = _pattern(name).subn(replace, template)
        if count != 1:
            raise ValueError(f"template.yaml needs exactly one BEGIN/END {name} block, found {count}")
    return template


def main(argv: list[str]) -> int:
    current = TEMPLATE.read_text(encoding="utf-8")
    wanted = render(current)
    if "--write" in argv:
        if wanted != current:
            TEMPLATE.write_text(wanted, encoding="utf-8")
        return 0
    return 0 if wanted == current else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
