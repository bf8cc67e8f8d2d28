"""``sim-attribute`` (``python -m sim.attribute``): was it the attack, the crowd or our retries?

Runs the scenario the overrides describe (as ``sim`` would compose it) once per
combination of its factors switched on or off, all on the same seed, in parallel
processes, and writes ``attribution.json`` and ``attribution.md`` with the table and the
conclusion (``sim.analysis.attribution``). The factors are:

- each attack vector of the composed config (off: the vector is removed,
  ``~attack.vectors.<name>``);
- ``retries``, when the clients retry (off: ``clients.retry.policy=none`` and
  ``clients.impatient_share=0``: a failed attempt is the client's last; listeners whose
  server is lost still reconnect, with one attempt);
- the user's own, ``--factor NAME=OVERRIDE[,OVERRIDE...]``: the overrides that switch
  the factor off (the scenario as given has every factor on).

``--factors NAME,...`` keeps only those factors (the others stay on). The crowd is always
on. Each variant is an ordinary run directory (``summary.json``,
``timeseries.csv``, ``config.yaml``, the report if ``run.report``) under
``<out>/variants/<variant>/`` (``rep_<i>/`` per replication with ``run.replications``).
Every job composes and builds its own config from plain overrides inside its process.
Bad input stops the command before anything runs, with one paragraph and exit status 2.

The command prints the conclusion and a short table (``short_variants``: the full
scenario, each factor off alone, the crowd alone); ``attribution.md`` has the full table
and ``attribution.json`` each variant's outcome and overrides.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import itertools
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from omegaconf import DictConfig, OmegaConf, open_dict

from .analysis.attribution import (
    CROWD,
    DESIGNS,
    MAX_FACTORS,
    Factor,
    build_attribution,
    design,
    read_outcome,
    table,
    variant_name,
    write_attribution,
)
from .analysis.replications import replication_seed
from .cli import EXIT_BAD_CONFIG
from .compose import compose
from .config import ConfigError, SimConfig, to_config
from .resolution import choose

PROG = "sim-attribute"
EXIT_RUN_FAILED = 1
RETRIES = "retries"
RETRIES_OFF = ("clients.retry.policy=none", "clients.impatient_share=0")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


class AttributionInputError(ConfigError):
    """Bad input to the attribution command."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise AttributionInputError(
            f"{message}. Usage: {PROG} [OVERRIDE ...] [--factor NAME=OVERRIDE[,OVERRIDE...]] "
            f"[--factors NAME,...] [--out DIR] [--jobs N] [--design {'|'.join(DESIGNS)}] "
            f"[--config-dir DIR]")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Counterfactual runs on the same random numbers: "
                "which of the attack vectors, the clients' retries and your own factors "
                "are needed for the failure.")
    p.add_argument("overrides", nargs="*", help="Hydra overrides of the scenario, as for sim")
    p.add_argument("--factor", action="append", default=[], metavar="NAME=OVERRIDE[,...]",
                   help="a factor of your own: the overrides that switch it off "
                        "(repeat for more factors or more overrides)")
    p.add_argument("--factors", default=None, metavar="NAME[,NAME...]",
                   help="attribute only these factors; the others stay on in every variant")
    p.add_argument("--out", default=None, help="output directory (default "
                   "outputs/attribution/<date>/<time>; hydra.run.dir=DIR works too)")
    p.add_argument("--jobs", type=int, default=None,
                   help="parallel processes (default: the number of CPUs)")
    p.add_argument("--design", choices=DESIGNS, default="full",
                   help=f"full factorial (at most {MAX_FACTORS} factors) or one factor at "
                        "a time (2k + 2 runs)")
    p.add_argument("--config-dir", default=None, help="a directory of your own presets")
    return p


def split_overrides(text: str) -> list[str]:
    """Split ``a=1,b=[2,3]`` at the commas outside brackets, braces and quotes."""
    out: list[str] = []
    cur: list[str] = []
    depth, quote = 0, ""
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "[{(":
            depth += 1
        elif ch in "]})":
            depth -= 1
        elif ch == "," and depth == 0:
            out.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    out.append("".join(cur).strip())
    return out


@dataclass
class Plan:
    """Everything the runs need, checked: plain data only, so jobs can be pickled."""

    overrides: list[str]
    config_dir: str | None
    factors: list[Factor]
    notes: list[str]
    cfg: SimConfig


