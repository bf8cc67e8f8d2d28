"""The cohort discipline of a large station: a FIFO served at the tier's current rate.

Cohort mode serves a station with this discipline only where a tick brings it many
requests: its workers complete more than ``SMALL_PER_TICK`` requests per tick (see
``sim.engine.granular``; a smaller station is served one request at a time by the exact
discipline). Here a request is not served on its own worker with its own service time;
the tier is a fluid server with rate ``R = capacity / mean service time`` (or the
``max_rate_rps`` ceiling, if lower). A cohort of ``n`` requests that reached the station
spread over ``[t, t + w)`` is served over ``[s, e)`` with ``s = max(t, free)`` (``free``:
when the server finishes the work it already took on) and ``e = max(s + n / R, t + w)``;
its requests complete one mean service time later and move on as one cohort. They start
one ``1 / R`` after another (or as they arrive, if that is later): the first at ``s``, the
last ``(e − s)·(n − 1)/n`` later (or at ``t + w``), and that span is their wait's and
their spread's downstream (a single request starts at ``s``, not spread over its own
``1 / R``, which would add half of it to its wait). ``free`` advances by the work taken
on, ``n / R``, not to ``e``: a cohort that trickles in over a tick at a fraction of the
rate leaves the rest of the rate to the cohorts that arrive beside it, and such a cohort
starts as it arrives, not at ``free``, where its window holds its own work and the work
committed ahead of it (``_start_at``). Otherwise the several cohorts of a tick (the
clients' bundle, reconnects, attack vectors) would each wait for the whole work of the
ones before it, a wait of about half a cohort's work at a station far below saturation,
where exact mode's requests find idle workers. For the same reason requests that arrive
at a free server at one instant (a batch of reconnects, a waiting room's admissions,
single requests of separate cohorts) or over a window faster than its rate (a burst the
tier before lets out) start as they arrive while they find idle workers (fewer requests
taken on and not completed than workers), and only the rest are paced at ``1 / R``
(``_idle_starts``, below); and a request
arriving while cohorts taken on are still trickling in waits behind the shares of them
that have arrived, not behind all of their work (``_arrived_work_end``). A cohort is split
where something cuts through it:

- capacity: the server commits work at most one resolution tick ahead (so a change of
  capacity takes effect within a tick); the part of the head cohort beyond that waits;
- the queue limit: the part that does not fit is rejected. The limit counts what
  exact mode's queue holds: the requests not yet taken on and the committed work that
  has arrived and not started, ``R`` per second of it (``_backlog``); a cohort arriving
  over ``w`` fits if the queue at its last arrival does, the server starting ``R·w``
  of the queue meanwhile (``_room``). When arrivals contend for too little room,
  everything that arrives until the end of the tick is gathered and the room is shared
  at random in proportion to counts (what random arrivals to a full queue see), rather
  than the first cohort to come taking it all; while a limit keeps cutting, every tick
  is settled this way, so no class wins by arriving first. Near a limit (less room left
  than a tick's offered count) the cohorts of one instant are gathered too, by an event
  at that instant (as those arriving over a window always are), so that the clients'
  requests ahead of an attack vector's at the same instant do not take the room both
  are due (``_settle_instant``);
- a deadline: the requests whose service would start after their own deadlines are
  expired (dropped without using capacity if ``drop_expired``, otherwise served as
  wasted work). A cohort's deadlines are spread over ``deadline_spread`` (its attempt was
  sent over a tick) in FIFO order, so request ``u`` in [0, 1) of a part served over
  ``[s, e)`` starts at ``s + u·(e − s)`` with its own deadline; a cut in that order (the
  capacity split, shedding) splits the range, a random split keeps it. When the server
  paces a part slower than its deadlines pass, it does as exact mode's FIFO does, which
  drops the expired head and takes the next request still in time: up to the crossing
  the part is served on time, then at the rate among requests at their deadlines, the
  ones between them expiring. As in exact mode, only requests that wait in the queue are
  checked, and a request alone is late only if it starts after its deadline (not if
  its service runs past it);
- admission: the rate limiter's tokens and the connection limit (``sim.engine.admission``,
  the same bucket and cap the exact discipline uses), shared the same way, but with the
  room exact mode's requests would have found arriving over the tick: the tokens the
  tick adds as they come (``TokenBucket.admit_window``), the connections the walk of
  the free count leaves (``connections_kept``). What a settle keeps is served as exact
  mode's FIFO serves random arrivals (``_serve_group``): from its own arrivals, not
  from the tick's end; its cohorts interleaved over one schedule (the clients' requests
  spread among an attack's, not served before or after them); and its first request
  behind all the work that arrived before the window, with no credit for room the
  window leaves, since that work has arrived (the credit ``_start_at`` gives a cohort
  trickling in beside another is right only for work that has not). So a station over
  its rate holds a full queue, ``K / R`` of wait, however short against the tick.

A settle, and a cohort a lagging one brings, may complete before the event that moves
it on (the settle is at the tick's end; its requests started at their arrivals). The
part then moves on now, but carries how long ago it really completed
(``Cohort.lag_s``): the next fluid station takes it as arriving that much earlier
(from its true arrivals where no queue is ahead of it), and the client takes it as
answered then. A small station's exact discipline serves its requests as they come,
spaced as they arrived, and passes the lag on (letting the past ones arrive at once
would make a burst that waits). Without this, every station a contended tick
passes added up to a tick to the latency, and at a tick longer than a station's ``K /
R`` that was most of it.

What a mean-rate treatment loses is the queueing delay of a station below saturation:
an M/G/c queue with many busy workers makes some requests wait although the mean rate
keeps up. The fluid queue holds the queueing that shows at tick scale (a tick with more
arrivals than the rate, a surge); the stationary mean wait at the current load is the
whole of it, taken as the M/M/c/K wait (Erlang C's where the queue limit is too long to
matter; ``mmck_wait``) times the Allen–Cunneen factor ``β = (1 + cv²) / 2`` for the
service time's variability (Poisson arrivals), with the limit taken as ``K / β`` requests
of the M/M/c queue: a diffusion's queue scales with ``β``, so a limit of ``K`` stops it
where the exponential queue's ``K / β`` would. So each cohort's start is delayed by what
that wait has beyond the fluid queue's recent mean wait, and its variance (times ``β²``)
is added to the cohort's so latency percentiles keep that spread. The same queue
rejects what finds it full, ``p_{c+K}``, where the fluid queue, which only holds tick-scale
swings, rejects nearly nothing: each cohort offered loses the share the stationary
blocking has beyond the fluid queue's recent blocking (``_stationary_reject``). Over the
rate the stationary queue holds too where the limit is one the load's random walk
crosses within the load estimate's window (``K² / 2λ``, ``_relaxes``): a short queue in
front of many workers, full most of the time but not all of it, so that exact mode's
workers idle now and then and it rejects more than ``1 − 1/ρ``, with a shorter wait than
``K / R``. Where it holds, the stationary wait is the whole wait, what the fluid queue
waits beyond it taken back (the fluid queue of a load that settles so fast has no wait
of its own to add). Beyond that the fluid queue fills as such a queue does and is the wait, and
only the stationary blocking's excess over ``1 − 1/ρ`` is added. Before, a station of a
few hundred workers behind a limit of a few tens, at ρ 0.95 to 1, waited up to 50 times
exact mode's wait (Erlang C, unbounded near saturation, where the limit bounds the wait
by ``K / R``) and rejected a tenth of what exact mode rejects
(``tests/test_fluid_finite_queue.py``). A station held by a throughput ceiling below
its workers' capacity (``max_rate_rps``: a hot key) starts one request every
``1 / max_rate`` as exact mode paces it, so its stationary wait is M/D/1's
(Pollaczek–Khinchine) at ``ρ = offered / max_rate``, added the same way, with no
finite-queue blocking. Otherwise, at or above saturation the stationary wait is zero
and the fluid queue is all there is.

The load is the offered rate, an exponentially weighted count. Exact mode's stationary
wait follows the load as it changes (its queue settles within a few hundred arrivals
below ρ 0.9), so the count's time constant is as short as its noise allows: Erlang C is
convex in the load, so a noisy estimate biases the wait up (Jensen), by
``W''·λ / (4τ)`` for an estimate over ``τ`` seconds. The constant is the shortest that
holds this bias to ``LOAD_BIAS`` of the wait (or of a hundredth of a service time, where
the wait is less: a wait worth nothing), at the load the estimate reads: 30,000
requests at ρ 0.95 with 50 workers, 540 at ρ 0.57 with 6 workers, and a few ticks at low
load, from where a surge is followed at once. A fixed count of 20,000 requests at the
station's rate (38 s at 6 workers of 11 ms) lagged a flash crowd's rise of a few seconds
so far that a station at ρ 0.57 was given the wait of ρ 0.3, 30 times too small.

Failure dynamics act on the rate: an outage, a crash or a lost instance changes the
capacity (work already committed within the tick goes on; the failed instances' share of
the queued and in-service requests fails at once), a slowdown multiplies the mean service
time, and shedding by queue age drops the part of the head cohort that arrived more than
``shed_queue_age_s`` before its service would start.

Service-time variability is carried the same way: each station adds the variance and
the third cumulant of its service time (and of the stationary wait) to the cohort
(``var_s``, ``k3_s``; a request alone draws its service time instead, below), and
join latencies are recorded as distributions matched to the accumulated cumulants (a
shifted gamma, ``sim.tails.shifted_gamma_cdf``) rather than as points: a normal would
miss the long right tail of exponential service times and Erlang C waits that a p99
reads.

Requests that arrive at one instant are one batch, however many cohorts bring them
(evicted listeners come back as one cohort per group they were held in, single retries
as cohorts of one): the ones that find no idle worker start as workers free up, one
``1 / R`` after another, a later cohort's behind the earlier ones' (``_idle_starts``),
as exact mode's do, not behind the work of every request taken on, which would count
the ones that started at once on idle workers as run one after another (a reconnect
storm of 768 listeners in eight cohorts at 256 workers waited 40% longer at the edge
than in exact mode). The same holds for a burst arriving over a window faster than the
rate: the requests that find idle workers start as they arrive, and the work committed
ends where the last queued request's next one would start, so what comes behind them
is not put ``i / R`` later, as if the ``i`` idle workers had worked one after another
(the edge's output of that storm waited 16% longer at the tier behind it than in exact
mode). Cohorts arriving at one instant over a window are gathered, by an event at that
instant, and those over the same window are served interleaved (``_serve_batch``),
each sharing the idle workers and the rate, rather than the first started at the rate
and the next beside it at the rate again (two cohorts of one burst waited 45% less than
exact mode's requests, or 2.5 times as long, as the split fell). Cohorts queued behind
a backlog are served in the order their requests arrived, not cohort by cohort: where
the windows of the head and the cohorts queued after it overlap, each is served over
the share of the schedule its arrivals span among all of theirs (``_serve_overlap``),
so a tick's clients' requests leave among an attack's that arrived beside them, as
exact mode's FIFO lets them out (served whole, one after another, they left bunched
into their own work, and the next tier, held to a ceiling, made them wait four times
as long as exact mode's: generated seed 1008). Nor does such a batch
complete at one instant: its departures are
spread by the service times, and the next station sees them arrive over that window
(the burst's wait at the tier behind the edge was 20% over exact mode's with all of
them at once). A request alone is served for a service time drawn from the station's
distribution, as exact mode serves it, rather than for the mean with the variance
carried on: single requests a waiting room lets through one at a time crossed the
fluid tiers in exactly the sum of their means and reached a one-worker tier behind them
more regularly than they do (its wait 13% over exact mode's, generated seed 74).

What it leaves out: a burst's queued requests start on the workers' expected
completions (``sim.engine.renewal``), a mean curve, so at a service of cv 2 and a burst
at twice the rate their wait is 8% over exact mode's (within 3% at cv 0.3 to 1, and
at cv 2 for bursts of five times the rate or more, where it is over a hundredth of the
service time: ``tests/test_engine_units.py``); the finite
queue's figures are M/M/c/K's with the limit scaled by Allen–Cunneen's factor: with
service of cv well away from 1 and a limit of a few tens at ρ 0.9 to 1.05 the wait
is within 36% of exact mode's and the blocking within 1.5 points (of 48 drawn
stations of deterministic, gamma and lognormal service, 10 of 34 below saturation and
9 of 14 above it missed a 10% wait criterion, 6 a 0.5-point blocking one); below a
ceiling the queue limit rejects only as the fluid queue does. A cohort taken whole at the
start of its window holds the room for its requests that arrive after another
cohort's, which a cut then falls on. A lag is not carried into failures (a part a
settle rejects fails, and its retries start, at the settle), nor past an attempt's
deadline event: a part answered in time but brought after its attempt's deadline has
fired counts as timed out (at most a tick of the timeout, which ``auto`` keeps a
fiftieth of it). The requests a gathered tick holds are
not in the station's queue level until its settle, and the level is the fluid's
estimate of what has arrived and not started: its peak can read up to about one
percent above a queue limit (10,036 against 10,000 in the default scenario), where
exact mode's cannot. Allen–Cunneen is an
approximation (within 10% of exact mode at cv 2 and 50 workers). The stationary waits
assume Poisson arrivals: behind a station that smooths its output (one worker whose
service is long against the ceiling's spacing) they overstate a wait that is tiny anyway
(4 µs against exact mode's 0.4 µs at 2% of a ceiling); below a ceiling the workers' own
queueing is left out. Deadlines are checked against the fluid schedule, not against the
stationary wait added to it; requests served at their deadlines by a paced server start
exactly there, where exact mode's start up to the gap to the next deadline (``1 / λ``)
earlier, and a part whose head was on time and whose tail was thinned is taken to have
its deadlines uniform over its range. The clients race a part's answers against their
deadlines (``sim.model.cohort_clients``) at the fluid schedule plus the mean service
time: a single service time's tail past a client's timeout is not raced. With a timeout
of about twice the mean of a lognormal service (cv 2.3) at 60 workers, exact mode timed
out 11% of the attempts and cohort mode at 0.1 s ticks none. ``auto`` takes a tick of
at most a tenth of the timeout, at which a station of that size serves requests one by
one (``sim.engine.granular``) and each is raced; the gap remains where a station
completes more than ``SMALL_PER_TICK`` requests in a tenth of a timeout that its
service times' tail reaches.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable
from heapq import heappop, heappush

import numpy as np
import simpy
from scipy.special import gammaincc

from .admission import connections_free, connections_kept, hold_connections
from .clock import NORMAL, Due
from .cohort import Cohort
from .renewal import queued_starts
from .station import Station
from .streams import Sampler, round_share

INF = math.inf
# Offered-load estimate behind the stationary wait: an exponentially weighted count whose
# time constant is the shortest that keeps the Jensen bias of the wait, W''·λ / (4τ),
# within LOAD_BIAS of the wait (or of NEGLIGIBLE_WAIT service times, where the wait is
# less), within [LOAD_TAU_MIN_TICKS ticks, LOAD_TAU_MAX_S]; the lower bound keeps a few
# ticks' cohorts in the count. Near saturation the count grows without bound (135,000
# requests at ρ 0.98 with 6 workers), longer than a load holds still: the constant is
# chosen at ρ LOAD_RHO_CAP at most (30,000 requests at 50 workers, 68,000 at 500;
# tests/test_station_fidelity.py, tests/test_fluid_wait.py).
LOAD_BIAS = 0.01
NEGLIGIBLE_WAIT = 0.01
NEGLIGIBLE_BLOCK = 0.001
LOAD_RHO_CAP = 0.95
LOAD_TAU_MIN_TICKS = 4.0
LOAD_TAU_MAX_S = 60.0
# A cohort spread over more than this many ticks (births gathered over a quiet window,
# ``sim.model.quiet``, and the parts it becomes) is counted as the stream it is.
STREAM_TICKS = 2.0
# At most this many queued cohorts are served interleaved by their arrivals
# (``_serve_overlap``).
OVERLAP_MAX = 16
# Below this many requests' worth of a backlog's arrivals, a tick's cut (continuous
# where no cohort arrives at one instant) takes no request of any cohort: less than one
# request, whatever the rounding of where the cut falls would make of it.
NOT_ONE = 1.0 - 1e-9
# Committed parts whose arrivals ended this many ticks ago no longer count as arriving
# (``_commit_work``): a lagging cohort arrives at most about a tick in the past.
COMMITTED_TICKS = 4


def erlang_b(c: int, load: float) -> float:
    """Erlang B, ``E_B(c, a)``, from the Poisson distribution: ``pmf(c; a) / cdf(c; a)``
    (0 where the Poisson tail underflows: far below ``c`` Erlangs)."""
    log_pmf = c * math.log(load) - load - math.lgamma(c + 1)
    cdf = float(gammaincc(c + 1, load))
    return math.exp(log_pmf) / cdf if cdf > 0 else 0.0


def erlang_c_wait(c: int, load: float, rate_per_worker: float
                  ) -> tuple[float, float, float]:
    """Mean, variance and third cumulant of the M/M/c wait in queue at offered load
    ``load`` (Erlangs): 0 with probability ``1 − pw``, else exponential with rate
    ``θ = cμ − λ``, whose raw moments are ``pw·n! / θⁿ``."""
    if c <= 0 or load <= 0 or load >= c:
        return 0.0, 0.0, 0.0
    b = erlang_b(c, load)
    if b <= 0.0:
        return 0.0, 0.0, 0.0
    rho = load / c
    pw = b / (1 - rho * (1 - b))  # Erlang C: probability of waiting
    theta = c * rate_per_worker - load * rate_per_worker  # cμ − λ
    mean = pw / theta
    var = pw * (2 - pw) / theta**2
    k3 = pw * (6 - 6 * pw + 2 * pw * pw) / theta**3
    return mean, var, k3


# Below this ``K·(−ln ρ)`` (``ρᴷ`` of about 4e-18) a queue limit ``K`` leaves the M/M/c
# wait as Erlang C's: the finite queue's terms are the infinite one's to double precision.
FINITE_QUEUE_TAIL = 40.0


def mmck_wait(c: int, load: float, k: float) -> tuple[float, float, float, float]:
    """Mean, variance and third cumulant of the wait in queue of an admitted request,
    and the blocking, of the M/M/c/K queue (``k`` waiting places) at offered load
    ``load``, in units of the mean service time.

    The states ``c + j`` (``j = 0..K``) have ``p_c·ρʲ``, with ``p_c = 1 / (1/B − 1 +
    Σⱼ ρʲ)`` from Erlang B's ``B = E_B(c, a)``. A request admitted at ``c + j`` waits a
    gamma of shape ``j + 1`` and rate ``c``: its raw moments are ``(j + 1)…(j + m) / cᵐ``,
    averaged over ``j = 0..K − 1`` and divided by ``1 − p_{c+K}`` (the blocking). Where
    the limit is too long to matter (``K·|ln ρ|`` over ``FINITE_QUEUE_TAIL``) this is
    Erlang C's wait (``erlang_c_wait``) and no blocking below saturation, and a full queue
    above it: blocking ``1 − 1/ρ``, and a wait of nearly ``K`` departures (none with no
    limit, where the queue has no stationary state)."""
    rho = load / c if c > 0 else 0.0
    if c <= 0 or load <= 0:
        return 0.0, 0.0, 0.0, 0.0
    log_rho = math.log(rho)
    if k == INF or k * abs(log_rho) > FINITE_QUEUE_TAIL:
        if rho < 1.0:
            return (*erlang_c_wait(c, load, 1.0), 0.0)
        if k == INF:
            return 0.0, 0.0, 0.0, 1.0 - 1.0 / rho
        # A full queue: an admitted request finds ``c + j`` with ``j`` near the limit,
        # ``ρ^(j − K)`` (the rest, ``ρ^−K``, is below double precision).
        kk = int(k)
        j = np.arange(max(0, kk - math.ceil(FINITE_QUEUE_TAIL / log_rho)), kk, dtype=float)
        w = np.exp((j - kk) * log_rho)
        return (*_gamma_mixture(w / w.sum(), j, c), 1.0 - 1.0 / rho)
    kk = int(k)
    if kk != k:  # between two whole limits: linear in the limit
        lo, hi = mmck_wait(c, load, kk), mmck_wait(c, load, kk + 1)
        f = k - kk
        return tuple(a + f * (b - a) for a, b in zip(lo, hi, strict=True))  # type: ignore[return-value]
    b = erlang_b(c, load)
    if b <= 0.0:
        return 0.0, 0.0, 0.0, 0.0  # far below saturation: nobody waits
    inv_b = 1.0 / b
    # Σ_{j=0..K} ρʲ (K + 1 at ρ = 1)
    geo = float(kk + 1) if log_rho == 0.0 else math.expm1((kk + 1) * log_rho) / math.expm1(log_rho)
    p_c = 1.0 / (inv_b - 1.0 + geo)
    block = p_c * rho**kk
    if kk == 0:
        return 0.0, 0.0, 0.0, block
    j = np.arange(kk, dtype=float)
    return (*_gamma_mixture(p_c * np.exp(j * log_rho) / (1.0 - block), j, c), block)


def _gamma_mixture(w: np.ndarray, j: np.ndarray, c: int) -> tuple[float, float, float]:
    """Mean, variance and third cumulant of a wait that is, with probability ``w``, a
    gamma of shape ``j + 1`` and rate ``c`` (and zero otherwise)."""
    r1 = j + 1.0
    r2 = r1 * (j + 2.0)
    r3 = r2 * (j + 3.0)
    m1 = float(w @ r1) / c
    m2 = float(w @ r2) / c**2
    m3 = float(w @ r3) / c**3
    return m1, m2 - m1 * m1, m3 - 3 * m2 * m1 + 2 * m1**3


def md1_wait(rho: float, rate: float) -> tuple[float, float, float]:
    """Mean, variance and third cumulant of the M/D/1 wait in queue of a server that
    starts one request every ``s = 1 / rate`` seconds, at utilization ``rho``.

    Takács' recursion for the M/G/1 wait's moments with ``E[Sⁿ] = sⁿ``:
    ``E[Wᵏ] = λ / (1 − ρ) · Σᵢ C(k, i)·sⁱ⁺¹ / (i + 1)·E[Wᵏ⁻ⁱ]``; its first term is
    Pollaczek–Khinchine's mean."""
    if rate <= 0 or rho <= 0 or rho >= 1:
        return 0.0, 0.0, 0.0
    s = 1.0 / rate
    f = rho * rate / (1 - rho)  # λ / (1 − ρ)
    m1 = f * s * s / 2
    m2 = f * (s * s * m1 + s**3 / 3)
    m3 = f * (1.5 * s * s * m2 + s**3 * m1 + s**4 / 4)
    return m1, m2 - m1 * m1, m3 - 3 * m2 * m1 + 2 * m1**3


