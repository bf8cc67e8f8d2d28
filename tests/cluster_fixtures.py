"""A SLURM cluster and a Ray cluster on this machine, for ``tests/test_cluster.py``.

SLURM: one node on localhost from Debian's packages, installed with apt-get when they
are missing (as root): munged with a key and a socket of its own, MariaDB for the
accounting database, slurmdbd, slurmctld and slurmd, each in the foreground as a child
of the test, every file (configs, state, spool, logs, sockets) in one temporary
directory and every port a free one, so nothing of the machine's own SLURM or munge is
touched. Accounting is there because submitit reads the state of its jobs with
``sacct``: without it a cancelled job would be waited for forever. The commands
(``sbatch``, ``squeue``, ``scancel``, ``sacct``) find the cluster through ``SLURM_CONF``.

Ray: a head and a second node started as separate ``ray start --block`` processes, each
with one CPU and a custom resource naming it (``sim_head``, ``sim_worker``), on the
loopback address with ports of their own (the second node's dashboard agent needs one
too: two agents on one port cannot coexist). Ray's token authentication is on, with a
token the test makes and hands to both nodes and to the sweep (``RAY_AUTH_TOKEN``).

Each daemon is started in a session of its own. It is stopped with SIGTERM to its process
group, then SIGKILL to every process of its session and every descendant of those, found
in ``/proc``: a process group is not enough, since a Ray node's raylet puts each worker
process it spawns (the one running a job) in a group of its own, and that worker outlived
a SIGKILL to the node's group and finished its job on a node taken for dead. A Ray node a
test kills gets that SIGKILL at once. Only what was started here is ended: a session is
named by the pid of the daemon that leads it, which is not reused while the daemon is
not reaped, and no other process of the machine is in it.
Where the packages are missing and cannot be installed, the fixtures skip with the reason.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pytest

HERE = Path(__file__).resolve().parent
# The programs the SLURM cluster needs, and the Debian package that has each.
SLURM_PROGRAMS = {
    "munged": "munge", "slurmctld": "slurmctld", "slurmd": "slurmd", "sbatch": "slurm-client",
    "squeue": "slurm-client", "scancel": "slurm-client", "sacct": "slurm-client",
    "sacctmgr": "slurm-client", "sinfo": "slurm-client", "slurmdbd": "slurmdbd",
    "mariadbd": "mariadb-server", "mariadb-install-db": "mariadb-server",
}
SLURM_PACKAGES = ("slurm-wlm", "munge", "slurmdbd", "mariadb-server")
PARTITION = "debug"  # the cluster's one partition
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 15.0


# -- packages and processes ------------------------------------------------------------------

def program(name: str) -> str | None:
    """The path of a program, looking in the sbin folders too (daemons live there)."""
    return shutil.which(name, path=os.pathsep.join(
        [os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"]))


_installed: dict[tuple[str, ...], str | None] = {}


def install_missing(programs: dict[str, str], packages: tuple[str, ...]) -> str | None:
    """Install ``packages`` with apt-get if any of ``programs`` is missing.

    Returns None when every program is there (after installing if need be), else why not:
    the reason a test skips with. Tried once per session.
    """
    if packages in _installed:
        return _installed[packages]
    missing = [p for p in programs if program(p) is None]
    reason = None
    if missing:
        need = ", ".join(sorted({programs[p] for p in missing}))
        if os.geteuid() != 0 or program("apt-get") is None:
            reason = (f"{', '.join(missing)} missing ({need}) and not installable here: "
                      f"installing them needs root and apt-get")
        else:
            env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            for argv in (["apt-get", "update", "-q"],
                         ["apt-get", "install", "-y", "-q", "--no-install-recommends",
                          *packages]):
                proc = subprocess.run(argv, capture_output=True, text=True, env=env,
                                      timeout=1200, check=False)
                if proc.returncode:
                    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
                    reason = (f"{' '.join(argv)} failed with status {proc.returncode}: "
                              f"{tail[0] if tail else 'no output'}")
                    break
            still = [p for p in programs if program(p) is None]
            if reason is None and still:
                reason = f"{', '.join(still)} still missing after installing {need}"
    _installed[packages] = reason
    return reason


def free_port() -> int:
    """A TCP port free on the loopback address now (outside Ray's worker port range)."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if not 10002 <= port <= 19999:
            return port


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _stat(pid: int) -> tuple[str, int, int] | None:
    """State, parent and session of process ``pid`` (``/proc/<pid>/stat``); None if gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name, in parentheses, may hold anything: the fields follow its last ")".
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[1]), int(fields[3])


def session_processes(session: int) -> set[int]:
    """The processes of ``session`` and all their descendants, zombies aside.

    Descendants count too, whatever their session: a process that started one of its own
    is still found through its parent (while the parent lives).
    """
    procs = {int(e): st for e in os.listdir("/proc") if e.isdigit()
             if (st := _stat(int(e))) is not None}
    found = {pid for pid, (_, _, sid) in procs.items() if sid == session}
    while more := {pid for pid, (_, ppid, _) in procs.items() if ppid in found} - found:
        found |= more
    return {pid for pid in found if procs[pid][0] != "Z"}


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def kill_session(session: int, timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGKILL every process of ``session`` and its descendants, and wait until they are gone.

    They are stopped (SIGSTOP) first, round after round until no new one turns up, so that
    none can spawn another between the look and the kill: a raylet starts workers at any
    time.
    """
    stopped: set[int] = set()
    while new := session_processes(session) - stopped:
        for pid in new:
            _signal(pid, signal.SIGSTOP)
        stopped |= new
    for pid in stopped:
        _signal(pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while (left := session_processes(session)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left:
        raise RuntimeError(f"processes of session {session} outlived SIGKILL: {sorted(left)}")


def _ended(pid: int) -> bool:
    """Process ``pid`` has exited (a zombie not reaped yet, or gone)."""
    st = _stat(pid)
    return st is None or st[0] == "Z"


def stop_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM,
               grace: float = STOP_TIMEOUT_S) -> None:
    """End ``proc`` (started with a session of its own) and everything it started: ``sig``
    to its process group, then, once it ended or ``grace`` seconds passed (at once for
    SIGKILL), SIGKILL to every process of its session and their descendants.

    ``proc`` is reaped last: until then its pid, which names the session, cannot be reused.
    """
    if sig != signal.SIGKILL and not _ended(proc.pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        deadline = time.monotonic() + grace
        while not _ended(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
    kill_session(proc.pid)
    proc.wait(timeout=STOP_TIMEOUT_S)


@dataclass
class Daemons:
    """Processes started in the foreground, each in a session (process group) of its own,
    with their output in ``logs``; stopped in the reverse order."""

    logs: Path
    grace: float = STOP_TIMEOUT_S  # seconds between SIGTERM and SIGKILL when stopping
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _files: list[IO[bytes]] = field(default_factory=list)

    def start(self, name: str, argv: list[str], env: dict[str, str] | None = None
              ) -> subprocess.Popen[bytes]:
        self.logs.mkdir(parents=True, exist_ok=True)
        out = (self.logs / f"{name}.out").open("wb")  # a restarted daemon starts afresh
        self._files.append(out)
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        self.procs[name] = proc
        return proc

    def log(self, name: str, lines: int = 15) -> str:
        path = self.logs / f"{name}.out"
        text = path.read_text(errors="replace") if path.is_file() else ""
        return "\n".join(text.splitlines()[-lines:])

    def wait_for(self, what: str, ready: Callable[[], bool],
                 timeout: float = START_TIMEOUT_S) -> None:
        """Poll ``ready`` until it holds; fail with the logs if a daemon died or time ran out."""
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [n for n, p in self.procs.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = f"{', '.join(dead)} exited" if dead else f"not within {timeout:.0f} s"
                logs = "\n".join(f"--- {n}:\n{self.log(n)}" for n in dead or self.procs)
                raise RuntimeError(f"{what}: {why}\n{logs}")
            time.sleep(0.3)

    def stop(self, name: str | None = None, sig: int = signal.SIGTERM) -> None:
        for n in [name] if name else list(reversed(self.procs)):
            stop_group(self.procs[n], sig, self.grace)
        if name is None:
            for f in self._files:
                f.close()


# -- SLURM -------------------------------------------------------------------------------------

@dataclass
class Slurm:
    """A running one-node SLURM cluster: its environment and the commands a test uses."""

    root: Path
    env: dict[str, str]

    def run(self, *argv: str) -> str:
        proc = subprocess.run(list(argv), capture_output=True, text=True, env=self.env,
                              timeout=60, check=False)
        if proc.returncode:
            raise RuntimeError(f"{' '.join(argv)}: {proc.stderr.strip()}")
        return proc.stdout

    def queue(self) -> dict[str, str]:
        """The jobs in the queue: job id (``123_1`` for an array task) to state."""
        out = self.run("squeue", "--noheader", "--array", "--format=%i %T")
        return dict(line.split() for line in out.splitlines() if line.strip())

    def states(self) -> dict[str, str]:
        """Every job the accounting knows: job id to its state (``COMPLETED``, ...)."""
        out = self.run("sacct", "--allusers", "--noheader", "--parsable2", "--starttime=now-1day",
                       "--format=JobID,State")
        pairs = (line.split("|", 1) for line in out.splitlines() if "|" in line)
        return {job: state for job, state in pairs if "." not in job}


def _slurm_conf(root: Path, node: str, ports: dict[str, int], user: str) -> str:
    sock = root / "munge" / "munge.socket"
    return "\n".join([
        "ClusterName=simtest",
        f"SlurmctldHost={node}(127.0.0.1)",
        f"SlurmctldPort={ports['ctld']}",
        f"SlurmdPort={ports['slurmd']}",
        "AuthType=auth/munge",
        f"AuthInfo=socket={sock}",
        "CredType=cred/munge",
        f"SlurmUser={user}",
        f"SlurmdUser={user}",
        f"StateSaveLocation={root / 'state'}",
        f"SlurmdSpoolDir={root / 'spool'}",
        f"SlurmctldPidFile={root / 'run' / 'slurmctld.pid'}",
        f"SlurmdPidFile={root / 'run' / 'slurmd.pid'}",
        f"SlurmctldLogFile={root / 'log' / 'slurmctld.log'}",
        f"SlurmdLogFile={root / 'log' / 'slurmd.log'}",
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "SwitchType=switch/none",
        "MpiDefault=none",
        "ReturnToService=2",
        "SchedulerType=sched/builtin",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "KillWait=5",
        "AccountingStorageType=accounting_storage/slurmdbd",
        "AccountingStorageHost=127.0.0.1",
        f"AccountingStoragePort={ports['dbd']}",
        # The munge socket for slurmdbd's connections (AuthInfo is not used for them).
        f"AccountingStoragePass={sock}",
        f"NodeName={node} NodeAddr=127.0.0.1 CPUs={os.cpu_count() or 1} State=UNKNOWN",
        f"PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
    ]) + "\n"


def _slurmdbd_conf(root: Path, ports: dict[str, int], user: str) -> str:
    return "\n".join([
        "AuthType=auth/munge",
        f"AuthInfo=socket={root / 'munge' / 'munge.socket'}",
        "DbdHost=localhost",
        "DbdAddr=127.0.0.1",
        f"DbdPort={ports['dbd']}",
        f"SlurmUser={user}",
        f"PidFile={root / 'run' / 'slurmdbd.pid'}",
        f"LogFile={root / 'log' / 'slurmdbd.log'}",
        "StorageType=accounting_storage/mysql",
        "StorageHost=127.0.0.1",
        f"StoragePort={ports['db']}",
        f"StorageUser={user}",
        "StorageLoc=slurm_acct_db",
    ]) + "\n"


def start_slurm(root: Path, daemons: Daemons) -> Slurm:
    """Start munged, MariaDB, slurmdbd, slurmctld and slurmd in ``root``; wait until the
    node is idle."""
    user = getpass.getuser()
    node = socket.gethostname().split(".")[0]
    for d in ("munge", "state", "spool", "log", "run", "db"):
        (root / d).mkdir(parents=True, exist_ok=True)
    (root / "munge").chmod(0o755)
    key = root / "munge.key"
    key.write_bytes(os.urandom(1024))
    key.chmod(0o600)
    sock = root / "munge" / "munge.socket"
    daemons.start("munged", [str(program("munged")), "--foreground", "--force",
                             f"--socket={sock}", f"--key-file={key}",
                             f"--log-file={root / 'log' / 'munged.log'}",
                             f"--pid-file={root / 'run' / 'munged.pid'}",
                             f"--seed-file={root / 'run' / 'munged.seed'}"])
    daemons.wait_for("munged", sock.exists)
    ports = {"db": free_port(), "dbd": free_port(), "ctld": free_port(), "slurmd": free_port()}
    init = subprocess.run([str(program("mariadb-install-db")), "--no-defaults",
                           f"--datadir={root / 'db'}", f"--user={user}",
                           "--auth-root-authentication-method=normal", "--skip-test-db"],
                          capture_output=True, text=True, timeout=120, check=False)
    if init.returncode:
        raise RuntimeError(f"mariadb-install-db: {init.stdout[-2000:]}{init.stderr[-2000:]}")
    # A database for the accounting only, on the loopback address, without grant tables.
    daemons.start("mariadbd", [str(program("mariadbd")), "--no-defaults",
                               f"--datadir={root / 'db'}", f"--user={user}",
                               f"--socket={root / 'run' / 'mysql.sock'}",
                               f"--port={ports['db']}", "--bind-address=127.0.0.1",
                               f"--pid-file={root / 'run' / 'mysql.pid'}",
                               "--skip-grant-tables", "--innodb-buffer-pool-size=16M",
                               f"--log-error={root / 'log' / 'mariadb.err'}"])
    daemons.wait_for("mariadbd", lambda: port_open(ports["db"]))
    conf = root / "slurm.conf"
    conf.write_text(_slurm_conf(root, node, ports, user))
    dbd_conf = root / "slurmdbd.conf"
    dbd_conf.write_text(_slurmdbd_conf(root, ports, user))
    dbd_conf.chmod(0o600)  # slurmdbd refuses a config others can read
    env = {**os.environ, "SLURM_CONF": str(conf)}
    daemons.start("slurmdbd", [str(program("slurmdbd")), "-D"], env)
    daemons.wait_for("slurmdbd", lambda: port_open(ports["dbd"]))
    cluster = Slurm(root, env)

    def cluster_added() -> bool:
        add = subprocess.run([str(program("sacctmgr")), "-i", "add", "cluster", "simtest"],
                             capture_output=True, text=True, env=env, timeout=60, check=False)
        return add.returncode == 0 or "already exists" in add.stdout + add.stderr

    daemons.wait_for("sacctmgr add cluster", cluster_added)
    daemons.start("slurmctld", [str(program("slurmctld")), "-D", "-f", str(conf)], env)
    daemons.wait_for("slurmctld", lambda: port_open(ports["ctld"]))
    daemons.start("slurmd", [str(program("slurmd")), "-D", "-f", str(conf), "-N", node], env)

    def node_idle() -> bool:
        try:
            return cluster.run("sinfo", "--noheader", "--format=%T").strip() == "idle"
        except RuntimeError:
            return False

    daemons.wait_for("slurmd (node idle)", node_idle)
    return cluster


def stop_slurm(cluster: Slurm | None, daemons: Daemons) -> None:
    """Cancel what is left in the queue, wait for it to leave, then stop the daemons."""
    if cluster is not None:
        with contextlib.suppress(Exception):
            if cluster.queue():
                cluster.run("scancel", "--full", f"--user={getpass.getuser()}")
                deadline = time.monotonic() + 30
                while cluster.queue() and time.monotonic() < deadline:
                    time.sleep(0.5)
    daemons.stop()


@pytest.fixture(scope="module")
def slurm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Slurm]:
    """A one-node SLURM cluster on localhost, for the module's tests; stopped after them."""
    pytest.importorskip("hydra_plugins.hydra_submitit_launcher")
    reason = install_missing(SLURM_PROGRAMS, SLURM_PACKAGES)
    if reason:
        pytest.skip(f"no SLURM cluster can be started: {reason}")
    root = tmp_path_factory.mktemp("slurm")
    daemons = Daemons(root / "log")
    cluster = None
    try:
        cluster = start_slurm(root, daemons)
        yield cluster
    finally:
        stop_slurm(cluster, daemons)


# -- Ray ---------------------------------------------------------------------------------------

@dataclass
class RayCluster:
    """A Ray cluster of two nodes on this machine: ``head`` and ``worker``."""

    root: Path
    env: dict[str, str]
    port: int = 0
    daemons: Daemons = field(init=False)

    def __post_init__(self) -> None:
        # Nothing of a test cluster's state is worth a long wait at the end.
        self.daemons = Daemons(self.root / "log", grace=3.0)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _start(self, name: str, args: list[str]) -> None:
        ray = str(Path(sys.executable).with_name("ray"))
        self.daemons.start(name, [
            ray, "start", "--block", "--node-ip-address=127.0.0.1", "--num-cpus=1",
            f"--resources={json.dumps({f'sim_{name}': 1})}",
            "--object-store-memory=80000000", "--disable-usage-stats",
            f"--dashboard-agent-listen-port={free_port()}", *args], self.env)

    def _up(self, name: str) -> bool:
        """The node's ``ray start`` says it started (read from its log: asking the
        cluster costs a Python start each time), and the cluster lists its resource."""
        if "Ray runtime started" not in self.daemons.log(name, lines=200):
            return False
        ray = str(Path(sys.executable).with_name("ray"))
        proc = subprocess.run([ray, "status", f"--address={self.address}"],
                              capture_output=True, text=True, env=self.env, timeout=60,
                              check=False)
        return proc.returncode == 0 and f" sim_{name}" in proc.stdout

    def start_head(self) -> None:
        self.port = free_port()
        self._start("head", ["--head", f"--port={self.port}",
                             f"--ray-client-server-port={free_port()}",
                             "--include-dashboard=false", f"--temp-dir={self.root}"])
        self.daemons.wait_for("ray head", lambda: self._up("head"))

    def start_worker(self) -> None:
        self._start("worker", [f"--address={self.address}"])
        self.daemons.wait_for("ray worker node", lambda: self._up("worker"))

    def kill_worker(self) -> None:
        """The worker node dies at once: SIGKILL to its raylet, its workers (each in a process
        group of its own), everything of its session and their descendants."""
        self.daemons.stop("worker", signal.SIGKILL)

    def ensure_worker(self) -> None:
        """Start the worker node again if a test killed it."""
        if self.daemons.procs["worker"].poll() is not None:
            self.start_worker()


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """A Ray head and a second Ray node, started as separate processes; stopped after."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    pytest.importorskip("ray")
    # A short path: Ray's sockets live under it, and a socket's path has a length limit.
    root = Path(tempfile.mkdtemp(prefix="simray"))
    env = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
           "RAY_AUTH_TOKEN": secrets.token_hex(32),
           # The tests' probe of where jobs ran (cluster_probe.WhereRan), for the workers.
           "PYTHONPATH": os.pathsep.join(filter(None, [str(HERE),
                                                       os.environ.get("PYTHONPATH")]))}
    cluster = RayCluster(root, env)
    try:
        cluster.start_head()
        cluster.start_worker()
        yield cluster
    finally:
        cluster.daemons.stop()
        shutil.rmtree(root, ignore_errors=True)
