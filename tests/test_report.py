"""The report: files, figures, self-contained HTML, escaping, null values, the CLI, sweeps.

One small real run (a flash crowd of 3,000 on the spaces path, 400 s, about two seconds)
is made once; the other tests copy its directory and edit summary.json, config.yaml or
timeseries.csv to reach the cases a small run does not produce (a breach, an attack,
null percentiles, a multirun).
"""

from __future__ import annotations

import base64
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

import sim
from sim.report import FIGURE_NAMES, ReportError, build_report, find_runs
from sim.report.__main__ import main as report_main
from sim.report.describe import describe_mode, fmt_num, fmt_pct, fmt_s, recovery_text, verdict
from sim.report.figures import SWEEP_FIGURE_NAMES
from sim.report.load import RunData
from sim.report.render import md_escape
from sim.report.verdict import (
    GO_UNMEASURED,
    FailurePoint,
    ReportSettings,
    from_grid,
    headroom_verdict,
    run_verdict,
)

OVERRIDES = ["arrivals.audience=3000", "run.horizon_s=400", "run.progress=false"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# The figures of a small run without an attack or an autoscaler, whose queues never held a
# request (no attack, instances or queues figure).
BASE_FIGURES = {"clients", "listeners", "utilization", "slo", "amplification"}


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real run; Result.write builds its report (run.report is true by default)."""
    out = tmp_path_factory.mktemp("run")
    sim.run(OVERRIDES, outdir=out)
    return out


@pytest.fixture
def copy_dir(run_dir: Path, tmp_path: Path) -> Path:
    """A private copy of the run directory, without its report, to edit."""
    dst = tmp_path / "copy"
    shutil.copytree(run_dir, dst, ignore=shutil.ignore_patterns("report.*", "figures"))
    return dst


def _edit_summary(path: Path, edit) -> None:  # type: ignore[no-untyped-def]
    s = json.loads((path / "summary.json").read_text())
    edit(s)
    (path / "summary.json").write_text(json.dumps(s))


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC, f"{path} is not a PNG"
    # IHDR is the first chunk: width and height are big-endian at bytes 16..24.
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


# -- one run --------------------------------------------------------------------------------

def test_run_writes_report_files(run_dir: Path) -> None:
    for name in ("summary.json", "timeseries.csv", "config.yaml", "report.md", "report.html"):
        assert (run_dir / name).is_file(), name
    figures = {p.stem for p in (run_dir / "figures").glob("*.png")}
    # No attack in this run, so no attack figure.
    assert figures == BASE_FIGURES


def test_figures_are_valid_pngs_at_print_resolution(run_dir: Path) -> None:
    for png in (run_dir / "figures").glob("*.png"):
        width, height = _png_size(png)
        assert width >= 1000 and height >= 500, (png.name, width, height)
    matplotlib_image = pytest.importorskip("matplotlib.image")
    img = matplotlib_image.imread(run_dir / "figures" / "clients.png")
    assert img.ndim == 3 and img.shape[0] > 0


def test_html_is_self_contained_with_every_figure(run_dir: Path) -> None:
    html = (run_dir / "report.html").read_text()
    for forbidden in ('src="http', "src='http", 'href="http', "href='http", "<link",
                      "<script", "@import", "url("):
        assert forbidden not in html, forbidden
    uris = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    pngs = sorted((run_dir / "figures").glob("*.png"))
    assert len(uris) == len(pngs) == len(BASE_FIGURES)
    embedded = {base64.b64decode(u) for u in uris}
    assert embedded == {p.read_bytes() for p in pngs}


def test_markdown_references_figures_relatively(run_dir: Path) -> None:
    md = (run_dir / "report.md").read_text()
    for name in BASE_FIGURES:
        assert f"](figures/{name}.png)" in md
    assert "<img" not in md and "data:image" not in md


def test_verdict_and_sections_in_both_reports(run_dir: Path) -> None:
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["slo"]["met"] is True
    md = (run_dir / "report.md").read_text()
    html = (run_dir / "report.html").read_text()
    for text in (md, html):
        assert "GO on this scenario; headroom not measured" in text
        assert "run a failure-point sweep" in text
        assert "default_launch" in text
        for heading in ("Scenario", "Findings", "Figures", "Legit clients", "Join latency",
                        "Stations", "Assumptions and reproducibility", "Reproduce"):
            assert heading in text
        assert "flash crowd of 3,000 clients" in text
        assert "full_jitter retries" in text
        assert "Seed 1, horizon 400 s" in text
        assert f"{summary['legit']['arrived']:,}" in text
        for station in ("edge", "auth", "token_store", "join", "fanout"):
            assert station in text
    # The full config is in the Assumptions section.
    assert "audience: 3000.0" in md and "audience: 3000.0" in html


def test_breach_verdict(copy_dir: Path) -> None:
    def breach(s: dict) -> None:  # type: ignore[type-arg]
        s["slo"].update(met=False, first_breach_s=283.0, bottleneck="auth", recovered_s=None)

    _edit_summary(copy_dir, breach)
    build_report(copy_dir)
    expected = ("The SLO is breached at t = 283 s with auth the bottleneck tier, and did not "
                "recover by the horizon.")
    md, html = (copy_dir / "report.md").read_text(), (copy_dir / "report.html").read_text()
    assert "> ## NO-GO\n" in md and expected in md
    assert '<p class="word">NO-GO</p>' in html and expected in html
    _edit_summary(copy_dir, lambda s: s["slo"].update(recovered_s=530.0))
    build_report(copy_dir)
    expected = "The SLO is breached at t = 283 s with auth the bottleneck tier, and recovered"
    assert expected in (copy_dir / "report.md").read_text()
    assert expected in (copy_dir / "report.html").read_text()


def test_verdict_text() -> None:
    assert verdict({"slo": {"met": True}}).text == "SLO met"
    assert verdict({"slo": {"met": None}}).status == "not_judged"
    v = verdict({"slo": {"met": False, "first_breach_s": 12.5, "bottleneck": "join"}})
    assert v.text == "SLO breached at t = 12.5 s; bottleneck: join; not recovered"


def test_script_in_name_is_escaped_in_html(copy_dir: Path) -> None:
    evil = "<script>alert(1)</script>"
    _edit_summary(copy_dir, lambda s: s.update(name=evil))
    config = (copy_dir / "config.yaml").read_text()
    (copy_dir / "config.yaml").write_text(
        config.replace("name: default_launch", f"name: '{evil}'", 1))
    build_report(copy_dir)
    html = (copy_dir / "report.html").read_text()
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = (copy_dir / "report.md").read_text()
    # Outside code blocks Markdown must not carry live HTML either.
    title = md.splitlines()[0]
    assert "<script" not in title and "&lt;script&gt;" in title


def test_name_override_through_hydra_is_escaped(tmp_path: Path) -> None:
    sim.run([*OVERRIDES, "run.horizon_s=60", 'name="<b>x</b><script>alert(1)</script>"'],
            outdir=tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert "<b>x</b>" not in html and "<script" not in html
    assert "&lt;b&gt;x&lt;/b&gt;&lt;script&gt;" in html


def test_null_values_render_as_na(copy_dir: Path) -> None:
    def nulls(s: dict) -> None:  # type: ignore[type-arg]
        s["join_latency_s"] = dict.fromkeys(("mean", "p50", "p90", "p99", "max"))
        s["legit"]["attempts_per_client"] = None
        s["slo"] = {"met": None, "first_breach_s": None, "bottleneck": None}
        for st in s["stations"].values():
            st["wait_s"] = {"mean": None, "p50": None, "p99": None}
            st["utilization_mean"] = None
        del s["perf"]

    _edit_summary(copy_dir, nulls)
    (copy_dir / "timeseries.csv").unlink()
    (copy_dir / "config.yaml").unlink()
    build_report(copy_dir)
    md = (copy_dir / "report.md").read_text()
    assert "| n/a | n/a | n/a | n/a | n/a |" in md
    # Without its time series and config the directory is incomplete: that comes first.
    assert "NO VERDICT" in md and "The run directory is incomplete" in md
    assert "there is no timeseries.csv" in md and "config.yaml" in md
    assert list((copy_dir / "figures").glob("*.png")) == []
    assert "No config.yaml" in (copy_dir / "report.html").read_text()


def edit_column(path: Path, name: str, value: Callable[[int, str], str]
                ) -> tuple[list[str], list[list[str]]]:
    """Rewrite column ``name`` of a timeseries.csv, row ``i`` to ``value(i, old)``;
    returns the header and the rows as written."""
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    col = header.index(name)
    rows = [r.split(",") for r in lines[1:]]
    for i, r in enumerate(rows):
        r[col] = value(i, r[col])
    path.write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")
    return header, rows


def test_empty_cells_are_nan_and_attack_figure_appears(copy_dir: Path) -> None:
    path = copy_dir / "timeseries.csv"
    header, rows = edit_column(path, "attack.offered",
                               lambda i, _: "5" if 100 <= i < 200 else "0")
    # The first ticks of the SLO columns are empty cells in a real run.
    assert rows[0][header.index("slo.join_p99_s")] == ""
    build_report(copy_dir)
    assert (copy_dir / "figures" / "attack.png").is_file()
    # Back to no attack: the stale figure goes away on the next build.
    edit_column(path, "attack.offered", lambda i, _: "0")
    build_report(copy_dir)
    assert not (copy_dir / "figures" / "attack.png").exists()


def test_reproduce_command_from_hydra_overrides(copy_dir: Path) -> None:
    (copy_dir / ".hydra").mkdir()
    (copy_dir / ".hydra" / "overrides.yaml").write_text(
        "- arrivals.audience=3000\n- run.horizon_s=400\n- name=\"a b\"\n")
    build_report(copy_dir)
    command = "python -m sim arrivals.audience=3000 run.horizon_s=400 'name=\"a b\"'"
    assert command in (copy_dir / "report.md").read_text()
    assert "python -m sim arrivals.audience=3000 run.horizon_s=400" in (
        copy_dir / "report.html").read_text()


def _captions(md: str) -> dict[str, str]:
    """Each figure's caption in report.md, by the figure's file name."""
    found = re.findall(r"!\[[^\]]*\]\(figures/(\w+)\.png\)\n\n\*(Figure \d+\. .*)\*\n", md)
    return dict(found)


def test_captions_describe_what_each_figure_shows(run_dir: Path) -> None:
    """Each caption is written from the run: the stations drawn, the SLO's thresholds,
    the peak of the arrivals with its time, the breach shading."""
    md = (run_dir / "report.md").read_text()
    captions = _captions(md)
    assert set(captions) == BASE_FIGURES
    summary = json.loads((run_dir / "summary.json").read_text())
    stations = list(summary["stations"])
    names = ", ".join(stations[:-1]) + " and " + stations[-1]
    assert f"Busy workers as a share of workers at {names}" in captions["utilization"]
    slo = summary["slo"]
    assert (f"over sliding {slo['window_s']:g} s windows, against the SLO's "
            f"{100 * slo['join_success_min']:g}% (dashed)") in captions["slo"]
    assert f"against the SLO's {slo['join_p99_max_s']:g} s for p99" in captions["slo"]
    assert "No window breached the SLO." in captions["slo"]  # this run holds
    # The peak of the arrivals per second, read back from the time series.
    series = _series(run_dir)
    per_s = series["legit.arrivals"] / np.diff(np.concatenate([[0.0], series["t_s"]]))
    i = int(np.argmax(per_s))
    assert (f"Arrivals peak at {per_s[i]:,.0f} per second at t = {series['t_s'][i]:g} s."
            in captions["clients"])
    # Every client joined at its first attempt: the lines the legend lists but the eye
    # cannot tell apart are named.
    joined = series["legit.joined"] / np.diff(np.concatenate([[0.0], series["t_s"]]))
    assert summary["legit"]["retries"] == 0
    assert "Join attempts lie on the arrivals' curve." in captions["clients"]
    assert "No abandons: that line lies on zero." in captions["clients"]
    if np.abs(joined - per_s).max() > 0:  # joins a tick after their arrival
        assert re.search(r"Joins within [\d.]+ per second of the arrivals throughout\.",
                         captions["clients"])
    assert "The lowest success share of a judged window: 100%; the highest p99: " \
        in captions["slo"]
    assert "no queue figure" in md
    # The HTML page has the same captions, one per figure, numbered in order.
    html = (run_dir / "report.html").read_text()
    figcaptions = re.findall(r"<figcaption>(.*?)</figcaption>", html)
    assert len(figcaptions) == len(captions)
    for k, text in enumerate(figcaptions, start=1):
        assert text.startswith(f"Figure {k}. ")


def test_summary_paths_the_report_reads_are_in_the_schema() -> None:
    from sim import summary as schema

    for path in (schema.SLO_WINDOW_S, schema.SLO_SUCCESS_MIN, schema.SLO_P99_MAX_S,
                 schema.JOIN_RATIO, schema.BOTTLENECK, schema.FIRST_BREACH_S,
                 schema.RECOVERED_S, schema.ATTEMPTS_PER_CLIENT, schema.COST_USD):
        assert schema.resolves(path), path


def _series(run_dir: Path) -> dict[str, np.ndarray]:
    from sim.report.load import read_timeseries

    return read_timeseries(run_dir / "timeseries.csv")


def test_no_instances_figure_without_an_autoscaler(run_dir: Path) -> None:
    """A run with fixed fleets draws no instances figure and says why; the counts are in
    the stations table."""
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    assert config["autoscaler"]["kind"] == "none"
    assert not (run_dir / "figures" / "instances.png").exists()
    for text in ((run_dir / "report.md").read_text(), (run_dir / "report.html").read_text()):
        assert "there is no instances figure" in text
        assert "Instances max" in text


def test_instances_figure_when_a_fleet_changes_size(copy_dir: Path) -> None:
    """Without an autoscaler, a fleet that lost instances (a failure) is drawn, alone."""
    path = copy_dir / "timeseries.csv"
    # A fixed fleet: every row holds the full count; rows 100-149 lose one instance.
    header, rows = edit_column(path, "join.instances",
                               lambda i, old: str(int(float(old)) - 1) if 100 <= i < 150
                               else old)
    full = rows[0][header.index("join.instances")]
    build_report(copy_dir)
    assert (copy_dir / "figures" / "instances.png").is_file()
    md = (copy_dir / "report.md").read_text()
    caption = _captions(md)["instances"]
    assert f"of join, one panel per station: join from {int(float(full)) - 1} to " \
           f"{int(float(full))}." in caption
    assert "Left out, at a fixed count throughout: edge (" in caption
    assert "there is no instances figure" not in md


def test_instances_figure_with_an_autoscaler(tmp_path: Path) -> None:
    """An autoscaled run draws its fleets with the autoscaler's lines, and says so."""
    out = tmp_path / "scaled"
    sim.run([*OVERRIDES, "autoscaler=target_tracking"], outdir=out)
    assert (out / "figures" / "instances.png").is_file()
    caption = _captions((out / "report.md").read_text())["instances"]
    series = _series(out)
    scaled = [n for n in json.loads((out / "summary.json").read_text())["stations"]
              if f"{n}.desired" in series]
    assert scaled
    assert f"The autoscaler of {scaled[0]}" in caption
    assert "its desired count (dashed)" in caption


# -- the command ----------------------------------------------------------------------------

def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sim.report", *args], capture_output=True,
                          text=True, timeout=120, check=False)


