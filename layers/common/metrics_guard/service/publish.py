"""Findings documents onto the findings sink (the bus), every finding, ok ones included: the notifier
needs an ok finding to see a recovery. Delivery rules (entries, sizes, retries, trimming) live in the sink."""

from __future__ import annotations

from collections.abc import Sequence

from metrics_guard.model import FindingsDocument
from metrics_guard.ports import FindingSink, PublishResult


def publish_documents(documents: Sequence[FindingsDocument], sink: FindingSink) -> PublishResult:
    findings = [f for d in documents for f in d.findings]
    if not findings:
        return PublishResult(sent=0)
    return sink.publish(findings)
