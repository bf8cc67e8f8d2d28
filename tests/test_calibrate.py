"""sim-calibrate: known parameters back from synthetic data, and clear refusals.

The synthetic timing logs are written the way the testbed writes them (testbed/timing.py)
from chosen service-time distributions, pool sizes, a cache hit ratio and a room-key
spacing; calibration must give them back. A flash crowd drawn from the simulator's own
curve must be fitted back. Bad or insufficient data must stop the command with one
paragraph and exit status 2, writing nothing.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
import yaml

from sim.calibrate import (
    CalibrationError,
    calibrate,
    fit_flash_crowd,
    fit_service,
    read_timing_log,
)
from sim.calibrate.__main__ import main
from sim.compose import compose
from sim.config import ArrivalsConfig, to_config
from sim.model.arrivals import rate_function

# tier -> (workers, queue_limit, dist, mean_s, cv)
TIERS = {
    "edge": (8, 50, "lognormal", 0.004, 0.5),
    "auth": (4, 40, "gamma", 0.010, 0.7),
    "token_store": (2, 10, "lognormal", 0.030, 1.0),
    "join": (3, 30, "lognormal", 0.020, 0.4),
    "fanout": (5, 60, "exponential", 0.008, 1.0),
}
HIT, GAP_S, N = 0.75, 1 / 180, 4000


def draw(gen: np.random.Generator, dist: str, mean: float, cv: float, n: int) -> np.ndarray:
    if dist == "lognormal":
        s = math.sqrt(math.log1p(cv**2))
        return gen.lognormal(math.log(mean) - s**2 / 2, s, n)
    if dist == "gamma":
        return gen.gamma(1 / cv**2, mean * cv**2, n)
    return gen.exponential(mean, n)


def write_log(path: Path, n: int = N, seed: int = 1, rejected: int = 0,
              waited_writes: bool = True) -> Path:
    """A timing log of ``n`` joins at 50/s through the tiers of ``TIERS``."""
    gen = np.random.default_rng(seed)
    lines = ["# testbed timing log v1"]
    lines += [f"# pool\t{t}\tworkers={w}\tqueue_limit={q}" for t, (w, q, *_) in TIERS.items()]
    lines += ["# connections\tedge\tlimit=100", "# resource\troom_key\ttier=join",
              "# slots\tfanout\tlimit=5000", "t_s\treq\ttier\tworker\twait_s\tservice_s\tstatus"]
    svc = {t: draw(gen, d, m, cv, n) for t, (_, _, d, m, cv) in TIERS.items()}
    hits = gen.random(n) < HIT
    for r in range(n):
        t = r / 50.0
        path_ = ["edge", "auth"] + ([] if hits[r] else ["token_store"]) + ["join", "fanout"]
        for tier in path_:
            status = ("hit" if hits[r] else "miss") if tier == "auth" else "ok"
            w = TIERS[tier][0]
            lines.append(f"{t:.6f}\t{r}\t{tier}\t{r % w}\t0.000100\t{svc[tier][r]:.6f}\t{status}")
            if tier == "join":
                wait = 0.001 if waited_writes else 0.0
                lines.append(f"{r * GAP_S:.6f}\t{r}\troom_key\t0\t{wait:.6f}\t0.000000\tok")
            t += svc[tier][r] + 0.0001
    lines += [f"{n / 50:.6f}\t{n + i}\tjoin\t-\t0\t0\tqueue_full" for i in range(rejected)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_round_trip_recovers_the_service(tmp_path: Path) -> None:
    cal = calibrate(read_timing_log(write_log(tmp_path / "timing.tsv")), name="synthetic")
    for tier, (workers, limit, dist, mean, cv) in TIERS.items():
        fit = cal.fits[tier]
        n = fit.n
        assert fit.dist == dist, (tier, fit.ks)
        # The sample mean is within 4 standard errors; the cv within 15%.
        assert abs(fit.mean_s - mean) < 4 * cv * mean / math.sqrt(n), tier
        assert fit.cv == pytest.approx(cv, rel=0.15), tier
        assert cal.workers[tier] == workers and cal.queue_limits[tier] == limit
    assert cal.entry == "edge"
    assert cal.routes["auth"]["join"] == pytest.approx(HIT, abs=0.03)
    assert cal.routes["token_store"] == {"join": 1.0}
    assert cal.ceilings["join"] == pytest.approx(1 / GAP_S, rel=1e-3)
    assert cal.connections == {"edge": 100} and cal.slots == {"fanout": 5000}
    arch = cal.architecture()
    assert math.fsum(arch["routes"]["auth"].values()) == 1.0


def test_the_preset_loads_in_the_simulator(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                           ) -> None:
    log = write_log(tmp_path / "timing.tsv")
    assert main(["service", "--log", str(log), "--name", "synthetic",
                 "--out", str(tmp_path / "conf")]) == 0
    assert "ceiling join: 180.0/s" in capsys.readouterr().out
    cfg = to_config(compose(["architecture=synthetic", "run.report=false"],
                            config_dir=tmp_path / "conf"))
    join = cfg.architecture.stations["join"]
    assert join.workers_per_instance == 3 and join.max_rate_rps == pytest.approx(180, rel=1e-3)
    assert cfg.architecture.stations["auth"].service.dist == "gamma"


def test_fit_reports_every_family() -> None:
    x = np.random.default_rng(3).gamma(4.0, 0.0025, 5000)  # mean 10 ms, cv 0.5
    fit = fit_service(x)
    assert fit.dist == "gamma" and set(fit.ks) == {"lognormal", "gamma", "exponential",
                                                  "normal"}
    assert fit.ks["gamma"][0] < 0.03 < fit.ks["exponential"][0]


@pytest.mark.parametrize(("make", "words"), [
    (lambda p: p / "missing.tsv", "Cannot read the timing log"),
    (lambda p: (p / "x.tsv").write_text("hello\n") and p / "x.tsv", "is not a timing log"),
    (lambda p: write_log(p / "t.tsv", n=100), "Not enough data to fit"),
    (lambda p: write_log(p / "t.tsv", rejected=200), "not at moderate load"),
    (lambda p: write_log(p / "t.tsv", waited_writes=False), "needed to measure its ceiling"),
])
def test_bad_data_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                     make, words: str) -> None:  # type: ignore[no-untyped-def]
    log = make(tmp_path)
    assert main(["service", "--log", str(log), "--out", str(tmp_path / "conf")]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err and err.count("\n") == 1
    assert not (tmp_path / "conf").exists()


CROWD = {"audience": 6000.0, "t0_s": 60.0, "early_share": 0.1, "early_window_s": 40.0,
         "push_window_s": 15.0, "reaction_median_s": 6.0, "reaction_sigma": 0.8,
         "tail_share": 0.2, "tail_tau_s": 60.0}


def crowd_counts(seed: int = 5, horizon: int = 400) -> tuple[np.ndarray, np.ndarray]:
    rate = rate_function(ArrivalsConfig(kind="flash_crowd", **CROWD))  # type: ignore[arg-type]
    t = np.arange(horizon, dtype=float)
    mu = np.mean([rate(t + (k + 0.5) / 8) for k in range(8)], axis=0)
    return t, np.random.default_rng(seed).poisson(mu).astype(float)


def test_flash_crowd_round_trip(tmp_path: Path) -> None:
    t, y = crowd_counts()
    fit = fit_flash_crowd(t, y)
    p = fit.params
    assert p["audience"] == pytest.approx(CROWD["audience"], rel=0.06)
    assert p["t0_s"] == pytest.approx(CROWD["t0_s"], abs=3)
    assert p["reaction_median_s"] == pytest.approx(CROWD["reaction_median_s"], rel=0.3)
    assert p["early_share"] == pytest.approx(CROWD["early_share"], abs=0.03)
    assert 0.7 < fit.dispersion < 1.4
    path = tmp_path / "arrivals.csv"
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["t_s", "arrivals"])
        w.writerows(zip(t, y.astype(int), strict=True))
    assert main(["arrivals", str(path), "--name", "crowd", "--out", str(tmp_path)]) == 0
    preset = yaml.safe_load((tmp_path / "arrivals" / "crowd.yaml").read_text())
    assert preset["kind"] == "flash_crowd"
    cfg = to_config(compose(["arrivals=crowd", "run.report=false"], config_dir=tmp_path))
    assert cfg.arrivals.audience == pytest.approx(p["audience"], rel=1e-3)


def test_flash_crowd_needs_data(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "few.csv"
    path.write_text("t_s,arrivals\n" + "".join(f"{i},1\n" for i in range(50)))
    assert main(["arrivals", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "Not enough data" in err and "Traceback" not in err
    with pytest.raises(CalibrationError, match="expected a CSV"):
        from sim.calibrate import read_arrivals

        (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
        read_arrivals(tmp_path / "bad.csv")
