"""Hydra sweeper ``hydra/sweeper=failure_point``: where does the SLO start to fail?

    sim -m hydra/sweeper=failure_point hydra.sweeper.param=arrivals.rate \\
        hydra.sweeper.low=50 hydra.sweeper.high=200 architecture=single_station ...

searches ``param`` for the value where the SLO starts to fail (bracketing then bisection,
``sim.analysis.failure_point``), each probe replicated on ``replications`` seeds derived
from ``run.seed`` (common random numbers). Probes are ordinary jobs launched through
``self.launcher``, so the configured launcher runs them (joblib by default, Ray, SLURM)
and each leaves its run directory in the sweep directory. A probe fails when its
summary's ``metric`` says so: ``slo.met`` false (the default), or the metric below
``fail_below`` / above ``fail_above``; a probe that held without covering its load
could not judge, and the search stops there (``sim.analysis.failure_point.judge``). The
answer (``holds_at`` and ``fails_at``, ``value``, ``interval``, every replication's
bracket, every probe, and any probe that could not judge) goes to ``failure_point.json``
in the sweep directory, rewritten after every round, with the answer in one sentence
(``text``), the one the sweeper's last line prints.

The search never probes a value the config refuses: the range ``param`` may take is the
one the config's own checks declare for it (``allowed_for``, ``sim.config.bounds``: "an
integer >= 1" for instances), a ``low`` or ``high`` outside it is refused before anything
runs, and the widening stops at its bound ("holds at the smallest allowed value 1: no
failure point in range").
"""

# No ``from __future__ import annotations`` here: Hydra imports plugin modules without
# registering them in sys.modules, and dataclasses then cannot resolve string annotations.
import json
import logging
import math
import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hydra.core.config_store import ConfigStore
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.plugins.launcher import Launcher
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf

from sim.atomic import atomic_write_text
from sim.summary import SLO_MET

if TYPE_CHECKING:
    from sim.analysis.failure_point import Allowed

log = logging.getLogger(__name__)

RESULT_FILE = "failure_point.json"


@dataclass
class FailurePointSweeperConf:
    _target_: str = (
        "hydra_plugins.sim_failure_point.failure_point_sweeper.FailurePointSweeper")
    param: str | None = None        # the override key searched, e.g. arrivals.audience
    low: float | None = None        # the first bracket
    high: float | None = None
    replications: int = 3           # seeds per probe (replication_seed(run.seed, i))
    confidence: float = 0.95
    direction: str = "auto"         # up: fails at larger values; down: at smaller ones
    integer: bool | None = None     # None: integer if the parameter's value is an int
    rel_tol: float | None = None    # stop bisecting below this fraction of the value
    #                                 (None: 1%, at least adjacent for a whole number)
    abs_tol: float = 0.0
    max_probes: int = 20            # bisection probes per replication
    max_expand: int = 6             # times the bracket may be widened
    metric: str = SLO_MET           # summary path deciding failure
    fail_below: float | None = None  # for another metric: fails when below this
    fail_above: float | None = None  # ... or above this


ConfigStore.instance().store(group="hydra/sweeper", name="failure_point",
                             node=FailurePointSweeperConf, provider="sim")


DIRECTIONS = ("auto", "up", "down")


def check_settings(config: Any, settings: Mapping[str, Any]) -> None:
    """Check the sweeper's settings (``hydra.sweeper.*``) against the run's config.

    ``settings`` are the values given (the others keep their defaults); ``config`` is the
    composed run config, in which ``param`` must name a number. Any problem raises
    ``sim.ConfigError``: one paragraph naming the key and what is allowed.
    """
    from sim.config import ConfigError

    known = {f.name for f in fields(FailurePointSweeperConf)} - {"_target_"}
    for key in settings:
        if key not in known:
            raise bad_setting(key, settings[key], "one of the sweeper's settings: "
                       + ", ".join(sorted(known)))
    s: dict[str, Any] = {f.name: f.default for f in fields(FailurePointSweeperConf)}
    s.update(settings)
    missing = [k for k in ("param", "low", "high") if s[k] is None]
    if missing:
        raise ConfigError("Invalid configuration: hydra/sweeper=failure_point needs "
                          + ", ".join(f"hydra.sweeper.{k}" for k in missing)
                          + " (the key searched and the first bracket, low < high).")
    param = s["param"]
    value = OmegaConf.select(config, str(param), default=None) \
        if isinstance(param, str) and param.strip() else None
    if not is_number(value):
        raise bad_setting("param", param, "a config key whose value is a number, such as "
                   "arrivals.audience, arrivals.rate or architecture.stations.join.instances")
    for key in ("low", "high"):
        if not is_number(s[key]) or not math.isfinite(s[key]):
            raise bad_setting(key, s[key], "a finite number")
    if not s["low"] < s["high"]:
        raise bad_setting("low", s["low"], f"a number below hydra.sweeper.high ({s['high']})")
    integer = s["integer"] if isinstance(s["integer"], bool) else isinstance(value, int)
    allowed = allowed_for(config, param, integer, s["low"])
    for key in ("low", "high"):
        if not allowed.admits(s[key]):
            raise bad_setting(key, s[key], f"a value {param} allows ({allowed.text})")
    integer_at_least("replications", s["replications"], 1)
    integer_at_least("max_probes", s["max_probes"], 1)
    integer_at_least("max_expand", s["max_expand"], 0)
    for key in ("rel_tol", "abs_tol"):
        if key == "rel_tol" and s[key] is None:
            continue
        if not is_number(s[key]) or not s[key] >= 0 or not math.isfinite(s[key]):
            raise bad_setting(key, s[key], "a finite number >= 0" if key == "abs_tol" else
                       "null (1%, and at least adjacent values for a whole number) or a "
                       "finite number >= 0")
    if s["direction"] not in DIRECTIONS:
        raise bad_setting("direction", s["direction"], "one of " + ", ".join(DIRECTIONS))
    if s["integer"] is not None and not isinstance(s["integer"], bool):
        raise bad_setting("integer", s["integer"],
                          "null (from the parameter's value), true or false")
    check_verdict(s)


