"""Mitigations at the edge, and the links volumetric attacks fill.

Mitigations run at one station (``mitigation.station``, by default the entry: the edge),
built on the engine's ``Gate``. Where traffic crosses the network (before the station
does any work):

- ``scrubbing``: an upstream scrubbing service. Everything into it shares its
  ``capacity_gbps``: above it, every packet (legit or not) is lost in the proportion
  ``1 − capacity / offered``. It removes ``detection`` of the volumetric attack traffic
  and drops ``false_positive`` of the requests.
- the station's ``link_gbps`` (not a mitigation, the pipe): above it, what is left after
  scrubbing is lost in the proportion ``1 − link / offered``.

Offered bandwidth is the volumetric vectors' ``gbps`` at that moment (their rate curve)
plus requests × ``request_kb`` (legit and L7 attack requests, an exponentially weighted
rate with time constant ``LINK_TAU_S``). A legit request lost in the network is never
answered: its client times out and retries as usual.

After the station has served a request (it has read it), in this order:

- ``rate_limit_per_source``: a token bucket per source address, ``rps_per_source`` with
  ``burst_per_source``. An attack vector's ``sources`` are taken as equally loaded, so
  their buckets add up to one of ``sources ×`` the rate and burst. Legit clients have
  addresses of their own, except ``legit_nat_share`` of the requests, which come through
  carrier NAT from ``legit_nat_addresses`` shared addresses (one bucket of that many
  times the rate): a crowd behind NAT is cut like a bot.
- ``waf``: bot/WAF detection; cuts a request of a vector with its ``detection``
  probability (by vector name, else kind, else ``default_detection``), and a legit one
  with ``false_positive``.
- ``challenge``: a challenge page; legit users pass with ``legit_pass``, bots with their
  ``bot_pass``; what passes goes on ``latency_s`` later. With ``clearance`` (the
  default) a legit client meets it on its first attempt only: retries and reconnects
  carry the clearance cookie (a client that failed the page is let through on retry
  too: the cohort model keeps no per-client memory). Bots meet it on every request.
  With ``engage: under_attack`` the page is shown only while the station is under
  attack, as rate- or anomaly-triggered challenges are: while the filters in front of it
  (the rate limit per source and the WAF) cut at least ``engage_flagged_share`` of the
  requests they inspected over the trailing ``engage_window_s``, and at least
  ``ENGAGE_MIN_CUT`` requests (a false positive or two among the trickle of requests
  after a crowd is no attack). Otherwise requests go by
  it untouched and without its latency. A launch with no attack sees only the WAF's
  false positives (a fraction of a percent), so the page stays off; a flood the WAF
  flags switches it on within a tick. The summary gives the seconds it was on
  (``engaged_s``).

A legit request a mitigation cuts fails its attempt like a rejection (the client hears at
once and retries per its policy); an attack request is ``mitigated``. Slow clients
(``connection_exhaustion``) meet the rate limit and the WAF when they connect.

Cost: every request the station serves is inspected, so the ``cost_s`` of each
mitigation it runs is added to the station's service time (``engine.gate.Overhead``):
under a flood the inspection itself can make the station the bottleneck. The summary
reports the worker-seconds spent per mitigation. Each filter draws on its own stream
``mitigation.<name>``, so turning one on changes no other random number.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

import simpy

from ..config import ATTACK_KINDS, MitigationConfig, SimConfig
from ..engine import Cohort, Gate, Station, Streams, Uniforms, keep
from .attacks import AttackVector

LEGIT = "legit"
LINK_TAU_S = 1.0
MITIGATIONS = ("scrubbing", "rate_limit_per_source", "waf", "challenge")


def overhead_s(cfg: SimConfig) -> dict[str, float]:
    """Seconds of work the mitigations add to each request at the station that runs them."""
    m = cfg.mitigation
    cost = sum(getattr(m, k).cost_s for k in ("rate_limit_per_source", "waf", "challenge")
               if getattr(m, k).enabled)
    if cost <= 0:
        return {}
    return {m.station or cfg.architecture.entry: cost}


class _Filter:
    """A filter of the gate with its ledger."""

    name = ""
    delay_s = 0.0
    mitigation = True  # False: a capacity loss, not a decision

    def __init__(self, streams: Streams | None = None) -> None:
        self.attack_removed = 0
        self.legit_removed = 0
        self.inspected = 0
        if streams is not None:
            self.gen = streams.generator(f"mitigation.{self.name}")
            self.uniform = Uniforms(self.gen)

    def exempt(self, c: Cohort) -> bool:
        return False


class Bandwidth:
    """The bandwidth state of one station's ingress: link, scrubbing, offered load."""

    def __init__(self, env: simpy.Environment, station: Station, link_gbps: float | None,
                 request_kb: float, scrubbing: Any | None,
                 volumetric: list[AttackVector]) -> None:
        self.env = env
        self.station = station
        self.link_gbps = link_gbps
        self.request_gbit = request_kb * 8e-6
        self.scrubbing = scrubbing  # ScrubbingConfig or None
        self.volumetric = volumetric
        self._n = 0.0
        self._t = 0.0
        self._at = -1.0
        self._shares = (1.0, 0.0, 1.0, 1.0)
        self.legit_offered = 0
        self.legit_lost = 0
        self.attack_requests_lost = 0
        self.attack_packets_lost = 0
        self.peak_gbps = 0.0
        self.scrub_filter: _Filter | None = None  # counts what scrubbing removes

    def observe(self, n: int, now: float) -> None:
        self._n = self._n * math.exp(-(now - self._t) / LINK_TAU_S) + n
        self._t = now

    def request_gbps(self, now: float) -> float:
        return self._n * math.exp(-(now - self._t) / LINK_TAU_S) / LINK_TAU_S * self.request_gbit

    def shares(self, now: float) -> tuple[float, float, float, float]:
        """(scrubber pass, scrubber detection, scrubber false positive, link pass) now."""
        if now == self._at:
            return self._shares
        a = sum(v.gbps(now) for v in self.volumetric)
        r = self.request_gbps(now)
        self.peak_gbps = max(self.peak_gbps, a + r)
        scrub_pass, det, fp = 1.0, 0.0, 0.0
        s = self.scrubbing
        if s is not None:
            det, fp = s.detection, s.false_positive
            if a + r > s.capacity_gbps:
                scrub_pass = s.capacity_gbps / (a + r)
        a1 = a * scrub_pass * (1 - det)
        r1 = r * scrub_pass * (1 - fp)
        link_pass = 1.0
        if self.link_gbps is not None and a1 + r1 > self.link_gbps:
            link_pass = self.link_gbps / (a1 + r1)
        self._at = now
        self._shares = (scrub_pass, det, fp, link_pass)
        return self._shares

    def attack_shares(self, t: float) -> tuple[float, float, float]:
        scrub_pass, det, _, link_pass = self.shares(t)
        return scrub_pass, det, link_pass

    def count_attack(self, mitigated: int, lost: int) -> None:
        self.attack_packets_lost += lost
        if self.scrub_filter is not None:
            self.scrub_filter.attack_removed += mitigated

    def summary(self) -> dict[str, Any]:
        return {"link_gbps": self.link_gbps, "peak_offered_gbps": self.peak_gbps,
                "legit_offered": self.legit_offered, "legit_lost": self.legit_lost,
                "attack_requests_lost": self.attack_requests_lost,
                "attack_packets_lost": self.attack_packets_lost}


