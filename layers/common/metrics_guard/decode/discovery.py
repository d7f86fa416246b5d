"""API discovery: legacy ``APIGroupList`` / ``APIResourceList`` and aggregated discovery
(``application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList``, also v2beta1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, TypedDict

from metrics_guard.decode._json import as_dict, as_list, as_str, load_object

AGGREGATED_ACCEPT: Final = (
    "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,"
    "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,"
    "application/json"
)


class RawGroupVersion(TypedDict, total=False):
    groupVersion: str
    version: str


class RawAPIGroup(TypedDict, total=False):
    name: str
    versions: list[RawGroupVersion]


class RawAPIGroupList(TypedDict, total=False):
    kind: str
    groups: list[RawAPIGroup]


class RawResourceDiscovery(TypedDict, total=False):
    resource: str
    verbs: list[str]


class RawVersionDiscovery(TypedDict, total=False):
    version: str
    resources: list[RawResourceDiscovery]
    freshness: str


@dataclass(frozen=True, slots=True)
class VersionDiscovery:
    group: str
    version: str
    resources: tuple[str, ...]
    freshness: str  # "Current", "Stale"; "" in the legacy format (which cannot say)


@dataclass(frozen=True, slots=True)
class Discovery:
    aggregated: bool
    versions: tuple[VersionDiscovery, ...]

    def find(self, group: str, version: str) -> VersionDiscovery | None:
        for item in self.versions:
            if item.group == group and item.version == version:
                return item
        return None


def _aggregated(data: dict[str, Any]) -> Discovery:
    versions: list[VersionDiscovery] = []
    for item in as_list(data.get("items"), what="APIGroupDiscoveryList"):
        group = as_str(as_dict(as_dict(item).get("metadata")).get("name"))
        for raw_version in as_list(as_dict(item).get("versions"), what=f"APIGroupDiscovery {group}"):
            version = as_dict(raw_version)
            resources = tuple(
                as_str(as_dict(r).get("resource"))
                for r in as_list(version.get("resources"), what=f"APIGroupDiscovery {group}")
            )
            versions.append(
                VersionDiscovery(
                    group, as_str(version.get("version")), resources, as_str(version.get("freshness"))
                )
            )
    return Discovery(aggregated=True, versions=tuple(versions))


def _legacy(data: dict[str, Any]) -> Discovery:
    versions: list[VersionDiscovery] = []
    for item in as_list(data.get("groups"), what="APIGroupList"):
        group = as_str(as_dict(item).get("name"))
        for raw_version in as_list(as_dict(item).get("versions"), what=f"APIGroup {group}"):
            versions.append(VersionDiscovery(group, as_str(as_dict(raw_version).get("version")), (), ""))
    return Discovery(aggregated=False, versions=tuple(versions))


def decode_discovery(body: bytes | str) -> Discovery:
    """``/apis`` in either format (chosen by the body's kind, whatever the content type says)."""
    data = load_object(body, what="discovery /apis", kinds=("APIGroupDiscoveryList", "APIGroupList"))
    return _aggregated(data) if data.get("kind") == "APIGroupDiscoveryList" else _legacy(data)


@dataclass(frozen=True, slots=True)
class ResourceList:
    group_version: str
    resources: tuple[str, ...]


def decode_resource_list(body: bytes | str) -> ResourceList:
    """``/apis/<group>/<version>`` (APIResourceList)."""
    data = load_object(body, what="APIResourceList", kinds=("APIResourceList",))
    names = tuple(
        as_str(as_dict(r).get("name")) for r in as_list(data.get("resources"), what="APIResourceList")
    )
    return ResourceList(as_str(data.get("groupVersion")), names)