def _user_factors(specs: Sequence[str], taken: set[str]) -> dict[str, list[str]]:
    """``--factor`` values by name, in order; repeated names gather their overrides."""
    found: dict[str, list[str]] = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        name = name.strip()
        if not sep or not rest.strip():
            raise AttributionInputError(f"--factor {spec!r} has no override; allowed: "
                                  f"--factor NAME=OVERRIDE[,OVERRIDE...], the overrides "
                                  f"that switch the factor off, e.g. --factor "
                                  f"hot_key=architecture.stations.join.max_rate_rps=1e9")
        if not _NAME.match(name):
            raise AttributionInputError(f"--factor name {name!r} is not allowed; allowed: letters, "
                                  f"digits, _ . - (starting with a letter or _)")
        if name in taken:
            raise AttributionInputError(f"--factor name {name!r} is already a factor (attack "
                                  f"vectors, retries) or reserved ({CROWD}); allowed: "
                                  f"another name")
        parts = split_overrides(rest)
        if any(not p for p in parts):
            raise AttributionInputError(f"--factor {spec!r} has an empty override; allowed: "
                                  f"overrides separated by commas")
        found.setdefault(name, []).extend(parts)
    return found


def _same(a: SimConfig, b: SimConfig) -> bool:
    return OmegaConf.to_yaml(OmegaConf.structured(a)) == OmegaConf.to_yaml(
        OmegaConf.structured(b))


def _check_plain(overrides: Sequence[str], where: str) -> None:
    """Refuse sweeps: the attribution makes its own variants."""
    from .compat.hydra import parse_overrides
    from .compose import composition_error

    try:
        parsed = parse_overrides(overrides)
    except Exception as exc:
        raise AttributionInputError(f"{where}: {composition_error(exc)}") from None
    for o in parsed:
        if o.sweep:
            raise AttributionInputError(f"{where}: {o.line!r} is a sweep; allowed: one value per "
                                  f"key (the attribution runs its own variants; run it once "
                                  f"per value)")


