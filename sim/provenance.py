"""Which code computed a run: a digest of the simulator's own source.

A restarted sweep, a resumed risk study or a study's cache reuses a run only if the same
code made it: a fix to the engine must not leave a failure-point search, a risk study or
a study's table quoting runs of the code before it, beside runs of the code after it.
The digest covers every Python file of the ``sim`` package (its path and its bytes), so
any change to the simulator, however small, makes earlier runs stale; a changed config
is a changed job already, and the documentation computes nothing.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent


@cache
def code_digest() -> str:
    """The digest of the ``sim`` package's source: 16 hex digits."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE.rglob("*.py")):
        h.update(path.relative_to(PACKAGE).as_posix().encode())
        h.update(b"\0")
        h.update(path.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]
