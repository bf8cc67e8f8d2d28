"""A plain (non-editable) install carries the configs: the command works away from the
clone, with the presets found inside the installed package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_non_editable_install_finds_its_configs(tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--target", str(target), str(ROOT)], check=True, capture_output=True)
    assert (target / "sim" / "configs" / "config.yaml").is_file()
    assert (target / "sim" / "configs" / "architecture" / "spaces.yaml").is_file()
    assert (target / "sim" / "report" / "templates").is_dir()
    # Run from an empty directory with only the installed copy on the path.
    env = {**os.environ, "PYTHONPATH": str(target)}
    work = tmp_path / "elsewhere"
    work.mkdir()
    probe = subprocess.run(
        [sys.executable, "-c", "import sim, sim.cli; print(sim.__file__); "
         "print(sim.cli.config_dir())"],
        cwd=work, env=env, check=True, capture_output=True, text=True).stdout.split()
    assert probe[0].startswith(str(target)) and probe[1].startswith(str(target))
    out = work / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "arrivals.audience=2000", "run.horizon_s=400",
         "run.progress=false", f"hydra.run.dir={out}"],
        cwd=work, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    summary = json.loads((out / "summary.json").read_text())
    assert summary["legit"]["arrived"] > 0
    assert (out / "report.html").is_file()
