"""The configuration reference, generated from the schema.

``python -m sim.reference`` writes ``docs/reference/configuration.md`` (in the
current directory; ``-o PATH`` elsewhere, ``-o -`` to standard output); ``--check``
only compares and exits 1 when the file differs from what the schema gives, which is
what ``tests/test_docs_reference.py`` does, so the reference cannot drift from the code.

Everything comes from the code: the keys, types and defaults from the dataclasses of the
configuration package (``sim.config``: ``SimConfig`` and below), the allowed values from
their enums, which kinds use a key from the kinds' tables (``ARRIVAL_KIND_KEYS``,
``AUTOSCALER_KIND_KEYS``, ``ATTACK_KIND_KEYS``), the descriptions from the comments
beside each field, the unit from the key's suffix (``_s`` seconds, ``_rps`` requests per
second, ...), the value in the default scenario from composing the shipped configs with
no override, and the presets of each group from the shipped config directory.
"""

from __future__ import annotations

import argparse
import inspect
import io
import re
import sys
import tokenize
import typing
from dataclasses import MISSING, fields, is_dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from .config.arrivals import ARRIVAL_KIND_KEYS
from .config.attack import ATTACK_KIND_KEYS
from .config.autoscaler import AUTOSCALER_KIND_KEYS, STATION_AUTOSCALER_KEYS, AutoscalerMetric
from .config.paths import shipped_config_dir
from .config.root import SimConfig

DEFAULT_OUTPUT = Path("docs/reference/configuration.md")

# The groups in the order the reference lists them, with the module that defines each.
GROUPS = ("run", "arrivals", "architecture", "clients", "autoscaler", "attack",
          "mitigation", "slo", "report")

# What a name stands for where the schema has a mapping of names to settings.
PLACEHOLDERS = {"stations": "<station>", "vectors": "<vector>", "per_station": "<station>",
                "routes": "<from>", "detection": "<vector or kind>",
                "bot_pass": "<vector or kind>"}
INNER_PLACEHOLDERS = {"routes": "<to>"}

# Keys whose value names a station of the architecture.
STATION_KEYS = {"entry", "enter", "stop_after", "lookup", "watch", "origin", "station"}

# Types the annotations do not say precisely.
TYPES = {
    "run.resolution_s": ("`auto` or float", "`auto`, 0 (exact mode) or a cohort tick > 0"),
    "arrivals.components": ("list of arrival curves",
                            "each a mapping of `arrivals` keys with its own `kind`"),
    "autoscaler.metrics": ("list of str or null",
                           ", ".join(f"`{m.value}`" for m in AutoscalerMetric)),
    "autoscaler.per_station.<station>": (
        "mapping", "keys of `autoscaler` but stations, per_station, event_start_s: "
        + ", ".join(f"`{k}`" for k in STATION_AUTOSCALER_KEYS)),
    "autoscaler.stations": ("list of str or null", "stations of the architecture"),
}

