"""The settings of ``hydra/sweeper=risk``, checked against the run's config, as a plan.

``plan_study`` reads ``hydra.sweeper.*`` (the values given; the others keep their
defaults), checks each against what it may be, and returns the ``Study``: the inputs'
distributions, the design, the jobs (``plan``: job number -> its samples), and how a
sample is judged. Any problem raises ``sim.ConfigError`` with one paragraph naming the
key and what is allowed, before anything runs:

- an input must name a config key that holds a value (a number, or for ``choice`` any
  plain value), or a config group (``mitigation``, ``attack``) drawn with ``choice``
  among that group's options; not a block of keys;
- its distribution must be one of the forms of ``sim.analysis.risk_inputs``;
- every value its distribution can draw must be one the config allows (read from the
  config's own validation, as the failure-point sweeper reads a parameter's range,
  ``allowed_for``): a normal belief about a rate that can draw a negative rate is
  refused, with the value and the range allowed. A key set to null (a queue without a
  limit) takes whole numbers where its validation asks for an integer.

A config group cannot be set on a composed config, so samples that draw one are cut into
jobs by the options they drew: every sample of a job has the same choices, and the job
is launched with them as overrides (``mitigation=waf``), composed by Hydra as the
command line would compose it (``Study.overrides``).

``inputs`` may be given flat (``arrivals.audience: loguniform(1e5,1e6)``) or nested as
the command line nests ``hydra.sweeper.inputs.arrivals.audience=...``; both name the
config key ``arrivals.audience``.
"""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import DictConfig, OmegaConf

from hydra_plugins.sim_failure_point.failure_point_sweeper import (
    bad_setting,
    check_verdict,
    integer_at_least,
    is_number,
)
from sim.summary import SLO_MET

_ABSENT = object()  # a key the config does not have (None is a key set to null)
SETTINGS = ("inputs", "samples", "sampler", "seed", "batch", "jobs_per_round",
            "confidence", "metric", "fail_below", "fail_above")


@dataclass
class Study:
    """A planned risk study: what is drawn, how it is cut into jobs, how it is judged."""

    inputs: list[Any]                       # risk_inputs.Distribution, in order
    design: Any                             # risk_design.Design
    plan: dict[int, list[dict[str, Any]]]   # job number -> samples
    judging: dict[str, Any]
    settings: dict[str, Any]
    jobs_per_round: int
    fingerprint: dict[str, Any] = field(default_factory=dict)
    groups: tuple[str, ...] = ()             # inputs that are config groups
    overrides: dict[int, list[str]] = field(default_factory=dict)  # job -> group choices

    @property
    def keys(self) -> list[str]:
        return [d.key for d in self.inputs]

    def answer(self, records: Mapping[int, Any]) -> dict[str, Any]:
        """The content of risk.json for ``records`` (sample -> record)."""
        from sim.analysis.risk import answer

        return {**answer(self.design, self.inputs, records, self.settings),
                "fingerprint": self.fingerprint}

    def resume(self, path: Path) -> dict[int, Any]:
        """The records of an earlier run of the same study at ``path`` (risk.json):
        samples with a verdict or a could-not-judge, not those that ended in an error."""
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        if not isinstance(old, dict) or old.get("fingerprint") != self.fingerprint:
            return {}
        out = {}
        for job in old.get("jobs") or []:
            if job.get("error") or (job.get("failed") is None and not job.get("not_judged")):
                continue
            out[int(job["sample"])] = {
                "sample": job["sample"], "seed": job["seed"], "inputs": job["inputs"],
                "failed": job["failed"], "unjudged": job.get("not_judged"), "error": None,
                "metric_value": job.get("metric_value"), "figures": job.get("figures"),
                "job": job.get("batch_job")}
        return out