def test_cli_on_run_dir(copy_dir: Path) -> None:
    proc = _cli(str(copy_dir))
    assert proc.returncode == 0, proc.stderr
    assert (copy_dir / "report.html").is_file() and (copy_dir / "report.md").is_file()
    assert "report.html" in proc.stdout


def test_cli_on_bogus_path(tmp_path: Path) -> None:
    bogus = tmp_path / "no_such_run"
    proc = _cli(str(bogus))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert str(bogus) in proc.stderr and "summary.json" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1  # one paragraph


def test_cli_on_dir_without_summary(tmp_path: Path) -> None:
    (tmp_path / "empty" / "0").mkdir(parents=True)
    proc = _cli(str(tmp_path / "empty"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "summary.json" in proc.stderr


def test_build_report_error_names_path(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match="does not exist"):
        build_report(tmp_path / "missing")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "summary.json").write_text("{not json")
    with pytest.raises(ReportError, match="cannot read"):
        build_report(tmp_path / "bad")


# -- a sweep --------------------------------------------------------------------------------

def _fake_multirun(run_dir: Path, top: Path, names: list[str]) -> None:
    for i, name in enumerate(names):
        dst = top / name
        shutil.copytree(run_dir, dst, ignore=shutil.ignore_patterns("report.*", "figures"))
        (dst / ".hydra").mkdir()
        (dst / ".hydra" / "overrides.yaml").write_text(f"- arrivals.audience={1000 * (i + 1)}\n")


def test_multirun_index(run_dir: Path, tmp_path: Path) -> None:
    top = tmp_path / "multi"
    _fake_multirun(run_dir, top, ["0", "1"])
    (top / "multirun.yaml").write_text("hydra: {}\n")
    html_path = build_report(top)
    assert html_path == top / "report.html"
    md = (top / "report.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| [")]
    assert len(rows) == 2
    assert rows[0].startswith("| [0](0/report.md) | arrivals.audience=1000 |")
    assert rows[1].startswith("| [1](1/report.md) | arrivals.audience=2000 |")
    assert "yes" in rows[0]  # SLO met
    html = (top / "report.html").read_text()
    assert html.count('href="0/report.html"') == 1 and html.count('href="1/report.html"') == 1
    assert 'href="http' not in html
    for name in ("0", "1"):
        assert (top / name / "report.html").is_file()
        assert {p.stem for p in (top / name / "figures").glob("*.png")} == BASE_FIGURES
    assert {p.stem for p in (top / "figures").glob("*.png")} == {"sweep_curve"}


