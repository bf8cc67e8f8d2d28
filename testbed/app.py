"""The HTTP service: ``POST /join`` through the tiers, ``GET /health``.

A join's body is JSON ``{"session_s": seconds}``: how long the listener will listen
(the client draws it, as the simulator's clients do). The answer is 200 with
``{"joined": true}``, or 503 with ``{"tier": ..., "reason": ...}`` when a tier turned
it away. The path, as the simulator's ``spaces`` routes it:

    edge ─► auth ─(hit)─► join (room key) ─► fanout (a slot for the session)
              └─(miss)─► token_store ─┘

A connection is held at the edge from admission until the answer (the requests in
flight beyond the edge are capped); a listener slot from the end of fanout's service
for ``session_s`` seconds, or given back at once if the client has already hung up.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
from collections.abc import AsyncIterator
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .config import TIERS, TestbedConfig
from .pools import Counter, Pool, RoomKey
from .timing import TimingLog

FLUSH_S = 1.0


class Service:
    """The tiers of one running testbed, and its timing log."""

    def __init__(self, cfg: TestbedConfig, log_path: str | None) -> None:
        self.cfg = cfg
        self.log = TimingLog(log_path)
        self.rng = random.Random(cfg.seed)
        self.room_key = RoomKey(cfg.room_key_rps, self.log)
        self.pools = {name: Pool(name, cfg.tiers[name], self.log, self.rng,
                                 gate=self.room_key if name == "join" else None)
                      for name in TIERS}
        self.connections = Counter(cfg.connections)
        self.slots = Counter(cfg.slots)
        self.ids = itertools.count(1)
        for name in TIERS:
            t = cfg.tiers[name]
            self.log.describe("pool", name, workers=t.workers, queue_limit=t.queue_limit)
        self.log.describe("connections", "edge", limit=cfg.connections)
        self.log.describe("resource", "room_key", tier="join")
        self.log.describe("slots", "fanout", limit=cfg.slots)
        self.log.start()

    async def run(self) -> AsyncIterator[None]:
        for p in self.pools.values():
            p.start()
        flusher = asyncio.create_task(self._flush())
        try:
            yield
        finally:
            flusher.cancel()
            await asyncio.gather(flusher, *(p.stop() for p in self.pools.values()),
                                 return_exceptions=True)
            self.log.close()

    async def _flush(self) -> None:
        while True:
            await asyncio.sleep(FLUSH_S)
            self.log.flush()

    async def join(self, req: int) -> tuple[str, str] | None:
        """Take ``req`` through the tiers; None if it joined, else (tier, reason)."""
        if not self.connections.take():
            self.log.line(self.log.now(), req, "edge", "-", 0.0, 0.0, "connections_full")
            return "edge", "connections_full"
        try:
            hit = self.rng.random() < self.cfg.cache_hit_ratio
            path = [("edge", "ok"), ("auth", "hit" if hit else "miss")]
            path += [] if hit else [("token_store", "ok")]
            for name, status in [*path, ("join", "ok"), ("fanout", "ok")]:
                if not await self.pools[name].serve(req, status):
                    return name, "queue_full"
        finally:
            self.connections.give()
        if not self.slots.take():
            self.log.line(self.log.now(), req, "fanout", "-", 0.0, 0.0, "slots_full")
            return "fanout", "slots_full"
        return None


def create_app(cfg: TestbedConfig, log_path: str | None = None) -> Starlette:
    """The ASGI app of a testbed with ``cfg``, logging to ``log_path``."""
    service = Service(cfg, log_path)

    async def join(request: Request) -> JSONResponse:
        try:
            body: Any = await request.json()
            session_s = float(body.get("session_s", 60.0))
        except (ValueError, AttributeError, TypeError):
            return JSONResponse({"error": "body must be JSON {\"session_s\": seconds}"}, 400)
        failed = await service.join(next(service.ids))
        if failed is not None:
            return JSONResponse({"tier": failed[0], "reason": failed[1]}, 503)
        if await request.is_disconnected():
            service.slots.give()  # the client gave up: nobody listens
        else:
            asyncio.get_running_loop().call_later(max(0.0, session_s), service.slots.give)
        return JSONResponse({"joined": True})

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"ok": True, "slots_in_use": service.slots.in_use,
                             "connections_in_use": service.connections.in_use})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.asynccontextmanager(service.run)():
            yield

    return Starlette(routes=[Route("/join", join, methods=["POST"]),
                             Route("/health", health)], lifespan=lifespan)