# Descriptions of keys whose field has no comment beside it (by key, or by the last
# names of the key: ``service.mean_s``).
DESCRIPTIONS = {
    "run.seed": "One seed per run; each component draws from its own named stream.",
    "run.horizon_s": "Simulated time the run covers.",
    "run.warmup_s": "Waits, latencies and utilization means count requests that arrive "
                    "after it; counts cover the whole horizon.",
    "run.exact_budget_s": "`auto` runs exact mode when its estimated wall time is within "
                          "this.",
    "run.metrics_tick_s": "One row of timeseries.csv per tick; the SLO is judged per tick.",
    "run.progress": "Print simulated time and events per second on stderr.",
    "run.report": "Write report.md and report.html (and a sweep's launch review).",
    "run.confidence": "Confidence of the replications' Student t intervals.",
    "arrivals.kind": "The arrival curve; each kind reads only its own keys.",
    "architecture.name": "The architecture's name shown in reports.",
    "architecture.entry": "The station every request starts at.",
    "architecture.bitrate_kbps": "Audio bitrate: listener slots are capped at egress ÷ "
                                 "bitrate.",
    "architecture.stations": "The stations of the join path.",
    "architecture.routes": "Where a request goes after each station.",
    "mitigation.waf.detection": "Detection probability per attack vector name or kind.",
    "mitigation.challenge.bot_pass": "Pass probability of bots, per vector name or kind.",
    "instances": "Instances at the start.",
    "workers_per_instance": "Requests one instance serves at once; all workers of the "
                            "station share one FIFO queue.",
    "service.dist": "Service-time distribution (`normal` is folded at 0).",
    "service.mean_s": "Mean service time.",
    "service.cv": "Coefficient of variation of the service time.",
    "drop_expired": "Skip requests whose client already gave up (otherwise they are served "
                    "as wasted work).",
    "rate_limit_burst": "Bucket size of the tier's token bucket (null: one second of "
                        "rate_limit_rps).",
    "min_instances": "Fewest instances an autoscaler keeps.",
    "autoscale": "Whether an autoscaler (`autoscaler.stations` null) scales this station.",
    "provisioning_delay_s": "From launch to serving, for an instance an autoscaler adds.",
    "outages": "Scheduled capacity drops.",
    "outages[].start_s": "Start of the outage.",
    "outages[].end_s": "End of the outage.",
    "outages[].capacity_share": "Share of the workers left during the outage (0: down).",
    "slowdown.factor": "How many times slower service is above the rate.",
    "slowdown.window_s": "Window over which the rate is measured.",
    "slowdown.counts": "What the rate counts: requests offered to the tier, or only those "
                       "it started (not those rejected, shed or dropped as expired).",
    "crash.enabled": "Overload crashes on or off.",
    "failures": "Servers lost at given times.",
    "failures[].at_s": "When the servers are lost.",
    "failures[].instances": "How many are lost (chosen at random).",
    "failures[].restart_s": "Back after this long (null: never).",
    "retry_ratio_window_s": "Window of the server-side retry ratio.",
    "architecture.routes.<from>.<to>": "Probability that a request served at `<from>` goes "
                                       "on to `<to>`; a station's routes add up to 1, none: "
                                       "the path ends there.",
    "architecture.waiting_room.enabled": "A FIFO waiting room in front of the entry.",
    "clients.retry.policy": "Backoff between attempts (`immediate`: at once, no backoff).",
    "clients.retry.base_s": "Backoff base.",
    "clients.retry.cap_s": "Backoff cap.",
    "clients.retry.max_attempts": "Attempts before the client abandons.",
    "clients.session.dist": "Listening-time distribution.",
    "clients.session.mean_s": "Mean listening time.",
    "clients.session.cv": "Coefficient of variation of the listening time.",
    "enabled": "Switches this part on.",
    "clients.circuit_breaker.window_s": "Trailing window of the failure count and ratio.",
    "autoscaler.kind": "Which autoscaler (`none`: fixed instances).",
    "autoscaler.target_utilization": "Target of the `cpu` metric (busy ÷ capacity).",
    "autoscaler.sync_period_s": "How often the autoscaler evaluates.",
    "autoscaler.target_queue_per_instance": "Target of the `queue` metric.",
    "autoscaler.steps[].adjustment": "Change applied when utilization − target is in "
                                     "[lower, upper).",
    "autoscaler.schedule": "Scheduled actions.",
    "autoscaler.schedule[].at_s": "When, from event_start_s.",
    "autoscaler.schedule[].min_instances": "New minimum (null: unchanged).",
    "autoscaler.schedule[].max_instances": "New maximum (null: unchanged).",
    "autoscaler.schedule[].desired": "New desired count (null: unchanged).",
    "autoscaler.warm_pool.size": "Pre-initialised instances kept in the pool.",
    "autoscaler.warm_pool.delay_s": "From the pool to serving.",
    "autoscaler.provisioning_dist": "Distribution of the provisioning delay.",
    "autoscaler.provisioning_cv": "Its coefficient of variation.",
    "autoscaler.warmup_speed": "Share of the workers a warming instance serves with.",
    "attack.name": "The attack's name shown in reports.",
    "attack.vectors": "The vectors of the attack mix.",
    "attack.vectors.<vector>.kind": "What the vector sends; each kind reads only its own keys.",
    "attack.vectors.<vector>.start_s": "When the vector starts.",
    "attack.vectors.<vector>.end_s": "When it stops.",
    "mitigation.name": "The mitigation's name shown in reports.",
    "mitigation.rate_limit_per_source.rps_per_source": "Token rate per address.",
    "mitigation.rate_limit_per_source.burst_per_source": "Bucket size per address.",
    "mitigation.rate_limit_per_source.legit_nat_addresses": "Addresses the NATed legit "
                                                            "requests share.",
    "cost_s": "Worker time added to every request the mitigating station serves.",
    "mitigation.challenge.default_bot_pass": "Share of bots that pass, for vectors not named "
                                             "in bot_pass.",
    "mitigation.scrubbing.capacity_gbps": "Above it, everything into the scrubber is lost in "
                                          "proportion.",
    "slo.window_s": "The sliding window the SLO is judged over, at every tick.",
}