def test_multirun_nested_one_level_in_natural_order(run_dir: Path, tmp_path: Path) -> None:
    top = tmp_path / "multirun"
    _fake_multirun(run_dir, top / "18-00-00", ["2", "10"])
    assert [p.name for p in find_runs(top)] == ["2", "10"]
    build_report(top)
    md = (top / "report.md").read_text()
    rows = [line for line in md.splitlines() if line.startswith("| [")]
    assert len(rows) == 2
    assert "(18-00-00/2/report.md)" in rows[0] and "(18-00-00/10/report.md)" in rows[1]


# -- formatting -----------------------------------------------------------------------------

def test_formatting_helpers() -> None:
    assert fmt_num(None) == "n/a" and fmt_num(float("nan")) == "n/a"
    assert fmt_num(1234567) == "1,234,567" and fmt_num(2.0) == "2"
    assert fmt_num(0.04544) == "0.0454"
    assert fmt_s(None) == "n/a" and fmt_s(36.31) == "36.3 s"
    assert fmt_pct(0.99) == "99.0%" and fmt_pct(None) == "n/a"


def test_markdown_escape() -> None:
    assert md_escape("<b>x</b>") == "&lt;b&gt;x&lt;/b&gt;"
    assert md_escape("a|b") == "a\\|b"
    assert md_escape("line\nbreak") == "line break"
    assert md_escape("token_store") == "token_store"


