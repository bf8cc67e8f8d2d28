"""Jinja2 rendering of the report: one environment, the Markdown escaping, the contexts.

HTML templates (``*.html``) are autoescaped, so a scenario named ``<script>...`` shows as
text. Markdown templates (``*.md``) are not HTML, so they escape with the ``md`` filter
instead: the characters that would turn a name into markup, a link or a broken table
cell. Templates live in ``templates/`` next to this module and are loaded with
``PackageLoader``, which works from a clone and from an installed wheel. The contexts
are plain dicts of already formatted strings (see ``describe``), so a template never
formats numbers and the HTML and Markdown say the same thing.
"""

from __future__ import annotations

import base64
import os
import re
import shlex
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from .. import series as cols
from .. import summary as schema
from ..summary import Replications, Summary
from .assumptions import (
    config_diff,
    config_dir,
    default_config,
    run_commands,
    sweep_commands,
    version,
)
from .coverage import load_gaps
from .describe import (
    NA,
    Table,
    attack_table,
    attribution_table,
    describe_scenario,
    findings_rows,
    fmt_num,
    fmt_pct,
    fmt_ratio,
    fmt_s,
    fmt_usd,
    funnel_table,
    get,
    index_row,
    latency_table,
    recovery_text,
    replication_table,
    slo_text,
    station_table,
    verdict,
)
from .figures import FigureFile
from .load import RunData, SweepData, split_override
from .saturation import saturation_text
from .study import Study
from .verdict import ReportSettings, run_failed, run_verdict

_MD_SPECIAL = re.compile(r"([\\`*\[\]|#])")


def md_escape(value: Any) -> str:
    """Text for a Markdown paragraph or table cell: no markup, no HTML, no cell breaks."""
    text = str(value).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _MD_SPECIAL.sub(r"\\\1", text)
    return " ".join(text.splitlines())


def md_fence(text: str) -> str:
    """A backtick fence longer than any backtick run inside ``text``."""
    runs = [len(m) for m in re.findall(r"`+", text)]
    return "`" * max(3, max(runs, default=0) + 1)


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("sim.report", "templates"),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",),
                                            default_for_string=False, default=False),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_escape
    env.filters["fence"] = md_fence
    return env


def render(template: str, **context: Any) -> str:
    return environment().get_template(template).render(**context)


def _data_uri(path: Path) -> str:
    return "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _figures(figures: list[FigureFile]) -> list[dict[str, str]]:
    return [{"name": f.name, "title": f.title, "caption": f.caption,
             "rel": f"figures/{f.path.name}", "data_uri": _data_uri(f.path)}
            for f in figures]


def _seeds(cfg: dict[str, Any], s: Summary) -> str:
    seed = (cfg.get("run") or {}).get("seed", s["seed"])
    text = f"run.seed = {fmt_num(seed)}"
    reps: Replications | None = s.get("replications")
    if isinstance(reps, dict) and reps["seeds"]:
        text += (f"; {len(reps['seeds'])} replications with seeds "
                 f"{', '.join(fmt_plain(x) for x in reps['seeds'])} (derived from run.seed "
                 f"by SeedSequence; replication 0 is run.seed)")
    return text + "."


def fmt_plain(x: Any) -> str:
    return str(x)


def _assumptions(config: dict[str, Any], hydra: dict[str, Any],
                 skip: tuple[str, ...] = ()) -> dict[str, Any]:
    extra = config_dir(hydra)
    defaults = default_config(extra) if config else None
    rows, newer = config_diff(config, defaults, skip)
    return {
        "newer": (f"{newer} key{'s' if newer != 1 else ''} of the current schema "
                  f"{'are' if newer != 1 else 'is'} not in this config (it was written "
                  f"before {'they' if newer != 1 else 'it'} existed)." if newer else ""),
        "diff": Table(["Key", "Value here", "Default"], [list(r) for r in rows],
                      [False, False, False]) if rows else None,
        "defaults_known": defaults is not None,
        "defaults_from": ("the shipped configs" + (f" and --config-dir {extra}" if extra
                                                   else "")),
        "version": version(),
    }


def _left_out_note(run: RunData, figures: list[FigureFile]) -> str:
    """Why a figure the report can draw is not there: no attack, queues that never held a
    request, or fleets that never changed size (no autoscaler, no failure): each would
    only draw flat lines."""
    if not run.series:
        return ""
    drawn = {f.name for f in figures}
    notes = []
    if "attack" not in drawn:
        notes.append("No attack traffic in this scenario, so there is no attack or "
                     "mitigation figure.")
    queues = [n for n in run.stations if cols.station(n, cols.QUEUE) in run.series]
    if "queues" not in drawn and queues:
        notes.append("Every station's queue stayed below one request on average over each "
                     "tick, so there is no queue figure; the stations table gives each "
                     "station's peak queue.")
    fleets = [n for n in run.stations if cols.station(n, cols.INSTANCES) in run.series]
    if "instances" not in drawn and fleets:
        notes.append("No station has an autoscaler and none changed its instance count, "
                     "so there is no instances figure; the stations table gives each "
                     "station's count.")
    return " ".join(notes)


