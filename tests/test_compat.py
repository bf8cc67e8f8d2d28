"""What sim relies on in SimPy, Hydra and OmegaConf beyond their documented API
(``sim.compat``), checked against the installed versions.

Run this file after installing a new release of one of them, before raising its upper
bound in ``pyproject.toml``. Each test names the point of ``sim.compat.simpy`` or
``sim.compat.hydra`` it checks.
"""

from __future__ import annotations

import copy
import itertools
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import simpy
from simpy.core import StopSimulation
from simpy.events import NORMAL, URGENT

from sim.compat.simpy import events_scheduled, schedule_stop
from sim.engine.clock import Due, scheduler

ROOT = Path(__file__).resolve().parent.parent


# -- SimPy ---------------------------------------------------------------------------------

def test_the_event_counter_counts_scheduled_events() -> None:
    """``env._eid`` is an itertools.count whose next value is the events scheduled."""
    env = simpy.Environment()
    assert isinstance(env._eid, itertools.count)
    assert events_scheduled(env) == 0
    for i in range(5):
        env.timeout(i)
    scheduler(env)(Due(()), NORMAL, 1.0)
    assert events_scheduled(env) == 6
    assert events_scheduled(env) == 6  # reading does not count
    env.run()
    assert events_scheduled(env) == 6  # processing schedules nothing more
    assert next(env._eid) == 6


def test_the_loop_clears_callbacks_calls_them_in_order_and_reads_ok() -> None:
    """Point 1: ``step`` sets ``callbacks`` to None, then calls each with the event."""
    env = simpy.Environment()
    seen: list[tuple[str, Any, Any]] = []
    due = Due((lambda ev: seen.append(("a", ev.callbacks, ev._value)),
               lambda ev: seen.append(("b", ev.callbacks, ev._value))), "payload")
    scheduler(env)(due, NORMAL, 2.5)
    env.run()
    assert seen == [("a", None, "payload"), ("b", None, "payload")]
    assert env.now == 2.5
    assert due.callbacks is None


def test_events_at_one_time_and_priority_fire_in_the_order_scheduled() -> None:
    """Point 2: ``schedule`` breaks ties by the order of scheduling."""
    env = simpy.Environment()
    order: list[int] = []
    schedule = scheduler(env)
    for i in (3, 1, 4, 0, 2):
        schedule(Due((lambda ev: order.append(ev._value),), i), NORMAL, 1.0)
    env.run()
    assert order == [3, 1, 4, 0, 2]


def test_a_due_takes_the_place_of_a_timeout() -> None:
    """Point 3: ``Timeout`` is scheduled at NORMAL with the same call, so a ``Due`` and a
    ``Timeout`` due at one time fire in the order they were made."""
    env = simpy.Environment()
    order: list[str] = []
    schedule = scheduler(env)
    for name in ("t1", "d1", "t2", "d2"):
        if name.startswith("t"):
            env.timeout(1.0, name).callbacks.append(lambda ev: order.append(ev.value))
        else:
            schedule(Due((lambda ev: order.append(ev._value),), name), NORMAL, 1.0)
    env.run()
    assert order == ["t1", "d1", "t2", "d2"]


def test_a_processed_event_can_be_given_callbacks_and_scheduled_again() -> None:
    """Point 4: one ``Due`` serves a chain of arrivals (``sim.model.clients``)."""
    env = simpy.Environment()
    times = iter([0.5, 0.5, 2.0, 7.25])
    fired: list[float] = []
    schedule = scheduler(env)

    def next_one(ev: Any = None) -> None:
        if ev is not None:
            assert ev is due and due.callbacks is None
            fired.append(env.now)
        t = next(times, None)
        if t is not None:
            due.callbacks = on_due
            schedule(due, NORMAL, t - env.now)

    on_due = (next_one,)
    due = Due(on_due)
    next_one()
    env.run()
    assert fired == [0.5, 0.5, 2.0, 7.25]