def test_figure_names_are_stable() -> None:
    assert set(FIGURE_NAMES) == {*BASE_FIGURES, "queues", "instances", "attack"}
    assert set(SWEEP_FIGURE_NAMES) == {"sweep_curve", "comparison"}


# -- the launch verdict ---------------------------------------------------------------------

def _run(summary: dict) -> RunData:  # type: ignore[type-arg]
    """A run in memory, complete enough to be judged: a constant arrival curve over a
    600 s horizon, every client joined, a time series with the columns the verdict
    reads; ``summary`` overrides the summary's keys (and those of its ``slo``)."""
    base = {"horizon_s": 600.0, "stations": {"api": {}},
            "legit": {"arrived": 1000, "joined": 1000, "abandoned": 0, "in_flight": 0},
            "slo": {"met": True, "worst_success_ratio": 1.0}}
    full = {**base, **summary, "slo": {**base["slo"], **(summary.get("slo") or {})}}
    t = np.arange(1.0, 601.0)
    series = {name: np.zeros(len(t)) for name in (
        "legit.attempts_succeeded", "legit.attempts_failed", "api.busy", "api.queue",
        "api.served", "api.rejected")}
    series.update({"t_s": t, "api.capacity": np.ones(len(t))})
    config = {"arrivals": {"kind": "constant", "rate": 1.7},
              "run": {"horizon_s": 600.0, "metrics_tick_s": 1.0}}
    return RunData(path=Path("x"), summary=full, config=config, series=series)


def test_run_verdict_rules() -> None:
    held = run_verdict(_run({"slo": {"met": True, "worst_success_ratio": 1.0},
                             "horizon_s": 600.0}))
    assert held.decision == GO_UNMEASURED and held.advice == "run a failure-point sweep"
    assert held.headline == ("GO on this scenario; headroom not measured — run a "
                             "failure-point sweep")
    breached = run_verdict(_run({"slo": {"met": False, "first_breach_s": 41.0,
                                         "bottleneck": "token_store", "recovered_s": 90.0}}))
    assert breached.decision == "NO-GO"
    assert breached.reason.startswith("The SLO is breached at t = 41 s with token_store "
                                      "the bottleneck tier, and recovered at t = 90 s. ")
    # A run too short to cover its arrival peak holds the SLO trivially: no verdict.
    short = _run({"slo": {"met": True}})
    short.config["arrivals"] = {"kind": "ramp", "start_s": 0, "end_s": 900,
                                "rate_start": 1, "rate_end": 50}
    assert run_verdict(short).decision == "NO VERDICT"
    # Replication 0 held but one of four replications breached: still NO-GO.
    reps = run_verdict(_run({"slo": {"met": True}, "replications": {"metrics": {
        "slo.met": {"mean": 0.75, "n": 4}}}}))
    assert reps.decision == "NO-GO" and "1 of 4 replications" in reps.reason
    assert run_verdict(_run({"slo": {"met": None}})).decision == "NO VERDICT"
    assert run_verdict(_run({"status": "failed", "slo": {"met": True}})).decision \
        == "NO VERDICT"


