"""Files that are either whole or absent: write to a temporary name, then rename.

Every file a run, a sweep or a report leaves behind goes through here. The data goes to
a temporary file beside its final name (a dot in front, the process id and ``.tmp``
behind, so a later run can recognise and remove what a killed one left), is flushed to
disk, and is then renamed over the final name with ``os.replace``, which is atomic on
one file system. After a crash, a full disk or a signal the final name holds either its
old content or the whole new one, never a prefix.

``atomic_write`` takes a function that writes text to an open file; ``replacing`` hands
out the temporary path itself, for writers that insist on a path of their own (a
figure saved by matplotlib). This module imports nothing of the project, so every layer
may use it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

TMP_SUFFIX = ".tmp"


def temporary_name(path: Path) -> Path:
    """The temporary name ``path`` is written under before the rename."""
    return path.with_name(f".{path.name}.{os.getpid()}{TMP_SUFFIX}")


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write ``path``'s new content to; on leaving the block
    the file is synced and renamed over ``path``, or removed if the block raised."""
    tmp = temporary_name(path)
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, write: Callable[[IO[str]], object]) -> None:
    """Write ``path`` through ``write(fh)`` into a temporary file beside it, then rename."""
    with replacing(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
        write(fh)


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda fh: fh.write(text))


__all__ = ["TMP_SUFFIX", "atomic_write", "atomic_write_text", "replacing", "temporary_name"]
