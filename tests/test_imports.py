"""What importing costs, and what the project declares for what it imports.

- ``import sim.engine`` loads neither Hydra nor the report's libraries (matplotlib,
  jinja2), and ``import sim`` loads none of the report's; the public names of ``sim``
  still work, and ``sim.run`` is the function whichever submodule was imported first.
- Every third-party package imported by ``sim`` is a dependency in ``pyproject.toml``,
  one imported by ``hydra_plugins`` a dependency or in the ``cluster`` extra (its
  launchers); every one imported by the tests, the benchmarks and the experiments is a
  dependency or in the ``test`` extra (the tests also the ``cluster`` extra).
- Every package folder of ``sim`` is listed for installation.
"""

from __future__ import annotations

import ast
import importlib.metadata
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = {"matplotlib", "jinja2", "hydra"}


def loaded_after(statement: str) -> list[str]:
    """The modules of HEAVY's packages loaded by ``statement`` in a fresh interpreter."""
    code = (f"{statement}\nimport sys\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {sorted(HEAVY)!r}))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return ast.literal_eval(out.strip().splitlines()[-1])


def test_the_engine_loads_no_hydra_and_no_report_libraries() -> None:
    assert loaded_after("import sim.engine") == []


def test_the_package_loads_no_report_libraries() -> None:
    loaded = loaded_after("import sim")
    assert [m for m in loaded if m.split(".")[0] in {"matplotlib", "jinja2"}] == []
    assert loaded == []  # nothing at all until a name is used


def test_the_public_names_load_on_first_use() -> None:
    code = """
import sys, types
import sim
assert "sim.config" not in sys.modules
from sim import SimConfig, ConfigError, StationConfig, to_config, Result, Scenario, simulate
import sim.config, sim.run as run_attr
assert SimConfig is sim.config.SimConfig and simulate is sys.modules["sim.run"].simulate
assert sim.Result is sys.modules["sim.run"].Result
assert set(sim.__all__) <= set(dir(sim))
try:
    sim.no_such_name
except AttributeError:
    pass
else:
    raise AssertionError("sim.no_such_name")
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == "ok"


@pytest.mark.parametrize("first", ["import sim.run", "from sim.run import simulate",
                                   "import sim.cli", "from sim.cli import compose",
                                   "import sim.api", "from sim import run"])
def test_sim_run_is_the_function_whatever_was_imported_first(first: str) -> None:
    code = f"""
{first}
import sys, types
import sim
import sim.api
assert sim.run is sim.api.run, sim.run
assert isinstance(sys.modules["sim.run"], types.ModuleType)
import sim.run
assert sim.run is sim.api.run
from sim import run
assert run is sim.api.run
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == "ok"


def test_sim_run_can_be_replaced_and_restored(monkeypatch: pytest.MonkeyPatch) -> None:
    import sim
    import sim.api

    def stand_in(*args: object, **kwargs: object) -> str:
        return "stand-in"

    monkeypatch.setattr(sim, "run", stand_in)
    assert sim.run() == "stand-in"
    monkeypatch.undo()
    assert sim.run is sim.api.run


# -- declared dependencies ---------------------------------------------------------------

def _name(dist: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", dist).lower()


def _requirement_name(req: str) -> str:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", req)
    assert m, req
    return _name(m.group(1))


PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
RUNTIME = {_requirement_name(r) for r in PYPROJECT["project"]["dependencies"]}
EXTRAS = {k: {_requirement_name(r) for r in v}
          for k, v in PYPROJECT["project"]["optional-dependencies"].items()}


def _local_names(folder: Path) -> set[str]:
    """Modules a script in ``folder`` (or the repository root) imports from beside it."""
    names = {p.stem for p in folder.glob("*.py")} | {p.name for p in folder.iterdir()
                                                    if p.is_dir()}
    return names | {p.name for p in ROOT.iterdir() if p.is_dir()}


def third_party_imports(top: str) -> dict[str, set[str]]:
    """Top-level modules imported anywhere under ``top`` (absolute imports, at any depth
    of the code) that are neither the standard library nor the project's own, with the
    files that import them."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / top).rglob("*.py")):
        local = _local_names(path.parent)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                first = name.split(".")[0]
                if first in sys.stdlib_module_names or first in local or first == "sim" \
                        or name.startswith("hydra_plugins.sim_failure_point") \
                        or name == "hydra_plugins":  # the namespace our plugin lives in
                    continue
                found.setdefault(first, set()).add(str(path.relative_to(ROOT)))
    return found


def distributions(module: str, allowed: set[str]) -> set[str]:
    """The distributions that provide ``module``: the installed ones, or, for a module
    of an extra that is not installed here (the cluster launchers in a plain test
    install), the declared distribution of the same name."""
    dists = importlib.metadata.packages_distributions().get(module)
    if not dists and _name(module) in allowed - RUNTIME - EXTRAS["test"]:
        return {_name(module)}
    assert dists, f"{module} is imported but no installed distribution provides it"
    return {_name(d) for d in dists}


@pytest.mark.parametrize(("top", "allowed"), [
    ("sim", RUNTIME | EXTRAS["risk"]),  # SALib: the risk study's Sobol' indices
    ("hydra_plugins", RUNTIME | EXTRAS["cluster"] | EXTRAS["risk"]),
    ("tests", RUNTIME | EXTRAS["test"] | EXTRAS["cluster"]),
    ("benchmarks", RUNTIME | EXTRAS["test"]),
    ("experiments", RUNTIME | EXTRAS["test"]),
])
def test_every_third_party_import_is_declared(top: str, allowed: set[str]) -> None:
    undeclared = {module: sorted(files) for module, files in third_party_imports(top).items()
                  if not distributions(module, allowed) & allowed}
    assert undeclared == {}, f"imported but not declared in pyproject.toml: {undeclared}"


def test_the_scan_sees_the_imports_it_must() -> None:
    """The check above is only as good as the scan: it finds imports inside functions."""
    found = third_party_imports("sim")
    assert {"yaml", "joblib", "hydra", "omegaconf", "simpy", "numpy", "scipy",
            "matplotlib", "jinja2"} <= set(found)
    assert "sim/attribute.py" in found["joblib"]  # imported inside a function there


def test_every_package_folder_is_installed() -> None:
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    folders = {".".join(p.parent.relative_to(ROOT).parts)
               for p in (ROOT / "sim").rglob("__init__.py")}
    assert folders - listed == set(), "add these to [tool.setuptools] packages"