def plan_study(config: Any, given: Mapping[str, Any], workers: int = 1,
               groups: Mapping[str, list[str]] | None = None) -> Study:
    """Check the settings against ``config`` (the composed run config, with or without
    Hydra's node) and plan the study; raise ``ConfigError`` on any problem. ``groups``
    maps the config groups an input may draw to their options (the sweeper reads them
    from Hydra; without it, no input may be a config group)."""
    from sim.analysis.risk import fingerprint
    from sim.analysis.risk_design import default_batch, make_design

    s = check_settings(config, given)
    groups = dict(groups or {})
    inputs = _distributions(config, s["inputs"], groups)
    drawn_groups = tuple(d.key for d in inputs if d.key in groups)
    seed = s["seed"] if s["seed"] is not None else int(
        OmegaConf.select(config, "run.seed", default=1))
    s["seed"] = seed
    design = make_design(inputs, s["sampler"], s["samples"], seed)
    _check_drawn(config, inputs, design)
    batch = s["batch"] or default_batch(design.size, workers)
    s["batch"] = batch
    jobs = _jobs(design, drawn_groups, batch)
    plan = {b: [{"sample": j, "seed": design.seeds[j], "inputs": design.values[j]}
                for j in js] for b, (_, js) in enumerate(jobs)}
    overrides = {b: [f"{g}={c}" for g, c in zip(drawn_groups, combo, strict=True)]
                 for b, (combo, _) in enumerate(jobs) if drawn_groups}
    judging = {k: s[k] for k in ("metric", "fail_below", "fail_above")}
    per_round = s["jobs_per_round"] or 2 * max(1, workers)
    base = OmegaConf.select(config, "name", default=None)
    return Study(inputs, design, plan, judging, s, per_round,
                 {**fingerprint(design, inputs, judging), "batch": batch, "name": base},
                 drawn_groups, overrides)


def _jobs(design: Any, groups: tuple[str, ...], batch: int
          ) -> list[tuple[tuple[str, ...], list[int]]]:
    """The samples cut into jobs of at most ``batch``: consecutive samples, except that a
    job's samples share their config-group choices (the options in the order they are
    first drawn); each job with those choices."""
    from sim.analysis.risk_design import batches

    by_choice: dict[tuple[str, ...], list[int]] = {}
    for j in range(design.size):
        by_choice.setdefault(tuple(str(design.values[j][g]) for g in groups), []).append(j)
    return [(combo, [js[i] for i in r]) for combo, js in by_choice.items()
            for r in batches(len(js), batch)]


def check_settings(config: Any, given: Mapping[str, Any]) -> dict[str, Any]:
    """The settings with their defaults filled in, each checked; raises ``ConfigError``."""
    from sim.analysis.risk_design import SAMPLERS
    from sim.config import ConfigError

    s: dict[str, Any] = {"inputs": {}, "samples": 64, "sampler": "lhs", "seed": None,
                         "batch": None, "jobs_per_round": None, "confidence": 0.95,
                         "metric": SLO_MET, "fail_below": None, "fail_above": None}
    for key in given:
        if key not in s:
            raise bad_setting(key, given[key], "one of the sweeper's settings: "
                       + ", ".join(SETTINGS))
    s.update(given)
    if not isinstance(s["inputs"], Mapping) or not s["inputs"]:
        raise ConfigError(
            "Invalid configuration: hydra/sweeper=risk needs hydra.sweeper.inputs, the "
            "config keys it draws and the distribution of each, such as "
            "'hydra.sweeper.inputs.arrivals.rate=\"uniform(40,60)\"'.")
    s["inputs"] = flatten_inputs(s["inputs"])
    integer_at_least("samples", s["samples"], 2)
    if s["sampler"] not in SAMPLERS:
        raise bad_setting("sampler", s["sampler"], "one of " + ", ".join(SAMPLERS))
    if s["sampler"] == "saltelli":
        _need_salib(len(s["inputs"]), s["samples"])
    for key, least in (("seed", 0), ("batch", 1), ("jobs_per_round", 1)):
        if s[key] is not None:
            integer_at_least(key, s[key], least)
    check_verdict(s)
    return s


