"""A moto server on loopback for the AWS integration tests (``.venv/bin/moto_server -p PORT``, stopped by PID).

The implementation is shared with the demo (``demo/moto.py``)."""

from __future__ import annotations

from demo.moto import MotoError, MotoServer, free_port

__all__ = ["MotoError", "MotoServer", "free_port"]