class _Meter(_Filter):
    name = "meter"

    def __init__(self, bw: Bandwidth) -> None:
        super().__init__()
        self.bw = bw

    def admit(self, c: Cohort, now: float) -> int:
        self.bw.observe(c.count, now)
        if c.cls == LEGIT:
            self.bw.legit_offered += c.count
        return c.count


class _Capacity(_Filter):
    """Loss in proportion where the scrubber's (``stage`` 0) or link's (3) capacity is
    exceeded."""

    mitigation = False

    def __init__(self, name: str, bw: Bandwidth, stage: int, streams: Streams) -> None:
        self.name = name
        super().__init__(streams)
        self.bw = bw
        self.stage = stage

    def admit(self, c: Cohort, now: float) -> int:
        return keep(c.count, self.bw.shares(now)[self.stage], self.gen, self.uniform)


class _Scrub(_Filter):
    name = "scrubbing"

    def __init__(self, bw: Bandwidth, streams: Streams) -> None:
        super().__init__(streams)
        self.bw = bw
        bw.scrub_filter = self

    def admit(self, c: Cohort, now: float) -> int:
        self.inspected += c.count
        return keep(c.count, 1.0 - self.bw.shares(now)[2], self.gen, self.uniform)


class _SourceRateLimit(_Filter):
    name = "rate_limit_per_source"

    def __init__(self, cfg: Any, vectors: dict[str, AttackVector], streams: Streams) -> None:
        super().__init__(streams)
        self.cfg = cfg
        self.share = cfg.legit_nat_share
        # class -> [rate, burst, tokens, last time]
        self.buckets: dict[str, list[float]] = {}
        for name, v in vectors.items():
            s = v.cfg.sources
            self.buckets[name] = [s * cfg.rps_per_source, s * cfg.burst_per_source,
                                  s * cfg.burst_per_source, 0.0]
        a = cfg.legit_nat_addresses
        self.buckets[LEGIT] = [a * cfg.rps_per_source, a * cfg.burst_per_source,
                               a * cfg.burst_per_source, 0.0]

    def _take(self, cls: str, n: int, now: float) -> int:
        b = self.buckets.get(cls)
        if b is None:
            return n
        tokens = min(b[1], b[2] + b[0] * (now - b[3]))
        take = min(n, int(tokens))
        b[2] = tokens - take
        b[3] = now
        return take

    def admit(self, c: Cohort, now: float) -> int:
        n = c.count
        self.inspected += n
        if c.cls != LEGIT:
            return self._take(c.cls, n, now)
        if self.share <= 0:
            return n
        behind_nat = keep(n, self.share, self.gen, self.uniform)
        return n - behind_nat + self._take(LEGIT, behind_nat, now) if behind_nat else n


