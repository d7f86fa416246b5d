"""The project's own SSM Command document: the node script plus a parameter list that admits nothing else.

``template.yaml`` embeds :func:`document_content` (as YAML) in its ``AWS::SSM::Document``; a unit test checks
that the two stay equal, so edit the script here and re-render the template's copy with
``python -m metrics_guard.remediation.document``.

The document exposes no root prefix, no restart hook and no material file: those exist for local runs only.
Every parameter has an ``allowedPattern`` or ``allowedValues`` that excludes quotes and shell syntax, because
SSM substitutes ``{{ Name }}`` into the command text.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Final

from metrics_guard.model import Json
from metrics_guard.service.remediate_ports import RolloutCommand

SCRIPT_NAME: Final = "install_proxy_cert.sh"
HEREDOC_END: Final = "METRICS_GUARD_NODE_SCRIPT"
#: The plugin's execution timeout: two waits (install, restore) and a reload wait fit with room to spare.
EXECUTION_TIMEOUT_S: Final = 1800

PARAMETERS: Final[dict[str, dict[str, Json]]] = {
    "ParameterName": {
        "type": "String",
        "description": "SSM SecureString parameter holding base64(certificate PEM + key PEM); read with the instance role",
        "allowedPattern": r"^/[A-Za-z0-9_./-]{1,1000}$",
    },
    "ExpectedSha256": {
        "type": "String",
        "description": "SHA-256 (hex) of the new certificate's DER encoding",
        "allowedPattern": r"^[0-9a-f]{64}$",
    },
    "Strategy": {
        "type": "String",
        "default": "reload-then-restart",
        "allowedValues": ["reload-then-restart", "restart"],
    },
    "Layout": {"type": "String", "default": "binary", "allowedValues": ["binary", "kubeadm"]},
    "KubeconfigPath": {
        "type": "String",
        "default": "/etc/kubernetes/admin.conf",
        "description": "kubeconfig on the node whose credentials may read this apiserver's /readyz and /metrics",
        "allowedPattern": r"^/[A-Za-z0-9_./-]{1,4096}$",
    },
    "ApiserverUrl": {
        "type": "String",
        "default": "https://127.0.0.1:6443",
        "allowedPattern": r"^https://[A-Za-z0-9.:\[\]-]{1,255}$",
    },
    "Timeout": {"type": "String", "default": "300", "allowedPattern": r"^[0-9]{1,4}$"},
    "ReloadWait": {"type": "String", "default": "90", "allowedPattern": r"^[0-9]{1,4}$"},
}

_ARGS: Final = (
    ("--parameter-name", "ParameterName"),
    ("--expected-sha256", "ExpectedSha256"),
    ("--strategy", "Strategy"),
    ("--layout", "Layout"),
    ("--kubeconfig", "KubeconfigPath"),
    ("--apiserver-url", "ApiserverUrl"),
    ("--timeout", "Timeout"),
    ("--reload-wait", "ReloadWait"),
)


def script_text() -> str:
    return resources.files("metrics_guard.remediation").joinpath(SCRIPT_NAME).read_text(encoding="utf-8")


def run_command_lines() -> list[str]:
    """The shell lines of the document: write the script to a private temp file, run it with bash."""
    script = script_text()
    if "{{" in script or HEREDOC_END in script:
        raise ValueError("the node script must not contain '{{' or the heredoc terminator")
    invocation = " ".join(f"{flag} '{{{{ {name} }}}}'" for flag, name in _ARGS)
    return [
        "umask 077",
        'MG_SCRIPT="$(mktemp)" || exit 2',
        f"cat >\"$MG_SCRIPT\" <<'{HEREDOC_END}'",
        *script.rstrip("\n").split("\n"),
        HEREDOC_END,
        f'bash "$MG_SCRIPT" {invocation}',
        "rc=$?",
        'rm -f "$MG_SCRIPT"',
        'exit "$rc"',
    ]


def document_content() -> dict[str, Json]:
    return {
        "schemaVersion": "2.2",
        "description": "metrics-guard: install a new aggregator proxy client certificate on one control-plane "
        "node, reload or restart kube-apiserver, verify, roll back on failure",
        "parameters": dict(PARAMETERS),
        "mainSteps": [
            {
                "action": "aws:runShellScript",
                "name": "installProxyClientCert",
                "precondition": {"StringEquals": ["platformType", "Linux"]},
                "inputs": {
                    "timeoutSeconds": str(EXECUTION_TIMEOUT_S),
                    "runCommand": list(run_command_lines()),
                },
            }
        ],
    }


def render_json() -> str:
    return json.dumps(document_content(), indent=2) + "\n"


def command_parameters(command: RolloutCommand) -> dict[str, list[str]]:
    """``send_command``'s Parameters for a rollout: names, hashes and paths only, never key material."""
    return {
        "ParameterName": [command.parameter_name],
        "ExpectedSha256": [command.expected_sha256],
        "Strategy": [command.strategy],
        "Layout": [command.layout],
        "KubeconfigPath": [command.kubeconfig_path],
        "ApiserverUrl": [command.apiserver_url],
        "Timeout": [str(command.node_timeout_s)],
        "ReloadWait": [str(command.reload_wait_s)],
    }


if __name__ == "__main__":  # pragma: no cover - a maintenance helper
    import sys

    sys.stdout.write(render_json())