def _findings(run: RunData, gaps: list[str]) -> list[tuple[str, str]]:
    """The findings rows, with the SLO row honest about a run that missed its load and a
    row for every tier that saturated."""
    rows = findings_rows(run)
    if gaps and run.summary["slo"]["met"] is True:
        text = "held, but not judged over the load: " + "; ".join(gaps)
        rows = [(what, text if what == "SLO" else found) for what, found in rows]
    at = next((i for i, (what, _) in enumerate(rows) if what == "Bottleneck tier"), 0)
    rows.insert(at + 1, ("Saturated tiers", saturation_text(run)))
    return rows


def figure_context(run: RunData, figures: list[FigureFile]) -> dict[str, Any]:
    """The figures of a run's report and the note on those left out."""
    return {"figures": _figures(figures), "figure_note": _left_out_note(run, figures)}


def run_context(run: RunData, figures: list[FigureFile] | None,
                settings: ReportSettings | None = None) -> dict[str, Any]:
    """What the run's report says; its figures (``figure_context``) unless ``figures``
    is None, for a caller that adds them when they are drawn."""
    s = run.summary
    listeners, perf = s["listeners"], s["perf"]
    status = s["status"]
    failed = status == "failed" or run.error is not None
    launch = run_verdict(run)
    gaps = load_gaps(run)
    context = {
        "name": run.name,
        "launch": launch,
        "verdict": verdict(s, gaps),
        "failed": failed,
        # The last line of a traceback names the exception; error.txt has the rest.
        "error_line": (run.error or "").strip().splitlines()[-1] if (run.error or "").strip()
        else "",
        "scenario": describe_scenario(run),
        "slo": slo_text(s, run.config),
        "findings": _findings(run, gaps),
        "replications": replication_table(s),
        "funnel": funnel_table(s),
        "listeners": (f"Listeners: peak {fmt_num(listeners['peak'])}, "
                      f"{fmt_num(listeners['end'])} at the horizon, "
                      f"{fmt_num(listeners['evicted'])} evicted, "
                      f"{fmt_num(listeners['lost'])} lost."),
        "latency": latency_table(s),
        "stations": station_table(s),
        "attack": attack_table(s),
        "has_series": bool(len(run.series.get(cols.TIME, ()))),
        "config_text": run.config_text.rstrip("\n"),
        "assumptions": _assumptions(run.config, run.hydra),
        "seeds": _seeds(run.config, s),
        "commands": run_commands(run.path, run.overrides, run.hydra),
        "has_overrides": run.overrides is not None,
        "perf": (f"Simulated in {fmt_s(perf['wall_s'])} of wall time, "
                 f"{fmt_num(perf['events'])} events."),
        "dir_name": run.path.name,
    }
    if figures is not None:
        context.update(figure_context(run, figures))
    return context


