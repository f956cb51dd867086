"""Results of the HTTP benchmark: one measured run each, folded into one markdown table of
medians over the rounds, with the issue's targets checked beside them."""

import statistics
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from bench.scenarios import OWN_LIST, Kind, Scenario

FEW_REQUESTS = 64  # answered per run: fewer than twice the connections
READ_TARGET, LIST_TARGET, PG_MS_TARGET, LOGIN_P99_TARGET, RSS_TARGET = 0.3, 0.2, 2.0, 2.0, 1.1


@dataclass(frozen=True)
class Run:
    scenario: str
    server: str
    round: int
    requests: int  # answered within the run (wrk's count: req/s and latencies)
    served: int  # requests the server worked on, those left in flight included (CPU ÷ this)
    seconds: float
    errors: int
    p50_ms: float
    p99_ms: float
    server_cpu_s: float
    pg_cpu_s: float
    pg_opened: int  # PostgreSQL connections opened during the run
    logins_ok: int = 0
    logins_failed: int = 0
    login_p50_ms: float | None = None
    foreign_share: float = 0.0  # of the machine's CPU, used by processes not measured

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def server_ms(self) -> float:
        return 1000 * self.server_cpu_s / self.served if self.served else float("nan")

    @property
    def pg_ms(self) -> float:
        return 1000 * self.pg_cpu_s / self.served if self.served else float("nan")


@dataclass(frozen=True)
class Memory:
    server: str
    rss_start_mib: float
    rss_early_mib: float  # after the first `early` requests
    rss_late_mib: float  # after `late` requests in all
    early: int
    late: int
    phase: Run  # the long phase, from `early` to `late`


def _median(runs: Iterable[Run], metric: Callable[[Run], float]) -> float:
    values = [metric(run) for run in runs]
    return statistics.median(values) if values else float("nan")


def _cpu_ms(run: Run) -> float:
    return run.server_ms + run.pg_ms


def _spread(runs: list[Run]) -> float:
    """Half the range of req/s over the rounds, as a fraction of the median."""
    rates = [run.rps for run in runs]
    middle = statistics.median(rates) if rates else 0
    return (max(rates) - min(rates)) / 2 / middle if len(rates) > 1 and middle else 0.0


def _rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.1f}"


def _ms(value: float) -> str:
    if value != value:  # NaN: nothing measured
        return "–"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _check(ok: bool) -> str:
    return "✓" if ok else "✗"