def test_headroom_verdict_uses_the_lower_confidence_bound() -> None:
    settings = ReportSettings(headroom=1.5)
    fp = FailurePoint("arrivals.audience", "found", 500_000.0, 440_000.0, 560_000.0,
                      "interval", 0.95, "up", 5)
    v = headroom_verdict(fp, 300_000.0, settings)
    assert v.decision == "NO-GO"
    assert v.reason == ("The failure point of arrivals.audience is 500,000 (95% interval "
                        "440,000 to 560,000); judged on the lower confidence bound, 440,000, "
                        "it is 1.47× the expected peak of 300,000, short of the required "
                        "1.5× (450,000).")
    fp_ok = FailurePoint("arrivals.audience", "found", 500_000.0, 460_000.0, 540_000.0,
                         "interval", 0.95, "up", 5)
    assert headroom_verdict(fp_ok, 300_000.0, settings).decision == "GO"
    # A stricter requirement turns the same failure point into a NO-GO.
    assert headroom_verdict(fp_ok, 300_000.0, ReportSettings(headroom=2.0)).decision \
        == "NO-GO"
    # Failure with fewer instances: the scenario's 8 must be 1.5x the upper bound.
    down = FailurePoint("architecture.stations.join.instances", "found", 5.0, 4.0, 6.0,
                        "interval", 0.95, "down", 3)
    v = headroom_verdict(down, 8.0, settings)
    assert v.decision == "NO-GO" and "upper confidence bound, 6" in v.reason
    assert headroom_verdict(down, 9.0, settings).decision == "GO"
    # Never failing up to 2x the peak shows the headroom; failing everywhere does not.
    holds = FailurePoint("arrivals.audience", "holds_throughout", tested=600_000.0)
    assert headroom_verdict(holds, 300_000.0, settings).decision == "GO"
    fails = FailurePoint("arrivals.audience", "fails_throughout", tested=100_000.0)
    assert headroom_verdict(fails, 300_000.0, settings).decision == "NO-GO"
    assert headroom_verdict(fp, None, settings).decision == "NO VERDICT"


def test_grid_sweep_brackets_the_failure_point() -> None:
    runs = [_run({"slo": {"met": met}}) for met in (True, True, False, False)]
    values = {id(r): v for r, v in zip(runs, (1e5, 2e5, 4e5, 8e5), strict=True)}
    fp = from_grid("arrivals.audience", runs, values)
    assert (fp.status, fp.low, fp.high, fp.value, fp.kind) == ("found", 2e5, 4e5, 3e5,
                                                              "bracket")
    assert fp.failing_run is runs[2]
    assert fp.text == "300,000 (between 200,000 (held) and 400,000 (failed))"
    v = headroom_verdict(fp, 1e5, ReportSettings(headroom=1.5))
    assert v.decision == "GO" and "the last value that held, 200,000" in v.reason


# -- sweeps ---------------------------------------------------------------------------------

def _job(run_dir: Path, dst: Path, overrides: list[str], met: bool = True,
         breach_s: float = 330.0) -> None:
    """A sweep job copied from the real run, its summary edited. Its own report is kept
    (and marked newer than the summary) so the sweep report does not rebuild it: these
    tests are about the sweep's page."""
    shutil.copytree(run_dir, dst)
    (dst / ".hydra").mkdir(exist_ok=True)
    (dst / ".hydra" / "overrides.yaml").write_text(
        "".join(f"- {o}\n" for o in overrides))
    if not met:
        _edit_summary(dst, lambda s: s["slo"].update(
            met=False, first_breach_s=breach_s, bottleneck="join", recovered_s=None,
            worst_success_ratio=0.5))
    later = (dst / "summary.json").stat().st_mtime + 1
    os.utime(dst / "report.html", (later, later))


def _multirun_yaml(top: Path, task: list[str], hydra: list[str] | None = None,
                   audience: float = 3000.0, headroom: float = 1.5) -> None:
    cfg = {"name": "launch_study", "arrivals": {"kind": "flash_crowd", "audience": audience},
           "report": {"headroom": headroom, "expected_peak": None, "sweep_key": None},
           "run": {"seed": 1},
           "hydra": {"overrides": {"task": task, "hydra": ["hydra.mode=MULTIRUN",
                                                          *(hydra or [])]},
                     "runtime": {"choices": {"architecture": "spaces"}}}}
    (top / "multirun.yaml").write_text(yaml.safe_dump(cfg))