def plan(argv: Sequence[str]) -> tuple[Plan, argparse.Namespace]:
    """Parse and check the command line; raise ConfigError on any bad input."""
    args = _parser().parse_args(list(argv))
    overrides = []
    for o in args.overrides:
        if o.startswith("hydra.run.dir="):
            args.out = args.out or o.split("=", 1)[1]
        elif o in ("-m", "--multirun"):
            raise AttributionInputError("a multirun (-m) is not allowed; allowed: the overrides "
                                  "of one scenario (the attribution runs its own variants)")
        else:
            overrides.append(o)
    if args.jobs is not None and args.jobs < 1:
        raise AttributionInputError(f"--jobs {args.jobs} is not allowed; allowed: an integer >= 1")
    _check_plain(overrides, "scenario overrides")
    base = to_config(compose(overrides, config_dir=args.config_dir))
    factors: list[Factor] = []
    notes: list[str] = []
    for v, vec in base.attack.vectors.items():
        if v in (CROWD, RETRIES):
            raise AttributionInputError(
                f"attack vector name {v!r} (attack.vectors.{v}) is reserved for the "
                f"{'baseline' if v == CROWD else 'retries factor'}; allowed: another "
                f"vector name")
        kind, rate = getattr(vec, "kind", None), getattr(vec, "rate_rps", None)
        what = ", ".join(x for x in (
            "attack vector", kind, f"{rate:g} rps" if isinstance(rate, int | float) else None,
            f"into {vec.enter}" if getattr(vec, "enter", None) else None) if x)
        factors.append(Factor(v, "attack", (f"~attack.vectors.{v}",), what))
    r = base.clients.retry
    if r.policy != "none" and (r.max_attempts > 1 or base.clients.impatient_share > 0):
        factors.append(Factor(RETRIES, "retries", RETRIES_OFF,
                              f"client retries, {r.policy}, up to {r.max_attempts} attempts,"
                              f" {base.clients.impatient_share:g} impatient"))
    else:
        notes.append("The clients do not retry in this scenario: no retries factor.")
    user = _user_factors(args.factor, {f.name for f in factors} | {CROWD})
    for name, offs in user.items():
        where = f"--factor {name}"
        _check_plain(offs, where)
        try:
            off_cfg = to_config(compose([*overrides, *offs], config_dir=args.config_dir))
        except ConfigError as exc:
            raise AttributionInputError(f"{where}: {exc}") from None
        if _same(off_cfg, base):
            raise AttributionInputError(f"{where}: switching it off ({', '.join(offs)}) changes "
                                  f"nothing in the scenario; allowed: overrides that change "
                                  f"the config")
        factors.append(Factor(name, "user", tuple(offs), "your factor"))
    if args.factors is not None:
        chosen = [n.strip() for n in args.factors.split(",") if n.strip()]
        known = [f.name for f in factors]
        for n in chosen:
            if n not in known:
                raise AttributionInputError(
                    f"--factors: {n!r} is not a factor of this scenario; allowed: "
                    f"{', '.join(known) or 'none (no attack vector, no retries, no --factor)'}")
        if not chosen:
            raise AttributionInputError(f"--factors is empty; allowed: names among "
                                        f"{', '.join(known)}")
        notes += [f"{f.name} stays on in every variant (not in --factors)."
                  for f in factors if f.name not in chosen]
        factors = [f for f in factors if f.name in chosen]
    if not factors:
        raise AttributionInputError("no factors to attribute: the scenario has no attack vector, "
                              "its clients do not retry and no --factor was given; allowed: "
                              "an attack (attack=l7_join_flood), retrying clients, or "
                              "--factor NAME=OVERRIDE")
    try:
        design([f.name for f in factors], args.design)
    except ValueError as exc:
        raise AttributionInputError(f"{exc}; allowed: fewer factors, or --design one_at_a_time "
                              f"({2 * len(factors) + 2} runs)") from None
    # Several user factors may touch the same keys: check every combination composes.
    user_names = [f for f in factors if f.kind == "user"]
    for k in range(2, len(user_names) + 1):
        for combo in itertools.combinations(user_names, k):
            offs = [o for f in combo for o in f.off]
            try:
                to_config(compose([*overrides, *offs], config_dir=args.config_dir))
            except ConfigError as exc:
                raise AttributionInputError(f"--factor {' and '.join(f.name for f in combo)} "
                                      f"switched off together: {exc}") from None
    return Plan(overrides, args.config_dir, factors, notes, base), args


# -- the jobs ------------------------------------------------------------------------------------

def variant_overrides(p: Plan, on: Sequence[str]) -> list[str]:
    """The ``sim`` overrides of the variant with factors ``on`` (the others off)."""
    return [*p.overrides, *(o for f in p.factors if f.name not in on for o in f.off)]


def run_job(overrides: list[str], user_off: list[str], vectors_off: list[str],
            retries_off: bool, config_dir: str | None, seed_index: int,
            outdir: str) -> str | None:
    """One variant (one replication of it), built from plain data inside this process.

    Returns None, or the error text if the run failed (the run directory keeps what the
    run computed and ``error.txt``).
    """
    import dataclasses
    import traceback

    from .report import build_report
    from .run import simulate

    try:
        cfg: DictConfig = compose([*overrides, *user_off], config_dir=config_dir)
        with open_dict(cfg):
            for v in vectors_off:
                cfg.attack.vectors.pop(v)
            if retries_off:
                cfg.clients.retry.policy = "none"
                cfg.clients.impatient_share = 0.0
        sim_cfg = to_config(cfg)
        r = sim_cfg.run
        run = dataclasses.replace(r, progress=False, replications=1,
                                  seed=replication_seed(r.seed, seed_index))
        sim_cfg = dataclasses.replace(sim_cfg, run=run)
        simulate(sim_cfg, outdir=outdir)
        if sim_cfg.run.report:
            build_report(outdir)
    except Exception as exc:
        return "".join(traceback.format_exception(exc))
    return None


def _default_out() -> Path:
    now = _dt.datetime.now()
    return Path("outputs") / "attribution" / now.strftime("%Y-%m-%d") / now.strftime("%H-%M-%S")


