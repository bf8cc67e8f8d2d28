"""Each study's README keeps facts, hypotheses and assumptions apart, names its sources,
says how its numbers converged, and agrees with its preset and its results files (text,
configs and CSVs only; no simulation is run).

Every ``experiments/<name>/README.md`` has:

- an ``## Inputs`` section whose table has a ``status`` column, every row marked
  **sourced**, **hypothesis** or **assumption**, with at least one of each;
- a ``**Convergence.**`` paragraph that names the mode its numbers came from (exact or
  cohort) and says they are to be rerun;
- for the incident studies, a ``## Held to the reported counts`` section.

The five studies of ``STUDIES`` also:

- cite, in the last column of each sourced row, a ``[key]`` listed under
  ``## Sources``, and every listed source gives a URL or a publication date;
- write, in the ``in the study`` column of the Inputs table, config values as
  ``key: value`` in backticks (``arrivals.audience: 8000000``) that equal what the
  study's preset composes to (a backticked ``experiment=...``, ``architecture=...`` or
  ``key=value`` in the same cell is applied first), at least eight of them.

The results tables of architectures (findings: brackets over the seeds, the seeds'
agreement, the figures at 0.5M with their ranges, the bottleneck most seeds name) and
desantis_2023 (baseline and sensitivity with their t intervals, capacity, failure
points) agree with the CSVs next to them, whether the script or a hand wrote them.
"""

from __future__ import annotations

import csv
import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ("x_spaces_2024", "desantis_2023", "metastability", "architectures",
           "backoff_jitter")
INCIDENTS = ("x_spaces_2024", "desantis_2023")
# The preset each study runs (its ``experiment=``), against which its Inputs table is read.
PRESETS = {"x_spaces_2024": "x_spaces_2024", "desantis_2023": "desantis_2023",
           "metastability": "metastable_retry", "architectures": "architectures",
           "backoff_jitter": "backoff_jitter"}
GROUPS = ("run", "arrivals", "clients", "architecture", "attack", "mitigation", "slo",
          "autoscaler")
# ``key: value`` (a value the preset sets, checked) or ``key=value`` (an override the cell
# applies first); the key starts with a config group.
SPAN = re.compile(rf"^((?:{'|'.join(GROUPS)})(?:\.[A-Za-z0-9_]+)+)\s*(:|=)\s*(.+)$")
SOURCE = re.compile(r"^- \*\*\[([^\]]+)\]\*\* (.+)$", re.S)
STATUSES = {"**sourced**", "**hypothesis**", "**assumption**"}
CELL = re.compile(r"(?<!\\)\|")  # a table cell boundary (``\|`` is a pipe inside a cell)


def readmes() -> list[Path]:
    return sorted((ROOT / "experiments").glob("*/README.md"))


def section(text: str, heading: str) -> str:
    """The body of the ``## heading`` section (up to the next ``## ``), or ''."""
    m = re.search(rf"^## {re.escape(heading)}[ \t]*\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    return m.group(1) if m else ""


def first_table(body: str) -> list[list[str]]:
    """The rows (header first, separator dropped) of the first table in ``body``."""
    rows: list[list[str]] = []
    for line in body.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in CELL.split(line.strip())[1:-1]]
            if not all(re.fullmatch(r":?-+:?", c) for c in cells):
                rows.append(cells)
        elif rows:
            break
    return rows


def test_every_study_has_a_readme() -> None:
    names = {p.parent.name for p in readmes()}
    assert set(STUDIES) <= names, f"missing: {sorted(set(STUDIES) - names)}"


@pytest.mark.parametrize("readme", readmes(), ids=lambda p: p.parent.name)
def test_inputs_table_marks_every_row(readme: Path) -> None:
    text = readme.read_text()
    body = section(text, "Inputs")
    assert body, f"{readme.parent.name}: no '## Inputs' section"
    rows = first_table(body)
    assert len(rows) > 1, f"{readme.parent.name}: no inputs table under '## Inputs'"
    header = [h.lower() for h in rows[0]]
    assert "status" in header, f"{readme.parent.name}: the inputs table has no status column"
    col = header.index("status")
    seen = set()
    for row in rows[1:]:
        assert len(row) == len(header), f"{readme.parent.name}: ragged row {row[:1]}"
        status = row[col]
        assert status in STATUSES, (f"{readme.parent.name}: row {row[0]!r} is marked "
                                    f"{status!r}, not one of {sorted(STATUSES)}")
        if status == "**sourced**":
            assert row[-1] and row[-1] not in ("—", "-"), \
                f"{readme.parent.name}: sourced row {row[0]!r} names no source"
        seen.add(status)
    assert seen == STATUSES, f"{readme.parent.name}: no row marked {sorted(STATUSES - seen)}"