def test_failure_point_sweep_report(run_dir: Path, tmp_path: Path) -> None:
    top = tmp_path / "fp"
    probes = [(1000, 1, True), (8000, 1, False), (4500, 1, True), (6000, 1, False),
              (1000, 2, True), (8000, 2, False), (5000, 2, True), (6500, 2, False)]
    for i, (value, seed, met) in enumerate(probes):
        _job(run_dir, top / str(i), [f"arrivals.audience={value}", f"run.seed={seed}",
                                     "run.replications=1"], met=met,
             breach_s=300.0 + value / 100)
    _multirun_yaml(top, ["arrivals.audience=3000"],
                   ["hydra/sweeper=failure_point", "hydra.sweeper.param=arrivals.audience"])
    answer = {"param": "arrivals.audience", "value": 5500.0, "interval": [4700.0, 6300.0],
              "half_width": 800.0, "confidence": 0.95, "direction": "up", "n": 2,
              "replications": 2,
              "per_replication": [{"seed": 1, "status": "found"},
                                  {"seed": 2, "status": "found"}],
              "probes": [{"value": v} for v, _, _ in probes]}
    (top / "failure_point.json").write_text(json.dumps(answer))
    build_report(top)
    md, html = (top / "report.md").read_text(), (top / "report.html").read_text()
    # 4,700 >= 1.5 x 3,000 = 4,500: GO on the lower bound, the expected peak from
    # multirun.yaml.
    reason = ("The failure point of arrivals.audience is 5,500 (95% interval 4,700 to "
              "6,300); judged on the lower confidence bound, 4,700, it is 1.57× the expected "
              "peak of 3,000, meeting the required 1.5× (4,500).")
    for text in (md, html):
        assert reason in text
        assert "seeds 1, 2" in text
        assert "hydra/sweeper=failure_point" in text
    assert "> ## GO\n" in md
    assert f"sim-report {top.resolve()}" in md
    # The findings come from the failing probe closest to the failure point (6,000).
    assert "| 360 s |" in md
    assert (top / "figures" / "sweep_curve.png").is_file()
    assert "![SLO against the swept parameter](figures/sweep_curve.png)" in md
    # Its caption gives what is marked on it: this sweep's failure point and peak lines.
    caption = _captions(md)["sweep_curve"]
    assert "Each job's worst SLO window against arrivals.audience" in caption
    assert "Failure point: 5,500 (solid line; its interval shaded)." in caption
    assert "Dashed: the expected peak, 3,000; dotted: the required 1.5× the peak, 4,500." \
        in caption
    # A stricter requirement from the command line flips it.
    assert report_main([str(top), "--headroom", "2"]) == 0
    assert "> ## NO-GO\n" in (top / "report.md").read_text()
    assert "short of the required 2× (6,000)" in (top / "report.md").read_text()
    assert report_main([str(top), "--headroom", "0.5"]) == 2


def test_variants_are_compared_side_by_side(run_dir: Path, tmp_path: Path) -> None:
    top = tmp_path / "arch"
    jobs = [("spaces", 1000, True), ("spaces", 3000, False), ("spaces", 6000, False),
            ("hls", 1000, True), ("hls", 3000, True), ("hls", 6000, True)]
    for i, (arch, value, met) in enumerate(jobs):
        _job(run_dir, top / str(i), [f"architecture={arch}", f"arrivals.audience={value}"],
             met=met)
    _multirun_yaml(top, ["architecture=spaces,hls", "arrivals.audience=1000,3000,6000"])
    build_report(top)
    md = (top / "report.md").read_text()
    assert "architecture=spaces (configured)" in md
    assert "| Variant | Failure point | Verdict | Joined | Bottleneck |" in md
    # The share joined of each variant's findings job: hls holds throughout, so its job
    # at the expected peak (a copy of the real run); spaces, its failing job.
    joined = fmt_pct(json.loads((run_dir / "summary.json").read_text())["legit"]["join_ratio"])
    assert f"| architecture=hls | none up to 6,000 | GO | {joined} | none |" in md
    # The configured variant (spaces) decides the front page: it breaches at the peak.
    assert "For architecture=spaces (the configured scenario), the SLO is breached at " \
           "the expected arrivals.audience = 3,000" in md
    assert "**architecture=hls: GO**" in md
    caption = _captions(md)["comparison"]
    assert "One bar per variant (architecture=spaces and architecture=hls)" in caption
    # hls held up to the largest value tried: the caption explains its hatched bar.
    assert "a hatched bar held the SLO up to the largest value tried" in caption
    assert {p.stem for p in (top / "figures").glob("*.png")} == {"sweep_curve",
                                                                  "comparison"}


def test_attribution_table_and_conclusion(run_dir: Path, tmp_path: Path) -> None:
    top = tmp_path / "attr"
    _job(run_dir, top / "all_on", ["attack=l7_join_flood"], met=False)
    _job(run_dir, top / "no_attack", ["attack=none"])
    (top / "attribution.json").write_text(json.dumps({
        "factors": ["attack", "retries"],
        "variants": [{"name": "all_on", "factors_on": ["attack", "retries"], "failed": True,
                      "first_breach_s": 330.0, "recovered_s": None, "join_ratio": 0.4,
                      "attempts_per_client": 3.2, "dir": "all_on"},
                     {"name": "no_attack", "factors_on": ["retries"], "failed": False,
                      "first_breach_s": None, "recovered_s": None, "join_ratio": 1.0,
                      "attempts_per_client": 1.0, "dir": "no_attack"}],
        "necessary": ["attack"], "sufficient": [["attack", "retries"]]}))
    build_report(top)
    md = (top / "report.md").read_text()
    assert "### Attribution" in md
    assert "| all_on | on | on | failed | 330 s | n/a | 40.0% | 3.20 |" in md
    assert "Necessary for the failure (removing any one of them alone prevents it): " \
           "attack." in md
    assert "Sufficient sets (enough on their own to make it fail): attack + retries." in md


# -- findings and assumptions ----------------------------------------------------------------

