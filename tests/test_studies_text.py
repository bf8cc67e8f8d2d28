"""Each study's README keeps facts, hypotheses and assumptions apart and says how its
numbers converged (text only, no run).

Every ``experiments/<name>/README.md`` has:

- an ``## Inputs`` section whose table has a ``status`` column, every row marked
  **sourced**, **hypothesis** or **assumption** (and a sourced row names its source in
  the last column), with at least one of each;
- a ``**Convergence.**`` paragraph that names the mode its numbers came from (exact or
  cohort) and says they are to be rerun;
- for the incident studies, a ``## Held to the reported counts`` section.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
STUDIES = ("x_spaces_2024", "desantis_2023", "metastability", "architectures",
           "backoff_jitter")
INCIDENTS = ("x_spaces_2024", "desantis_2023")
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