# Far beyond any sensible value of a parameter: where no check declares a key's bound,
# the config's validation refuses such a value if it bounds the key at all, and its
# refusal states the bound.
FAR = 10**15


def allowed_for(config: Any, key: str, integer: bool, low: float) -> "Allowed":
    """The values the config allows ``key`` (``failure_point.Allowed``).

    The range is the one the config's own checks declare for ``key`` in this config
    (``sim.config.bound``: "an integer >= 1" for instances, "a number in [0, 1]" for a
    share). Where no check declares one, the run's config (``config``, with or without
    Hydra's own node) is validated as a run would be with ``key`` set far below, then far
    above any sensible value, and a refusal that names ``key`` states what is allowed,
    which ``failure_point.parse_allowed`` reads. Where neither gives a bound, an instance
    count is kept at 1 or more, and a search from ``low = 0`` at 0 or more (a positive
    ``low`` keeps the search above 0 anyway).
    """
    from sim.analysis.failure_point import Allowed

    declared = _declared(config, key)
    if declared is not None:
        found = declared
        text = declared.text
    else:
        below, above = (_refusal(config, key, sign * (FAR if integer else float(FAR)))
                        for sign in (-1, 1))
        text = "; ".join(dict.fromkeys(t for t in (below.text, above.text) if t))
        found = Allowed(below.minimum, above.maximum, below.min_open, above.max_open, text)
    if found.minimum is not None:
        return found
    name = key.rsplit(".", 1)[-1]
    if integer and name in ("instances", "max_instances"):
        return Allowed(1.0, found.maximum, False, found.max_open,
                       text or "an integer >= 1 (an instance count)")
    if low == 0:
        return Allowed(0.0, found.maximum, False, found.max_open, text or "a number >= 0")
    return found


def _declared(config: Any, key: str) -> "Allowed | None":
    """The bound the config's checks declare for ``key`` (None: none declared, or a
    config this check cannot rebuild)."""
    from sim.analysis.failure_point import Allowed
    from sim.config import bound

    try:
        b = bound(config, key)
    except Exception:  # a config this check cannot rebuild: no bound read from it
        return None
    if b is None:
        return None
    return Allowed(b.minimum, b.maximum, b.min_open, b.max_open, b.text)


def _refusal(config: Any, key: str, value: float) -> "Allowed":
    """What the config's validation allows ``key``, read from its refusal of ``value``
    (an empty ``Allowed`` if it accepts it or refuses another key)."""
    from sim.analysis.failure_point import Allowed, parse_allowed
    from sim.config import ConfigError, to_config

    try:
        raw = OmegaConf.to_container(config, resolve=False) \
            if isinstance(config, DictConfig) else dict(config)
        assert isinstance(raw, dict)
        raw.pop("hydra", None)
        trial = OmegaConf.create(raw)
        OmegaConf.update(trial, key, value, merge=False)
        to_config(trial)
    except ConfigError as exc:
        m = re.match(rf"Invalid configuration: {re.escape(key)} = .*?; allowed: (.*?)\.?\s*$",
                     str(exc), re.S)
        return parse_allowed(m.group(1)) if m else Allowed()
    except Exception:  # a config this check cannot rebuild: no bound read from it
        return Allowed()
    return Allowed()


