"""The configuration reference (docs/reference/configuration.md) is generated from the
schema by ``python -m sim.reference``; it must be exactly what the schema gives
now, so a key added, renamed or given another default shows up here until the reference
is regenerated. Also: every key of the schema is in it, with its unit where its suffix
gives one.
"""

from __future__ import annotations

import typing
from dataclasses import fields, is_dataclass
from pathlib import Path

from sim.config import SimConfig
from sim.reference import generate, main, unit

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "docs" / "reference" / "configuration.md"


def test_committed_reference_is_what_the_schema_gives() -> None:
    assert REFERENCE.is_file(), "run `.venv/bin/python -m sim.reference`"
    committed = REFERENCE.read_text(encoding="utf-8")
    assert committed == generate(), (
        "docs/reference/configuration.md differs from the schema in sim/config/; "
        "regenerate it with `.venv/bin/python -m sim.reference` from the "
        "repository's root")


def _leaves(cls: type, prefix: str = "") -> list[str]:
    """Dotted names of the schema's fields that are not dataclasses themselves (mappings
    of names and lists are cut at their own key)."""
    out = []
    for f in fields(cls):
        tp = typing.get_type_hints(cls)[f.name]
        key = f"{prefix}.{f.name}" if prefix else f.name
        if is_dataclass(tp):
            out.extend(_leaves(tp, key))
        else:
            out.append(key)
    return out


def test_every_key_of_the_schema_is_listed() -> None:
    text = REFERENCE.read_text(encoding="utf-8")
    missing = [k for k in _leaves(SimConfig) if f"`{k}`" not in text]
    assert not missing
    # Per-station keys, under their placeholder.
    assert "`architecture.stations.<station>.max_rate_rps`" in text
    assert "`attack.vectors.<vector>.rate_rps`" in text


def test_units_from_suffixes() -> None:
    assert unit("run.horizon_s") == "s"
    assert unit("architecture.stations.<station>.max_rate_rps") == "requests/s"
    assert unit("architecture.stations.<station>.link_gbps") == "Gb/s"
    assert unit("mitigation.waf.false_positive") == "share, 0 to 1"


def test_check_mode_fails_on_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "configuration.md"
    stale.write_text("# old\n", encoding="utf-8")
    assert main(["--check", "-o", str(stale)]) == 1
    assert main(["-o", str(stale)]) == 0
    assert main(["--check", "-o", str(stale)]) == 0
