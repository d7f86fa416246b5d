"""Bulk work on large lists without the cyclic garbage collector walking them over and over.

Decoding a 150,000-pod list makes hundreds of thousands of small tuples that live until the coverage check is
done. Each full collection walks every one of them again: at that scale about a fifth of the check's CPU
(docs/benchmarks.md, scale). Nothing in that work makes reference cycles, so the collector is paused while
any bulk function runs (in any thread) and resumes when the last one returns; reference counting still frees
everything as usual.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


class _Pause:
    """How many bulk calls run now; the collector's state from before the first of them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._active = 0
        self._was_enabled = False

    def enter(self) -> None:
        with self._lock:
            if self._active == 0:
                self._was_enabled = gc.isenabled()
                gc.disable()
            self._active += 1

    def leave(self) -> None:
        with self._lock:
            self._active -= 1
            if self._active == 0 and self._was_enabled:
                gc.enable()


_pause = _Pause()


@contextmanager
def paused() -> Iterator[None]:
    """The collector paused for the block (see the module doc)."""
    _pause.enter()
    try:
        yield
    finally:
        _pause.leave()


def bulk(function: Callable[P, R]) -> Callable[P, R]:
    """Run ``function`` with the cyclic collector paused (see the module doc)."""

    @wraps(function)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        _pause.enter()
        try:
            return function(*args, **kwargs)
        finally:
            _pause.leave()

    return run