@pytest.mark.parametrize("readme", readmes(), ids=lambda p: p.parent.name)
def test_convergence_paragraph(readme: Path) -> None:
    text = readme.read_text()
    m = re.search(r"^\*\*Convergence\.\*\*(.*?)(?=\n\s*\n|\Z)", text, re.M | re.S)
    assert m, f"{readme.parent.name}: no '**Convergence.**' paragraph"
    para = " ".join(m.group(1).split())
    assert re.search(r"\b(exact|cohort) mode\b", para), \
        f"{readme.parent.name}: the Convergence paragraph names no mode"
    assert "rerun" in para, f"{readme.parent.name}: the Convergence paragraph says nothing " \
                            "of a rerun"


@pytest.mark.parametrize("name", INCIDENTS)
def test_incident_studies_are_held_to_the_reported_counts(name: str) -> None:
    text = (ROOT / "experiments" / name / "README.md").read_text()
    assert section(text, "Held to the reported counts"), \
        f"{name}: no '## Held to the reported counts' section"


def inputs_rows(readme: Path) -> tuple[list[str], list[list[str]]]:
    """The Inputs table's header (lower case) and its rows."""
    rows = first_table(section(readme.read_text(), "Inputs"))
    return [h.lower() for h in rows[0]], rows[1:]


def sources(text: str) -> dict[str, str]:
    """The ``## Sources`` list: key -> the entry's text (an entry runs on over its
    indented lines)."""
    items = re.split(r"\n(?=- )", section(text, "Sources").strip())
    found = [SOURCE.match(" ".join(item.split())) for item in items]
    return {m[1]: m[2] for m in found if m}


@pytest.mark.parametrize("name", STUDIES)
def test_sourced_rows_cite_a_listed_source(name: str) -> None:
    """A sourced row names its source by a key of the Sources list, and every source in
    that list can be found: a URL, or at least a publication date."""
    readme = ROOT / "experiments" / name / "README.md"
    text = readme.read_text()
    listed = sources(text)
    assert listed, f"{name}: no '## Sources' list (- **[key]** title, publisher, URL)"
    for key, entry in listed.items():
        assert re.search(r"https?://\S+", entry) or re.search(r"\b\d{4}-\d{2}-\d{2}\b", entry), \
            f"{name}: source [{key}] gives neither a URL nor a publication date"
    header, rows = inputs_rows(readme)
    status = header.index("status")
    for row in rows:
        if row[status] != "**sourced**":
            continue
        cited = re.findall(r"\[([^\]]+)\]", row[-1])
        assert cited, f"{name}: sourced row {row[0]!r} cites no [key] of the Sources list"
        missing = [c for c in cited if c not in listed]
        assert not missing, f"{name}: row {row[0]!r} cites {missing}, not in '## Sources'"


def _composed(overrides: tuple[str, ...]) -> dict[str, Any]:
    from omegaconf import OmegaConf

    from sim.compose import compose

    cfg = compose(list(overrides))
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # type: ignore[return-value]


_COMPOSED: dict[tuple[str, ...], dict[str, Any]] = {}


def composed(overrides: tuple[str, ...]) -> dict[str, Any]:
    if overrides not in _COMPOSED:
        _COMPOSED[overrides] = _composed(overrides)
    return _COMPOSED[overrides]


def lookup(cfg: Any, key: str) -> Any:
    for part in key.split("."):
        assert isinstance(cfg, dict) and part in cfg, f"no config key {key}"
        cfg = cfg[part]
    return cfg


def same(expected: Any, actual: Any) -> bool:
    """Whether the table's value matches the config's: numbers as numbers, a mapping as
    a subset of the config's, a list element by element."""
    if isinstance(expected, bool) or expected is None or isinstance(expected, str):
        return expected == actual or (isinstance(expected, str) and str(actual) == expected)
    if isinstance(expected, int | float):
        return isinstance(actual, int | float) and not isinstance(actual, bool) \
            and math.isclose(float(expected), float(actual), rel_tol=1e-9, abs_tol=1e-12)
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(k in actual and same(v, actual[k])
                                                for k, v in expected.items())
    if isinstance(expected, list):
        return isinstance(actual, list) and len(expected) == len(actual) \
            and all(same(e, a) for e, a in zip(expected, actual, strict=True))
    return False