def md1_shape(rho: float) -> tuple[float, float, float]:
    """The M/D/1 wait at utilization ``rho`` in units of the spacing of the starts."""
    return md1_wait(rho, 1.0)


def _scaled(moments: tuple[float, float, float], f: float) -> tuple[float, float, float]:
    """Moments of a wait times ``f`` (Allen–Cunneen's factor on an M/M/c wait)."""
    mean, var, k3 = moments
    return mean * f, var * f * f, k3 * f**3


def load_count(shape: Callable[[float], tuple[float, ...]], rho: float,
               through: bool = False) -> float:
    """The requests a load estimate must span at utilization ``rho`` for its Poisson noise
    to bias the mean wait ``W(ρ)`` (``shape``, in service times) by at most ``LOAD_BIAS``
    of ``max(W, NEGLIGIBLE_WAIT)``: an estimate over ``n`` requests has the relative
    variance ``1 / (2n)``, so the bias is ``ρ²·W''(ρ) / (4n)`` (Jensen). A finite queue's
    figures run smoothly through saturation (``through``), and its blocking (``shape``'s
    fourth figure) is held to the same share of ``max(B, NEGLIGIBLE_BLOCK)``."""
    if rho <= 0.0 or (not through and rho >= 1.0):
        return 0.0
    h = 0.02 * rho if through else min(0.02 * rho, (1.0 - rho) / 4)
    mid, lo, hi = shape(rho), shape(rho - h), shape(rho + h)
    need = 0.0
    for i, floor in ((0, NEGLIGIBLE_WAIT), (3, NEGLIGIBLE_BLOCK)):
        if i < len(mid):
            curvature = (hi[i] - 2 * mid[i] + lo[i]) / (h * h)
            need = max(need, rho * rho * curvature / (4 * LOAD_BIAS * max(mid[i], floor)))
    return need