# Units by the key's last name, where the suffix does not tell.
UNITS = {
    "price_per_instance_hour": "USD per instance-hour",
    "rate": "clients/s", "rate_start": "clients/s", "rate_end": "clients/s",
    "base_rate": "clients/s", "audience": "clients", "count": "clients",
    "packet_bytes": "bytes", "queue_limit": "requests", "instances": "instances",
    "min_instances": "instances", "max_instances": "instances", "desired": "instances",
    "workers_per_instance": "workers", "connections_per_instance": "connections",
    "listener_slots_per_instance": "listeners", "max_launches_per_min": "launches/min",
    "max_in_system": "requests", "burst": "users", "rate_limit_burst": "requests",
    "burst_per_source": "requests", "sources": "addresses",
    "legit_nat_addresses": "addresses", "max_attempts": "attempts",
    "target_queue_per_instance": "requests", "target_listeners_per_instance": "listeners",
    "capacity": "tokens", "retry_cost": "tokens", "timeout_retry_cost": "tokens",
    "success_refund": "tokens", "min_requests": "requests", "failure_count": "failures",
    "half_open_probes": "requests", "min_attempts": "attempts", "replications": "runs",
    "size": "instances", "rps_per_listener": "requests/s per listener",
    "headroom": "ratio", "factor": "ratio", "warmup_speed": "ratio",
    "rps_per_source": "requests/s per address", "routes": "probability",
}
SHARES = {"share", "pass", "detection", "false_positive", "utilization", "tolerance",
          "amplitude", "min", "confidence", "forecast_error", "ratio_max", "failure_ratio"}
SUFFIXES = (("_s", "s"), ("_ms", "ms"), ("_rps", "requests/s"), ("_gbps", "Gb/s"),
            ("_kbps", "kb/s"), ("_kb", "kB"))


def unit(key: str) -> str:
    """The unit of a key, from its last name."""
    parts = [p for p in key.split(".") if not p.startswith("<")]
    name = parts[-1]
    if name in UNITS:
        return UNITS[name]
    for suffix, text in SUFFIXES:
        if name.endswith(suffix):
            return text
    if any(name == s or name.endswith("_" + s) for s in SHARES):
        return "share, 0 to 1"
    if name in ("lower", "upper"):
        return "utilization − target"
    return ""


def _unwrap(tp: Any) -> tuple[Any, bool]:
    args = typing.get_args(tp)
    if type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]), True  # noqa: UP007
    return tp, False


def _comments(cls: type) -> dict[str, str]:
    """The comments beside each field of a dataclass: the one at the end of its line, and
    the block right above it (unless it only names a kind, like ``# ramp``)."""
    try:
        src = inspect.getsource(cls)
    except (OSError, TypeError):
        return {}
    lines = src.splitlines()
    trailing: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(src).readline):
        if tok.type == tokenize.COMMENT:
            trailing[tok.start[0] - 1] = tok.string.lstrip("#").strip()
    out: dict[str, str] = {}
    for i, line in enumerate(lines):
        m = re.match(r"\s+(\w+)\s*:", line)
        if m is None or line.strip().startswith("#"):
            continue
        name = m.group(1)
        text = trailing.get(i, "") if "#" in line else ""
        block: list[str] = []
        j = i - 1
        while j >= 0 and lines[j].strip().startswith("#"):
            block.insert(0, lines[j].strip().lstrip("#").strip())
            j -= 1
        above = " ".join(block)
        if re.fullmatch(r"\w+", above):  # a heading that names a kind: ``# ramp``
            above = ""
        out[name] = " ".join(p for p in (above, text) if p)
    return out


def _describe(text: str) -> str:
    text = re.sub(r'README "([^"]+)"', r'the user guide, "\1"', text)
    text = re.sub(r"\bNone\b", "null", text)
    return text.replace("|", "\\|")


def _literal(value: Any) -> str:
    if value is MISSING or value == "???":
        return "required"
    if value is None:
        return "`null`"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, Enum):
        return f"`{value.value}`"
    if isinstance(value, float):
        text = f"{value:.12g}"
        return f"`{text}`"
    if isinstance(value, str):
        return f"`{value}`" if value else '`""`'
    if isinstance(value, list | dict | tuple):
        return f"`{value!r}`".replace("'", "") if value else ("`[]`" if isinstance(
            value, list | tuple) else "`{}`")
    return f"`{value}`"


