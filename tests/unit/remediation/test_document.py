"""The SSM document: renders, runs the script with only its declared parameters, stays in sync with the template."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from metrics_guard.ports import NodeRef
from metrics_guard.remediation.document import (
    PARAMETERS,
    command_parameters,
    document_content,
    run_command_lines,
)
from metrics_guard.service.remediate_ports import RolloutCommand

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


def test_rendered_command_is_valid_shell() -> None:
    text = "\n".join(run_command_lines())
    proc = subprocess.run(["sh", "-n"], input=text, text=True, capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    used = set(re.findall(r"\{\{ (\w+) \}\}", text))
    assert used == set(PARAMETERS)


def test_command_parameters_match_the_document_patterns() -> None:
    command = RolloutCommand(
        "r",
        "c",
        (NodeRef(1, "n", instance_id="i-0123456789abcdef0"),),
        "/metrics-guard/material/c/r",
        "ab" * 32,
    )
    params = command_parameters(command)
    assert set(params) == set(PARAMETERS)
    for name, (value,) in params.items():
        spec = PARAMETERS[name]
        if "allowedPattern" in spec:
            assert re.fullmatch(str(spec["allowedPattern"]), value), name
        if "allowedValues" in spec:
            assert value in spec["allowedValues"]  # type: ignore[operator]


def test_document_has_no_local_only_options() -> None:
    text = "\n".join(run_command_lines()).split("METRICS_GUARD_NODE_SCRIPT")[-1]
    for local in ("--root", "--restart-command", "--material-file"):
        assert local not in text


class _CfnLoader(yaml.SafeLoader):
    pass


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)  # type: ignore[arg-type]


_CfnLoader.add_multi_constructor("!", _any_tag)


@pytest.mark.skipif(not TEMPLATE.exists(), reason="template.yaml not written yet")
def test_template_embeds_the_current_document() -> None:
    template = yaml.load(TEMPLATE.read_text(), Loader=_CfnLoader)  # noqa: S506 - SafeLoader subclass
    docs = [
        r
        for r in template.get("Resources", {}).values()
        if r.get("Type") == "AWS::SSM::Document" and r.get("Properties", {}).get("DocumentType") == "Command"
    ]
    contents = [d["Properties"]["Content"] for d in docs]
    assert document_content() in contents, "re-render with: python -m metrics_guard.remediation.document"