def service_k3(service: Sampler) -> float:
    """The third cumulant of the service times a ``Sampler`` draws: exponential
    ``2m³``, gamma ``2m³cv⁴``, lognormal ``(cv² + 3)·cv⁴·m³``, the folded normal's from
    its skewness."""
    dist, mean, sd = service.dist, service.mean, service.sd
    if sd <= 0.0 or dist == "deterministic":
        return 0.0
    cv = sd / mean
    if dist == "exponential":
        return 2 * mean**3
    if dist == "gamma":
        return 2 * mean**3 * cv**4
    if dist == "lognormal":
        return (cv * cv + 3) * cv**4 * mean**3
    from scipy.stats import foldnorm  # |N(mean_s, cv·mean_s)|

    skew = foldnorm.stats(1.0 / service.cv, scale=service.cv * service.mean_s, moments="s")
    return float(skew) * sd**3


def arrived_share(t: float, w: float, at: float) -> float:
    """The share of a cohort arriving over ``[t, t + w)`` (uniformly; at once where
    ``w`` is 0) that has arrived before ``at``."""
    if w <= 0.0:
        return 1.0 if at > t else 0.0
    return min(1.0, max(0.0, (at - t) / w))


def arrived_by(windows: list[tuple[float, float, int]], at: float) -> float:
    """How many requests of cohorts arriving over ``(first arrival, window, count)``
    have arrived before ``at`` (``arrived_share``)."""
    total = 0.0
    for t, w, count in windows:  # arrived_share, inlined: a backlog's hottest loop
        if w <= 0.0:
            if at > t:
                total += count
        else:
            x = (at - t) / w
            if x >= 1.0:
                total += count
            elif x > 0.0:
                total += count * x
    return total


def arrival_reached(windows: list[tuple[float, float, int]], want: float, lo: float,
                    hi: float) -> float:
    """When the arrivals of ``windows`` (over ``[lo, hi)``) reach ``want`` requests:
    linear between the windows' ends, where their sum changes slope."""
    edges = sorted({lo, hi, *(t for t, _, _ in windows), *(t + w for t, w, _ in windows)})
    before = 0.0
    for a, b in itertools.pairwise(edges):
        after = arrived_by(windows, b)
        if after >= want:
            return a + (b - a) * (want - before) / max(after - before, 1e-12)
        before = after
    return hi


def late_share(a: float, b: float) -> float:
    """The share of requests ``u`` in [0, 1), in FIFO order, with ``a + u·b > 0``: each
    one's time (a start, an answer) is ``a + u·b`` after its own deadline."""
    if b == 0.0:
        return 1.0 if a > 0 else 0.0
    u = min(1.0, max(0.0, -a / b))  # where the times cross the deadlines
    return 1.0 - u if b > 0 else u


