"""Work done beside the report's own: the figures drawn in a forked child process.

A run's report spends most of its time in two independent parts: drawing the figures
with matplotlib and describing the run (the scenario, the findings, the assumptions,
which compose the shipped defaults to list what the run changed). On a machine with a
second core the figures are drawn in a child forked for the purpose while the parent
describes the run, and the parent reads the child's answer through a pipe.

Nothing depends on the child: where ``os.fork`` is missing, where the process runs
other threads (a fork copies only the calling thread, and a lock another thread held
would stay locked in the child), on a single core, or when the child fails or dies,
the work is done in the parent as before. The answer is the same either way: the
child runs the same function on a copy of the same data.
"""

from __future__ import annotations

import os
import pickle
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class Aside(Generic[T]):
    """``fn(*args)`` computed in a forked child where that can help; ``result()`` gives
    its value (computed in the parent if the child could not)."""

    def __init__(self, fn: Callable[..., T], *args: Any) -> None:
        self._fn, self._args = fn, args
        self._pid: int | None = None
        self._read: int | None = None
        if not _can_fork():
            return
        read, write = os.pipe()
        try:
            pid = os.fork()
        except OSError:
            os.close(read)
            os.close(write)
            return
        if pid == 0:  # the child: compute, send, leave without running the parent's exits
            os.close(read)
            _child(write, fn, args)
        os.close(write)
        self._pid, self._read = pid, read

    def result(self) -> T:
        if self._pid is None or self._read is None:
            return self._fn(*self._args)
        with os.fdopen(self._read, "rb") as pipe:
            data = pipe.read()
        _, status = os.waitpid(self._pid, 0)
        self._pid = self._read = None
        if os.waitstatus_to_exitcode(status) == 0 and data:
            try:
                ok, value = pickle.loads(data)
            except Exception:
                ok = False
            if ok:
                return value
        return self._fn(*self._args)  # the child failed: do it here


def _can_fork() -> bool:
    return (hasattr(os, "fork") and threading.active_count() == 1
            and (os.cpu_count() or 1) > 1)


def _child(write: int, fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    code = 1
    try:
        data = pickle.dumps((True, fn(*args)))
        with os.fdopen(write, "wb") as pipe:
            pipe.write(data)
        code = 0
    finally:
        os._exit(code)