def test_a_tuple_of_callbacks_survives_a_stop_in_the_middle() -> None:
    """Point 5: ``StopSimulation`` in a callback keeps the later callbacks (a slice)."""
    env = simpy.Environment()
    calls: list[str] = []

    def stop(ev: Any) -> None:
        calls.append("stop")
        raise StopSimulation(None)

    scheduler(env)(Due((stop, lambda ev: calls.append("after"))), NORMAL, 1.0)
    env.run()
    assert calls == ["stop"]
    env.run()
    assert calls == ["stop", "after"]


def test_a_timeout_holds_its_value_in_value_underscore() -> None:
    """Point 6: callbacks read ``ev._value``."""
    env = simpy.Environment()
    seen: list[Any] = []
    ev = env.timeout(3.0, value=("cohort", 7))
    ev.callbacks.append(lambda e: seen.append(e._value))
    env.run()
    assert seen == [("cohort", 7)]


def test_urgent_comes_first_and_a_stop_event_stops_the_run() -> None:
    """Point 7 and ``schedule_stop``: an event made ok by hand, with
    ``StopSimulation.callback``, scheduled at URGENT, stops ``run`` before the NORMAL
    events of the same time, and they stay scheduled."""
    assert URGENT < NORMAL
    env = simpy.Environment()
    fired: list[float] = []
    schedule = scheduler(env)

    def first(ev: Any) -> None:
        fired.append(env.now)
        schedule_stop(env)

    schedule(Due((first,)), NORMAL, 1.0)
    schedule(Due((lambda ev: fired.append(env.now),)), NORMAL, 1.0)
    schedule(Due((lambda ev: fired.append(env.now),)), NORMAL, 2.0)
    assert env.run(until=10.0) is None
    assert fired == [1.0] and env.now == 1.0
    assert env.peek() == 1.0  # the second event of t = 1 is still there
    env.run(until=10.0)
    assert fired == [1.0, 1.0, 2.0]


def test_the_engine_takes_normal_from_simpy() -> None:
    from sim.engine import clock

    assert clock.NORMAL is NORMAL


# -- Hydra and OmegaConf ------------------------------------------------------------------

def test_the_command_line_parser_has_the_flags_read() -> None:
    from sim.compat.hydra import FLAGS_READ, args_parser

    parser = args_parser()
    args, unknown = parser.parse_known_args(
        ["-m", "--cfg", "job", "run.seed=1", "arrivals=ramp", "--config-dir", "mine",
         "--config-name", "other", "--no-such-flag"])
    for name in FLAGS_READ:
        assert hasattr(args, name), name
    assert args.multirun is True and args.cfg == "job"
    assert args.overrides == ["run.seed=1", "arrivals=ramp"]
    assert (args.config_dir, args.config_name) == ("mine", "other")
    assert unknown == ["--no-such-flag"]
    assert not (args.help or args.hydra_help or args.info or args.shell_completion
                or args.experimental_rerun or args.config_path)
    for flags, name in ((["--help"], "help"), (["-h"], "help"), (["--hydra-help"], "hydra_help"),
                        (["--info"], "info"), (["--shell-completion"], "shell_completion"),
                        (["--experimental-rerun", "x.pickle"], "experimental_rerun"),
                        (["--config-path", "p"], "config_path")):
        assert getattr(parser.parse_known_args(flags)[0], name), flags


def test_the_global_hydra_is_kept_in_the_singleton_registry() -> None:
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.core.singleton import Singleton

    from sim.compat.hydra import global_hydra_aside
    from sim.compose import CONFIG_DIR, compose

    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        assert isinstance(Singleton._instances.get(GlobalHydra), GlobalHydra)
        before = Singleton._instances[GlobalHydra]
        with global_hydra_aside():
            assert GlobalHydra not in Singleton._instances
        assert Singleton._instances[GlobalHydra] is before
        # sim's compose inside a caller's initialize() leaves the caller's Hydra as it was.
        compose(["run.seed=3"])
        assert Singleton._instances[GlobalHydra] is before
        assert GlobalHydra.instance().is_initialized()


