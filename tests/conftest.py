"""Fixtures shared by every tier that needs the real local control plane (integration and e2e): one
devcluster for the whole session, see tests/devcluster_fixture.py."""

from tests.devcluster_fixture import devcluster, fault

__all__ = ["devcluster", "fault"]
