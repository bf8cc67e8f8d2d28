"""Every command in README.md and docs/**/*.md runs, at a small scale, so the docs cannot rot.

What counts as a command: each line (with its ``\\`` continuations and heredocs) of a
fenced code block marked ``bash`` or ``sh``, and of an unmarked block whose first line
starts with ``.venv/bin/`` (the benchmarks page includes ``benchmarks/README.md``, whose
blocks are unmarked). Blocks marked ``text`` are output and are not run. ``python``
blocks are run too, one script per page. Snippet includes (``--8<-- "path"``) are read
in place. A block preceded by ``<!-- docs-test: exit N -->`` must exit with status N
(the pages that show an error message).

Each page runs as one test, its commands in order, in a temporary directory laid out
like the repository (every top-level entry linked, so ``.venv/bin/sim``,
``docs/templates`` and ``experiments/`` resolve as they do from the root), so what the
commands write (``outputs/``, ``multirun/``, ``study/``, ``site/``) stays there, and a
command can read what an earlier one on the page wrote (``sim-report multirun/fp``); a
page that reads ``outputs/default`` without making it gets the default run made first.

The scale-down mapping (``scaled``), applied to each command before it runs:

- ``sim`` and ``python -m sim`` runs and sweeps get ``arrivals.audience=20000
  run.horizon_s=600`` appended (the flash crowd's push is at t = 300 s, so the peak is
  inside the horizon), or a shorter horizon alone where the arrivals are not a flash
  crowd: experiments get their own (``EXPERIMENTS``: the presets at an audience of 2e4, the
  attack of ``x_spaces_2024`` still inside its 1200 s), ``single_station`` and constant
  arrivals ``run.horizon_s=120``. Then ``run.report=false`` (except the canonical
  ``hydra.run.dir=outputs/default`` run, whose report the pages read), and
  ``run.progress=false``. Replications (``run.replications=N``) are cut to 2.
- Sweeps (``-m``, the basic sweeper): each swept key keeps its first two values
  (``MAX_VALUES``); a swept ``arrivals.audience`` becomes ``1e4,2e4`` (``SWEPT_AUDIENCE``,
  in place of the appended audience, so the sweep still varies it); the joblib launcher
  gets ``hydra.launcher.n_jobs=2`` (its default, one worker per CPU, costs a worker start
  per core on a large machine).
- A failure-point search (``hydra/sweeper=failure_point``, ``FAILURE_POINT``): the same
  sweeper and launcher, with ``run.horizon_s=600 hydra.sweeper.replications=1
  hydra.sweeper.rel_tol=0.5 hydra.sweeper.max_probes=1 hydra.sweeper.max_expand=1``: the
  bracket's two probes in one batch, then at most one widening or one bisection probe.
  An audience search gets the bracket ``hydra.sweeper.low=2e5 hydra.sweeper.high=4e5``
  after the page's (``FP_BRACKETS``: the failure point of ``spaces`` and ``spaces_hls``
  at 600 s is about 3e5, so the search still brackets it and bisects once); a search
  over another parameter (instances of a tier) keeps the page's bracket and audience
  (``fanout.instances`` at 150,000 or 200,000 listeners: the bracket's low end fails and
  its high end holds, so the search brackets the failure point and bisects once). Were
  every count to hold (at 20,000 listeners it does), the search would widen down to 1,
  the smallest count the config allows, and end there with "the SLO holds at the
  smallest allowed value 1: no failure point in range"; it never probes a count the
  config refuses.
- ``sim-attribute`` gets the same scale-down, put after the page's own overrides (so it
  wins, as for ``sim``) and before its flags (``--factor``, ``--out``); its
  ``run.replications=N`` becomes 2. Its variants keep their reports where the page does.
- ``experiments/<name>/run.py`` is not run here: ``tests/test_study_<name>.py`` runs
  the same script at small scale (``--smoke``; ``--quick`` for ``backoff_jitter``) in
  the default suite. (``scaled`` still maps it, for a manual run.)
- ``benchmarks/bench_exact.py`` runs with ``--customers 3000 --reps 1``, ``bench_auto.py``
  with ``--quick``, ``bench_cohort.py`` with ``--quick --repeats 1``; the profiling recipe
  (a heredoc calling ``compose([...])``) gets ``arrivals.audience=20000 run.horizon_s=600``
  first in its ``compose`` list.
- ``python -m sim.reference`` runs with ``--check`` (it must not rewrite the
  committed file), ``mkdocs build`` into the temporary directory.
- ``python`` blocks run with ``sim.run`` and ``sim.compose.compose`` given
  ``arrivals.audience=20000 run.horizon_s=600`` after the block's own overrides (so the
  scale-down wins), except when the block gives an audience that is not a positive
  number (the page's error example must still raise ``sim.ConfigError``).

Not run, with the reason (``skip_reason``): installs (``pip install``; the test runs in
the venv the install made, and ``.ci/run`` makes it from scratch: the README's two
commands are its first steps), the test suite and the linters themselves (``.ci/run``
runs them), the cluster launchers (Ray, an existing Ray cluster's address, SLURM,
submitit's local executor: ``tests/test_cluster.py`` runs the same sweeps on a SLURM
cluster and a two-node Ray cluster it starts, with the ``cluster`` extra), MkDocs when
the ``docs`` extra is not installed, and
the benchmarks that compare two source trees (``compare_trees.py``,
``same_outputs.py /tmp/before``: they need a second tree).

Tiers: the pages in ``DEFAULT_PAGES`` (the README, the home page and the first two
tutorials) run by default, about two to three minutes of CPU on two cores; every other
page is marked ``slow`` and ``docs`` (``pytest -m "slow and docs"``, a budget of about six
minutes of CPU; ``.ci/run`` runs it as a step of its own).
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_PAGES = ("README.md", "docs/index.md", "docs/tutorials/first-launch-review.md",
                 "docs/tutorials/your-architecture.md")
# Not linked into the temporary directory: what the commands write, and caches.
NOT_LINKED = {"outputs", "multirun", "study", "site", ".git", "build", ".pytest_cache",
              ".mypy_cache", ".ruff_cache", ".hypothesis"}
SMALL = "arrivals.audience=20000 run.horizon_s=600"
EXPERIMENTS = {  # scale-down of an experiment preset's own scenario
    "x_spaces_2024": "arrivals.audience=2e4 run.horizon_s=1200",  # attack ends at 1140 s
    "desantis_2023": "arrivals.audience=2e4 run.horizon_s=600",
    "architectures": "arrivals.audience=2e4 run.horizon_s=600",
    "backoff_jitter": "run.horizon_s=300",
    "metastab": "",  # metastable_retry*, metastability_front_door: 180 s already
}
# A failure-point search: one replication, at most one bisection probe and one widening,
# and a bracket close to the failure point (the page's own is put first and loses).
FAILURE_POINT = ("run.horizon_s=600 hydra.sweeper.replications=1 hydra.sweeper.rel_tol=0.5 "
                 "hydra.sweeper.max_probes=1 hydra.sweeper.max_expand=1")
FP_BRACKETS = {  # param: (low, high); failure at ~3e5 (spaces and spaces_hls, 600 s)
    "arrivals.audience": ("2e5", "4e5"),
}
SWEPT_AUDIENCE = "1e4,2e4"  # a swept arrivals.audience (its first two values) becomes this
MAX_VALUES = 2  # a swept key keeps its first two values
TIMEOUT_S = 900
DEFAULT_RUN = ".venv/bin/sim hydra.run.dir=outputs/default"


@dataclass
class Command:
    page: str
    line: int
    text: str
    exit_code: int = 0


def page_text(path: Path) -> str:
    """A page with its snippet includes (``--8<-- "path"``) read in place."""
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.fullmatch(r'\s*--8<--\s+"([^"]+)"\s*', line)
        out.append((ROOT / m.group(1)).read_text(encoding="utf-8").rstrip("\n") if m
                   else line)
    return "\n".join(out) + "\n"


def blocks(text: str) -> list[tuple[int, str, list[str], int]]:
    """Fenced blocks as (first line number, language, lines, expected exit status)."""
    lines = text.splitlines()
    out: list[tuple[int, str, list[str], int]] = []
    i = 0
    while i < len(lines):
        m = re.match(r"^(\s*)```(\w*)", lines[i])
        if not m:
            i += 1
            continue
        indent, lang = len(m.group(1)), m.group(2)
        prev = next((ln for ln in reversed(lines[:i]) if ln.strip()), "")
        e = re.search(r"docs-test: exit (\d+)", prev)
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not lines[i].strip().startswith("```"):
            body.append(lines[i][indent:])
            i += 1
        i += 1
        out.append((start + 1, lang, body, int(e.group(1)) if e else 0))
    return out


def commands_of(page: str) -> tuple[list[Command], list[str]]:
    """The shell commands and the Python source of a page."""
    cmds: list[Command] = []
    python: list[str] = []
    for start, lang, body, code in blocks(page_text(ROOT / page)):
        first = next((ln for ln in body if ln.strip()), "")
        if lang == "python":
            python.append("\n".join(body))
            continue
        if not (lang in ("bash", "sh") or (lang == "" and first.startswith(".venv/bin/"))):
            continue
        j = 0
        while j < len(body):
            line, n = body[j], start + j
            j += 1
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            text = line
            while text.rstrip().endswith("\\") and j < len(body):
                text = text.rstrip()[:-1] + " " + body[j].strip()
                j += 1
            heredoc = re.search(r"<<-?\s*'?(\w+)'?", text)
            if heredoc:
                end = heredoc.group(1)
                while j < len(body):
                    text += "\n" + body[j]
                    j += 1
                    if body[j - 1].strip() == end:
                        break
            cmds.append(Command(page, n, text, code))
    return cmds, python


def _has(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:
        return False


def skip_reason(cmd: str) -> str | None:
    """Why a command is not run here (None: it is)."""
    c = _strip_install(cmd)
    if c is None or re.match(r"\S*pip install", c):
        return ("installs packages: the test runs in the venv the install made; .ci/run "
                "installs from scratch")
    if re.match(r"\.venv/bin/(pytest|ruff|mypy)\b", c):
        return "the test suite and linters: .ci/run runs them"
    if "HOST:PORT" in c:
        return "needs an existing Ray cluster (tests/test_cluster.py starts one and runs it)"
    if "submitit_slurm" in c:
        return "needs SLURM (tests/test_cluster.py starts a one-node cluster and runs it)"
    if "hydra/launcher=ray" in c or "submitit_local" in c:
        return ("the cluster launchers: tests/test_cluster.py runs the same sweeps on a "
                "SLURM cluster and a two-node Ray cluster it starts")
    m = re.match(r"\.venv/bin/python experiments/(\w+)/run\.py", c)
    if m:
        return (f"tests/test_study_{m.group(1)}.py runs this study at small scale "
                "(--smoke, or --quick) in the default suite")
    if c.startswith(".venv/bin/mkdocs") and not _has("mkdocs"):
        return "needs the docs extra (.ci/run installs it before the slow tier)"
    if "compare_trees.py" in c or "/tmp/before" in c:
        return "needs a second source tree to compare with"
    return None


def _strip_install(cmd: str) -> str | None:
    """The README's install-and-run commands without their install (None: nothing left)."""
    m = re.match(r"python3 -m venv \.venv && \.venv/bin/pip install [^&]+&& (.*)", cmd, re.S)
    if m:
        return m.group(1)
    if cmd.startswith("python3 -m venv"):
        return None
    return cmd