def test_hydra_config_resolves_hydra_interpolations_and_is_put_back() -> None:
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    from sim.compat.hydra import hydra_config
    from sim.compose import CONFIG_DIR
    from sim.config import register

    register()
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        cfg = hydra_compose(config_name="config", return_hydra_config=True)
    previous = HydraConfig.instance().cfg
    probe = OmegaConf.create({"cwd": "${hydra:runtime.cwd}"})
    with hydra_config(cfg):
        assert HydraConfig.get().runtime.cwd == os.getcwd()
        assert probe.cwd == os.getcwd()
    assert HydraConfig.instance().cfg is previous


def test_overrides_parse_into_keys_sweeps_and_values() -> None:
    from hydra.errors import OverrideParseException

    from sim.compat.hydra import parse_overrides

    lines = ["a=1", "+b=1,2", "~c", "b@pkg=x,y", "d=range(1,4)", "e=interval(0,1)", "++f=1",
             "g=glob(*)", "h=choice(p,q)", "i=[1,2]"]
    got = {o.line: (o.key, o.sweep, o.values()) for o in parse_overrides(lines)}
    assert got == {
        "a=1": ("a", False, None),
        "+b=1,2": ("+b", True, ["1", "2"]),
        "~c": ("~c", False, None),
        "b@pkg=x,y": ("b@pkg", True, ["x", "y"]),
        "d=range(1,4)": ("d", True, ["1", "2", "3"]),
        "e=interval(0,1)": ("e", True, None),
        "++f=1": ("++f", False, None),
        "g=glob(*)": ("g", True, None),
        "h=choice(p,q)": ("h", True, ["p", "q"]),
        "i=[1,2]": ("i", False, None),
    }
    with pytest.raises(OverrideParseException):
        parse_overrides(["a=[1"])


def test_hydra_finds_the_plugin_in_the_namespace_folders() -> None:
    """``expose_plugins``: Hydra's scan walks ``hydra_plugins.__path__``."""
    code = """
from sim.compat.hydra import expose_plugins
expose_plugins()
from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
print(sorted(c.__name__ for c in Plugins.instance().discover(Sweeper)))
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    assert "FailurePointSweeper" in out


@pytest.fixture
def shared_store() -> Iterator[None]:
    from hydra.core.config_store import ConfigStore

    had = "__deepcopy__" in vars(ConfigStore)
    saved = vars(ConfigStore).get("__deepcopy__")
    yield
    if had:
        ConfigStore.__deepcopy__ = saved  # type: ignore[attr-defined]
    elif "__deepcopy__" in vars(ConfigStore):
        del ConfigStore.__deepcopy__  # type: ignore[attr-defined]


@pytest.mark.usefixtures("shared_store")
def test_config_store_loads_copies_so_the_store_can_be_shared() -> None:
    """``share_config_store``: what ``ConfigStore.load`` returns is a copy, so readers of
    a shared store cannot change it, and a deep copy of the store is then the store."""
    from hydra.core.config_store import ConfigStore

    from sim.compat.hydra import config_store_shared, share_config_store
    from sim.config import register

    register()
    store = ConfigStore.instance()
    node = store.load("sim_schema.yaml").node
    node.run.seed = 12345
    assert store.load("sim_schema.yaml").node.run.seed != 12345
    share_config_store()
    assert config_store_shared()
    assert copy.deepcopy(store) is store
    assert copy.deepcopy({"s": store})["s"] is store


def test_help_is_the_same_with_the_store_shared() -> None:
    """``sim --help`` (which shares the store) prints what Hydra prints without it."""
    plain = """