class _Probabilistic(_Filter):
    """Cuts each request with a probability per class (legit: ``legit_p``)."""

    def __init__(self, name: str, legit_cut: float, cut: dict[str, float],
                 streams: Streams, delay_s: float = 0.0, clearance: bool = False) -> None:
        self.name = name
        super().__init__(streams)
        self.legit_cut = legit_cut
        self.cut = cut
        self.delay_s = delay_s
        self.clearance = clearance

    def exempt(self, c: Cohort) -> bool:
        # A legit client's retries and reconnects carry the clearance of its first attempt.
        return self.clearance and c.cls == LEGIT and (c.attempt > 1 or c.reconnect)

    def admit(self, c: Cohort, now: float) -> int:
        n = c.count
        self.inspected += n
        p = self.legit_cut if c.cls == LEGIT else self.cut.get(c.cls, 0.0)
        return keep(n, 1.0 - p, self.gen, self.uniform)


# Requests the filters must cut over the trigger's window before the challenge engages.
ENGAGE_MIN_CUT = 20


class _Trigger:
    """Whether the challenge is on now (``engage: under_attack``): the share of the
    requests the filters in front of it cut, over the trailing window, against the
    threshold. Samples the filters' counters at most every window ÷ 20."""

    def __init__(self, env: simpy.Environment, filters: list[_Filter], share: float,
                 window_s: float) -> None:
        self.env = env
        self.filters = filters
        self.share = share
        self.window_s = window_s
        self.step_s = window_s / 20
        self.samples: deque[tuple[float, int, int]] = deque()
        self.on = False
        self.since = 0.0
        self.engaged_s = 0.0
        self._at = -1.0

    def engaged(self) -> bool:
        now = self.env.now
        if now == self._at:
            return self.on
        self._at = now
        inspected = self.filters[0].inspected
        cut = sum(f.attack_removed + f.legit_removed for f in self.filters)
        s = self.samples
        if not s or now - s[-1][0] >= self.step_s:
            s.append((now, inspected, cut))
        while len(s) > 1 and s[1][0] <= now - self.window_s:
            s.popleft()
        _, i0, c0 = s[0]
        seen = inspected - i0
        on = seen > 0 and cut - c0 >= max(self.share * seen, ENGAGE_MIN_CUT)
        if on != self.on:
            if self.on:
                self.engaged_s += now - self.since
            self.since = now
            self.on = on
        return on

    def seconds(self) -> float:
        return self.engaged_s + (self.env.now - self.since if self.on else 0.0)


class _Challenge(_Probabilistic):
    """The challenge page: a probabilistic filter with a latency, always on or switched
    by a ``_Trigger``."""

    def __init__(self, legit_cut: float, cut: dict[str, float], streams: Streams,
                 delay_s: float, clearance: bool, trigger: _Trigger | None) -> None:
        super().__init__("challenge", legit_cut, cut, streams, delay_s, clearance)
        self.trigger = trigger

    def exempt(self, c: Cohort) -> bool:
        if self.trigger is not None and not self.trigger.engaged():
            return True
        return super().exempt(c)


def _per_vector(table: dict[str, float], default: float,
                vectors: dict[str, AttackVector]) -> dict[str, float]:
    out = {}
    for name, v in vectors.items():
        out[name] = table.get(name, table.get(v.kind, default))
    return out


