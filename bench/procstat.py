"""CPU time and memory of processes, read from /proc (Linux only).

Server CPU is the utime + stime of a server's process tree (uvicorn and its workers), taken
before and after a run. PostgreSQL CPU is the same sum over the backends connected to the
benchmark's database; backends can come and go during a run (a pool that overflows closes
connections), so a sampler keeps the last value it saw of each one.
"""

import asyncio
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

PROC = Path("/proc")
TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


@dataclass(frozen=True)
class Stat:
    pid: int
    ppid: int
    cpu_seconds: float  # utime + stime: every thread of the process, live or ended
    children_seconds: float  # cutime + cstime: children that ended and were waited for


def read_stat(pid: int) -> Stat | None:
    """The process's parent and CPU time, or None once it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ")"
    fields = text[text.rindex(")") + 2 :].split()
    ppid, (utime, stime, cutime, cstime) = int(fields[1]), map(int, fields[11:15])
    return Stat(pid, ppid, (utime + stime) / TICKS_PER_SECOND, (cutime + cstime) / TICKS_PER_SECOND)


def children(pid: int) -> list[int]:
    """The live children of `pid` (the kernel's list, CONFIG_PROC_CHILDREN; else a scan)."""
    tasks = PROC / str(pid) / "task"
    try:
        files = [task / "children" for task in tasks.iterdir()]
        return [int(child) for file in files for child in file.read_text().split()]
    except FileNotFoundError:
        if not tasks.exists():
            return []  # the process is gone
    scanned = (read_stat(int(entry.name)) for entry in PROC.iterdir() if entry.name.isdigit())
    return [stat.pid for stat in scanned if stat is not None and stat.ppid == pid]


def process_tree(root: int) -> list[Stat]:
    """`root` and all its descendants that are alive now."""
    tree, todo = [], [root]
    while todo:
        pid = todo.pop()
        stat = read_stat(pid)
        if stat is not None:
            tree.append(stat)
            todo.extend(children(pid))
    return tree


def runnable(pid: int) -> bool:
    """Whether a thread of `pid` is running or waiting for a CPU (state R): busy, even if
    the machine is so loaded that it got no CPU time lately."""
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except FileNotFoundError:
        return False
    for task in tasks:
        try:
            text = (task / "stat").read_text()
        except FileNotFoundError:
            continue
        if text[text.rindex(")") + 2] == "R":
            return True
    return False


def tree_runnable(root: int) -> bool:
    return any(runnable(stat.pid) for stat in process_tree(root))


def tree_cpu_seconds(root: int) -> float:
    return sum(stat.cpu_seconds for stat in process_tree(root))


def tree_rss_bytes(root: int) -> int:
    """Resident memory of the tree (shared pages counted once per process)."""
    total = 0
    for stat in process_tree(root):
        try:
            resident = int((PROC / str(stat.pid) / "statm").read_text().split()[1])
        except (FileNotFoundError, ProcessLookupError):
            continue
        total += resident * PAGE_SIZE
    return total


def machine_busy_seconds() -> float:
    """CPU time the whole machine has spent busy since boot, all CPUs summed (/proc/stat)."""
    with (PROC / "stat").open() as stat:
        fields = [int(value) for value in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    return (user + nice + system + irq + softirq + steal) / TICKS_PER_SECOND


def own_cpu_seconds() -> float:
    """This process's CPU, and its children's once waited for (wrk, after each run)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


# -- PostgreSQL backends --


class PostgresRestarted(SystemExit):
    pass


def _cmdline(pid: int) -> str:
    try:
        return (PROC / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def postmaster_of(backend_pid: int) -> int:
    """The postmaster: the parent of any backend (e.g. of `SELECT pg_backend_pid()`)."""
    stat = read_stat(backend_pid)
    if stat is None:
        raise RuntimeError(f"PostgreSQL backend {backend_pid} not visible in /proc")
    return stat.ppid


@dataclass
class BackendCpu:
    """CPU of one database's PostgreSQL processes over one run: its client backends and
    their parallel workers.

    Processes are told apart by their title, "postgres: [cluster: ]USER DATABASE HOST(PORT)
    state" or "postgres: [cluster: ]parallel worker for PID N", read from /proc: asking the
    server would add load of its own. Sampled every 50 ms; a process's CPU is counted up to
    its last sample. What ended processes used after their last sample (or, too short-lived,
    without ever being sampled: most parallel workers of a fast query) is still in the
    postmaster's cutime+cstime, which collects the CPU of every child it reaps. Of that
    remainder, other databases' ended processes get at most one sampling interval each (the
    tail they can have had after their last sample), ours the rest. On a quiet server (no
    other database's connections ending) this is exact; when others' short-lived
    connections come and go, it overcounts ours by what those used unseen.
    """

    postmaster: int
    database: str
    interval: float = 0.05  # seconds between samples while following a run
    _start: dict[int, float] = field(default_factory=dict)  # CPU when the window opened
    _last: dict[int, float] = field(default_factory=dict)  # CPU at the latest sample
    _ours: dict[int, bool] = field(default_factory=dict)
    _ended: set[int] = field(default_factory=set)
    _busy: set[int] = field(default_factory=set)  # ours, not idle at the latest sample
    _reaped_start: float = 0.0
    _reaped: float = 0.0
    _started: bool = False  # the first sample was taken
    opened: int = 0  # client backends of ours born during the run (connections opened)

    def _classify(self, pid: int, title: str) -> bool:
        if pid not in self._ours:
            worker = re.match(r"postgres: (?:\S+: )?parallel worker for PID (\d+)", title)
            if worker:
                self._ours[pid] = self._ours.get(int(worker.group(1)), False)
            else:
                client = rf"postgres: (?:\S+: )?\S+ {re.escape(self.database)} \S+"
                self._ours[pid] = re.match(client, title) is not None
                if self._ours[pid] and self._started:
                    self.opened += 1
        return self._ours[pid]

    def sample(self, *, first: bool = False) -> None:
        postmaster = read_stat(self.postmaster)
        if postmaster is None:
            raise PostgresRestarted(
                "PostgreSQL's postmaster is gone (restarted by someone?): this run's numbers"
                " are void; run again"
            )
        live, busy = set(), set()
        for pid in children(self.postmaster):
            stat = read_stat(pid)
            title = _cmdline(pid)  # read every time: the title ends with the backend's state
            if stat is None or not title:
                continue
            if self._classify(pid, title) and not title.rstrip().endswith(" idle"):
                busy.add(pid)  # running a statement, or inside a transaction
            live.add(pid)
            self._start.setdefault(pid, stat.cpu_seconds if first else 0.0)
            self._last[pid] = stat.cpu_seconds
        self._ended |= self._last.keys() - live
        self._busy = busy
        if first:
            self._reaped_start = postmaster.children_seconds
        self._reaped, self._started = postmaster.children_seconds, True

    def cpu_seconds(self) -> float:
        """CPU our processes used since the first sample."""
        seen = sum(self._last[pid] - self._start[pid] for pid in self._last if self._ours[pid])
        theirs_ended = sum(1 for pid in self._ended if not self._ours[pid])
        # what reaped processes used beyond their last sample, or never sampled (the
        # postmaster's cutime counts whole lives)
        unseen = (self._reaped - self._reaped_start) - sum(self._last[pid] for pid in self._ended)
        unseen = max(0.0, unseen)
        return seen + unseen - min(unseen, theirs_ended * self.interval)

    def busy(self) -> bool:
        """Whether one of ours was running a statement or holding a transaction open at the
        latest sample."""
        return bool(self._busy)

    async def follow(self) -> None:
        """Sample until cancelled (run beside the load)."""
        while True:
            await asyncio.sleep(self.interval)
            self.sample()