def _split_comment(cmd: str) -> tuple[str, str]:
    if "\n" in cmd:  # a heredoc: left as it is
        return cmd, ""
    m = re.match(r"^(.*?)(\s+#.*)?$", cmd)
    assert m is not None
    return m.group(1), ""


def _sim_scale(cmd: str) -> str:
    """The scale-down overrides for a ``sim`` or ``sim-attribute`` command."""
    exp = re.search(r"experiment=(\w+)", cmd)
    if exp:
        return next((v for k, v in EXPERIMENTS.items() if exp.group(1).startswith(k)), "")
    if "hydra/sweeper=failure_point" in cmd:
        param = re.search(r"hydra\.sweeper\.param=(\S+)", cmd)
        bracket = FP_BRACKETS.get(param.group(1) if param else "")
        if bracket is None:  # another parameter: its bracket, at the scenario's audience
            return FAILURE_POINT
        return f"{FAILURE_POINT} hydra.sweeper.low={bracket[0]} hydra.sweeper.high={bracket[1]}"
    if "single_station" in cmd or "arrivals=" in cmd:
        return "run.horizon_s=120"
    return SMALL


def _fewer_values(cmd: str) -> tuple[str, bool]:
    """A sweep (``-m``) with each swept key cut to its first ``MAX_VALUES`` values, and
    whether ``arrivals.audience`` is swept (its values then become ``SWEPT_AUDIENCE``)."""
    swept_audience = False

    def cut(m: re.Match[str]) -> str:
        nonlocal swept_audience
        key, values = m.group(1), m.group(2).split(",")
        if key == "arrivals.audience":
            swept_audience = True
            return f"{key}={SWEPT_AUDIENCE}"
        return f"{key}={','.join(values[:MAX_VALUES])}"

    out = re.sub(r"(?<=\s)([\w.+~/]+)=([^\s,'\"\[\]{}()]+(?:,[^\s,'\"\[\]{}()]+)+)(?=\s|$)",
                 cut, cmd)
    return out, swept_audience