def test_metastability_finding_and_fallback(copy_dir: Path) -> None:
    def breach(s: dict) -> None:  # type: ignore[type-arg]
        s["slo"].update(met=False, first_breach_s=300.0, bottleneck="join", recovered_s=None)
        s.pop("metastability", None)

    _edit_summary(copy_dir, breach)
    build_report(copy_dir)
    assert "Not recovered by the horizon (metastability not analysed in this run)." in (
        copy_dir / "report.md").read_text()
    _edit_summary(copy_dir, lambda s: s.update(metastability={
        "trigger_end_s": 360.0, "recovered": False, "recovered_s": None, "stays_down": True,
        "amplification_peak": 4.2, "amplification_end": 3.9}))
    build_report(copy_dir)
    md = (copy_dir / "report.md").read_text()
    assert ("Metastable: the join path stays down after the trigger ended at t = 360 s, "
            "held there by retries (amplification 3.90 attempts per client at the end, "
            "peak 4.20).") in md


@pytest.mark.parametrize(("slo_rec", "meta_rec", "expected"), [
    (438.0, 880.0, "The SLO recovered at t = 438 s, with the trigger still on (it ends at "
                   "t = 880 s); not metastable (retry amplification peaked at 1.40)."),
    (None, 880.0, "The SLO holds from the end of the trigger (t = 880 s) to the horizon; "
                  "not metastable (retry amplification peaked at 1.40)."),
    (930.0, 930.0, "Recovered after the trigger ended at t = 880 s at t = 930 s (retry "
                   "amplification peaked at 1.40)."),
])
def test_recovery_finding_says_when_the_slo_came_back(
        slo_rec: float | None, meta_rec: float, expected: str) -> None:
    """A recovery before the trigger's end is not one "after the trigger", and a path good
    at the trigger's end is not said to recover at that instant twice over."""
    s = {"slo": {"met": False, "first_breach_s": 300.0, "recovered_s": slo_rec},
         "metastability": {"trigger_end_s": 880.0, "recovered": True,
                           "recovered_s": meta_rec, "stays_down": False,
                           "amplification_peak": 1.4, "amplification_end": 1.0}}
    assert recovery_text(s) == expected


def test_mode_of_a_sweep_left_to_auto() -> None:
    assert describe_mode({}, {"resolution_s": "auto"}) == \
        "the mode auto picks for each run (run.resolution_s = auto)"
    assert describe_mode({}, {"resolution_s": 0.5}) == "cohort mode (0.5 s resolution)"
    assert describe_mode({}, {"resolution_s": 0}) == "exact mode"


def test_config_diff_seeds_version_and_commands(copy_dir: Path) -> None:
    (copy_dir / ".hydra").mkdir()
    (copy_dir / ".hydra" / "overrides.yaml").write_text(
        "- arrivals.audience=3000\n- run.horizon_s=400\n")
    (copy_dir / ".hydra" / "hydra.yaml").write_text(yaml.safe_dump({"hydra": {
        "overrides": {"hydra": ["hydra.run.dir=/old/place", "hydra.mode=RUN"],
                      "task": ["arrivals.audience=3000", "run.horizon_s=400"]}}}))
    build_report(copy_dir)
    md = (copy_dir / "report.md").read_text()
    assert "| arrivals.audience | 3000.0 | 300000.0 |" in md
    assert "| run.horizon_s | 400.0 | 1200.0 |" in md
    assert "| run.seed |" not in md  # the default seed is not a difference
    assert "Seeds: run.seed = 1." in md
    assert f"Tool: sim {sim.__version__}." in md
    target = copy_dir.resolve()
    assert (f"python -m sim arrivals.audience=3000 run.horizon_s=400 "
            f"hydra.run.dir={target}\nsim-report {target}\n") in md


def test_markdown_has_no_raw_html(run_dir: Path) -> None:
    """GitHub strips most raw HTML: outside code blocks the Markdown has none."""
    md = (run_dir / "report.md").read_text()
    fenced = False
    for line in md.splitlines():
        if line.startswith("```"):
            fenced = not fenced
            continue
        if not fenced:
            assert not re.search(r"<[a-zA-Z/!]", line), line
    assert not fenced
    # Tables: header, alignment row, then rows with the same number of cells.
    lines = md.splitlines()
    for i, line in enumerate(lines):
        if re.fullmatch(r"\|( :?---:? \|)+", line):
            cells = line.count("|")
            assert lines[i - 1].count("|") - lines[i - 1].count("\\|") == cells


def test_report_config_block_is_validated() -> None:
    from sim.cli import compose
    from sim.config import ConfigError, to_config

    cfg = to_config(compose([]))
    assert (cfg.report.headroom, cfg.report.expected_peak, cfg.report.sweep_key) == (
        1.5, None, None)
    for override, key in (("report.headroom=0.9", "report.headroom"),
                          ("report.expected_peak=0", "report.expected_peak"),
                          ("report.sweep_key=' '", "report.sweep_key")):
        with pytest.raises(ConfigError, match=re.escape(key)):
            to_config(compose([override]))