def _type_text(tp: Any) -> tuple[str, str]:
    """(type, allowed values) of an annotation."""
    inner, optional = _unwrap(tp)
    allowed = ""
    if isinstance(inner, type) and issubclass(inner, Enum):
        text = "enum"
        allowed = ", ".join(f"`{e.value}`" for e in inner)
    elif inner is bool:
        text = "bool"
    elif inner is int:
        text = "int"
    elif inner is float:
        text = "float"
    elif inner is str:
        text = "str"
    elif typing.get_origin(inner) is list:
        (arg,) = typing.get_args(inner) or (Any,)
        text = f"list of {getattr(arg, '__name__', 'values')}"
        if is_dataclass(arg):
            text = "list of mappings"
    elif typing.get_origin(inner) is dict:
        text = "mapping"
    else:
        text = "any"
    return (f"{text} or null" if optional else text), allowed


def _used_by(group: str, path: str) -> str:
    """Which kinds read a key, for the groups whose keys depend on a kind."""
    parts = path.split(".")
    table: dict[str, tuple[str, ...]] | None = None
    name = parts[-1]
    if group == "arrivals" and len(parts) == 2:
        table = ARRIVAL_KIND_KEYS
    elif group == "autoscaler" and len(parts) >= 2 and parts[1] != "per_station":
        table = AUTOSCALER_KIND_KEYS
        name = parts[1]
    elif group == "attack" and len(parts) == 4 and parts[1] == "vectors":
        table = ATTACK_KIND_KEYS
    if table is None or name == "kind":
        return ""
    users = [k for k, keys in table.items() if name in keys]
    if not users or len(users) == len([k for k, v in table.items() if v]):
        return ""
    return "Used by kind " + ", ".join(f"`{u}`" for u in users) + "."


Row = tuple[str, str, str, str, str, str, str]


def _rows(cls: Any, prefix: str, group: str, defaults: Any) -> list[Row]:
    rows: list[Row] = []
    hints = typing.get_type_hints(cls)
    notes = _comments(cls)
    instance = cls()
    for f in fields(cls):
        key = f"{prefix}.{f.name}" if prefix else f.name
        tp = hints[f.name]
        inner, _ = _unwrap(tp)
        default = getattr(instance, f.name) if f.default is not MISSING or \
            f.default_factory is not MISSING else MISSING
        note = notes.get(f.name, "")
        if is_dataclass(inner):
            rows.extend(_rows(inner, key, group, defaults))
            continue
        origin = typing.get_origin(inner)
        if origin is dict:
            value_tp = typing.get_args(inner)[1]
            ph = PLACEHOLDERS.get(f.name, "<name>")
            sub = f"{key}.{ph}"
            if is_dataclass(value_tp):
                name = getattr(value_tp, "__name__", "settings")
                rows.append(_row(key, "mapping", f"names of your choice → {name}"
                                 .replace("Config", " settings"), default, group, note,
                                 defaults))
                rows.extend(_rows(value_tp, sub, group, None))
                continue
            rows.append(_row(key, "mapping", "", default, group, note, defaults))
            note = ""
            if typing.get_origin(value_tp) is dict:
                sub = f"{sub}.{INNER_PLACEHOLDERS.get(f.name, '<name>')}"
                value_tp = typing.get_args(value_tp)[1]
            type_text, allowed = TYPES.get(sub) or _type_text(value_tp)
            rows.append(_row(sub, type_text, allowed, MISSING if sub != key else default,
                             group, note, None))
            continue
        if origin is list:
            (arg,) = typing.get_args(inner) or (Any,)
            type_text, allowed = TYPES.get(key) or _type_text(tp)
            rows.append(_row(key, type_text, allowed, default, group, note, defaults))
            if is_dataclass(arg):
                rows.extend(_rows(arg, f"{key}[]", group, None))
            continue
        type_text, allowed = TYPES.get(key) or _type_text(tp)
        if not allowed and f.name in STATION_KEYS and "str" in type_text:
            allowed = "a station of the architecture"
        rows.append(_row(key, type_text, allowed, default, group, note, defaults))
    return rows