def scaled(cmd: str, tmp: Path) -> str:
    """The command as the test runs it (see the module docstring)."""
    c = _strip_install(cmd)
    assert c is not None
    c, _ = _split_comment(c)
    c = c.strip()
    if re.match(r"\.venv/bin/(sim|python -m sim)(\s|$)", c) and "sim.config" not in c \
            and "sim.sweep" not in c:
        extra = _sim_scale(c)
        sweep = re.search(r"\s-m(\s|$)", c.replace("python -m sim", "sim")) is not None
        if sweep and "hydra/sweeper=failure_point" not in c:
            c, swept_audience = _fewer_values(c)
            if swept_audience:
                extra = extra.replace("arrivals.audience=20000 ", "")
        if sweep:
            extra += " hydra.launcher.n_jobs=2"
        if "run.replications=" in c:
            extra += " run.replications=2"
        if "hydra.run.dir=outputs/default" not in c:
            extra += " run.report=false"
        return f"{c} {extra} run.progress=false"
    if c.startswith(".venv/bin/sim-attribute"):
        # After the page's overrides (so the scale-down wins, as for sim), before its flags.
        rest = re.sub(r"run\.replications=\d+", "run.replications=2",
                      c.removeprefix(".venv/bin/sim-attribute"))
        m = re.search(r"\s--\w", rest)
        at = m.start() if m else len(rest)
        return (f".venv/bin/sim-attribute{rest[:at]} {_sim_scale(c)} run.progress=false"
                f"{rest[at:]}")
    m = re.match(r"\.venv/bin/python experiments/(\w+)/run\.py", c)
    if m:
        small = "--quick" if m.group(1) == "backoff_jitter" else "--smoke"
        return f"{c} {small} --out {tmp / 'study_out' / m.group(1)}"
    if "benchmarks/bench_exact.py" in c and "--customers" not in c:
        return f"{c} --customers 3000 --reps 1"
    if "benchmarks/bench_cohort.py" in c:
        return f"{c} --quick --repeats 1"
    if "benchmarks/bench_auto.py" in c:
        return f"{c} --quick"
    if "cProfile" in c and "compose([" in c:  # the profiling recipe: the default run, small
        small = ", ".join(f'"{o}"' for o in SMALL.split())
        return c.replace("compose([", f"compose([{small}, ", 1)
    if "sim.reference" in c and "--check" not in c:
        return f"{c} --check"
    if "mkdocs build" in c:
        return f"{c} --site-dir {tmp / 'site'}"
    return c


