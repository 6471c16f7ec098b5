"""A bound on work that does not depend on the machine's speed: the number of function calls
(Python and built-in) a piece of code makes, counted with `sys.setprofile`. For code that once
searched for years (an impossible recurrence) or counted 20 MB of text, a test states the most
calls it may take; the time it takes is measured by bench/front_door.py, never asserted."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any


class TooMuchWork(BaseException):
    """More calls than allowed (a BaseException, so no ``except Exception`` swallows it)."""


@dataclass
class Work:
    calls: int = 0


@contextmanager
def at_most_calls(limit: int) -> Iterator[Work]:
    """Raise `TooMuchWork` as soon as the code inside has made more than ``limit`` calls."""
    work = Work()

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        if event in ("call", "c_call"):
            work.calls += 1
            if work.calls > limit:
                sys.setprofile(None)
                raise TooMuchWork(f"more than {limit:,} calls")

    previous = sys.getprofile()
    if threading.current_thread() is not threading.main_thread():  # pragma: no cover
        raise RuntimeError("at_most_calls counts the main thread only")
    sys.setprofile(profile)
    try:
        yield work
    finally:
        sys.setprofile(previous)