def _job_rows(top: Path, runs: list[RunData],
              keys: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    """Rows of the jobs table; with ``keys``, only those overrides are shown."""
    rows = []
    for run in runs:
        rel = Path(os.path.relpath(run.path, top)).as_posix()
        row = index_row(run, rel)
        if row["met"] == "yes" and run_failed(run) is None:
            row["met"] = "no verdict"  # held without covering its load, or incomplete
        if keys is not None:
            row["overrides"] = " ".join(o for o in run.overrides or []
                                        if split_override(o)[0] in keys)
        row["href_html"] = quote(f"{rel}/report.html")
        row["href_md"] = quote(f"{rel}/report.md")
        rows.append(row)
    return rows


def _variant_table(study: Study) -> Table:
    """One row per variant: its failure point and verdict, then what its findings job did.

    The findings job is the variant's representative (see ``_where``): the share of its
    arrived clients that joined, the bottleneck and first breach when it breached, its
    recovery, the attempts per client and the instance cost.
    """
    key = study.key
    header = ["Variant", *(["Failure point"] if key else []), "Verdict", "Joined",
              "Bottleneck", "First breach", "Recovery", "Attempts per client", "Cost"]
    rows = []
    for v in study.variants:
        r = v.representative
        s = r.summary if r is not None else None
        breached = schema.value(s, schema.SLO_MET) is False
        rows.append([
            v.label + ((" (baseline)" if study.sweep.parts else " (configured)")
                       if v.is_base and len(study.variants) > 1 else ""),
            *([v.failure_point.text if v.failure_point else NA] if key else []),
            v.verdict.decision,
            fmt_pct(schema.value(s, schema.JOIN_RATIO)),
            str(schema.value(s, schema.BOTTLENECK) or NA) if breached else "none",
            fmt_s(schema.value(s, schema.FIRST_BREACH_S)) if breached else "none",
            recovery_text(r.summary) if r is not None else NA,
            fmt_ratio(schema.value(s, schema.ATTEMPTS_PER_CLIENT)),
            fmt_usd(schema.value(s, schema.COST_USD)),
        ])
    verdict_col = 2 if key else 1
    return Table(header, rows, [False, *([False] if key else []), False, True, False, True,
                                False, True, True], nowrap=(verdict_col,))


def _where(study: Study) -> str:
    """Which job the findings columns describe."""
    if study.sweep.attribution is not None and study.key is None:
        return ("The findings are those of the full scenario's run; the attribution below "
                "takes it apart.")
    if study.key is None:
        return "Each variant's findings are those of its last job."
    return (f"The share joined, bottleneck, first breach, recovery, amplification and cost "
            f"are read from the failing job closest to the failure point (the first value "
            f"of {study.key} at which the SLO failed), else from the job at the expected "
            f"peak.")


def _sweep_scenario(study: Study) -> str:
    sweep = study.sweep
    config = sweep.config or (sweep.runs[0].config if sweep.runs else {})
    base = RunData(path=sweep.path, summary=schema.conform({}), config=config)
    text = describe_scenario(base) if config else (
        "No multirun.yaml or config.yaml in the sweep, so the scenario cannot be described.")
    if config and not sweep.config:
        text += " (No multirun.yaml: this is the first job's scenario.)"
    n = len(sweep.runs)
    if sweep.attribution is not None and study.key is None:
        return text + (f" The attribution ran {n} variants of it on the same seed, each with "
                       f"some of its factors switched off.")
    keys = sweep.swept_keys
    swept = ", ".join(keys) if keys else "only seeds"
    text += f" The sweep ran {n} jobs over {swept}"
    if study.key is not None:
        vals = sorted(set(study.values.values()))
        text += (f"; the load parameter is {study.key} "
                 f"({fmt_num(min(vals))} to {fmt_num(max(vals))})" if vals else "")
        if study.expected is not None:
            text += (f", expected peak {fmt_num(study.expected)}, required headroom "
                     f"{fmt_ratio(study.settings.headroom)}×")
    fp = sweep.failure_point
    if fp:
        text += (f"; the failure point was searched by bisection over "
                 f"{fmt_num(fp.get('replications'))} replications per probe")
    return text + "."


def _sweep_seeds(study: Study) -> str:
    fp = study.sweep.failure_point
    seed = get(study.sweep.config, "run", "seed")
    text = f"run.seed = {fmt_num(seed)}"
    if fp and fp.get("per_replication"):
        seeds = [str(p.get("seed")) for p in fp["per_replication"] if isinstance(p, dict)]
        text += (f"; the failure-point replications use seeds {', '.join(seeds)} (derived "
                 f"from run.seed; the same for every probe: common random numbers)")
    per = {str(r.summary["seed"]) for r in study.sweep.runs if r.summary["seed"] is not None}
    if per and not fp:
        text += f"; jobs ran with seeds {', '.join(sorted(per, key=_seed_key))}"
    return text + "."


def _seed_key(x: str) -> tuple[int, str]:
    return (int(x), "") if x.isdigit() else (1 << 62, x)


def _study_commands(sweep: SweepData) -> list[str]:
    """The sweep's commands; for several sweeps side by side, each one's, then the report."""
    att = sweep.attribution
    if att is not None and not sweep.hydra and isinstance(att.get("overrides"), list):
        target = shlex.quote(str(sweep.path.resolve()))
        parts = ["sim-attribute", f"--out {target}"]
        if att.get("design") not in (None, "full"):
            parts.append(f"--design {shlex.quote(str(att['design']))}")
        parts += [shlex.quote(str(o)) for o in att["overrides"]]
        return [" ".join(parts), f"sim-report {target}"]
    if not sweep.parts:
        return sweep_commands(sweep.path, sweep.hydra)
    out = [c for p in sweep.parts for c in sweep_commands(p.path, p.hydra)[:-1]]
    return [*out, sweep_commands(sweep.path, {})[-1]]


def sweep_context(study: Study, figures: list[FigureFile]) -> dict[str, Any]:
    sweep = study.sweep
    launch = study.verdict
    attribution = None
    if sweep.attribution is not None:
        table, text = attribution_table(sweep.attribution)
        attribution = {"table": table, "text": text}
    fp = sweep.failure_point
    skip = tuple(study.sweep.swept_keys)
    return {
        "name": sweep.name,
        "launch": launch,
        "scenario": _sweep_scenario(study),
        "variants": _variant_table(study),
        "variant_verdicts": [(v.label, v.verdict) for v in study.variants]
        if len(study.variants) > 1 else [],
        "where": _where(study),
        "failure_point": fp,
        "fp_text": study.base.failure_point.text if study.base.failure_point else "",
        "attribution": attribution,
        "figures": _figures(figures),
        "rows": _job_rows(sweep.path, sweep.runs, (*skip, "run.seed")),
        "n": len(sweep.runs),
        "met": sum(1 for r in sweep.runs if run_failed(r) is False),
        "assumptions": _assumptions(sweep.config, sweep.hydra, skip),
        "swept": ", ".join(skip) or "only seeds",
        "seeds": _sweep_seeds(study),
        "commands": _study_commands(sweep),
        "title": sweep.path.resolve().name,
    }