def workdir(tmp: Path) -> Path:
    """A directory laid out like the repository's root, writing into ``tmp``."""
    for entry in ROOT.iterdir():
        if entry.name not in NOT_LINKED and not (tmp / entry.name).exists():
            (tmp / entry.name).symlink_to(entry)
    return tmp


PRELUDE = textwrap.dedent(f"""
    import sim, sim.api, sim.compose
    _SMALL = {SMALL.split()!r}
    _run, _compose = sim.api.run, sim.compose.compose
    def _small(overrides):
        # The scale-down after the block's overrides (it wins), unless the block gives an
        # audience that is not a positive number (the page's error example keeps it).
        ov = list(overrides or [])
        for o in ov:
            if o.startswith("arrivals.audience="):
                try:
                    if not float(o.split("=", 1)[1]) > 0:
                        return ov
                except ValueError:
                    return ov
        return [*ov, *_SMALL]
    def _small_run(overrides=None, *a, **k):
        return _run(_small(overrides), *a, **k)
    def _small_compose(overrides=None, *a, **k):
        return _compose(_small(overrides), *a, **k)
    sim.run = _small_run
    sim.api.run = _small_run
    sim.compose.compose = _small_compose
    import os
    os.makedirs("outputs", exist_ok=True)
""")


def pages() -> list[str]:
    docs = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").rglob("*.md"))
    return ["README.md", *[p for p in docs if p != "docs/reference/configuration.md"]]


