"""systemd unit files for the apiservers: rendered at `up`, parsed again at every (re)start."""

from __future__ import annotations

import shlex
from collections.abc import Sequence


class UnitFileError(ValueError):
    """The unit file has no usable ExecStart."""


def render(description: str, argv: Sequence[str]) -> str:
    """A kube-apiserver.service in the style of a binary install, one flag per line."""
    lines = [shlex.quote(argv[0])] + [shlex.quote(a) for a in argv[1:]]
    exec_start = " \\\n  ".join(lines)
    return (
        "[Unit]\n"
        f"Description={description}\n"
        "Documentation=https://github.com/kubernetes/kubernetes\n"
        "After=network.target\n"
        "\n"
        "[Service]\n"
        f"ExecStart={exec_start}\n"
        "Restart=on-failure\n"
        "RestartSec=5\n"
        "Type=notify\n"
        "LimitNOFILE=65536\n"
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )


def _logical_lines(text: str) -> list[str]:
    """Join backslash continuations; drop comments and blank lines (systemd's rules, simplified)."""
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


def parse_exec_start(text: str) -> list[str]:
    """argv of the (last) ExecStart= in the [Service] section."""
    section = ""
    argv: list[str] | None = None
    for line in _logical_lines(text):
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            continue
        if section != "Service" or "=" not in line:
            continue
        key, _, value = line.partition("=")
        if key.strip() != "ExecStart":
            continue
        value = value.strip()
        # systemd prefixes: '-' (ignore failure), '@', '+', '!', ':'
        while value[:1] in {"-", "@", "+", "!", ":"}:
            value = value[1:]
        try:
            argv = shlex.split(value)
        except ValueError as exc:
            raise UnitFileError(f"ExecStart cannot be parsed: {exc}") from exc
    if not argv:
        raise UnitFileError("no ExecStart= in [Service]")
    return argv


def flags_of(argv: Sequence[str]) -> dict[str, str]:
    """`--name=value` flags of an argv as a dict (a bare `--name` maps to "true")."""
    flags: dict[str, str] = {}
    for arg in argv[1:]:
        if not arg.startswith("--"):
            continue
        name, sep, value = arg[2:].partition("=")
        flags[name] = value if sep else "true"
    return flags