class FluidStation(Station):
    """A station in cohort mode (see the module docstring)."""

    # Add the stationary Erlang C wait below saturation (off only to measure what it buys).
    erlang_delay = True

    def __init__(self, env: simpy.Environment, name: str, *, resolution_s: float,
                 **kwargs: object) -> None:
        super().__init__(env, name, **kwargs)  # type: ignore[arg-type]
        if not resolution_s > 0:
            raise ValueError(f"resolution_s must be positive, got {resolution_s}")
        self.resolution_s = resolution_s
        # The moments of what exact mode draws (a folded normal's mean is not mean_s).
        self.mean_s = self.service.mean
        self.var_service = self.service.sd ** 2
        self.k3_service = service_k3(self.service)
        self._ac = (1.0 + (self.service.sd / self.mean_s) ** 2) / 2.0
        self._tau_min_s = min(LOAD_TAU_MAX_S, LOAD_TAU_MIN_TICKS * resolution_s)
        self.load_tau_s = self._tau_min_s  # chosen anew at each estimate (_settle_tau)
        self.queued = 0  # requests in the queue (sum of counts)
        self.in_service = 0  # requests taken on, not yet completed
        self._free_s = 0.0
        # The parts taken on since the committed work last ran out, whose arrivals may
        # not all have come: (first arrival, window, work). See _arrived_work_end.
        self._committed: deque[tuple[float, float, float]] = deque()
        # The last instant at which requests found idle workers (_idle_starts): how many
        # did, and how many of that instant's requests found none.
        self._fresh: tuple[float, int, int] = (-INF, 0, 0)
        self._changes: list[tuple[float, float]] = []  # (time, change of busy workers)
        self._busy_level = 0.0
        self._done_cbs = (self._done,)
        self._wake_cbs = (self._on_wake,)
        self._settle_cbs = (self._settle,)
        self._wake_at = INF
        # Offered rate, for the stationary wait below saturation: the weighted count and
        # the weighted time it spans, both decayed at the time constant load_tau_s.
        self._rate_t = 0.0
        self._rate_n = 0.0
        self._rate_s = 0.0
        # Cohorts counted as streams (``_count_stream``): (end, rate) and their total.
        self._streams: list[tuple[float, float]] = []
        self._stream_rate = 0.0
        # Per (workers, load in permille): the wait's mean, variance and third cumulant in
        # units of the mean service time (of the ceiling's spacing, key (-1, ·)), so that a
        # slowdown scales them, and the requests a load estimate must span there.
        self._ec_cache: dict[tuple[int, int], tuple[float, float, float, float, float]] = {}
        # The fluid queue's recent blocking (``_stationary_reject``): what the queue limit
        # cut and what was offered, decayed like the load estimate.
        self._finite_queue = self.erlang_delay and self.queue_limit != INF
        self._fb_t = 0.0
        self._fb_offered = 0.0
        self._fb_rejected = 0.0
        self._contenders: list[Cohort] = []
        self._instant: list[Cohort] = []  # cohorts of this instant gathered (_admit)
        self._instant_cbs = (self._settle_instant,)
        self._settle_pending = False
        self._contended = False
        self._free0 = 0  # connections free when the contention of this tick began
        self._t0, self._tokens0 = 0.0, 0.0  # when it began, and the tokens banked then
        self._fw_sum = 0.0  # recent fluid waits, weighted by count (time constant load_tau_s)
        self._fw_n = 0.0
        self._fw_t = 0.0
        # Parts in service, for crashes: id -> (part, busy level it adds, end of its work).
        self._live_parts: dict[int, list] | None = {} if self._live is not None else None

    # -- levels ---------------------------------------------------------------------------
    @property
    def in_system(self) -> int:
        return self.queued + self.in_service

    @property
    def rate_rps(self) -> float:
        r = self.capacity / (self.mean_s * self.slow_factor)
        if self.max_rate_rps is not None:
            r = min(r, self.max_rate_rps)
        return r

    def _touch(self, now: float) -> None:
        last = self._t
        dt = now - last
        if dt <= 0.0:
            return
        # The queue as exact mode counts it: the requests in the queue and the committed
        # work that has arrived and not started, which drains at the rate (_backlog).
        self.queue_area += self.queued * dt
        ahead = self._arrived_work_end(now) - last
        if ahead > 0.0:
            run = ahead if ahead < dt else dt
            self.queue_area += self.rate_rps * run * (ahead - run / 2)
        self.capacity_area += self.capacity * dt
        self.instances_area += self.instances * dt
        # Busy workers change at the starts and ends of work taken on (which may overlap:
        # cohorts trickling in side by side), kept in a heap of (time, change).
        changes = self._changes
        level = self._busy_level
        area = 0.0
        t = last
        while changes and changes[0][0] <= now:
            tc, delta = heappop(changes)
            area += level * (tc - t)
            t = tc
            level += delta
        self._busy_level = level
        self.busy_area += area + level * (now - t)
        self._t = now

    def _apply(self) -> None:
        self._effective()
        self._serve(self.env.now)

    def _kill_work(self, frac: float, gen: np.random.Generator, reason: str) -> None:
        now = self.env.now
        parts = self._live_parts
        if parts:
            for key in list(parts):
                entry = parts[key]
                part, level, end, start = entry
                k = round_share(part.count, frac, gen)
                if k <= 0:
                    continue
                # The killed share stops adding to the busy level from now (or its start).
                dl = level * k / part.count
                t0 = max(now, start)
                if dl and end > t0:
                    heappush(self._changes, (t0, -dl))
                    heappush(self._changes, (end, dl))
                entry[1] = level - dl
                if k >= part.count:
                    del parts[key]
                    assert self._live is not None
                    self._live.pop(key, None)
                    lost = part
                else:
                    lost = part.split(k)
                self.in_service -= lost.count
                self._fail(lost, reason)
        kept = []
        for c in self.queue:
            k = round_share(c.count, frac, gen)
            if k <= 0:
                kept.append(c)
                continue
            lost = c if k >= c.count else c.split(k)
            self.queued -= lost.count
            self._fail(lost, reason)
            if lost is not c:
                kept.append(c)
        self.queue.clear()
        self.queue.extend(kept)

    # -- admission ------------------------------------------------------------------------
    def offer(self, c: Cohort) -> None:
        now = self.env.now
        self.offered += c.count
        c.station = self
        if self._slow_window is not None and not self._slow_started:
            self._slow_offer(now, c.count)
        if self._retry_window is not None and self._retry_rejects(c, now):
            self.rejected += c.count
            self.retry_rejected += c.count
            self.reject(c, "retry_ratio")
            return
        # Offered rate: an exponentially weighted count with time constant load_tau_s.
        if self._streams or c.spread_s > STREAM_TICKS * self.resolution_s:
            self._count_stream(c, now)
        else:
            decay = math.exp(-(now - self._rate_t) / self.load_tau_s)
            self._rate_n = self._rate_n * decay + c.count * self._lump_weight(c.spread_s)
            self._rate_s = self._rate_s * decay + self.load_tau_s * (1.0 - decay)
            self._rate_t = now
        # A cohort moved on late by the station before it arrived that much earlier.
        c.enqueued_s = now - c.lag_s
        # The load its requests find as they arrive (its stationary queue's), not what
        # has been offered by the time it is served.
        c.load_rps = self._load_rate(c, now) if self.erlang_delay else -1.0
        if self._finite_queue:
            kept = self._stationary_reject(c, now)
            if kept is None:
                return
            c = kept
        self._admit(c, now)

    def _admit(self, c: Cohort, now: float) -> None:
        """Take the cohort, or gather it for this instant or for the tick (see ``offer``)."""
        if self._contended or self._contenders:
            self._contend(c, now)
        elif self._instant:
            self._instant.append(c)
        elif (self._fits(c.count, c.spread_s, now) and not self._near_limit(c.count, now)
              and c.spread_s <= 0.0):
            self._take(c, now)
        else:
            # Near a limit, or arriving over a window: gather the cohorts of this instant
            # (an event at the same time, after the ones already due), so that the first
            # of them does not take the room the others share in exact mode, nor the
            # idle workers and the rate that the others arriving beside it share
            # (_settle_instant). (Gathering only cohorts above a quarter of the rate
            # saved 4% of the flagship's time, but a burst cut into six cohorts, some
            # below it, then waited up to eight times as long as exact mode's.)
            self._instant.append(c)
            self.env.schedule(Due(self._instant_cbs), NORMAL, 0.0)  # type: ignore[arg-type]

    def _contend(self, c: Cohort, now: float) -> None:
        """Contention: gather what arrives until the end of the tick, then share what the
        limits allow among all of it in proportion to counts, as random arrivals would."""
        if not self._settle_pending:
            self._mark_contention(now)
            self._arm_settle(now)
        self._contenders.append(c)

    def _settle_instant(self, _ev: simpy.Event) -> None:
        """Take the cohorts that arrived at this instant near a limit, if all of them fit
        together; otherwise they contend for the tick (``_settle``)."""
        now = self.env.now
        group, self._instant = self._instant, []
        contended = self._contended or bool(self._contenders)
        if not contended and self._fits(sum(c.count for c in group),
                                        min(c.spread_s for c in group), now):
            self._take_group(group, now)
            return
        for c in group:
            self._contend(c, now)

    def _arm_settle(self, now: float) -> None:
        self._settle_pending = True
        dt = self.resolution_s
        at = (math.floor(now / dt + 1e-9) + 1) * dt
        self.env.schedule(Due(self._settle_cbs), NORMAL, at - now)  # type: ignore[arg-type]

    def _backlog(self, at: float) -> float:
        """Requests waiting at ``at``, as the queue limit counts them: the queue, and the
        committed work that has arrived and not started (the fluid starts one ``1 / R``
        after another, so ``R·(end − at)`` of it)."""
        ahead = self._arrived_work_end(at) - at
        return self.queued + (self.rate_rps * ahead if ahead > 0.0 else 0.0)

    def _room(self, now: float, w: float) -> float:
        """How many requests arriving over ``[now, now + w)`` the queue limit lets in:
        what it has left, and what the server starts while they arrive (the queue is
        highest at their last arrival), or, arriving at one instant, the idle workers."""
        if self.queue_limit == INF:
            return INF
        room = self.queue_limit - self._backlog(now)
        if w > 0.0:
            return room + self.rate_rps * w
        return room + max(0, self.capacity - self.in_service)

    def _group_room(self, group: list[Cohort]) -> float:
        """The queue limit's room for what a contended window gathered: the queue at the
        gathered requests' last arrival, ``b``, had they all been admitted. They arrive
        over ``[a, b)`` (the tick before the settle, or the one it begins, for cohorts
        offered at its instant) and start where the server is free of the work committed
        before them, whose end is ``free``: the queue left then, and the committed work
        not started by ``b``, less what the server starts of them over ``[a, b)`` beyond
        ``free``."""
        if self.queue_limit == INF:
            return INF
        a = min(c.enqueued_s for c in group)
        b = max(c.enqueued_s + c.spread_s for c in group)
        free, rate = self._free_s, self.rate_rps
        ahead = rate * (free - b) if free > b else 0.0
        drain = rate * (b - max(free, a)) if b > max(free, a) else 0.0
        return self.queue_limit - self.queued - ahead + drain

    def _tokens_at(self, now: float) -> float:
        return INF if self.bucket is None else self.bucket.level(now)

    def _fits(self, n: float, w: float, now: float) -> bool:
        """True if ``n`` requests arriving over ``[now, now + w)`` fit every limit."""
        if self.connections is not None and connections_free(self.connections, now) < n:
            return False
        return self._tokens_at(now) >= n and self._room(now, w) >= n

    def _near_limit(self, n: int, now: float) -> bool:
        """True if a limit would have less room left, after these ``n`` requests, than a
        tick's offered count with three of its Poisson deviations: other cohorts of this
        instant may then not fit beside them."""
        if self.queue_limit == INF and self.bucket is None and self.connections is None:
            return False
        count, spanned = self._rate_at(now)
        tick = count / spanned * self.resolution_s if spanned > 0.0 else 0.0
        return not self._fits(n + tick + 3.0 * math.sqrt(tick), 0.0, now)

    def _take(self, c: Cohort, now: float, tokens_paid: bool = False,
              since: float | None = None) -> None:
        """Admit the whole cohort (it fits every limit); ``since``: see ``_serve``."""
        self._take_group([c], now, tokens_paid, since)

    def _take_group(self, group: list[Cohort], now: float, tokens_paid: bool = False,
                    since: float | None = None) -> None:
        """Admit the cohorts of one instant together (they fit every limit), queued
        before any is served, so that those arriving over one window are served
        interleaved, as exact mode's FIFO serves their requests (``_serve_batch``)."""
        for c in group:
            if self.bucket is not None and not tokens_paid:
                self.bucket.spend(c.count, now)
            if self.connections is not None:
                hold_connections(self.connections, c)
        self._touch(now)
        end = max(c.enqueued_s + c.spread_s for c in group)
        if since is None and not self.queue:
            # Cohorts that arrived before now, with no queue ahead of them.
            lagging = [c.enqueued_s for c in group if c.lag_s > 0.0]
            since = min(lagging) if lagging else None
        self._queue_back(group)
        self._serve(now, since)
        # The queue is longest when the last request of the cohorts has arrived (taken
        # before serving: a cohort taken on whole is given its service span).
        self.peak_queue = max(self.peak_queue, round(self._backlog(max(now, end))))

    def _share(self, group: list[Cohort], allowed: float, reason: str) -> list[Cohort]:
        """Keep ``allowed`` requests of the group at random; reject the rest."""
        counts = [c.count for c in group]
        total = sum(counts)
        k = int(max(0.0, min(allowed, total)))
        if k >= total:
            return group
        gen = self.service.gen
        # One draw over every state of every cohort (a bundle counts per state): the kept
        # requests are picked at random from all of them, and a bundle's kept part per
        # state comes out of the same draw.
        flat: list[int] = []
        for c in group:
            if c.mix is None:
                flat.append(c.count)
            else:
                flat.extend(c.mix.tolist())
        drawn = gen.multivariate_hypergeometric(flat, k) if k else np.zeros(len(flat), int)
        kept = []
        i = 0
        for c in group:
            if c.mix is None:
                keep = int(drawn[i])
                lost_mix = None
                i += 1
            else:
                j = i + len(c.mix)
                lost_mix = c.mix - drawn[i:j]
                keep = c.count - int(lost_mix.sum())
                i = j
            if keep <= 0:
                self._rejected_full(c.count, reason)
                self._reject_late(c, reason)
                continue
            if keep < c.count:
                lost = c.split(c.count - keep, lost_mix)
                self._rejected_full(lost.count, reason)
                self._reject_late(lost, reason)
            kept.append(c)
        return kept

    def _reject_late(self, c: Cohort, reason: str) -> None:
        """Reject ``c`` at the settle of the tick it arrived in: exact mode turns each
        request away as it arrives, so the rejection comes ``lag_s`` late (from the
        middle of its arrivals), which the clients take off the latency of what follows
        (``CohortClients.on_failed``)."""
        c.lag_s = max(0.0, self.env.now - (c.enqueued_s + c.spread_s / 2))
        self.reject(c, reason)

    def _rejected_full(self, n: int, reason: str) -> None:
        """Count ``n`` requests a limit of the fluid queue rejected."""
        self.rejected += n
        if reason == "queue_full" and self._finite_queue:
            self._count_blocking(self.env.now, 0, n)

    def _settle(self, _ev: simpy.Event) -> None:
        now = self.env.now
        self._settle_pending = False
        self._touch(now)
        self._serve(now)
        group, self._contenders = self._contenders, []
        # Cohorts offered at this instant arrive over the tick it begins: they are the next
        # window's, whichever of them and this event came first.
        late = [c for c in group if c.enqueued_s >= now]
        if late:
            group = [c for c in group if c.enqueued_s < now]
        before = self.rejected
        if self.bucket is not None and group:
            # Admitted requests spend their tokens even if a later limit turns them away.
            took = self.bucket.admit_window([(c.count, c.enqueued_s, c.spread_s) for c in group],
                                            self._t0, self._tokens0, now, self.service.gen)
            group = self._share(group, took, "rate_limited")
        if self.connections is not None and group:
            n = sum(c.count for c in group)
            kept = connections_kept(n, self._free0, connections_free(self.connections, now))
            group = self._share(group, round(kept), "connections_full")
        if group:
            group = self._share(group, self._group_room(group), "queue_full")
        # While a limit binds, every arrival waits for the end of its tick so that no cohort
        # takes what the others of the tick were due; the first tick without a cut ends it.
        self._contended = self.rejected > before
        # What is kept was admitted as it arrived, not at the end of the tick: with no
        # queue ahead of it, it starts at its arrivals, interleaved, behind the work that
        # arrived before it (_serve_group), as exact mode's requests do. Starting it at the
        # tick's end would add up to a tick to its wait and to every hold, and start all
        # of a tick's holds at once.
        if group and not self.queue:
            self._serve_group(group, now, now - self.resolution_s)
        else:
            for c in group:
                self._take(c, now, tokens_paid=True)
        if self._contended and not self._settle_pending:
            self._mark_contention(now)
            self._arm_settle(now)
        for c in late:
            self._admit(c, now)

    def _serve_group(self, group: list[Cohort], now: float, since: float) -> None:
        """Serve what a contended window kept, arrived over ``[a, b)`` (from ``since``,
        the window's start, or earlier where lagging cohorts arrived before it), with no
        queue ahead of it, as exact mode's FIFO serves random arrivals: the
        cohorts interleaved (one schedule for all of them, each spread over it, not one
        after another), the first request behind the work that had arrived before it
        (``_arrived_work_end``; no credit for room the window leaves, since what is
        committed ahead arrived before the window), the last as the work and the
        arrivals allow. What the tick cannot take on stays queued, cut from every
        cohort alike."""
        rate = self.rate_rps
        a = min(c.enqueued_s for c in group)
        b = max(c.enqueued_s + c.spread_s for c in group)
        if self.slowdown is not None:
            self._factor(now)
            rate = self.rate_rps
        if self.connections is not None:
            for c in group:
                hold_connections(self.connections, c)
        self._touch(now)
        n = sum(c.count for c in group)
        limit = now + self.resolution_s
        lim = limit if b <= limit else b
        # From its arrivals, which may be before the window (cohorts moved on late by
        # the station before: ``Cohort.lag_s``), behind what had arrived before them.
        start = max(a, self._arrived_work_end(a)) if rate > 0 else INF
        if b <= a or start >= lim or (self.shed_queue_age_s is not None
                                      and a < start - self.shed_queue_age_s):
            # Nothing to interleave (one instant), nothing the tick can take on, or a
            # head to shed: the queue's discipline.
            self._queue_back(group)
            self._serve(now, min(a, since))
            self._note_peak(now, b)
            return
        end, frac = self._cut_at(start, n / rate, b, lim, n)
        committed, rest = self._begin_among(group, start, end, frac, now, rate)
        self._queue_back(rest)
        if committed > 0.0:
            self._commit_work(start, a, (b - a) * frac, committed)
        if self.queue:
            self._serve(now)
        self._note_peak(now, b)

    def _queue_back(self, cohorts: list[Cohort]) -> None:
        """Queue ``cohorts``, in order, behind what is queued."""
        self.queue.extend(cohorts)
        self.queued += sum(c.count for c in cohorts)

    @staticmethod
    def _cut_at(start: float, work: float, last: float, lim: float, n: int
                ) -> tuple[float, float]:
        """The end of a schedule of ``n`` requests started at ``start`` with ``work``
        seconds of work, arriving until ``last``, and the share of it the tick takes on:
        all of it, or the share up to ``lim``, where work is committed up to (one request
        is taken on whole)."""
        end = max(start + work, last)
        if start + work <= lim or n <= 1:
            return end, 1.0
        frac = (lim - start) / work
        return start + (end - start) * frac, frac

    def _begin_among(self, group: list[Cohort], start: float, end: float, frac: float,
                     now: float, rate: float, starts: list[float] | None = None
                     ) -> tuple[float, list[Cohort]]:
        """Take on ``frac`` of each cohort of ``group`` (the first share of its arrivals)
        over one schedule ``[start, end)``, interleaved: each part spread over all of it
        (or as ``starts`` says: the span of the group's starts and its mean wait, where
        idle workers took its first requests as they arrived). Returns the work
        committed and what is left of the cohorts, in order, each arriving over the rest
        of its window (so cohorts that arrived together still do)."""
        committed = 0.0
        rest: list[Cohort] = []
        among = len(group) > 1
        for c in group:
            m = c.count if frac >= 1.0 else int(c.count * frac)
            if m <= 0:
                rest.append(c)
                continue
            part = self._front(c, m, frac)
            if part is not c:
                rest.append(c)
            committed += self._begin_part(part, start, end, now, rate, starts, among)
        return committed, rest

    @staticmethod
    def _front(c: Cohort, m: int, share: float) -> Cohort:
        """The first ``m`` requests of ``c`` in FIFO order, those that arrived over the
        first ``share`` of its window (``c`` itself if that is all of them); ``c`` keeps
        the rest, arriving over the rest of its window."""
        if m >= c.count:
            return c
        t, w = c.enqueued_s, c.spread_s
        part = c.fifo_cut(m)
        part.spread_s = w * share
        c.enqueued_s = t + part.spread_s
        c.spread_s = w - part.spread_s
        return part

    def _note_peak(self, now: float, end: float) -> None:
        """The queue is longest when the last request taken on has arrived."""
        self.peak_queue = max(self.peak_queue, round(self._backlog(max(now, end))))

    def _mark_contention(self, now: float) -> None:
        """Note where a window of contention begins: its time, the connections free and
        the tokens banked (what the settle at its end shares)."""
        self._t0 = now
        if self.connections is not None:
            self._free0 = connections_free(self.connections, now)
        if self.bucket is not None:
            self._tokens0 = self.bucket.level(now)

    # -- service --------------------------------------------------------------------------
    def _load_rate(self, part: Cohort, now: float) -> float:
        """The offered rate a part's requests find: the weighted count over the weighted
        time it spans (early on, less than ``τ``), with the part's own requests counted
        half, as a request of it finds half of them ahead on average. So the several
        cohorts that come at one instant (the clients' bundle, retries, attack vectors)
        find, on average over their requests, the past ticks and half of this one's
        arrivals, ``λ·(τ − Δ/2) + λ·Δ/2``: the rate, however a tick's arrivals are split
        into cohorts. (Counting the newest in full and dividing by ``τ + Δ/2`` holds only
        for one cohort per tick; with more it reads ``Δ / 2τ`` low, 11% at ``τ`` of four
        ticks.)"""
        tau = self.load_tau_s
        if self._streams:
            w = part.spread_s
            if w > STREAM_TICKS * self.resolution_s:
                # A stream part's middle request finds the streams run on for half its
                # window (its own among them), not half of its count at once.
                n, spanned = self._advanced(now + w / 2)
                return n / spanned if spanned > 0.0 else 0.0
        n, spanned = self._rate_at(now)
        if spanned <= 0.0:
            return 0.0
        # (Counted when offered: a lagging part, ``lag_s`` after its arrivals.)
        decay = math.exp(-max(0.0, now - part.enqueued_s - part.lag_s) / tau)
        own = part.count * self._lump_weight(part.spread_s) / 2 * decay
        return max(0.0, n - own) / (spanned + part.spread_s / 2 * decay)

    def _lump_weight(self, spread_s: float) -> float:
        """The weight a cohort counted at once carries in the offered-rate estimate.

        Its requests arrive over ``[t, t + w)`` after the count, while the time the
        estimate divides by runs continuously; the newest cohort counts half, and so
        does half of its window (``_load_rate``). A cohort counted in full at each tick
        ``w`` makes the count read ``λ·w·(d/(1 − d) + 1/2)`` (``d = e^(−x)``, ``x = w/τ``)
        against a time of ``τ + w/2``: ``(x/2) / tanh(x/2) / (1 + x/2)`` of the rate. So
        each is counted ``(1 + x/2)·tanh(x/2) / (x/2)`` of itself; a batch of one
        instant in full. Without that, the estimate read 0.5% high at the shortest
        constant of four ticks (which a finite queue's blocking and wait near
        saturation multiply tenfold) and 44% high at the first tick of a run; now it
        is exact in steady state and 3% high at the first tick."""
        x = spread_s / self.load_tau_s
        return (1.0 + x / 2.0) * math.tanh(x / 2.0) / (x / 2.0) if x > 1e-9 else 1.0

    def _rate_at(self, now: float) -> tuple[float, float]:
        """The offered rate's weighted count and the weighted time it spans at ``now``."""
        if self._streams:
            return self._advanced(now)
        tau = self.load_tau_s
        decay = math.exp(-(now - self._rate_t) / tau)
        return self._rate_n * decay, self._rate_s * decay + tau * (1.0 - decay)

    def _advanced(self, now: float) -> tuple[float, float]:
        """The weighted count and time at ``now`` (after ``_rate_t``), the streams
        adding their rates as they run: ``dN/dt = r(t) − N/τ``."""
        tau = self.load_tau_s
        n, s, t = self._rate_n, self._rate_s, self._rate_t
        r = self._stream_rate
        ends = sorted(self._streams)
        i = 0
        while t < now:
            seg = now
            if i < len(ends) and ends[i][0] < now:
                seg = ends[i][0]
            d = math.exp(-(seg - t) / tau)
            n = n * d + r * tau * (1.0 - d)
            s = s * d + tau * (1.0 - d)
            t = seg
            while i < len(ends) and ends[i][0] <= t:
                r -= ends[i][1]
                i += 1
        return n, s

    def _count_stream(self, c: Cohort, now: float) -> None:
        """Bring the weighted count to ``now`` and add the cohort: at once if it came
        within a tick, as a stream of ``count / spread`` over its window otherwise (a
        count added at once would read a second's arrivals as a tick's)."""
        if now > self._rate_t:
            self._rate_n, self._rate_s = self._advanced(now)
            self._rate_t = now
            streams = self._streams
            while streams and streams[0][0] <= now:
                self._stream_rate -= heappop(streams)[1]
            if not streams:
                self._stream_rate = 0.0
        w = c.spread_s
        if w > STREAM_TICKS * self.resolution_s:
            r = c.count / w
            heappush(self._streams, (now + w, r))
            self._stream_rate += r
        else:
            self._rate_n += c.count * self._lump_weight(w)

    def _settle_tau(self, rate: float, need: float) -> None:
        """The time constant for what comes next: ``need`` requests at ``rate``."""
        tau = need / rate if rate > 0 else 0.0
        self.load_tau_s = min(LOAD_TAU_MAX_S, max(self._tau_min_s, tau))

    def _erlang(self, part: Cohort, now: float) -> tuple[float, float, float, bool]:
        """The stationary wait a part's requests find at the current load (see the module
        docstring), and whether it is the whole wait (``_relaxes``); and the time constant
        of the load estimate chosen for what comes next."""
        found = self._stationary_at(part, now)
        if found is None:
            return 0.0, 0.0, 0.0, False
        (mean, var, k3, need, _), unit, rate, rho = found
        self._settle_tau(rate, need)
        whole = self.queue_limit != INF and not self._paced() and self._relaxes(rate)
        if rho >= 1.0 and not whole:
            return 0.0, 0.0, 0.0, False
        return mean * unit, var * unit * unit, k3 * unit**3, whole

    def _stationary_at(self, part: Cohort, now: float
                       ) -> tuple[tuple[float, float, float, float, float], float, float,
                                  float] | None:
        """The cached stationary figures at the load a part finds (``_stationary``), the
        unit they are in (seconds), that load (requests per second) and its utilization;
        None while the station has no workers."""
        rate = part.load_rps if part.load_rps >= 0.0 else self._load_rate(part, now)
        mu = 1.0 / (self.mean_s * self.slow_factor)
        c = self.capacity
        if c <= 0:
            return None
        ceiling = self.max_rate_rps
        if ceiling is not None and self._paced():
            # The ceiling paces the starts 1 / max_rate apart: an M/D/1 queue before it.
            key = (-1, int(1000 * rate / ceiling))
            hit = self._ec_cache.get(key)
            if hit is None:
                hit = self._ec_cache[key] = self._stationary(
                    key, lambda rho: (*md1_shape(rho), 0.0))
            return hit, 1.0 / ceiling, rate, rate / ceiling
        key = (c, int(1000 * rate / (mu * c)))
        hit = self._ec_cache.get(key)
        if hit is None:
            ac, k = self._ac, self.queue_limit

            def shape(rho: float) -> tuple[float, float, float, float]:
                mean, var, k3, block = mmck_wait(c, rho * c, k / ac)
                return (*_scaled((mean, var, k3), ac), block)

            hit = self._ec_cache[key] = self._stationary(key, shape, k / ac)
        return hit, 1.0 / mu, rate, rate / (mu * c)

    @staticmethod
    def _stationary(key: tuple[int, int], shape: Callable[[float], tuple[float, ...]],
                    limit: float = INF) -> tuple[float, float, float, float, float]:
        """The stationary wait at the load of ``key`` (the middle of its permille) in units
        of the service time (of the ceiling's spacing), the requests a load estimate must
        span so that its noise biases the mean wait by at most ``LOAD_BIAS`` of it (see
        the module docstring), and the stationary blocking of the queue limit ``limit``
        (in the M/M/c queue's requests). Where that limit bounds the queue near this load
        (``K·|ln ρ|`` within half of ``FINITE_QUEUE_TAIL``) the figures are smooth
        through saturation and the estimate's span is chosen at the load itself;
        otherwise Erlang C's grows without bound towards saturation, and it is chosen at
        ``LOAD_RHO_CAP`` at most."""
        rho = (key[1] + 0.5) / 1000
        mean, var, k3, block = shape(rho)
        if limit * abs(math.log(rho)) <= FINITE_QUEUE_TAIL / 2:
            need = load_count(shape, rho, through=True)
        else:
            need = load_count(shape, min(rho, LOAD_RHO_CAP))
        return mean, var, k3, need, block

    def _paced(self) -> bool:
        """True if a throughput ceiling below the workers' capacity paces the starts."""
        ceiling = self.max_rate_rps
        return ceiling is not None and ceiling * self.mean_s * self.slow_factor < self.capacity

    def _relaxes(self, rate: float) -> bool:
        """True if the queue limit is one the load's random walk crosses within the load
        estimate's window (``K² / 2λ``, ``K`` in the M/M/c queue's requests): the queue
        then settles at the current load, and the stationary queue is the whole of it,
        over the rate too. Beyond that, over the rate, the fluid queue fills as a queue
        with that limit does, and is the wait."""
        k = self.queue_limit / self._ac
        return k * k <= 2.0 * rate * self.load_tau_s

    def _count_blocking(self, now: float, offered: int, rejected: int) -> None:
        """Bring the fluid queue's recent blocking to ``now`` (decayed at the load
        estimate's time constant) and add offered and rejected requests."""
        decay = math.exp(-(now - self._fb_t) / self.load_tau_s)
        self._fb_offered = self._fb_offered * decay + offered
        self._fb_rejected = self._fb_rejected * decay + rejected
        self._fb_t = now

    def _stationary_reject(self, c: Cohort, now: float) -> Cohort | None:
        """Reject, of a cohort just offered, the share the stationary M/M/c/K blocking at
        the current load has beyond the fluid queue's recent blocking (both shares of
        what is offered), as a full queue would; the rest, or None if nothing is left."""
        self._count_blocking(now, c.count, 0)
        found = self._stationary_at(c, now)
        if found is None or found[0][4] <= 0.0:
            return c
        (*_, block), _, rate, rho = found
        fluid = self._fb_rejected / self._fb_offered
        if rho >= 1.0 and not self._relaxes(rate):
            # The fluid queue, once full, rejects 1 − 1/ρ: only the stationary queue's
            # excess over it (its idle spells) is added while the fluid fills.
            fluid = max(fluid, 1.0 - 1.0 / rho)
        extra = block - fluid
        if extra <= 0.0:
            return c
        n = int(self.service.gen.binomial(c.count, min(1.0, extra)))
        if n <= 0:
            return c
        lost = c if n >= c.count else c.split(n)
        self.rejected += lost.count
        self.reject(lost, "queue_full")
        return None if lost is c else c

    def _serve(self, now: float, since: float | None = None) -> None:
        """Take on the queue's work up to the tick's end. ``since`` (before ``now``): the
        cohorts may start as early as then, at their own arrivals, where the server had
        room (cohorts admitted at the end of a contended tick)."""
        queue = self.queue
        if not queue:
            return
        if self.slowdown is not None:
            self._factor(now)
        rate = self.rate_rps
        if rate <= 0:
            return
        limit = now + self.resolution_s
        shed_age = self.shed_queue_age_s
        resume = now + 1e-9  # the earliest wake that can take the head on
        while queue:
            head = queue[0]
            t, w = head.enqueued_s, head.spread_s
            # Work is committed up to the tick's end, or up to the end of the head's
            # arrivals where they run past it (births gathered over a quiet window).
            lim = limit if t + w <= limit else t + w
            start = self._start_at(t, w, head.count / rate, now if since is None else since,
                                   lim)
            if start >= lim:
                resume = start - self.resolution_s
                break
            if shed_age is not None and t < start - shed_age and self._shed(head, start - shed_age):
                continue
            if w > 0.0 and len(queue) > 1 and (self._serve_overlap(now, since, rate, lim)
                                               or self._serve_batch(now, since, rate, lim)):
                continue
            n = head.count
            work = n / rate
            end = max(start + work, t + w)
            if start + work > lim and n > 1:
                # The server cannot take all of it on within the tick: split at the limit.
                m = int(n * (lim - start) / work)
                if m < 1:
                    if start > now:
                        # Not one request's work fits before the tick's end: wait for
                        # the tick that holds it.
                        resume = start + 1.0 / rate - self.resolution_s
                        break
                    # A rate below one request per tick (an outage, crashes, a slowdown):
                    # take one on now, even though its work runs past the tick.
                    m = 1
                frac = m / n
                part = self._front(head, m, frac)
                end = start + (end - start) * frac
                work *= frac
            else:
                part = queue.popleft()
            self.queued -= part.count
            # Its work, not its arrivals, sets when the part's last request starts (a
            # request alone has nothing to pace: it waited only if it starts after t).
            paced = part.count > 1 and start + work >= t + w
            d, half = part.deadline_s, part.deadline_spread / 2 if part.count > 1 else 0.0
            # A request alone is late only if it starts after its deadline (as in exact
            # mode), not if its work runs past it.
            last = end if part.count > 1 else start
            # Requests that wait in the queue, some of whose deadlines the schedule passes:
            if (start > t or paced) and (start > d - half or last > d + half):
                served, kept = self._deadline(part, start, end, paced)
                if served is None:
                    continue
                part = served
                end = start + (end - start) * kept
                work *= kept
            t0, w0 = part.enqueued_s, part.spread_s if part.count > 1 else 0.0
            # Requests arriving at one instant, or faster than the rate, with the server
            # free: those that find an idle worker start as they arrive, only the others
            # are paced (_idle_starts).
            starts = None
            if start <= t0 and (w0 <= 0.0 or work > w0):
                fresh = self._idle_starts(part.count, w0, start)
                if fresh is not None:
                    *starts, free = fresh
                    work = self._work_until(start, free)
            self._begin(part, start, end, now, starts)  # (sets the part's spread)
            # The work is committed whole: the workers it occupies free up in turn.
            self._commit_work(start, t0, w0, work)
        if queue:
            # Not before the tick in which the head's first request can start (a cohort
            # gathered over a quiet window, cut at a tick, resumes arriving later).
            self._schedule_wake(max(min(self._free_s, limit), now + 1e-9, resume))

    def _serve_overlap(self, now: float, since: float | None, rate: float, lim: float
                       ) -> bool:
        """Take on the queue's head together with the cohorts queued near it whose
        arrivals overlap its own, where all of them have arrived before the server
        reaches them (a backlog): exact mode's FIFO serves their requests in the order
        they arrived, so each cohort is served over the share of the schedule its
        arrivals span among all of theirs, not whole, one after another. A tick's
        clients' requests queued behind a backlog with an attack's over the same window
        then leave the station spread over the time the attack's take too, as exact
        mode's do, not bunched into their own work: a bunch the next tier, held to a
        ceiling, made wait four times as long as exact mode's requests (generated seed
        1008). False if no cohort overlaps the head, or all share its window
        (``_serve_batch``), or the server reaches them before they have all arrived."""
        queue = self.queue
        head = queue[0]
        lo, hi = head.enqueued_s, head.enqueued_s + head.spread_s
        k, same = 1, True
        while k < min(len(queue), OVERLAP_MAX):
            c = queue[k]
            if not (c.enqueued_s < hi - 1e-12 and c.enqueued_s + c.spread_s > lo + 1e-12):
                break
            same = same and (c.enqueued_s, c.spread_s) == (head.enqueued_s, head.spread_s)
            lo, hi = min(lo, c.enqueued_s), max(hi, c.enqueued_s + c.spread_s)
            k += 1
        if k == 1 or same:
            return False
        n = sum(queue[i].count for i in range(k))
        start = self._start_at(lo, hi - lo, n / rate, now if since is None else since, lim)
        if start < hi or start >= lim:
            return False
        group = [queue[i] for i in range(k)]
        # The schedule maps an arrival time to when it is served: after the work of
        # everything in the group that arrived before it.
        windows = [(c.enqueued_s, c.spread_s, c.count) for c in group]  # before any cut
        cut = hi  # the arrivals the tick takes on: those served before ``lim``
        if start + n / rate > lim:
            want = (lim - start) * rate
            if want < NOT_ONE and all(w > 0.0 for _, w, _ in windows):
                # Arrivals without a jump reach less than one request by the cut: not
                # one request of any (the head's own discipline; cheaper said early).
                return False
            cut = arrival_reached(windows, want, lo, hi)
        shares = []
        for c in group:
            share = arrived_share(c.enqueued_s, c.spread_s, cut)
            shares.append((share, c.count if share >= 1.0 else int(c.count * share)))
        if all(m <= 0 for _, m in shares):
            return False  # not one request of any: the head's own discipline
        taken = 0.0
        for c, (share, m) in zip(group, shares, strict=True):
            if m <= 0:
                continue
            t = c.enqueued_s
            part = self._front(c, m, share)
            if part is c:
                queue.remove(c)
            self.queued -= part.count
            s0 = start + arrived_by(windows, t) / rate
            s1 = (start + arrived_by(windows, t + part.spread_s) / rate if part.count > 1
                  else s0)
            taken += self._begin_part(part, s0, max(s1, s0), now, rate)
        if taken > 0.0:
            self._commit_work(start, lo, cut - lo, taken)
        return True

    def _begin_part(self, part: Cohort, start: float, end: float, now: float, rate: float,
                    starts: list[float] | None = None, among: bool = True) -> float:
        """Take ``part`` on over ``[start, end)``, among other cohorts' requests, its
        deadlines judged there (``_deadline``); the work it commits."""
        t = part.enqueued_s
        paced = part.count > 1 and end >= t + part.spread_s
        d, half = part.deadline_s, part.deadline_spread / 2 if part.count > 1 else 0.0
        kept = 1.0
        if (start > t or paced) and (start > d - half or end > d + half):
            served, kept = self._deadline(part, start, end, paced)
            if served is None:
                return 0.0
            part = served
        self._begin(part, start, start + (end - start) * kept, now, starts, among)
        return part.count / rate

    def _serve_batch(self, now: float, since: float | None, rate: float, lim: float) -> bool:
        """Take on the queue's head together with the cohorts behind it that arrived over
        the same window (the clients' and an attack's requests of one tick, queued at a
        station over its rate), interleaved as exact mode's FIFO serves them, not one
        cohort after the other. False if the head has no such company."""
        queue = self.queue
        head = queue[0]
        t, w = head.enqueued_s, head.spread_s
        k = 1
        while k < len(queue) and queue[k].enqueued_s == t and queue[k].spread_s == w:
            k += 1
        if k == 1:
            return False
        n = sum(queue[i].count for i in range(k))
        work = n / rate
        start = self._start_at(t, w, work, now if since is None else since, lim)
        if start >= lim:
            return False
        end, frac = self._cut_at(start, work, t + w, lim, n)
        if all(int(queue[i].count * frac) <= 0 for i in range(k)):
            return False  # not one request of any: the head's own discipline
        group = [queue.popleft() for _ in range(k)]
        self.queued -= n
        starts, free = None, None
        if start <= t and work > w:
            # Faster than the rate at a free server: the idle workers first (_idle_starts),
            # for the share of the arrivals the tick takes on.
            m = sum(c.count if frac >= 1.0 else int(c.count * frac) for c in group)
            fresh = self._idle_starts(m, w * min(frac, 1.0), start) if m > 0 else None
            if fresh is not None:
                *starts, free = fresh
        committed, rest = self._begin_among(group, start, end, frac, now, rate, starts)
        for c in reversed(rest):
            queue.appendleft(c)
            self.queued += c.count
        if committed > 0.0:
            if free is not None:
                committed = min(committed, self._work_until(start, free))
            self._commit_work(start, t, w * frac, committed)
        return True

    def _start_at(self, t: float, w: float, work: float, now: float, limit: float) -> float:
        """When the server starts a cohort that arrives over ``[t, t + w)`` with ``work``
        seconds of work at its rate (its first request; the last starts as it arrives or
        one ``1 / R`` after another).

        ``free`` is the server's committed work, counted as if it ran at full rate from
        each cohort's start; a cohort that trickles in over a tick at a fraction of the
        rate did not use the rest of it. So a cohort arriving beside such work, whose
        window holds its own work and the committed work ahead of it, is served as it
        arrives, as requests arriving at a station with idle workers are: only where the
        two do not fit the window does it wait, for the share of its work that does not
        fit behind all the committed work, and never longer than behind the share of
        that work whose requests have arrived (``_arrived_work_end``), which exact mode's
        FIFO serves before it: a few requests arriving over a few milliseconds beside a
        cohort trickling in over a tick waited behind the whole tick's work (a ceilinged
        tier behind an attack's end, generated seed 1003, waited five times exact mode's
        wait there)."""
        base = max(t, now)
        free = self._free_s
        ahead = free - base
        if ahead <= 0.0:
            return base
        if w <= 0.0 and self.in_service < self.capacity:
            # Requests arriving at one instant start at once while some workers are idle
            # (fewer requests taken on and not completed than workers), whatever work the
            # fluid has committed; the ones that find none are paced (_idle_starts).
            return base
        window = t + w - base
        if window <= 0.0 or free + work > limit:
            # A request alone, or work past the tick: behind the queue that has arrived.
            return max(base, self._arrived_work_end(base))
        spare = window - ahead
        behind = max(base, self._arrived_work_end(base))
        if spare <= 0.0:
            return behind
        return min(behind, base + ahead * max(0.0, 1.0 - spare / work))

    def _arrived_work_end(self, at: float) -> float:
        """Where the committed work that has arrived by ``at`` ends.

        ``_free_s`` counts all the committed work, also that of the requests of cohorts
        trickling in over their ticks that arrive after ``at`` (a cohort is taken on
        whole): a request arriving at ``at`` is served before those, behind the share of
        each such cohort that has arrived (exact mode's FIFO by arrival). With one
        trickling cohort remembered alone, the last taken on, a cohort taken on just
        before another's work ended counted all of that one's work as arrived: a few
        requests arriving after it waited for a whole tick's work (a ceilinged tier after
        an attack's end, generated seed 1003, waited 4.8 times exact mode's wait there)."""
        end = self._free_s
        for t, w, work in self._committed:
            if at < t + w:  # (a part arriving at one instant: all of it, or none)
                end -= work * (1.0 if w <= 0.0 else min(1.0, (t + w - at) / w))
        return end

    def _commit_work(self, start: float, t: float, w: float, work: float) -> None:
        """Commit ``work`` seconds of work started at ``start``, of requests arriving
        over ``[t, t + w)``: behind the committed work if it has not run out (ahead of
        those of its requests that had not arrived: ``_arrived_work_end``), or from
        ``start``. Parts whose arrivals ended more than a few ticks ago are forgotten."""
        committed = self._committed
        if start < self._free_s:
            self._free_s += work
        else:
            committed.clear()
            self._free_s = start + work
        committed.append((t, w, work))
        old = self.env.now - COMMITTED_TICKS * self.resolution_s
        while len(committed) > 1 and committed[0][0] + committed[0][1] < old:
            committed.popleft()

    def _shed(self, head: Cohort, cut: float) -> bool:
        """Shed the part of the head cohort that arrived before ``cut``; True if any."""
        t, w = head.enqueued_s, head.spread_s
        k = head.count if t + w <= cut else round(head.count * (cut - t) / w)
        if k <= 0:
            return False
        gone = self.queue.popleft() if k >= head.count else head.fifo_cut(k)
        self.queued -= gone.count
        self.shed += gone.count
        self.reject(gone, "shed")
        if gone is not head:
            head.spread_s = t + w - cut
            head.enqueued_s = cut
        return True

    def _deadline(self, part: Cohort, start: float, end: float, paced: bool
                  ) -> tuple[Cohort | None, float]:
        """The requests of ``part`` whose service, over ``[start, end)`` in FIFO order,
        would start after their own deadlines are timed out (with ``drop_expired``,
        expired without using capacity). Returns what is served and its share of the work.

        Request ``u`` in [0, 1) starts at ``start + u·(end − start)`` with its deadline
        at ``lo + u·width`` (``Cohort.deadline_spread``): the late ones are a head when
        the starts run faster than the deadlines, a tail when slower. A late tail of a
        part the server paces (``paced``: its work, not its arrivals, sets ``end``) is
        not all lost: exact mode's server, dropping the expired head of its queue, takes
        the next request whose deadline has not passed, so from the crossing on it
        serves at its rate requests at their deadlines, until the part's last deadline,
        and the ones between them expire."""
        n = part.count
        width = part.deadline_spread if n > 1 else 0.0
        lo = part.deadline_s - width / 2
        if start <= lo and (end <= lo + width or n == 1):
            return part, 1.0
        dur = end - start
        a = start - lo  # > 0: the first request is late
        b = dur - width
        late = late_share(a, b)
        if self.drop_expired and b > 0 and paced:
            # Served on time up to the crossing, then at the rate n / dur until lo + width.
            head = 1.0 - late
            late = 1.0 - head - max(0.0, lo + width - (start + head * dur)) / dur
        k = round(n * late)
        if k <= 0:
            return part, 1.0
        self.timed_out += k
        if not self.drop_expired:
            return part, 1.0
        if k >= n:
            self.expire(part)
            return None, 0.0
        if b <= 0:  # a late head: the rest is served
            gone = part.fifo_cut(k)
        elif paced:  # the late tail's requests are thinned, not cut off
            gone = part.split(k)
        else:  # a late tail that arrived after its deadlines
            gone = part
            part = part.fifo_cut(n - k)
        self.expire(gone)
        return part, (n - k) / n

    def _begin(self, part: Cohort, start: float, end: float, now: float,
               starts: list[float] | None = None, among: bool = False) -> None:
        """Take ``part`` into service over ``[start, end)``: its wait, its spread and
        the variance it carries on, and its completion. ``starts``: the span of its
        starts and their mean wait where idle workers took its first requests as they
        arrived (``_idle_starts``)."""
        m = part.count
        dur = end - start
        self.in_service += m
        if self._slow_started:
            self._slow_offer(now, m)
        mean_s = self.mean_s * self.slow_factor
        level = 0.0
        if dur > 0:
            level = m * mean_s / dur
            heappush(self._changes, (start, level))
            heappush(self._changes, (end, -level))
        if self._live_parts is not None:
            assert self._live is not None
            self._live[id(part)] = part
            self._live_parts[id(part)] = [part, level, end, start]
        # The requests arrived over [t, t + w) and start one 1 / rate after another, or as
        # they arrive: the first at start, the last at start + span. (Spreading each one's
        # start over its own 1 / rate, as the fluid's rate does, would add half of it to
        # every wait: all of a single request's.)
        t, w = part.enqueued_s, part.spread_s
        span = max(dur * (m - 1) / m, t + w - start)
        if among:
            # Interleaved with other cohorts' requests over [start, end) (_serve_group):
            # its requests start anywhere in it, not the first of them at ``start``.
            span = dur
        arrived = t + w / 2
        fluid_wait = max(0.0, start + span / 2 - arrived)
        if starts is not None:
            span, fluid_wait = starts
        # The fluid queue already holds the part of the queueing that shows at tick scale
        # (a tick with more arrivals than the rate); the stationary wait is the whole of
        # it. Add what that has beyond the fluid queue's recent mean wait, not both; where
        # a short queue limit settles within the load's window it is all of it, and what
        # the fluid queue waits beyond it is taken back too.
        ec_mean, ec_var, ec_k3, whole = (self._erlang(part, now) if self.erlang_delay
                                         else (0.0, 0.0, 0.0, False))
        decay = math.exp(-(now - self._fw_t) / self.load_tau_s)
        self._fw_sum = self._fw_sum * decay + fluid_wait * m
        self._fw_n = self._fw_n * decay + m
        self._fw_t = now
        ec_mean -= self._fw_sum / self._fw_n
        floor = -fluid_wait if whole else 0.0
        if not whole and ec_mean <= 0.0:
            ec_mean = ec_var = ec_k3 = 0.0
        elif self.shed_queue_age_s is not None and fluid_wait + ec_mean > self.shed_queue_age_s:
            # Requests that would wait past the limit are shed, not served: the stationary
            # wait added here stops at the limit too.
            ec_mean = max(floor, self.shed_queue_age_s - fluid_wait)
        else:
            ec_mean = max(ec_mean, floor)
        if arrived >= self.warmup_s:
            w = fluid_wait + ec_mean
            self.wait_sum += w * m
            self.wait_n += m
            self.waits.append(w)
            self.wait_counts.append(m)
        slow = self.slow_factor
        var_service = self.var_service * slow * slow
        k3_service = self.k3_service * slow * slow * slow
        back = 0.0
        if starts is not None and w <= 0.0 and m > 1 and var_service > 0.0:
            # A batch that started at one instant does not complete at one instant: its
            # departures are spread by the service times, which a next station sees as
            # arrivals over a window (exact mode's start to arrive a service time apart).
            # The window takes the service times' variance from the cohort's, as far as
            # it can keep their mean (departures no earlier than the starts).
            wide = min(math.sqrt(span * span + 12.0 * var_service), span + 2.0 * mean_s)
            moved = (wide * wide - span * span) / 12.0
            k3_service *= max(0.0, 1.0 - moved / var_service)
            var_service = max(0.0, var_service - moved)
            back = (wide - span) / 2.0
            span = wide
        elif m == 1 and var_service > 0.0:
            # A request alone is served as exact mode serves it, for its own service time
            # (a paced stream of them, a waiting room's, goes on as irregular as it is).
            back = mean_s - self.service() * slow
            var_service = k3_service = 0.0
        part.spread_s = span
        part.var_s += var_service + ec_var
        part.k3_s += k3_service + ec_k3
        # A part admitted at the end of a contended tick (or arriving late) may have
        # started before now, and completed before now: it moves on now, with the lag.
        done = start + ec_mean + mean_s - back
        part.lag_s = now - done if done < now else 0.0
        if part.lag_s > 0.0:
            # Completed already: no worker holds it now (idle workers count for what
            # arrives at this instant), and no failure from now on can reach it.
            self.in_service -= m
            if self._live_parts is not None:
                assert self._live is not None
                self._live_parts.pop(id(part), None)
                self._live.pop(id(part), None)
        self.env.schedule(Due(self._done_cbs, part), NORMAL,  # type: ignore[arg-type]
                          max(0.0, done - now))

    def _idle_starts(self, m: int, w: float, at: float
                     ) -> tuple[float, float, float] | None:
        """The span of the starts and the mean wait of ``m`` requests that reach the
        server free at ``at``, one ``w / m`` after another (all at once where ``w`` is 0:
        a waiting room's admissions, a batch of reconnects, single requests of separate
        cohorts, a burst the tier before let out faster than this one's rate), and when
        the next request after them can start; None where no worker started afresh (the
        fluid's pacing, one ``1 / R`` after another, is then what exact mode does).

        The ``i`` of them that find an idle worker (fewer requests taken on and not
        completed than workers) start as they arrive; the others as workers free up, but
        no earlier than they arrive. Workers that started together do not free up one
        ``1 / R`` after another as workers busy for a while do: each completes its
        services as a renewal process started afresh (``sim.engine.renewal``), nothing
        before a deterministic service's end, most of a service's worth early on at cv
        2. Pacing all of them at the rate would make such a burst wait about ``m / 2R``
        at a station with hundreds of idle workers, where exact mode's requests do not
        wait, and would put every request behind it ``i / R`` later than exact mode
        does, as if the idle workers had worked one after another. The cohorts of one
        instant are one batch, the workers started afresh and the queued count kept
        over them (``_fresh``): a later cohort of the instant starts behind the queued
        requests, not behind the work of all of them. A throughput ceiling (``max_rate_rps``)
        starts one request every ``1 / max_rate`` however many workers are idle, as the
        fluid paces them (at a hot key held to 32 writes/s, starting a burst on its idle
        workers at once rejected 14% less than exact mode)."""
        if self.max_rate_rps is not None:
            return None
        idle = max(self.capacity - self.in_service, 0)
        i = min(idle, m)
        _, fresh, queued = (self._fresh if w <= 0.0 and self._fresh[0] == at
                            else (at, 0, 0))
        if i == 0 and fresh == 0:
            return None
        step = w / m
        q = m - i
        self._fresh = (at, fresh + i, queued + max(q, 0))
        if q <= 0 and idle > m:
            return (m - 1) * step, 0.0, at  # all of them find a worker, and the next too
        service = self.service
        arrive = (i + np.arange(max(q, 0))) * step
        begin, nxt = queued_starts(service.dist, service.cv, self.mean_s * self.slow_factor,
                                   self.capacity, fresh, i, i * step, queued, arrive)
        if q <= 0:
            return (m - 1) * step, 0.0, at + nxt
        return (max((m - 1) * step, float(begin[-1])), float(np.sum(begin - arrive)) / m,
                at + nxt)

    def _work_until(self, start: float, free: float) -> float:
        """The work to commit for a part taken on at ``start`` so that the committed
        work ends at ``free`` (``_commit_work``)."""
        return max(0.0, free - max(start, self._free_s))

    def _done(self, ev: simpy.Event) -> None:
        c: Cohort = ev._value
        lagging = c.lag_s > 0.0  # completed before it was taken on (_begin)
        if self._live_parts is not None and not lagging:
            if self._live_parts.pop(id(c), None) is None:
                return  # failed with its instance
            assert self._live is not None
            self._live.pop(id(c), None)
        now = self.env.now
        self._touch(now)
        if not lagging:
            self.in_service -= c.count
        self.served += c.count
        width = c.deadline_spread if c.count > 1 else 0.0
        done = now - c.lag_s
        if c.deadline_s - width / 2 < done + c.spread_s:
            # Completed over [done, done + spread_s) in FIFO order, after their deadlines.
            a = done - (c.deadline_s - width / 2)
            self.wasted += round(c.count * late_share(a, c.spread_s - width))
        self.forward(c)

    def _schedule_wake(self, at: float) -> None:
        if at >= self._wake_at:
            return
        self._wake_at = at
        self.env.schedule(Due(self._wake_cbs), NORMAL, at - self.env.now)  # type: ignore[arg-type]

    def _on_wake(self, _ev: simpy.Event) -> None:
        now = self.env.now
        if now < self._wake_at - 1e-12:
            return  # superseded by an earlier wake
        self._wake_at = INF
        self._touch(now)
        self._serve(now)
