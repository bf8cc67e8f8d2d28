"""The layers of ``sim`` and which may import which (read from the code, no import run).

The rule, from the bottom up (a layer imports only the layers named for it, and its own
modules):

- ``engine`` (``sim.engine``): the discrete-event machinery. Imports nothing else of
  ``sim``, and of the outside only SimPy, numpy and scipy.
- ``compat`` (``sim.compat``), ``atomic`` (``sim.atomic``), ``summary``
  (``sim.summary``, the schema of summary.json), ``series`` (``sim.series``, the
  columns of timeseries.csv), ``tails`` (``sim.tails``, quantiles of latency parts) and
  ``provenance`` (``sim.provenance``, the digest of the code that made a run):
  leaves that import nothing of ``sim``; every layer but the engine may use them (the
  model's components type the blocks they write, name the columns they record and take
  their latency percentiles, analysis and report read both through them, and the SLO
  judgement spreads the same latency parts).
- ``config`` (``sim.config``): the schema and its checks. Imports ``engine`` (the names of
  its distributions).
- ``model`` (``sim.model``): the launch domain built on the engine. Imports ``engine``
  and ``config``.
- ``analysis`` (``sim.analysis``): pure functions of what runs produce (SLO judgement,
  replications, attribution, coverage). Imports nothing of ``sim`` but the leaves, so the
  report and the sweepers can use it without the simulator.
- ``resolution`` (``sim.resolution``): the choice of exact or cohort mode and the guard.
  Imports ``engine``, ``config`` and ``model``.
- ``run`` (``sim.run``): runs a scenario and writes its directory. Imports ``engine``,
  ``config``, ``model``, ``analysis`` and ``resolution``.
- ``compose`` (``sim.compose``): Hydra's compose with sim's error messages. Imports
  ``config``.
- ``report`` (``sim.report``): reads run directories and writes the report. Imports
  ``analysis``, ``compose`` and ``config``, never ``run``, ``model`` or ``engine``.
- ``calibrate`` (``sim.calibrate``): fits an architecture preset to a load test's logs.
  Imports ``config``.
- faces: the package itself, ``sim.api``, ``sim.cli``, ``sim.sweep``, ``sim.attribute``,
  ``sim.__main__``, ``sim.reference`` (the configuration reference's generator, which
  composes the shipped presets) and the Hydra plugin ``hydra_plugins.sim_failure_point``.
  They may import anything; nothing below imports them.

So: engine ← config ← model ← resolution ← run ← faces, with analysis beside the
engine (used by run, report and the faces), compose and report beside run.

No module imports a private name (one with a leading underscore) from another module.

Where the code does not follow the rule yet, ``ALLOWED`` lists the import, with why; an
entry that is no longer needed fails the test, so the list only shrinks.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LEAVES = {"compat", "atomic", "summary", "series", "tails", "provenance"}
MAY_IMPORT: dict[str, set[str]] = {
    "engine": set(),
    "compat": set(),
    "atomic": set(),
    "summary": set(),
    "series": set(),
    "tails": set(),
    "provenance": set(),
    "config": {"engine"} | LEAVES,
    "model": {"engine", "config"} | LEAVES,
    "analysis": set(LEAVES),
    "resolution": {"engine", "config", "model"} | LEAVES,
    "run": {"engine", "config", "model", "analysis", "resolution"} | LEAVES,
    "compose": {"config"} | LEAVES,
    "report": {"analysis", "compose", "config"} | LEAVES,
    "calibrate": {"config"} | LEAVES,
}
FACES = {"sim", "sim.__main__", "sim.api", "sim.cli", "sim.sweep", "sim.attribute",
         "sim.reference"}
ENGINE_THIRD_PARTY = {"numpy", "scipy", "simpy"}

# Imports that break the rule today: (importing module, imported module) -> why.
ALLOWED_LAYER: dict[tuple[str, str], str] = {
    # A run records when its arrival curve peaks in summary.json; for a run directory
    # written before it did, the report rebuilds the peak from config.yaml with the
    # model's peak search (inside a function, only for such runs). Goes when the report
    # no longer reads run directories of that age.
    ("sim.report.coverage", "sim.model.peak"): "arrival_peak",
}
# Private names imported from another module: (importing module, imported module, name).
ALLOWED_PRIVATE: dict[tuple[str, str, str], str] = {
}


def layer(module: str) -> str:
    """The layer of a module of ``sim`` (or of the Hydra plugin)."""
    if module in FACES or module.startswith("hydra_plugins."):
        return "face"
    parts = module.split(".")
    assert parts[0] == "sim" and len(parts) > 1, module
    name = parts[1]
    if name in MAY_IMPORT:
        return name
    raise AssertionError(f"{module} has no layer: add it to MAY_IMPORT or FACES in "
                         f"tests/test_layers.py (and to the rule in its docstring)")


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported (for ``from a import b``: a, or a.b if b is one)
    names: tuple[str, ...]  # the names imported from it
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def is_package(module: str) -> bool:
    base = ROOT.joinpath(*module.split("."))
    return (base / "__init__.py").is_file()


def exists(module: str) -> bool:
    base = ROOT.joinpath(*module.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path) -> list[Import]:
    """Every import of ``path`` (at any depth: inside functions and TYPE_CHECKING too)."""
    me = module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [Import(me, a.name, (), node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = tuple(a.name for a in node.names)
            subs = [n for n in names if exists(f"{source}.{n}")]
            if subs and not node.module:  # from . import sweep: the submodules
                out += [Import(me, f"{source}.{n}", (), node.lineno) for n in subs]
            else:
                out.append(Import(me, source, names, node.lineno))
    return out


def project_files() -> list[Path]:
    return sorted([*(ROOT / "sim").rglob("*.py"),
                   *(ROOT / "hydra_plugins" / "sim_failure_point").rglob("*.py")])


def internal(target: str) -> bool:
    return target == "sim" or target.startswith(("sim.", "hydra_plugins.sim_failure_point"))


ALL_IMPORTS = [i for p in project_files() for i in imports_of(p)]


def test_every_module_has_a_layer() -> None:
    for path in project_files():
        layer(module_name(path))


def test_each_layer_imports_only_what_it_may() -> None:
    found: dict[tuple[str, str], str] = {}
    for i in ALL_IMPORTS:
        if not internal(i.target):
            continue
        mine, theirs = layer(i.module), layer(i.target)
        if mine in ("face", theirs):
            continue
        if theirs == "face" or theirs not in MAY_IMPORT[mine]:
            found[(i.module, i.target)] = f"line {i.line}: {mine} imports {theirs}"
    unexpected = {k: v for k, v in found.items() if k not in ALLOWED_LAYER}
    assert unexpected == {}, "imports against the layer rule (see this file's docstring)"
    stale = set(ALLOWED_LAYER) - set(found)
    assert stale == set(), f"no longer needed in ALLOWED_LAYER: {sorted(stale)}"


def test_the_engine_uses_only_simpy_numpy_and_scipy() -> None:
    outside = {(i.module, i.target) for i in ALL_IMPORTS
               if i.module.startswith("sim.engine") and not i.target.startswith("sim.engine")
               and i.target.split(".")[0] not in sys.stdlib_module_names
               and i.target.split(".")[0] not in ENGINE_THIRD_PARTY}
    assert outside == set()


def test_no_private_names_cross_modules() -> None:
    found = {(i.module, i.target, n) for i in ALL_IMPORTS if internal(i.target)
             and i.target != i.module for n in i.names
             if n.startswith("_") and not (n.startswith("__") and n.endswith("__"))}
    unexpected = found - set(ALLOWED_PRIVATE)
    assert unexpected == set(), "private names imported from another module"
    stale = set(ALLOWED_PRIVATE) - found
    assert stale == set(), f"no longer needed in ALLOWED_PRIVATE: {sorted(stale)}"


# -- the checker itself --------------------------------------------------------------------

def test_relative_imports_resolve_to_modules(tmp_path: Path) -> None:
    fluid = imports_of(ROOT / "sim" / "engine" / "fluid.py")
    assert any(i.target == "sim.engine.streams" and "round_share" in i.names for i in fluid)
    cli = imports_of(ROOT / "sim" / "cli.py")
    assert any(i.target == "sim.sweep" for i in cli)  # from . import sweep, in a function
    assert any(i.target == "sim.compose" for i in cli)
    engine_init = imports_of(ROOT / "sim" / "engine" / "__init__.py")
    assert any(i.target == "sim.engine.station" for i in engine_init)


@pytest.mark.parametrize(("module", "expected"), [
    ("sim.engine.clock", "engine"), ("sim.config", "config"), ("sim.config.schema", "config"),
    ("sim.model.clients", "model"), ("sim.report.render", "report"), ("sim.cli", "face"),
    ("sim", "face"), ("hydra_plugins.sim_failure_point.failure_point_sweeper", "face"),
    ("sim.compat.simpy", "compat"), ("sim.summary", "summary"), ("sim.series", "series"),
    ("sim.tails", "tails"), ("sim.provenance", "provenance"),
])
def test_layers_of_modules(module: str, expected: str) -> None:
    assert layer(module) == expected


def test_a_new_module_must_be_placed() -> None:
    with pytest.raises(AssertionError, match="has no layer"):
        layer("sim.somewhere_new")