import sim.compat.hydra as h
h.share_config_store = lambda: None
from sim.cli import main
main(["--help"])
"""
    shared = "from sim.cli import main\nmain(['--help'])\n"
    out = [subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, check=False).stdout for code in (plain, shared)]
    assert "== Configuration groups ==" in out[0] and "architecture:" in out[0]
    assert out[0] == out[1]


@pytest.fixture(scope="module")
def hydra_errors() -> dict[str, BaseException]:
    """What Hydra raises while composing the shipped config with each bad override."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir

    from sim.compose import CONFIG_DIR
    from sim.config import register

    register()
    bad = ["architecture=nope", "run.nope=1", "run.seed=abc", "+run.seed=3", "~run.nope",
           "~run.seed=99", "~run.seed", "+architecture.stations.new=5", "run.seed=[1"]
    errors: dict[str, BaseException] = {}
    with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
        for override in bad:
            try:
                hydra_compose(config_name="config", overrides=[override])
            except Exception as exc:
                errors[override] = exc
    assert sorted(errors) == sorted(bad)
    return errors


def test_a_missing_option_names_its_group_and_the_options(
        hydra_errors: dict[str, BaseException]) -> None:
    from hydra.errors import MissingConfigException

    from sim.compat.hydra import missing_config

    exc = hydra_errors["architecture=nope"]
    assert isinstance(exc, MissingConfigException)
    shipped = sorted(p.stem for p in (ROOT / "configs" / "architecture").glob("*.yaml"))
    assert missing_config(str(exc)) == ("architecture/nope", shipped)
    assert missing_config("something else") is None


@pytest.mark.parametrize(("override", "key"), [
    ("run.nope=1", "run.nope"),  # Could not override '...'
    ("run.seed=abc", "run.seed"),  # Error merging override ...
    ("~run.seed", "run.seed"),  # Error merging override ~...
    ("+run.seed=3", "run.seed"),  # Could not append to config. ... '...'
    ("~run.nope", "run.nope"),  # Could not delete from config. '...'
    ("~run.seed=99", "run.seed"),  # Could not delete from config. The value of '...'
])
def test_a_composition_error_names_the_key_of_its_override(
        hydra_errors: dict[str, BaseException], override: str, key: str) -> None:
    from sim.compat.hydra import override_key

    assert override_key(str(hydra_errors[override])) == key


@dataclass
class _Item:
    x: int = 0


@dataclass
class _Holder:
    items: dict[str, _Item] = field(default_factory=dict)


def test_omegaconf_phrases_read_by_explain(hydra_errors: dict[str, BaseException]) -> None:
    """``OMEGACONF_PHRASES``: the causes of these errors say what ``explain`` looks for."""
    from omegaconf import OmegaConf
    from omegaconf.errors import ConfigTypeError, ValidationError

    from sim.compat.hydra import OMEGACONF_PHRASES

    deletion = hydra_errors["~run.seed"].__cause__
    assert isinstance(deletion, ConfigTypeError)
    assert "does not support deletion" in str(deletion)
    new_station = hydra_errors["+architecture.stations.new=5"].__cause__
    assert isinstance(new_station, ValidationError)
    assert "is not a subclass of" in str(new_station)
    cfg = OmegaConf.structured(_Holder)
    with pytest.raises(ValidationError) as caught:
        OmegaConf.update(cfg, "items.new", 5, merge=True, force_add=True)
    assert "is not a subclass of" in str(caught.value)
    assert set(OMEGACONF_PHRASES) == {"does not support deletion", "is not a subclass of"}


def test_an_unparsable_override_is_hydra_s_override_parse_exception(
        hydra_errors: dict[str, BaseException]) -> None:
    from hydra.errors import OverrideParseException

    assert isinstance(hydra_errors["run.seed=[1"], OverrideParseException)


@pytest.mark.parametrize(("override", "says"), [
    ("architecture=nope", "architecture = 'nope' is not an option of the config group "
                          "architecture; allowed: single_station"),
    ("run.nope=1", "unknown key run.nope"),
    ("run.seed=abc", "run.seed = 'abc' has the wrong type"),
    ("~run.seed", "run.seed cannot be deleted"),
    ("+architecture.stations.new=5", "architecture.stations.new is not defined"),
    ("run.seed=[1", "Invalid override (no viable alternative"),
])
def test_the_messages_built_from_that_text(override: str, says: str) -> None:
    from sim.compose import compose
    from sim.config import ConfigError

    with pytest.raises(ConfigError) as caught:
        compose([override])
    assert says in str(caught.value)