class Results:
    def __init__(self, scenarios: list[Scenario], runs: list[Run]) -> None:
        self.scenarios = {scenario.name: scenario for scenario in scenarios}
        self.runs = runs

    def of(self, scenario: str, server: str, round_: int | None = None) -> list[Run]:
        return [
            run
            for run in self.runs
            if run.scenario == scenario
            and run.server == server
            and (round_ is None or run.round == round_)
        ]

    def _paired(self, scenario: str, other: str, other_server: str, metric: str) -> float | None:
        """Median over rounds of ours(scenario) ÷ other_server(other), each round's pair
        measured minutes apart at most: steadier than a ratio of medians."""
        ratios = []
        for round_ in sorted({run.round for run in self.of(scenario, "ours")}):
            ours, theirs = self.of(scenario, "ours", round_), self.of(other, other_server, round_)
            if ours and theirs and getattr(theirs[0], metric):
                ratios.append(getattr(ours[0], metric) / getattr(theirs[0], metric))
        return statistics.median(ratios) if ratios else None

    def cpu_vs_raw(self, scenario: Scenario) -> float | None:
        """Server + PostgreSQL CPU per request, ours ÷ raw's (the same baseline as `vs_raw`).
        CPU per request barely moves when other work loads the machine, req/s does: where
        the two ratios disagree much (req/s ratio ≉ 1 ÷ this), the machine was noisy."""
        baseline = scenario.name if scenario.raw else OWN_LIST
        if not scenario.raw and scenario.kind is not Kind.LIST:
            return None
        ours, raw = self.of(scenario.name, "ours"), self.of(baseline, "raw")
        if not ours or not raw:
            return None
        return _median(ours, _cpu_ms) / _median(raw, _cpu_ms)

    def vs_raw(self, scenario: Scenario) -> float | None:
        """req/s ÷ raw's: the same route, or for a list raw's own-items list."""
        if scenario.raw:
            return self._paired(scenario.name, scenario.name, "raw", "rps")
        if scenario.kind is Kind.LIST:
            return self._paired(scenario.name, OWN_LIST, "raw", "rps")
        return None

    def target(self, scenario: Scenario, server: str) -> str:
        if server == "raw":
            return "baseline of every list" if scenario.name == OWN_LIST else ""
        ratio = self.vs_raw(scenario)
        if scenario.kind is Kind.READ and ratio is not None:
            return f"≥ {READ_TARGET}× raw {_check(ratio >= READ_TARGET)}"
        if scenario.kind is Kind.LIST and ratio is not None:
            pg = _median(self.of(scenario.name, server), lambda run: run.pg_ms)
            return (
                f"≥ {LIST_TARGET}× raw own list {_check(ratio >= LIST_TARGET)}, "
                f"PG ≤ {PG_MS_TARGET:g} ms {_check(pg <= PG_MS_TARGET)}"
            )
        if scenario.kind is Kind.LOGINS and scenario.alone:
            growth = self._paired(scenario.name, scenario.alone, "ours", "p99_ms")
            if growth is not None:
                return f"p99 {growth:.1f}× alone (≤ {LOGIN_P99_TARGET:g}×) " + _check(
                    growth <= LOGIN_P99_TARGET
                )
        return ""

    def row(self, scenario: Scenario, server: str) -> str:
        runs = self.of(scenario.name, server)
        ratio = self.vs_raw(scenario) if server == "ours" else None
        notes = [self.target(scenario, server)]
        cpu = self.cpu_vs_raw(scenario) if server == "ours" else None
        if cpu is not None:
            notes.append(f"CPU/req {cpu:.1f}× raw")
        errors = sum(run.errors for run in runs)
        if errors:
            notes.append(f"⚠ {errors:,} failed requests")
        answered = min((run.requests for run in runs), default=0)
        if answered < FEW_REQUESTS:
            # the run ended before most of the first 32 requests came back: the latencies
            # seen are those of the lucky few, req/s and CPU per request still hold
            notes.append(f"⚠ {answered} answered in a run: latencies unreliable")
        if scenario.logins:
            failed = sum(run.logins_failed for run in runs)
            ok = sum(run.logins_ok for run in runs)
            latency = [run.login_p50_ms for run in runs if run.login_p50_ms is not None]
            typical = f" (p50 {statistics.median(latency):,.0f} ms)" if latency else ""
            notes.append(f"{ok} logins{typical}" + (f", ⚠ {failed} failed" if failed else ""))
        cells = [
            scenario.name,
            server,
            f"{_rate(_median(runs, lambda run: run.rps))} ±{_spread(runs):.0%}",
            _ms(_median(runs, lambda run: run.p50_ms)),
            _ms(_median(runs, lambda run: run.p99_ms)),
            _ms(_median(runs, lambda run: run.server_ms)),
            _ms(_median(runs, lambda run: run.pg_ms)),
            "" if ratio is None else f"{ratio:.2f}",
            "; ".join(note for note in notes if note),
        ]
        return "| " + " | ".join(cells) + " |"

    def table(self, memory: list[Memory]) -> str:
        header = (
            "| scenario | server | req/s | p50 ms | p99 ms | server CPU ms/req | PG CPU ms/req"
            " | ours ÷ raw (req/s) | target / notes |\n"
            "|---|---|--:|--:|--:|--:|--:|--:|---|"
        )
        rows = [
            self.row(scenario, server)
            for scenario in self.scenarios.values()
            for server in (("ours", "raw") if scenario.raw else ("ours",))
        ]
        rows += [memory_row(entry) for entry in memory]
        return "\n".join([header, *rows])

    def opened_connections(self) -> dict[str, tuple[float, int]]:
        """PostgreSQL connections each server opened in a measured run: median, total."""
        opened: dict[str, list[int]] = {}
        for run in self.runs:
            opened.setdefault(run.server, []).append(run.pg_opened)
        return {name: (statistics.median(counts), sum(counts)) for name, counts in opened.items()}


def memory_row(entry: Memory) -> str:
    run, growth = entry.phase, entry.rss_late_mib / entry.rss_early_mib
    cells = [
        f"RSS after {entry.early:,} → {entry.late:,} requests",
        entry.server,
        _rate(run.rps),
        _ms(run.p50_ms),
        _ms(run.p99_ms),
        _ms(run.server_ms),
        _ms(run.pg_ms),
        "",
        f"{entry.rss_early_mib:.1f} → {entry.rss_late_mib:.1f} MiB: {growth:.2f}×"
        + (f" (≤ {RSS_TARGET}×) {_check(growth <= RSS_TARGET)}" if entry.server == "ours" else "")
        + (f"; ⚠ {run.errors:,} failed requests" if run.errors else ""),
    ]
    return "| " + " | ".join(cells) + " |"
