"""The per-tier timing log: one line per request per tier it reached.

The format (version 1) is tab-separated text. Lines starting with ``#`` come first and
describe the service as it was started (what a deployment's config says):

    # testbed timing log v1
    # pool<TAB>edge<TAB>workers=32<TAB>queue_limit=500
    # connections<TAB>edge<TAB>limit=600
    # resource<TAB>room_key<TAB>tier=join
    # slots<TAB>fanout<TAB>limit=20000

then a header and one line per request and tier::

    t_s  req  tier  worker  wait_s  service_s  status

- ``t_s``: when the request started service at the tier (seconds since the service
  started, monotonic clock); for a rejection, when it was turned away.
- ``req``: the request's number (the lines of one request share it).
- ``tier``: ``edge``, ``auth``, ``token_store``, ``join``, ``fanout``, or ``room_key``
  (the join tier's write of the room key: ``wait_s`` is how long it waited for the key,
  ``t_s`` when it wrote).
- ``worker``: the worker of the tier's pool that served it (``-`` for a rejection).
- ``wait_s``: time queued before service (including the wait for the room key on
  ``join``); ``service_s``: time in service (0 for ``room_key`` and rejections).
- ``status``: ``ok``; on ``auth`` ``hit`` or ``miss`` (its cache); ``queue_full``,
  ``connections_full`` or ``slots_full`` for a request turned away with 503.

The room key's ceiling is not written down: it is measured from the spacing of writes
that had to wait (``sim.calibrate``).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TextIO

COLUMNS = ("t_s", "req", "tier", "worker", "wait_s", "service_s", "status")
MAGIC = "# testbed timing log v1"


class TimingLog:
    """Buffered writer of the timing log (``flush`` writes what is buffered)."""

    def __init__(self, path: Path | str | None) -> None:
        self.t0 = time.monotonic()
        if path:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # Open for the service's lifetime; ``close`` (at shutdown) closes it.
        self._fh: TextIO | None = Path(path).open("w") if path else None  # noqa: SIM115
        self._buf: list[str] = []
        self.header([MAGIC])

    def now(self) -> float:
        return time.monotonic() - self.t0

    def header(self, lines: list[str]) -> None:
        self._buf.extend(lines)

    def describe(self, kind: str, name: str, **values: object) -> None:
        self._buf.append("\t".join([f"# {kind}", name, *(f"{k}={v}" for k, v in values.items())]))

    def start(self) -> None:
        """End the description: the column header follows."""
        self._buf.append("\t".join(COLUMNS))
        self.flush()

    def line(self, t_s: float, req: int, tier: str, worker: int | str, wait_s: float,
             service_s: float, status: str) -> None:
        self._buf.append(f"{t_s:.6f}\t{req}\t{tier}\t{worker}\t{wait_s:.6f}\t"
                         f"{service_s:.6f}\t{status}")

    def flush(self) -> None:
        if self._fh is not None and self._buf:
            self._fh.write("\n".join(self._buf) + "\n")
            self._fh.flush()
        self._buf.clear()

    def close(self) -> None:
        self.flush()
        if self._fh is not None:
            self._fh.close()
            self._fh = None