def check_verdict(s: Mapping[str, Any]) -> None:
    """Check the settings that decide a job's verdict and its confidence (``confidence``,
    ``metric``, ``fail_below``, ``fail_above``), as the failure-point and risk sweepers
    both read them."""
    if not is_number(s["confidence"]) or not 0.5 <= s["confidence"] < 1:
        raise bad_setting("confidence", s["confidence"], "a number in [0.5, 1)")
    for key in ("fail_below", "fail_above"):
        if s[key] is not None and (not is_number(s[key]) or not math.isfinite(s[key])):
            raise bad_setting(key, s[key], "null or a finite number")
    if s["metric"] != SLO_MET and s["fail_below"] is None and s["fail_above"] is None:
        raise bad_setting("metric", s["metric"], f"{SLO_MET}, or another summary figure "
                          "with hydra.sweeper.fail_below or hydra.sweeper.fail_above set")


def is_number(x: Any) -> bool:
    """A number, not a bool (the sweepers' settings checks; the risk sweeper's too)."""
    return isinstance(x, int | float) and not isinstance(x, bool)


def integer_at_least(key: str, value: Any, least: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < least:
        raise bad_setting(key, value, f"an integer >= {least}")


def plain_overrides(hydra_context: HydraContext, arguments: list[str], fixed: set[str],
                    refusal: Callable[[str], str]) -> list[str]:
    """The command line's overrides less those of the keys the sweeper sets itself
    (``fixed``), for every job. An override that is a sweep of its own is bad input: one
    paragraph saying why (``refusal(its text)``) and exit status 2, as the command's."""
    parser = OverridesParser.create(config_loader=hydra_context.config_loader)
    parsed = parser.parse_overrides(arguments)
    for o in parsed:
        if o.is_sweep_override():
            print(f"sim: Invalid configuration: {refusal(str(o.input_line))}; allowed: one "
                  f"value for {o.get_key_element()}.", file=sys.stderr, flush=True)
            raise SystemExit(2)
    return [a for a, o in zip(arguments, parsed, strict=True)
            if o.get_key_element().lstrip("+~") not in fixed]


def bad_setting(key: str, value: Any, allowed: str) -> Exception:
    from sim.config import ConfigError

    return ConfigError(f"Invalid configuration: hydra.sweeper.{key} = {value!r}; "
                       f"allowed: {allowed}.")


class FailurePointSweeper(Sweeper):
    def __init__(self, param: str | None = None, low: float | None = None,
                 high: float | None = None, replications: int = 3, confidence: float = 0.95,
                 direction: str = "auto", integer: bool | None = None,
                 rel_tol: float | None = None, abs_tol: float = 0.0, max_probes: int = 20,
                 max_expand: int = 6, metric: str = SLO_MET,
                 fail_below: float | None = None, fail_above: float | None = None) -> None:
        super().__init__()
        self.settings = {"param": param, "low": low, "high": high,
                         "replications": replications, "confidence": confidence,
                         "direction": direction, "integer": integer, "rel_tol": rel_tol,
                         "abs_tol": abs_tol, "max_probes": max_probes,
                         "max_expand": max_expand, "metric": metric,
                         "fail_below": fail_below, "fail_above": fail_above}
        self.param = str(param)
        self.low, self.high = float(low or 0), float(high or 0)
        self.replications = replications
        self.confidence = confidence
        self.direction = direction
        self.integer = integer
        self.rel_tol, self.abs_tol = rel_tol, abs_tol
        self.max_probes, self.max_expand = max_probes, max_expand
        self.metric = metric
        self.fail_below, self.fail_above = fail_below, fail_above
        self.config: DictConfig | None = None
        self.launcher: Launcher | None = None
        self.hydra_context: HydraContext | None = None

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction,
              config: DictConfig) -> None:
        from hydra.core.plugins import Plugins

        check_settings(config, self.settings)  # the command checked them; the API may not
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            hydra_context=hydra_context, task_function=task_function, config=config)

    # -- verdicts -----------------------------------------------------------------------

    def judge(self, summary: Mapping[str, Any], job: Any) -> Any:
        """Whether a probe failed, held, or could not judge (``failure_point.judge``)."""
        from sim.analysis.failure_point import judge

        return judge(summary, self._config(job), self.metric, self.fail_below,
                     self.fail_above)

    @staticmethod
    def _config(job: Any) -> Mapping[str, Any]:
        """The config a probe ran: its run directory's config.yaml, as the report reads
        it, else the config Hydra composed for the job ({} when neither is there)."""
        import yaml

        out = OmegaConf.select(job.hydra_cfg, "hydra.runtime.output_dir") \
            if job.hydra_cfg is not None else None
        path = Path(out) / "config.yaml" if out else None
        if path is not None and path.is_file():
            loaded = yaml.safe_load(path.read_text())
            if isinstance(loaded, dict):
                return loaded
        try:
            cfg = OmegaConf.to_container(job.cfg, resolve=True) if job.cfg else None
        except Exception:  # an interpolation only Hydra's runtime can resolve
            cfg = None
        return {str(k): v for k, v in cfg.items()} if isinstance(cfg, dict) else {}

    @staticmethod
    def _summary(job: Any) -> tuple[Mapping[str, Any] | None, str | None]:
        """The summary a probe job returned (or wrote), or the error it ended with."""
        try:
            ret = job.return_value
        except Exception as exc:
            return None, f"{type(exc).__name__}: {exc}"
        if isinstance(ret, Mapping) and ret.get("status") == "failed":
            err = str(ret.get("error") or "failed").strip().splitlines()
            return None, err[-1] if err else "failed"
        if isinstance(ret, Mapping) and "slo" in ret:
            return ret, None
        out = OmegaConf.select(job.hydra_cfg, "hydra.runtime.output_dir") \
            if job.hydra_cfg is not None else None
        if out and (Path(out) / "summary.json").is_file():
            return json.loads((Path(out) / "summary.json").read_text()), None
        return None, "the job returned no summary"

    # -- the sweep ------------------------------------------------------------------------

    def sweep(self, arguments: list[str]) -> Any:
        from sim.analysis.failure_point import FailurePointSearch, answer_text
        from sim.analysis.replications import replication_seed

        assert self.config is not None and self.launcher is not None
        assert self.hydra_context is not None
        key = self.param
        base = plain_overrides(
            self.hydra_context, arguments, {key, "run.seed", "run.replications"},
            lambda line: f"hydra/sweeper=failure_point searches one parameter; {line} is a "
                         "sweep (give one value)")
        seed = int(OmegaConf.select(self.config, "run.seed", default=1))
        current = OmegaConf.select(self.config, key, default=None)
        integer = self.integer if self.integer is not None else (
            isinstance(current, int) and not isinstance(current, bool))
        seeds = [replication_seed(seed, i) for i in range(self.replications)]
        search = FailurePointSearch(
            self.low, self.high, seeds, direction=self.direction, integer=integer,
            rel_tol=self.rel_tol, abs_tol=self.abs_tol, max_probes=self.max_probes,
            max_expand=self.max_expand, confidence=self.confidence,
            positive=self.low > 0, allowed=allowed_for(self.config, key, integer, self.low))
        sweep_dir = Path(self.config.hydra.sweep.dir)
        sweep_dir.mkdir(parents=True, exist_ok=True)
        OmegaConf.save(self.config, sweep_dir / "multirun.yaml")
        job_idx = 0
        returns = []
        while True:
            probes = search.next_probes()
            if not probes:
                break
            batch = [[*base, f"{key}={self._fmt(p.value, integer)}", f"run.seed={p.seed}",
                      "run.replications=1"] for p in probes]
            self.validate_batch_is_legal(batch)
            print(f"[failure_point] round {search.rounds + 1}: {len(batch)} probes of {key} "
                  f"({', '.join(sorted({self._fmt(p.value, integer) for p in probes}))})",
                  file=sys.stderr, flush=True)
            results = self.launcher.launch(batch, initial_job_idx=job_idx)
            job_idx += len(batch)
            returns.append(results)
            for probe, job in zip(probes, results, strict=True):
                summary, error = self._summary(job)
                if summary is None:
                    search.record(probe, None, error)
                else:
                    judged = self.judge(summary, job)
                    search.record(probe, judged.failed, unjudged=judged.unjudged)
            search.end_round()
            self._write(sweep_dir, search, key, integer)
        answer = self._write(sweep_dir, search, key, integer)
        print(f"[failure_point] {answer_text(answer)}; wrote {sweep_dir / RESULT_FILE}",
              file=sys.stderr, flush=True)
        return returns

    @staticmethod
    def _fmt(value: float, integer: bool) -> str:
        return str(round(value)) if integer else f"{value:.10g}"

    def _write(self, sweep_dir: Path, search: Any, key: str, integer: bool) -> dict[str, Any]:
        from sim.analysis.failure_point import answer_text

        answer = search.answer()
        answer = {"param": key, "status": answer.pop("status"),
                  "holds_at": answer.pop("holds_at"), "fails_at": answer.pop("fails_at"),
                  "width": answer.pop("width"), "value": answer.pop("value"),
                  "interval": answer.pop("interval"), "half_width": answer.pop("half_width"),
                  "integer": integer, "low": self.low, "high": self.high,
                  "metric": self.metric, "fail_below": self.fail_below,
                  "fail_above": self.fail_above, "finished": search.finished, **answer}
        answer = {"param": key, "text": answer_text(answer), **answer}
        atomic_write_text(sweep_dir / RESULT_FILE, json.dumps(answer, indent=2) + "\n")
        return answer