def flatten_inputs(inputs: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"arrivals": {"rate": "uniform(1,2)"}}`` as ``{"arrivals.rate": "uniform(1,2)"}``."""
    out: dict[str, Any] = {}
    for k, v in inputs.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(flatten_inputs(v, key + "."))
        else:
            out[key] = v
    return out


def _distributions(config: Any, inputs: Mapping[str, Any],
                   groups: Mapping[str, list[str]]) -> list[Any]:
    """Each input's ``Distribution``, its key checked against the config (or, for a
    config group, its options against the group's)."""
    from sim.analysis.risk_inputs import BadDistribution, parse
    from sim.config import ConfigError

    out = []
    for key, text in inputs.items():
        if key in groups:
            out.append(_group_choice(key, text, groups[key]))
            continue
        node = OmegaConf.select(config, key, default=_ABSENT, throw_on_missing=False) \
            if key and not key.startswith("hydra.") else _ABSENT
        if node is _ABSENT or isinstance(node, DictConfig | dict | list) \
                or OmegaConf.is_config(node):
            raise ConfigError(
                f"Invalid configuration: hydra.sweeper.inputs.{key} names "
                f"{'no key' if node is _ABSENT else 'a block of keys'} of the config; allowed: "
                f"a config key that holds a value, such as arrivals.audience, arrivals.rate "
                f"or architecture.stations.join.instances, or a config group drawn with "
                f"choice(...) such as mitigation or attack.")
        try:
            d = parse(key, text, integer=_whole(config, key, node))
        except BadDistribution as exc:
            raise ConfigError(str(exc)) from None
        if d.kind != "choice" and not (is_number(node) or node is None):
            raise ConfigError(
                f"Invalid configuration: hydra.sweeper.inputs.{key} = {text!r} draws "
                f"numbers, but {key} holds {node!r}; allowed: choice(a,b,...) for a key "
                f"that is not a number.")
        out.append(d)
    return out


def _group_choice(key: str, text: Any, options: list[str]) -> Any:
    """The ``choice`` among options of config group ``key``; anything else is refused."""
    from sim.analysis.risk_inputs import BadDistribution, parse
    from sim.config import ConfigError

    try:
        d = parse(key, text)
    except BadDistribution as exc:
        raise ConfigError(str(exc)) from None
    unknown = [o for o in d.options if str(o) not in options]
    if d.kind != "choice" or unknown:
        why = (f"{str(unknown[0])!r} is not an option of the config group {key}"
               if d.kind == "choice" else f"{key} is a config group, drawn only with choice")
        raise ConfigError(
            f"Invalid configuration: hydra.sweeper.inputs.{key} = {text!r} ({why}); "
            f"allowed: choice(a,b,...) among {', '.join(sorted(options))}.")
    return d


def _whole(config: Any, key: str, node: Any) -> bool:
    """Whether ``key`` takes whole numbers: its value is one, or, where it is null (a
    queue without a limit), the bound its check declares is one of whole numbers
    (``sim.config.bound``; where no check declares one, the config's refusal asks for an
    integer)."""
    from hydra_plugins.sim_failure_point.failure_point_sweeper import allowed_for
    from sim.config import bound

    if node is None:
        declared = bound(config, key)
        if declared is not None:
            return declared.integer
        return "integer" in allowed_for(config, key, False, 1.0).text
    return isinstance(node, int) and not isinstance(node, bool)


def _check_drawn(config: Any, inputs: list[Any], design: Any) -> None:
    """Every value the distribution of a numeric input can draw (its extremes, one in
    10¹² from either end, and the values this design drew) must be one the config
    allows, so that no seed or sample count turns a belief into a refused run."""
    import numpy as np

    from hydra_plugins.sim_failure_point.failure_point_sweeper import allowed_for
    from sim.config import ConfigError

    for d in inputs:
        if not d.numeric:
            continue
        drawn = [float(v[d.key]) for v in design.values]
        drawn += [float(v) for v in d.value(np.array([0.0, 1.0]))]
        lo, hi = min(drawn), max(drawn)
        allowed = allowed_for(config, d.key, d.integer, lo)
        for v in (lo, hi):
            if not allowed.admits(v):
                raise ConfigError(
                    f"Invalid configuration: hydra.sweeper.inputs.{d.key} = {d.text!r} "
                    f"can draw {v:.6g}, which {d.key} does not allow; allowed: a distribution "
                    f"whose draws stay within {allowed.text or 'the range the key allows'}"
                    f" (bound it: uniform, loguniform or triangular).")


def _need_salib(d: int, samples: Any) -> None:
    from sim.config import ConfigError

    try:
        import SALib  # noqa: F401
    except ImportError:
        raise bad_setting("sampler", "saltelli", "lhs or sobol; saltelli needs SALib "
                   "(pip install 'sim[risk]')") from None
    if isinstance(samples, int) and samples < d + 2:
        raise ConfigError(
            f"Invalid configuration: hydra.sweeper.samples = {samples!r}; allowed: with "
            f"sampler saltelli and {d} inputs, at least {d + 2} (N·({d}+2) samples, N a "
            f"power of two).")
