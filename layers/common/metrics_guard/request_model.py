"""The direct invocation requests (Scheduler input, diagnose request) and the one-line validation summary.

Kept apart from ``events_model`` (which re-exports them) so that the probe functions' cold start builds only
these two small models, not the EventBridge / SNS event models nor Powertools' parser models.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

ClusterSelector = Annotated[str, Field(pattern=r"^(\*|[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)$")]


class ProbeRequest(BaseModel):
    """The Scheduler's input: ``{"action": "probe", "probe": "metrics"|"certs", "clusters": ["*"]}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    action: Literal["probe"]
    probe: Literal["metrics", "certs"]
    clusters: Annotated[tuple[ClusterSelector, ...], Field(min_length=1, max_length=200)] = ("*",)


class DiagnoseRequest(BaseModel):
    """``{"action": "diagnose", "clusters": ["name"]}``: every check, whole documents returned."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    action: Literal["diagnose"]
    clusters: Annotated[tuple[ClusterSelector, ...], Field(min_length=1, max_length=50)]


def validation_summary(exc: ValidationError, *, limit: int = 3) -> str:
    """One line naming the bad fields, without echoing input values (they may carry anything)."""
    parts = []
    for err in exc.errors()[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "(event)"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f"; and {more} more" if more > 0 else "")