def value_spans(cell: str) -> tuple[tuple[str, ...], list[tuple[str, str]]]:
    """A cell's overrides (``experiment=...``, ``architecture=...``, ``key=value``) and its
    checked values (``key: value``), from its backticked spans."""
    overrides, checks = [], []
    for raw in re.findall(r"`([^`]+)`", cell.replace("\\|", "|")):
        span = raw.strip()
        m = re.fullmatch(r"(experiment|architecture)=([A-Za-z0-9_]+)", span)
        if m:
            overrides.append(span)
            continue
        m = SPAN.match(span)
        if not m:
            continue
        if m[2] == "=":
            overrides.append(f"{m[1]}={m[3]}")
        else:
            checks.append((m[1], m[3]))
    return tuple(overrides), checks


@pytest.mark.parametrize("name", STUDIES)
def test_inputs_table_values_match_the_preset(name: str) -> None:
    """Every ``key: value`` of the Inputs table is what the study's preset composes to,
    and each table states enough of them to be held to its preset."""
    readme = ROOT / "experiments" / name / "README.md"
    header, rows = inputs_rows(readme)
    col = header.index("in the study")
    checked = 0
    for row in rows:
        overrides, checks = value_spans(row[col])
        experiment = [o for o in overrides if o.startswith("experiment=")]
        base = () if experiment else (f"experiment={PRESETS[name]}",)
        cfg = composed(base + overrides) if checks else {}
        for key, text in checks:
            expected = yaml.safe_load(text)
            actual = lookup(cfg, key)
            assert same(expected, actual), (f"{name}: row {row[0]!r} says {key}: {text}, the "
                                            f"preset ({' '.join(base + overrides)}) has {actual!r}")
            checked += 1
    assert checked >= 8, f"{name}: only {checked} config values in the Inputs table to check"


def read_csv(name: str, file: str) -> list[dict[str, str]]:
    with open(ROOT / "experiments" / name / file, newline="") as f:
        return list(csv.DictReader(f))


def table_after(text: str, header_start: str) -> list[list[str]]:
    """The rows (header first) of the first table whose header starts with
    ``header_start``."""
    for m in re.finditer(rf"^\| ?{re.escape(header_start)}", text, re.M):
        rows = first_table(text[m.start():])
        if rows:
            return rows
    raise AssertionError(f"no table whose header starts with {header_start!r}")


def thousands(cell: str) -> float | None:
    """"400k" -> 400000, "1M" -> 1e6, "≥ 1M" -> 1e6, "—" or text -> None."""
    m = re.search(r"(\d+(?:\.\d+)?)\s*([kM])\b", cell)
    if not m:
        return None
    return float(m[1]) * (1e3 if m[2] == "k" else 1e6)


def _pct(x: float) -> str:
    text = f"{100 * x:.1f}"
    return "100" if text == "100.0" else text


def _secs(x: float) -> str:
    return f"{x:.2f}" if x < 1 else f"{x:.1f}" if x < 20 else f"{x:.0f}"


def _mean_range(r: dict[str, str], key: str, fmt: Any, unit: str = "") -> str:
    """An architectures figure as results.csv gives it: the mean over the seeds with
    [min–max], the mean alone when the three print alike."""
    if not r[key]:
        return "—"
    m, lo, hi = (fmt(float(r[k])) for k in (key, f"{key}_min", f"{key}_max"))
    return f"{m}{unit}" if m == lo == hi else f"{m}{unit} [{lo}–{hi}]"