def _row(key: str, type_text: str, allowed: str, default: Any, group: str, note: str,
         defaults: Any) -> Row:
    in_default = ""
    if defaults is not None and "<" not in key and "[]" not in key:
        from omegaconf import OmegaConf

        value = OmegaConf.select(defaults, key, default="???")
        if hasattr(value, "_content"):
            value = OmegaConf.to_container(value)
        if isinstance(value, dict):  # a mapping of names: the names
            value = ", ".join(value) if value != default else "???"
            in_default = value if value != "???" else ""
            value = "???"
        plain = default.value if isinstance(default, Enum) else default
        if value not in ("???", plain) and not (
                isinstance(value, int | float) and isinstance(plain, int | float)
                and not isinstance(value, bool) and float(value) == float(plain)):
            in_default = _literal(value)
    default_text = "—" if default is MISSING and "<" in key else _literal(default)
    if not note:
        generic = re.sub(r"^architecture\.stations\.<station>\.|^[a-z_]+\.(?:[a-z_]+\.)*",
                         "", key)
        tail = key.rsplit("<station>.", maxsplit=1)[-1]
        note = DESCRIPTIONS.get(key) or DESCRIPTIONS.get(tail) or DESCRIPTIONS.get(generic, "")
    desc = " ".join(p for p in (_describe(note), _used_by(group, key)) if p)
    return (f"`{key}`", type_text, allowed, default_text, in_default, unit(key), desc)


def _presets(group: str) -> list[str]:
    d = shipped_config_dir() / group
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def _summary(group: str) -> str:
    """The first paragraph of the group's module docstring."""
    import importlib

    doc = importlib.import_module(f"sim.config.{group}").__doc__ or ""
    first = doc.strip().split("\n\n")[0]
    return _describe(" ".join(first.split()))


def _default_config() -> Any:
    from .compose import compose

    return compose([])


def generate() -> str:
    """The whole reference, as Markdown."""
    defaults = _default_config()
    out = io.StringIO()
    w = out.write
    w("# Configuration reference\n\n")
    w("<!-- Generated by `python -m sim.reference` from the schema in sim/config/. "
      "Do not edit by hand: tests/test_docs_reference.py fails when this file differs "
      "from what the schema gives. -->\n\n")
    w("Every key of a scenario, by group: its type, its allowed values, the default a key "
      "left out gets (the schema's), its value in the default scenario where that "
      "differs (`sim` with no override: the presets of `configs/config.yaml`), its unit "
      "and what it does. Set any key on the command line (`run.seed=7`), in a preset "
      "of its group (`configs/<group>/<name>.yaml`, chosen with `<group>=<name>`) or in "
      "a preset of your own (`--config-dir DIR`). Names in angle brackets are yours: "
      "`architecture.stations.<station>.instances` is `architecture.stations.join."
      "instances` for a station named `join`; `[]` marks the items of a list.\n\n")
    w("A key left out of a YAML file gets the default of this page, not the value of "
      "another preset: a station you describe without `autoscale` has `autoscale: true`, "
      "and one without `provisioning_delay_s` has 60 s.\n\n")
    header = ("| key | type | allowed values | default | default scenario | unit | "
              "description |\n|---|---|---|---|---|---|---|\n")
    w("## Top level\n\n" + header)
    w(_line(_row("name", "str", "", SimConfig.name, "", "the scenario name shown in "
                 "reports", defaults)))
    for group in GROUPS:
        cls = typing.get_type_hints(SimConfig)[group]
        w(f"\n## {group}\n\n{_summary(group)}\n\n")
        presets = _presets(group)
        if presets:
            w("Presets (`" + group + "=<name>`): " + ", ".join(f"`{p}`" for p in presets)
              + ".\n\n")
        w(header)
        for row in _rows(cls, group, group, defaults):
            w(_line(row))
    return out.getvalue()


def _line(row: Row) -> str:
    return "| " + " | ".join(row) + " |\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sim.reference",
                                     description="Write the configuration reference.")
    parser.add_argument("-o", "--output", default=str(DEFAULT_OUTPUT),
                        help="where to write it (- for standard output)")
    parser.add_argument("--check", action="store_true",
                        help="compare with the file instead; exit 1 if it differs")
    args = parser.parse_args(argv)
    text = generate()
    if args.output == "-":
        sys.stdout.write(text)
        return 0
    path = Path(args.output)
    if args.check:
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            print(f"{path} differs from the schema; regenerate it with "
                  f"`python -m sim.reference -o {path}`", file=sys.stderr)
            return 1
        return 0
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
