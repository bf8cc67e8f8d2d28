"""``sim-calibrate``: presets from a load test.

    sim-calibrate service --log timing.tsv --locust out/locust --name testbed --out cal
    sim-calibrate arrivals arrivals.csv --name crowd --out cal

``service`` writes ``OUT/architecture/NAME.yaml`` (then ``sim --config-dir OUT
architecture=NAME``) and ``OUT/calibration.json`` (the fits and every figure the preset
rests on); ``arrivals`` writes ``OUT/arrivals/NAME.yaml``. Each prints what it found.
Before writing, the preset is checked by the simulator's own validation. Bad or
insufficient data: one paragraph on stderr, exit status 2, nothing written.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .arrivals import chi2_pvalue, fit_flash_crowd, read_arrivals
from .errors import CalibrationError
from .logs import read_locust, read_timing_log
from .service import Calibration, calibrate, preset


def check_architecture(arch: dict[str, Any]) -> None:
    """Validate ``arch`` as the simulator would load it (``sim.config``)."""
    from omegaconf import OmegaConf

    from sim.config import ArchitectureConfig, ArrivalsConfig, ConfigError
    from sim.config.architecture import validate_architecture
    from sim.config.arrivals import validate_arrivals

    try:
        if "stations" in arch:
            obj = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(
                ArchitectureConfig), arch))
            validate_architecture(obj)  # type: ignore[arg-type]
        else:
            a = OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ArrivalsConfig), arch))
            validate_arrivals("arrivals", a)  # type: ignore[arg-type]
    except ConfigError as exc:
        raise CalibrationError(f"The calibrated preset is not valid: {exc}") from None


def report(cal: Calibration) -> str:
    lines = [f"[calibrate] {cal.rate_rps:.1f} joins/s at the entry ({cal.entry}); tiers:"]
    for tier, f in cal.fits.items():
        gof = ", ".join(f"{k} D={d:.3f}" for k, (d, _) in sorted(f.ks.items(),
                                                              key=lambda kv: kv[1][0]))
        lines.append(f"  {tier}: {cal.workers[tier]} workers, queue {cal.queue_limits[tier]}, "
                     f"{f.dist} mean {f.mean_s * 1000:.2f} ms cv {f.cv:.3f} "
                     f"({cal.utilization[tier]:.0%} busy){' POOR FIT' if f.poor else ''}")
        if gof:
            lines.append(f"      KS distance by family: {gof}")
    for a, r in cal.routes.items():
        lines.append(f"  route {a} -> " + ", ".join(f"{b} {p:.4f}" for b, p in r.items()))
    lines += [f"  ceiling {t}: {r:.1f}/s (measured)" for t, r in cal.ceilings.items()]
    if cal.locust is not None:
        lines.append(f"  locust: {cal.locust.requests} attempts at {cal.locust.rps:.1f}/s, "
                     f"{cal.locust.failures} failed; p50 {cal.locust.p50_s * 1000:.0f} ms, "
                     f"p99 {cal.locust.p99_s * 1000:.0f} ms")
    if cal.overhead_s is not None:
        lines.append(f"  outside the tiers (client p50 - median time in tiers): "
                     f"{cal.overhead_s * 1000:.1f} ms, not modelled")
    lines += [f"  note: {n}" for n in cal.notes]
    return "\n".join(lines)


def summary(cal: Calibration) -> dict[str, Any]:
    return {"rate_rps": cal.rate_rps, "entry": cal.entry, "routes": cal.routes,
            "ceilings": cal.ceilings, "workers": cal.workers,
            "queue_limits": cal.queue_limits, "utilization": cal.utilization,
            "fits": {t: {"dist": f.dist, "mean_s": f.mean_s, "cv": f.cv, "n": f.n,
                         "ks": {k: {"D": d, "p": p} for k, (d, p) in f.ks.items()}}
                     for t, f in cal.fits.items()},
            "overhead_s": cal.overhead_s, "notes": cal.notes,
            "architecture": cal.architecture()}


def run_service(args: argparse.Namespace) -> None:
    log = read_timing_log(args.log)
    locust = read_locust(args.locust) if args.locust else None
    cal = calibrate(log, locust, args.name)
    check_architecture(cal.architecture())
    out = Path(args.out)
    (out / "architecture").mkdir(parents=True, exist_ok=True)
    path = out / "architecture" / f"{args.name}.yaml"
    path.write_text(preset(cal))
    (out / "calibration.json").write_text(json.dumps(summary(cal), indent=1) + "\n")
    print(report(cal))
    print(f"[calibrate] wrote {path} (sim --config-dir {out} architecture={args.name})")


def run_arrivals(args: argparse.Namespace) -> None:
    t, y = read_arrivals(args.csv)
    fit = fit_flash_crowd(t, y, str(args.csv))
    cfg = fit.config()
    check_architecture(cfg)
    import yaml

    out = Path(args.out) / "arrivals"
    out.mkdir(parents=True, exist_ok=True)
    path = out / f"{args.name}.yaml"
    head = (f"# Fitted by sim-calibrate to {args.csv}: Poisson deviance {fit.deviance:.1f} on "
            f"{fit.dof} degrees of freedom (p = {chi2_pvalue(fit):.3g}); largest cumulative "
            f"gap {fit.max_cumulative_gap:.2%} of the arrivals.\n")
    path.write_text(head + yaml.safe_dump(cfg, sort_keys=False))
    print("[calibrate] flash crowd: " + ", ".join(f"{k}={v:g}" for k, v in cfg.items()
                                                 if k != "kind"))
    print(f"[calibrate] deviance/dof {fit.dispersion:.2f}, largest cumulative gap "
          f"{fit.max_cumulative_gap:.2%}; wrote {path}")


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="sim-calibrate", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("service", help="an architecture preset from a timing log")
    s.add_argument("--log", required=True, help="the service's timing log")
    s.add_argument("--locust", help="the prefix given to locust --csv (optional)")
    s.add_argument("--name", default="calibrated", help="the preset's name")
    s.add_argument("--out", default="calibrated", help="the config directory to write")
    s.set_defaults(func=run_service)
    a = sub.add_parser("arrivals", help="a flash_crowd arrivals preset from per-second counts")
    a.add_argument("csv", help="CSV with the columns t_s and arrivals")
    a.add_argument("--name", default="calibrated_crowd")
    a.add_argument("--out", default="calibrated")
    a.set_defaults(func=run_arrivals)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except CalibrationError as exc:
        print(f"sim-calibrate: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