def _params() -> list[object]:
    return [pytest.param(p, id=p, marks=() if p in DEFAULT_PAGES
                         else (pytest.mark.slow, pytest.mark.docs))
            for p in pages()]


def test_commands_are_found() -> None:
    """The extraction sees the README's commands and the mapping covers them."""
    cmds, python = commands_of("README.md")
    texts = [c.text for c in cmds]
    assert texts[0].startswith("python3 -m venv .venv && .venv/bin/pip install . && ")
    assert skip_reason(texts[1]) is not None  # the test suite itself
    assert any("hydra/sweeper=failure_point" in t for t in texts)
    assert python and "sim.run(" in python[0]
    # Every command of every page is written with the venv's bin path.
    for page in pages():
        for c in commands_of(page)[0]:
            first = _strip_install(c.text) or ""
            assert first.startswith(".venv/bin/") or c.text.startswith("python3 -m venv"), \
                f"{page}:{c.line}: {c.text!r} does not use .venv/bin/"


@pytest.mark.parametrize("page", _params())
def test_page_commands_run(page: str, tmp_path: Path) -> None:
    cmds, python = commands_of(page)
    if not cmds and not python:
        pytest.skip("no commands on this page")
    cwd = workdir(tmp_path)
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
           "NO_MKDOCS_2_WARNING": "1"}
    ran = 0
    for c in cmds:
        if skip_reason(c.text) is not None:
            continue
        if "outputs/default" in c.text and "hydra.run.dir" not in c.text \
                and not (cwd / "outputs" / "default").exists():
            # A page that reads the default run without making it: make it first.
            subprocess.run(["bash", "-c", scaled(DEFAULT_RUN, tmp_path)], cwd=cwd,
                           timeout=TIMEOUT_S, env=env, check=True, capture_output=True)
        run = scaled(c.text, tmp_path)
        proc = subprocess.run(["bash", "-c", run], cwd=cwd, capture_output=True, text=True,
                              timeout=TIMEOUT_S, env=env, check=False)
        assert proc.returncode == c.exit_code, (
            f"{page}:{c.line}: `{run}` exited {proc.returncode}, expected {c.exit_code}\n"
            f"{proc.stderr[-3000:]}")
        ran += 1
    if python:
        script = PRELUDE + "\n".join(python)
        proc = subprocess.run([sys.executable, "-c", script], cwd=cwd, capture_output=True,
                              text=True, timeout=TIMEOUT_S, env=env, check=False)
        assert proc.returncode == 0, f"{page}: its Python blocks failed\n{proc.stderr[-3000:]}"
        ran += 1
    assert ran or all(skip_reason(c.text) for c in cmds)


def test_notebook_has_the_pages_code() -> None:
    """docs/tutorials/python-api.ipynb holds the code of its page, cell for cell."""
    import json

    nb = json.loads((ROOT / "docs/tutorials/python-api.ipynb").read_text(encoding="utf-8"))
    cells = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert cells == [p.rstrip("\n") for p in commands_of("docs/tutorials/python-api.md")[1]]