def test_architectures_findings_table_matches_results() -> None:
    """The findings table's failure-point bracket (over every seed), whether the seeds
    agree, and at 0.5M the joined share and p99 (mean [min–max] over the seeds) and the
    bottleneck (the label most seeds name, with its count; none is "—") are those of
    results.csv, whose label is the one its per-seed labels name most."""
    text = (ROOT / "experiments" / "architectures" / "README.md").read_text()
    rows = table_after(section(text, "Findings"), "variant")
    results = {r["variant"]: r for r in read_csv("architectures", "results.csv")}
    seen = set()
    for row in rows[1:]:
        variant = re.match(r"`([^`]+)`", row[0])
        assert variant, f"no variant in {row[0]!r}"
        r = results[variant[1]]
        seen.add(variant[1])
        n = len(r["seeds"].split(";"))
        assert n >= 3, f"{variant[1]}: {n} seeds"
        if r["fp_low"]:
            assert thousands(row[1]) == float(r["fp_low"]), f"{variant[1]}: holds up to {row[1]}"
        else:
            assert row[1].startswith("<"), f"{variant[1]}: holds up to {row[1]}, none in grid"
        if r["fp_high"]:
            assert thousands(row[2]) == float(r["fp_high"]), f"{variant[1]}: breaks by {row[2]}"
        else:
            assert thousands(row[2]) is None, f"{variant[1]}: breaks by {row[2]}, none in grid"
        agree = r["seeds_agree"] == "True"
        assert (row[3] == f"agree ({n}/{n})") if agree else row[3].startswith("disagree"), \
            f"{variant[1]}: seeds {row[3]!r} against {r['brackets_per_seed']}"
        assert row[4] == _mean_range(r, "join_ratio", _pct, "%"), \
            f"{variant[1]}: joined {row[4]} against {r['join_ratio']}"
        assert row[5] == _mean_range(r, "p99_join_s", _secs, " s"), \
            f"{variant[1]}: p99 {row[5]} against {r['p99_join_s']}"
        counts = {lab: int(c) for lab, c in (x.split(":") for x in
                                               r["bottleneck_labels"].split(";"))}
        label = r["bottleneck"] or "-"
        assert counts[label] == max(counts.values()), \
            f"{variant[1]}: {label} is not the most named of {r['bottleneck_labels']}"
        assert r["bottleneck_seeds"] == f"{counts[label]}/{n}"
        assert row[6] == f"{r['bottleneck'] or '—'} ({r['bottleneck_seeds']})", \
            f"{variant[1]}: bottleneck {row[6]!r} against {r['bottleneck']!r}"
    assert seen == set(results), f"variants missing from the table: {set(results) - seen}"


def _desantis_cell(r: dict[str, str], key: str, fmt: Any, unit: str = "") -> str:
    """A desantis_2023 figure as summary.csv gives it: the mean over the seeds with its 95%
    t interval [low–high] (the mean alone when the three print alike, or when one seed
    gave it), and on how many seeds when not all of them gave one; "—" for none."""
    if not r[f"{key}_mean"]:
        return "—"
    m = fmt(float(r[f"{key}_mean"]))
    n, seeds = int(r[f"{key}_n"]), int(r["seeds"])
    tail = f" ({n} of {seeds} seeds)" if n < seeds else ""
    if not r[f"{key}_low"]:
        return f"{m}{unit}{tail}"
    lo, hi = fmt(float(r[f"{key}_low"])), fmt(float(r[f"{key}_high"]))
    return (f"{m}{unit}" if m == lo == hi else f"{m}{unit} [{lo}–{hi}]") + tail


def _desantis_summary_cells(r: dict[str, str]) -> dict[str, str]:
    """The cells of a desantis_2023 summary row (summary.csv, sensitivity_summary.csv) as
    the README writes them, by column name."""
    def pct(x: float) -> str:
        return f"{100 * x:.1f}%".replace("100.0%", "100%")

    parts = [p.rsplit(" ", 1) for p in r["bottlenecks"].split(", ")] if r["bottlenecks"] \
        else []
    return {"SLO held on seeds": f"{r['slo_met_seeds']} of {r['seeds']}",
            "first breach": _desantis_cell(r, "first_breach_s", lambda x: f"{x:,.0f}", " s"),
            "recovered": _desantis_cell(r, "recovered_s", lambda x: f"{x:,.0f}", " s"),
            "joined": _desantis_cell(r, "join_ratio", pct),
            "p99 join": _desantis_cell(r, "p99_join_s", lambda x: f"{x:.1f}", " s"),
            "attempts per client": _desantis_cell(r, "attempts_per_client",
                                                  lambda x: f"{x:.2f}"),
            "bottleneck": ", ".join(f"{b} ({n} of {r['seeds']})" for b, n in parts) or "—",
            "arrived": f"{float(r['arrived_mean']):,.0f}"}


