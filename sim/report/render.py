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
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from .describe import (
    attack_table,
    describe_scenario,
    fmt_num,
    fmt_s,
    funnel_table,
    index_row,
    latency_table,
    reproduce_command,
    slo_text,
    station_table,
    verdict,
)
from .figures import FigureFile
from .load import RunData

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


def run_context(run: RunData, figures: list[FigureFile]) -> dict[str, Any]:
    s = run.summary
    listeners = s.get("listeners") or {}
    perf = s.get("perf") or {}
    status = s.get("status")
    failed = status == "failed" or run.error is not None
    return {
        "name": run.name,
        "verdict": verdict(s),
        "failed": failed,
        # The last line of a traceback names the exception; error.txt has the rest.
        "error_line": (run.error or "").strip().splitlines()[-1] if (run.error or "").strip()
        else "",
        "scenario": describe_scenario(run),
        "slo": slo_text(s, run.config),
        "funnel": funnel_table(s),
        "listeners": (f"Listeners: peak {fmt_num(listeners.get('peak'))}, "
                      f"{fmt_num(listeners.get('end'))} at the horizon, "
                      f"{fmt_num(listeners.get('evicted'))} evicted, "
                      f"{fmt_num(listeners.get('lost'))} lost."),
        "latency": latency_table(s),
        "stations": station_table(s),
        "attack": attack_table(s),
        "figures": [{"name": f.name, "title": f.title, "caption": f.caption,
                     "rel": f"figures/{f.path.name}", "data_uri": _data_uri(f.path)}
                    for f in figures],
        "has_series": bool(len(run.series.get("t_s", ()))),
        "config_text": run.config_text.rstrip("\n"),
        "reproduce": reproduce_command(run.overrides),
        "perf": (f"Simulated in {fmt_s(perf.get('wall_s'))} of wall time, "
                 f"{fmt_num(perf.get('events'))} events."),
        "dir_name": run.path.name,
    }


def index_context(top: Path, runs: list[RunData]) -> dict[str, Any]:
    rows = []
    for run in runs:
        rel = Path(os.path.relpath(run.path, top)).as_posix()
        row = index_row(run, rel)
        row["href_html"] = quote(f"{rel}/report.html")
        row["href_md"] = quote(f"{rel}/report.md")
        rows.append(row)
    met = sum(1 for r in runs if (r.summary.get("slo") or {}).get("met") is True)
    return {"title": top.resolve().name, "rows": rows, "n": len(runs), "met": met}