def test_failure_point_searches_side_by_side(run_dir: Path, tmp_path: Path) -> None:
    """A directory holding one failure-point sweep per architecture: each is a variant
    with its own interval, named by the config-group choice that differs."""
    top = tmp_path / "study"
    for i, (arch, value, interval) in enumerate((("spaces", 4000.0, [3600.0, 4400.0]),
                                                 ("hls", 9000.0, [8000.0, 10000.0]))):
        part = top / f"{i}_{arch}"
        _job(run_dir, part / "0", ["arrivals.audience=2000", "run.seed=1"])
        _job(run_dir, part / "1", ["arrivals.audience=12000", "run.seed=1"], met=False)
        _multirun_yaml(part, [f"architecture={arch}"],
                       ["hydra/sweeper=failure_point", "hydra.sweeper.param=arrivals.audience"])
        cfg = yaml.safe_load((part / "multirun.yaml").read_text())
        cfg["hydra"]["runtime"]["choices"]["architecture"] = arch
        (part / "multirun.yaml").write_text(yaml.safe_dump(cfg))
        (part / "failure_point.json").write_text(json.dumps({
            "param": "arrivals.audience", "value": value, "interval": interval,
            "confidence": 0.95, "direction": "up", "n": 3, "replications": 3,
            "per_replication": [], "probes": []}))
    build_report(top)
    md = (top / "report.md").read_text()
    assert "| architecture=spaces (baseline) | 4,000 (95% interval 3,600 to 4,400) | NO-GO |" \
        in md
    assert "| architecture=hls | 9,000 (95% interval 8,000 to 10,000) | GO |" in md
    # The front page judges the first sweep: 3,600 < 1.5 x 3,000.
    assert "For architecture=spaces (the baseline, the first sweep in name order), the " \
           "failure point of arrivals.audience is 4,000" in md
    assert md.count("hydra.sweep.dir=") == 2
    assert {p.stem for p in (top / "figures").glob("*.png")} == {"sweep_curve",
                                                                  "comparison"}


def test_attribution_conclusion_is_taken_as_written(run_dir: Path, tmp_path: Path) -> None:
    top = tmp_path / "attr"
    _job(run_dir, top / "variants" / "all", ["attack=l7_join_flood"], met=False)
    _job(run_dir, top / "variants" / "crowd", ["attack=none"])
    (top / "attribution.json").write_text(json.dumps({
        "factors": ["l7_join_flood"], "necessary": ["l7_join_flood"], "sufficient": [],
        "conclusion": "The flood is what broke it.", "full": "all",
        "overrides": ["attack=l7_join_flood", "arrivals.audience=3000"],
        "variants": [{"name": "all", "factors_on": ["l7_join_flood"], "failed": True,
                      "first_breach_s": 300.0, "recovered_s": None, "join_ratio": 0.5,
                      "attempts_per_client": 2.0, "dir": "variants/all"}]}))
    build_report(top)
    md = (top / "report.md").read_text()
    assert "The flood is what broke it." in md and "| all | on | failed |" in md
    # The variants two levels down are the jobs of the page.
    assert "[variants/all](variants/all/report.md)" in md
    # The front page judges the full scenario's run.
    assert "> ## NO-GO\n>\n> The SLO is breached at t = 330 s with join the bottleneck" in md
    assert "The attribution ran 2 variants" in md
    assert (f"sim-attribute --out {top.resolve()} attack=l7_join_flood "
            f"arrivals.audience=3000\n") in md


@pytest.mark.slow
def test_real_sweep_end_to_end(tmp_path: Path) -> None:
    """A real two-job multirun of one M/M/10 station (capacity 100/s) at 50 and 150
    arrivals per second, then sim-report on it: the failure point is bracketed between
    them and, judged on 50 against 1.5 x the preset's 90/s, the verdict is NO-GO."""
    out = tmp_path / "sweep"
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "-m", "arrivals.rate=50,150",
         "architecture=single_station", "arrivals=constant", "clients=patient",
         "clients.timeout_s=2", "architecture.stations.server.drop_expired=true",
         "run.horizon_s=90", "run.report=false", "run.progress=false",
         f"hydra.sweep.dir={out}"], capture_output=True, text=True, timeout=300,
        check=False, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert report_main([str(out)]) == 0
    md = (out / "report.md").read_text()
    assert ("The failure point of arrivals.rate is 100 (between 50 (held) and 150 (failed)); "
            "judged on the last value that held, 50, it is 0.56× the expected peak of 90, "
            "short of the required 1.5× (135).") in md
    assert ("python -m sim -m arrivals.rate=50,150 architecture=single_station "
            "arrivals=constant clients=patient") in md
    for job in ("0", "1"):
        assert (out / job / "report.html").is_file()


def test_queue_figure_only_where_a_queue_held_requests(copy_dir: Path) -> None:
    """A queue that held requests gets the figure, its stations and the longest queue in
    the caption; the run's own flat queues got none (the note says why)."""
    from sim.report import build_report

    path = copy_dir / "timeseries.csv"
    rows = list(csv.reader(path.open()))
    col = rows[0].index("join.queue")
    rows[100][col] = "42.5"
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    build_report(copy_dir)
    captions = _captions((copy_dir / "report.md").read_text())
    assert set(captions) == {*BASE_FIGURES, "queues"}
    summary = json.loads((copy_dir / "summary.json").read_text())
    stations = list(summary["stations"])
    names = ", ".join(stations[:-1]) + " and " + stations[-1]
    assert f"at {names} (time-weighted mean per tick" in captions["queues"]
    assert f"The longest queue: join, 42.5 requests at t = {rows[100][0]}" \
        in captions["queues"]
    assert "no queue figure" not in (copy_dir / "report.md").read_text()


def test_aside_runs_in_a_child_and_falls_back_to_the_parent() -> None:
    """The figures' helper: where it can fork, the work runs in a child; a child that
    fails leaves the work to the parent, so the answer never depends on the child."""
    from sim.report import aside

    parent = os.getpid()
    if aside._can_fork():
        assert aside.Aside(os.getpid).result() != parent  # computed in the child
    assert aside.Aside(lambda x: x * 2, 21).result() == 42

    def only_here() -> int:
        if os.getpid() != parent:
            raise RuntimeError("not in the child")
        return 7

    assert aside.Aside(only_here).result() == 7