def run_attribution(p: Plan, out: str | Path, design_kind: str = "full",
                    n_jobs: int | None = None, verbose: bool = True) -> dict[str, Any]:
    """Run every variant of the plan into ``out`` and write the attribution there."""
    from joblib import Parallel, delayed

    out = Path(out)
    names = [f.name for f in p.factors]
    sets = design(names, design_kind)
    reps = p.cfg.run.replications
    jobs: list[tuple[str, int, Path]] = []
    dirs: dict[str, list[Path]] = {}
    for on in sets:
        name = variant_name(on)
        base_dir = out / "variants" / name
        dirs[name] = [base_dir] if reps == 1 else [base_dir / f"rep_{i}" for i in range(reps)]
        jobs += [(name, i, d) for i, d in enumerate(dirs[name])]
    by_name = {variant_name(on): on for on in sets}
    calls = []
    for name, i, d in jobs:
        on = by_name[name]
        off = [f for f in p.factors if f.name not in on]
        calls.append(delayed(run_job)(
            list(p.overrides), [o for f in off if f.kind == "user" for o in f.off],
            [f.name for f in off if f.kind == "attack"],
            any(f.kind == "retries" for f in off), p.config_dir, i, str(d)))
    n = n_jobs or min(len(calls), os.cpu_count() or 1)
    if verbose:
        print(f"[attribute] {len(sets)} variants × {reps} replication(s) = {len(calls)} runs, "
              f"{n} at a time, into {out}", file=sys.stderr, flush=True)
    errors: list[tuple[str, Path, str]] = []
    results = Parallel(n_jobs=n, return_as="generator")(calls)
    for k, ((name, _i, d), err) in enumerate(zip(jobs, results, strict=True), start=1):
        if err is not None:
            errors.append((name, d, err))
        if verbose:
            print(f"[attribute] {k} of {len(calls)} runs done ({d.relative_to(out)}"
                  f"{': failed' if err else ''})", file=sys.stderr, flush=True)
    if errors:
        name, d, err = errors[0]
        last = err.strip().splitlines()[-1] if err.strip() else "error"
        raise RuntimeError(f"{len(errors)} run(s) failed, first {name} in {d}: {last}")
    variants = []
    for on in sets:
        name = variant_name(on)
        res = read_outcome(dirs[name])
        variants.append({"name": name, "factors_on": list(on), **res,
                         "dir": str((out / "variants" / name).relative_to(out)),
                         "overrides": variant_overrides(p, on)})
    cfg = p.cfg
    att = build_attribution(p.factors, variants, design_kind, scenario=cfg.name,
                            seed=cfg.run.seed,
                            mode=choose(cfg).mode,
                            replications=reps, overrides=list(p.overrides),
                            notes=list(p.notes))
    write_attribution(out, att)
    return att


def short_variants(att: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The rows the conclusion is read from, in the table's order: the full scenario, the
    scenario with each factor switched off alone (is that factor necessary?) and the crowd
    alone (is any factor needed at all?). With two factors that is every variant; with
    more, the variants with several factors off are left to the files."""
    factors = set(att["factors"])
    rows = []
    for v in att["variants"]:
        off = factors - set(v["factors_on"])
        if len(off) <= 1 or off == factors:
            rows.append(v)
    return rows


def console_text(att: Mapping[str, Any], out: Path) -> str:
    """What the command prints: the conclusion and its notes, then the short table, then
    where the full table is."""
    short = short_variants(att)
    n = len(att["variants"])
    lines = [att["conclusion"], *att.get("notes", []), "", table({"variants": short}), ""]
    if len(short) < n:
        lines.append(f"{len(short)} of the {n} variants: the full scenario, each factor "
                     f"switched off alone, the crowd alone.")
    lines.append(f"The full table ({n} variants) is in {out / 'attribution.md'}; each "
                 f"variant's outcome and overrides in {out / 'attribution.json'}.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """The command: plan, run, write, print the conclusion and the short table."""
    args_in = sys.argv[1:] if argv is None else argv
    if any(a in ("-h", "--help") for a in args_in):
        _parser().print_help()
        raise SystemExit(0)
    try:
        p, args = plan(args_in)
    except ConfigError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_BAD_CONFIG) from None
    out = Path(args.out) if args.out else _default_out()
    try:
        att = run_attribution(p, out, args.design, args.jobs)
    except RuntimeError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        raise SystemExit(EXIT_RUN_FAILED) from None
    print(console_text(att, out))


if __name__ == "__main__":
    main()
