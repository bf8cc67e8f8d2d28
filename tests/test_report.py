"""The report: files, figures, self-contained HTML, escaping, null values, the CLI, sweeps.

One small real run (a flash crowd of 3,000 on the spaces path, 400 s, about two seconds)
is made once; the other tests copy its directory and edit summary.json, config.yaml or
timeseries.csv to reach the cases a small run does not produce (a breach, an attack,
null percentiles, a multirun).
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import sim
from sim.report import FIGURE_NAMES, ReportError, build_report, find_runs
from sim.report.describe import fmt_num, fmt_pct, fmt_s, verdict
from sim.report.render import md_escape

OVERRIDES = ["arrivals.audience=3000", "run.horizon_s=400", "run.progress=false"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BASE_FIGURES = {"clients", "listeners", "queues", "utilization", "instances", "slo"}


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
        assert "SLO met" in text
        assert "default_launch" in text
        for heading in ("Scenario", "Legit clients", "Join latency", "Stations",
                        "Assumptions", "Reproduce"):
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
    expected = "SLO breached at t = 283 s; bottleneck: auth; not recovered"
    assert expected in (copy_dir / "report.md").read_text()
    assert expected in (copy_dir / "report.html").read_text()
    _edit_summary(copy_dir, lambda s: s["slo"].update(recovered_s=530.0))
    build_report(copy_dir)
    expected = "SLO breached at t = 283 s; bottleneck: auth; recovered at 530 s"
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
    assert "SLO not judged" in md
    assert list((copy_dir / "figures").glob("*.png")) == []
    assert "No config.yaml" in (copy_dir / "report.html").read_text()


def test_empty_cells_are_nan_and_attack_figure_appears(copy_dir: Path) -> None:
    path = copy_dir / "timeseries.csv"
    lines = path.read_text().splitlines()
    header = lines[0].split(",")
    col = header.index("attack.offered")
    rows = [r.split(",") for r in lines[1:]]
    for i, r in enumerate(rows):
        r[col] = "5" if 100 <= i < 200 else "0"
    path.write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")
    # The first ticks of the SLO columns are empty cells in a real run.
    assert rows[0][header.index("slo.join_p99_s")] == ""
    build_report(copy_dir)
    assert (copy_dir / "figures" / "attack.png").is_file()
    # Back to no attack: the stale figure goes away on the next build.
    for r in rows:
        r[col] = "0"
    path.write_text("\n".join([lines[0], *(",".join(r) for r in rows)]) + "\n")
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
    assert rows[0].startswith("| [0](0/report.md)") and rows[1].startswith("| [1](1/report.md)")
    assert "arrivals.audience=1000" in rows[0] and "arrivals.audience=2000" in rows[1]
    assert "yes" in rows[0]  # SLO met
    html = (top / "report.html").read_text()
    assert html.count('href="0/report.html"') == 1 and html.count('href="1/report.html"') == 1
    assert 'href="http' not in html
    for name in ("0", "1"):
        assert (top / name / "report.html").is_file()
        assert {p.stem for p in (top / name / "figures").glob("*.png")} == BASE_FIGURES


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
    assert set(FIGURE_NAMES) == {*BASE_FIGURES, "attack"}
