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


def read_stat(pid: int) -> Stat | None:
    """The process's parent and CPU time, or None once it is gone."""
    try:
        text = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # the command name (field 2) may hold spaces and parentheses: split after its last ")"
    fields = text[text.rindex(")") + 2 :].split()
    ppid, utime, stime = int(fields[1]), int(fields[11]), int(fields[12])
    return Stat(pid, ppid, (utime + stime) / TICKS_PER_SECOND)


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
    """CPU of the PostgreSQL client backends of one database, over one run.

    Backends set their process title to "postgres: [cluster: ]USER DATABASE HOST(PORT) state";
    that names the database without asking the server (which would add load of its own).
    """

    postmaster: int
    database: str
    _first: dict[int, float] = field(default_factory=dict)
    _last: dict[int, float] = field(default_factory=dict)
    _members: dict[int, bool] = field(default_factory=dict)
    opened: int = 0  # backends that appeared during the run (connections opened)

    def _is_ours(self, pid: int) -> bool:
        if pid not in self._members:
            pattern = rf"postgres: (?:\S+: )?\S+ {re.escape(self.database)} \S+"
            self._members[pid] = re.match(pattern, _cmdline(pid)) is not None
        return self._members[pid]

    def sample(self, *, first: bool = False) -> None:
        for pid in children(self.postmaster):
            stat = read_stat(pid)
            if stat is None or not self._is_ours(pid):
                continue
            if first:
                self._first[pid] = stat.cpu_seconds
            elif pid not in self._first and pid not in self._last:
                self.opened += 1
            self._last[pid] = stat.cpu_seconds

    def cpu_seconds(self) -> float:
        """CPU used since the first sample; a backend born later counts from zero, one that
        ended counts up to its last sample."""
        return sum(cpu - self._first.get(pid, 0.0) for pid, cpu in self._last.items())

    async def follow(self, interval: float = 0.25) -> None:
        """Sample until cancelled (run beside the load)."""
        while True:
            await asyncio.sleep(interval)
            self.sample()