def _desantis_check_rows(rows: list[list[str]], by: dict[str, dict[str, str]],
                         key: Any) -> None:
    """Every cell of a README table whose column summary.csv gives equals it; ``key``
    names a row's summary from its first cell; every summary has its row."""
    header = rows[0]
    seen = set()
    for row in rows[1:]:
        name = key(row[0])
        cells = _desantis_summary_cells(by[name])
        seen.add(name)
        for h, cell in zip(header[1:], row[1:], strict=True):
            if h in cells:
                assert cell == cells[h], f"{row[0]}, {h}: {cell!r} against {cells[h]!r}"
    assert seen == set(by), f"rows missing from the table: {set(by) - seen}"


def test_desantis_tables_match_results() -> None:
    """The baseline table is summary.csv (each figure's mean and 95% t interval over the
    seeds, cell by cell), the sensitivity table sensitivity_summary.csv, the capacity
    table capacity.csv, and the failure-point table's ``min_holding`` and
    ``max_failing`` columns failure_points.csv; summary.csv is the summary of
    results.csv's seeds."""
    text = (ROOT / "experiments" / "desantis_2023" / "README.md").read_text()
    seeds = read_csv("desantis_2023", "results.csv")
    base = {r["audience"]: r for r in read_csv("desantis_2023", "summary.csv")}
    for a, r in base.items():
        ratios = [float(s["join_ratio"]) for s in seeds if s["audience"] == a]
        assert len(ratios) == int(r["seeds"]) > 1, f"{a}: {len(ratios)} seeds"
        assert math.isclose(float(r["join_ratio_mean"]), sum(ratios) / len(ratios))
        assert int(r["slo_met_seeds"]) == sum(s["slo_met"] == "True" for s in seeds
                                              if s["audience"] == a)
    rows = table_after(text, "audience | arrived")
    assert "joined" in rows[0] and "SLO held on seeds" in rows[0]
    _desantis_check_rows(rows, base, lambda c: str(int(thousands(c) or 0)))
    sens = {r["variant"]: r for r in read_csv("desantis_2023", "sensitivity_summary.csv")}
    runs = read_csv("desantis_2023", "sensitivity.csv")
    for v, r in sens.items():
        ratios = [float(s["join_ratio"]) for s in runs if s["variant"] == v]
        assert len(ratios) == int(r["seeds"]) > 1, f"{v}: {len(ratios)} seeds"
        assert math.isclose(float(r["join_ratio_mean"]), sum(ratios) / len(ratios))
    rows = table_after(text, "variant | SLO held on seeds")
    _desantis_check_rows(rows, sens, lambda c: re.search(r"`([^`]+)`", c)[1])  # type: ignore[index]
    cap = {int(r["audience"]): r for r in read_csv("desantis_2023", "capacity.csv")}
    rows = table_after(text, "audience | join hot key")
    covered = set()
    for row in rows[1:]:
        for audience in re.findall(r"(\d+)k", row[0]):
            r = cap[int(audience) * 1000]
            covered.add(int(audience) * 1000)
            assert float(row[1].split(" ")[0].replace(",", "")) == \
                float(r["join.max_rate_rps"]), f"{audience}k: hot key {row[1]}"
            assert int(row[2].split(" ")[0]) == int(r["fanout.instances"]), \
                f"{audience}k: fanout {row[2]}"
            assert row[3] == (f"yes, {r['seeds_met']} of {r['seeds']} seeds"
                              if r["held"] == "True"
                              else f"no, {r['seeds_met']} of {r['seeds']} seeds")
    assert covered == set(cap)
    # The table names two knobs; the README says no other tier ever needed more.
    for knob in ("edge.rate_limit_rps", "auth.instances", "token_store.instances"):
        assert len({float(r[knob]) for r in cap.values()}) == 1, f"{knob} was raised"
    fp = {r["tier"]: r for r in read_csv("desantis_2023", "failure_points.csv")}
    rows = table_after(text, "tier | knob")
    header = [h.lower() for h in rows[0]]
    for name in ("min_holding", "max_failing"):
        col = next(i for i, h in enumerate(header) if f"`{name}`" in h)
        for row in rows[1:]:
            stated = float(re.search(r"\d[\d,.]*", row[col])[0].replace(",", ""))  # type: ignore[index]
            assert stated == round(float(fp[row[0]][name])), \
                f"{row[0]}: {name} {row[col]} against {fp[row[0]][name]}"
    assert {row[0] for row in rows[1:]} == set(fp)