class Mitigations:
    """The gates of a scenario: where traffic enters, and around the mitigating station."""

    def __init__(self, env: simpy.Environment, cfg: SimConfig, stations: dict[str, Station],
                 attacks: list[AttackVector], streams: Streams) -> None:
        m: MitigationConfig = cfg.mitigation
        arch = cfg.architecture
        self.cfg = m
        self.name = m.name
        self.station_name = m.station or arch.entry
        self.station = stations[self.station_name]
        vectors = {a.name: a for a in attacks}
        self.filters: dict[str, _Filter] = {}
        self.bandwidth: dict[str, Bandwidth] = {}
        self.gates: dict[str, Gate] = {}
        entered = {arch.entry, self.station_name} | {a.cfg.enter for a in attacks}
        after: list[_Filter] = []
        if m.rate_limit_per_source.enabled:
            after.append(_SourceRateLimit(m.rate_limit_per_source, vectors, streams))
        if m.waf.enabled:
            after.append(_Probabilistic(
                "waf", m.waf.false_positive,
                _per_vector(m.waf.detection, m.waf.default_detection, vectors), streams))
        if m.challenge.enabled:
            ch = m.challenge
            passes = _per_vector(ch.bot_pass, ch.default_bot_pass, vectors)
            trigger = (_Trigger(env, list(after), ch.engage_flagged_share, ch.engage_window_s)
                       if ch.engage == "under_attack" and after else None)
            after.append(_Challenge(
                1.0 - ch.legit_pass, {k: 1.0 - p for k, p in passes.items()}, streams,
                ch.latency_s, ch.clearance, trigger))
        for f in after:
            self.filters[f.name] = f
        for name in sorted(entered):
            st = stations[name]
            sc = arch.stations[name]
            scrub = m.scrubbing if (m.scrubbing.enabled and name == self.station_name) else None
            before: list[_Filter] = []
            if sc.link_gbps is not None or scrub is not None:
                vol = [a for a in attacks if a.kind == "volumetric" and a.cfg.enter == name]
                bw = Bandwidth(env, st, sc.link_gbps, sc.request_kb, scrub, vol)
                self.bandwidth[name] = bw
                for a in vol:
                    a.bandwidth = bw
                before.append(_Meter(bw))
                if scrub is not None:
                    before.append(_Capacity("scrubbing_capacity", bw, 0, streams))
                    f = _Scrub(bw, streams)
                    before.append(f)
                    self.filters[f.name] = f
                if sc.link_gbps is not None:
                    before.append(_Capacity(f"link.{name}", bw, 3, streams))
            gate = Gate(env, st, before, after if name == self.station_name else [],
                        self._removed_at(st, self.bandwidth.get(name)))
            self.gates[name] = gate
        for a in attacks:
            gate = self.gates[a.cfg.enter]
            a.entry = gate
            if a.kind == "connection_exhaustion":
                screens = [f for f in after if f.name in ("rate_limit_per_source", "waf")]
                chain = gate.before + (screens if a.cfg.enter == self.station_name else [])
                if chain:
                    a.screen = _screen(gate, chain)
        self.entry = self.gates[arch.entry]

    def _removed_at(self, st: Station, bw: Bandwidth | None):
        def removed(c: Cohort, f: _Filter) -> None:
            owner = c.owner
            attack = isinstance(owner, AttackVector)
            if not f.mitigation:  # lost for capacity on the way in
                if attack:
                    if bw is not None:
                        bw.attack_requests_lost += c.count
                    owner.on_failed(c, st, f.name)
                elif c.cls == LEGIT:
                    if bw is not None:
                        bw.legit_lost += c.count
                    # never answered: the client times out
                else:
                    owner.on_failed(c, st, f.name)
                return
            if attack:
                f.attack_removed += c.count
                owner.on_mitigated(c)
            else:
                f.legit_removed += c.count
                owner.on_failed(c, st, f.name)

        return removed

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "station": self.station_name}
        for name in MITIGATIONS:
            f = self.filters.get(name)
            if f is None:
                continue
            # Every request the station served paid the cost of every mitigation it runs.
            cost = getattr(self.cfg, name).cost_s if name != "scrubbing" else 0.0
            out[name] = {"attack_removed": f.attack_removed, "legit_removed": f.legit_removed,
                         "inspected": f.inspected, "cost_s": cost * self.station.served}
            if isinstance(f, _Challenge) and f.trigger is not None:
                out[name]["engaged_s"] = f.trigger.seconds()
        return out

    def links(self) -> dict[str, Any]:
        return {name: bw.summary() for name, bw in self.bandwidth.items()}


def _screen(gate: Gate, chain: list[Any]):
    def screen(c: Cohort, then: Any) -> None:
        gate.run(c, chain, 0, then)

    return screen


__all__ = ["ATTACK_KINDS", "MITIGATIONS", "Bandwidth", "Mitigations", "overhead_s"]
