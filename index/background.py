"""Work that must not hold questions back: a thread of its own at a lower CPU priority.

A server answers questions while it indexes an upload or reloads the lexical index. Both run on
threads made for them, whose nice value is raised (Linux schedules threads, and gives each its
own nice value), so when the cores are short the scheduler runs the answering threads first.
The threads are new ones, never a server worker's: a nice value cannot be lowered again
without privileges, and a worker lowered once would answer slowly from then on.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
from collections.abc import Callable
from typing import Any, TypeVar

BACKGROUND_NICE = 10  # added to the thread's nice value (0 to 19; 19 is the lowest priority)

T = TypeVar("T")
Step = Callable[[int, int, str], None]


def lower_priority(by: int = BACKGROUND_NICE) -> bool:
    """Raise the calling thread's nice value by ``by``; False where that cannot be done.

    Linux only: elsewhere the call names a process, and would slow the whole server."""
    if not sys.platform.startswith("linux"):
        return False
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + by)
    except OSError:
        return False
    return True


def start_behind(work: Callable[[], None], name: str) -> threading.Thread:
    """Start ``work()`` on a new daemon thread at a lower priority."""

    def body() -> None:
        lower_priority()
        work()

    thread = threading.Thread(target=body, name=name, daemon=True)
    thread.start()
    return thread


def run_behind(work: Callable[[Step], T], progress: Step, name: str = "rag-background") -> T:
    """``work(step)`` on a new thread at a lower priority, waited for here: its ``step(i, n,
    name)`` calls reach ``progress`` on the calling thread (a web page's progress bar belongs
    to the request), and its result is returned, or its exception raised, here.

    >>> run_behind(lambda step: (step(1, 1, "a"), 42)[1], lambda i, n, s: None)
    42
    """
    events: queue.Queue[tuple[str, Any]] = queue.Queue()

    def body() -> None:
        try:
            events.put(("done", work(lambda i, n, s: events.put(("step", (i, n, s))))))
        except BaseException as e:  # noqa: BLE001 - handed to the waiting thread, raised there
            events.put(("error", e))

    thread = start_behind(body, name)
    while True:
        kind, value = events.get()
        if kind == "step":
            progress(*value)
            continue
        thread.join()
        if kind == "error":
            raise value
        return value  # type: ignore[no-any-return]
