"""The demo's timeline: concise, coloured on a TTY, plain when piped."""

from __future__ import annotations

import os
import sys
import time
from typing import IO, Final

COLOURS: Final = {
    "ok": "32",
    "warn": "33",
    "fail": "31",
    "error": "31",
    "head": "1;36",
    "dim": "2",
    "bold": "1",
}


class Timeline:
    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stdout
        self.colour = self.stream.isatty() and os.environ.get("NO_COLOR") is None
        self.start = time.monotonic()
        self.marks: dict[str, float] = {}

    def paint(self, style: str, text: str) -> str:
        code = COLOURS.get(style)
        return f"\033[{code}m{text}\033[0m" if self.colour and code else text

    def _write(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def elapsed(self) -> str:
        return f"{time.monotonic() - self.start:6.1f}s"

    def phase(self, title: str) -> None:
        self._write("")
        self._write(self.paint("dim", self.elapsed()) + "  " + self.paint("head", f"== {title}"))

    def line(self, text: str, style: str | None = None, indent: int = 1) -> None:
        body = ("  " * indent) + text
        self._write(self.paint("dim", " " * 7) + " " + (self.paint(style, body) if style else body))

    def status(self, status: str, text: str, indent: int = 1) -> None:
        tag = self.paint(status, f"{status:<5}")
        self._write(self.paint("dim", " " * 7) + " " + ("  " * indent) + f"{tag} {text}")

    def mark(self, name: str) -> None:
        self.marks.setdefault(name, time.monotonic())

    def since(self, a: str, b: str) -> str:
        if a in self.marks and b in self.marks:
            return f"{self.marks[b] - self.marks[a]:.1f}s"
        return "-"
