"""The devcluster fixtures live in tests/conftest.py (shared with tests/e2e); the handle types are
re-exported here for the integration tests' imports."""

from tests.devcluster_fixture import DevclusterHandle, FaultFactory

__all__ = ["DevclusterHandle", "FaultFactory"]
