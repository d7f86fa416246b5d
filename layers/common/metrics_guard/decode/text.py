"""Plain-text bodies: Prometheus exposition (``/metrics``) and ``/readyz?verbose``."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Final

from metrics_guard.errors import DecodeError

#: kube-apiserver's own view of each APIService (1 = unavailable), in its /metrics.
UNAVAILABLE_GAUGE: Final = "aggregator_unavailable_apiservice"
_SAMPLE: Final = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)(\s+\S+)?$")
_LABEL: Final = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


@dataclass(frozen=True, slots=True)
class Sample:
    name: str
    labels: tuple[tuple[str, str], ...]
    value: float

    def label(self, key: str) -> str | None:
        for k, v in self.labels:
            if k == key:
                return v
        return None


def _text(body: bytes | str) -> str:
    return body.decode("utf-8", "replace") if isinstance(body, bytes) else body


def parse_samples(body: bytes | str, metric: str) -> tuple[Sample, ...]:
    """Samples of one metric family from Prometheus text exposition (other families are skipped cheaply)."""
    text = _text(body)
    if text.lstrip()[:1] in ("<", "{"):
        raise DecodeError("/metrics: not Prometheus text exposition")
    out: list[Sample] = []
    for line in text.splitlines():
        if not line.startswith(metric) or line.startswith("#"):
            continue
        match = _SAMPLE.match(line.strip())
        if match is None or match.group(1) != metric:
            continue
        labels = tuple(
            (k, v.replace('\\"', '"').replace("\\\\", "\\")) for k, v in _LABEL.findall(match.group(3) or "")
        )
        try:
            value = float(match.group(4))
        except ValueError as exc:
            raise DecodeError(f"/metrics: bad value in {line[:80]!r}") from exc
        out.append(Sample(metric, labels, value))
    return tuple(out)


class FamilyEnd:
    """An ``Enough`` for ``/metrics``: the body up to the end of one metric family.

    The text exposition keeps a family's lines together. Once the family has begun and a ``# HELP`` or
    ``# TYPE`` line of another family follows it, nothing later can belong to it: the prefix up to there
    is all that ``parse_samples(body, metric)`` needs. kube-apiserver's families come sorted by name, so
    ``aggregator_unavailable_apiservice`` ends within the first few kB of its ~2 MB. A body without the
    family, or without HELP/TYPE lines, is read to its end. One instance per request (it keeps its place).
    """

    __slots__ = ("_in_family", "_metric", "_pos")

    def __init__(self, metric: str) -> None:
        self._metric = metric.encode("ascii")
        self._pos = 0  # start of the first line not yet looked at
        self._in_family = False

    def __call__(self, body: bytearray) -> int | None:
        metric = self._metric
        while True:
            end = body.find(b"\n", self._pos)
            if end < 0:
                return None
            line = body[self._pos : end]
            if line.startswith((b"# HELP ", b"# TYPE ")):
                name = line[7:].split(b" ", 1)[0]
                if name == metric:
                    self._in_family = True
                elif self._in_family:
                    return self._pos
            elif not self._in_family and (line.startswith(metric + b"{") or line.startswith(metric + b" ")):
                self._in_family = True
            self._pos = end + 1


def unavailable_apiservice(body: bytes | str, name: str) -> bool | None:
    """This apiserver's own view: ``aggregator_unavailable_apiservice{name=...}`` (True = unavailable).

    None when the gauge for that APIService is not in the exposition (no aggregator, or not synced yet).
    """
    for sample in parse_samples(body, UNAVAILABLE_GAUGE):
        if sample.label("name") == name and not math.isnan(sample.value):
            return sample.value >= 1
    return None


@dataclass(frozen=True, slots=True)
class HealthReport:
    passed: bool
    checks: tuple[tuple[str, bool], ...]  # (name, ok)

    @property
    def failing(self) -> tuple[str, ...]:
        return tuple(name for name, ok in self.checks if not ok)


def decode_health_verbose(body: bytes | str) -> HealthReport:
    """``/readyz?verbose`` / ``/livez?verbose``: ``[+]name ok`` / ``[-]name failed: reason`` lines."""
    text = _text(body)
    checks: list[tuple[str, bool]] = []
    for line in text.splitlines():
        if line.startswith("[+]"):
            checks.append((line[3:].split(" ", 1)[0], True))
        elif line.startswith("[-]"):
            checks.append((line[3:].split(" ", 1)[0], False))
    if not checks:
        raise DecodeError("health report: no [+]/[-] lines")
    passed = "check passed" in text and all(ok for _, ok in checks)
    return HealthReport(passed, tuple(checks))
