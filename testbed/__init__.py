"""A small real service with the shape of the ``spaces`` join path, for rehearsals.

``python -m testbed`` serves ``POST /join`` on 127.0.0.1 (Starlette on uvicorn). A join
goes through the tiers of the simulator's ``spaces`` architecture, each a pool of
workers in front of one bounded FIFO queue (a full queue answers 503 at once):

- ``edge``: caps the requests in flight beyond it (``connections``; over the cap, 503);
- ``auth``: validates the token; a share ``cache_hit_ratio`` is answered from its cache,
  the rest go on to ``token_store``;
- ``join``: writes the room's one key, a shared resource that accepts one write every
  ``1 / room_key_rps`` seconds (a write waits for it before the worker starts);
- ``fanout``: subscribes the listener and holds one of ``slots`` for the session the
  client asks for (over the slots, 503).

Service times are drawn from the configured distributions and spent in
``asyncio.sleep``, so the service waits rather than computes and two cores carry a few
hundred joins per second. Every request writes one line per tier to the timing log
(``testbed.timing``, whose docstring is the format). The parts: ``config`` (the tiers
and their sizes, ``default.yaml``), ``pools`` (the worker pools, the room key, the
slots), ``timing`` (the log), ``app`` (the HTTP handler) and ``locustfile`` (the
clients, for Locust).
"""
