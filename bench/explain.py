"""`EXPLAIN (ANALYZE, BUFFERS)` of the statements our API issues for each list scenario.

The statements are taken from the API itself: a separate instance with DB_ECHO=true answers
one request per scenario, and SQLAlchemy's echo log gives each statement with its
parameters. They are then explained on the benchmark's database with those parameters.

A prepared statement (asyncpg prepares every statement) may switch to a generic plan after
five runs; when that plan's shape differs from the one for these parameters, both are shown.
"""

import ast
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import httpx

# an echo entry: "2026-12-01 19:14:29,842 INFO sqlalchemy.engine.Engine <message>"
ENTRY = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ INFO sqlalchemy\.engine\.Engine ", re.MULTILINE
)
PARAMS = re.compile(r"^\[[^\]]*\] (\(.*\))$", re.DOTALL)
# the dialect's first-connect probes and transaction control
NOT_EXPLAINED = (
    "BEGIN",
    "COMMIT",
    "ROLLBACK",
    "select pg_catalog",
    "select current_schema",
    "show ",
)


@dataclass(frozen=True)
class Statement:
    sql: str
    params: tuple[Any, ...]
    truncated: bool = False  # the echo log left parameters out (it shows at most 100)


def _literal(node: ast.expr) -> Any:
    """A parameter as echoed: a constant, or UUID('…')."""
    if isinstance(node, ast.Constant):
        return node.value
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "UUID"
        and len(node.args) == 1
        and isinstance(node.args[0], ast.Constant)
    ):
        return uuid.UUID(node.args[0].value)
    raise ValueError(f"unexpected parameter in the echo log: {ast.unparse(node)}")


TRUNCATED = re.compile(r" \.\.\. \d+ parameters truncated \.\.\. ")


def _params(message: str) -> tuple[Any, ...] | None:
    """The parameters of an echoed "[generated in …] (…)" entry; None for other entries."""
    match = PARAMS.match(message.strip())
    if match is None:
        return None
    if TRUNCATED.search(match.group(1)):
        return ()
    tree = ast.parse(match.group(1), mode="eval").body
    elements = tree.elts if isinstance(tree, ast.Tuple) else [tree]
    return tuple(_literal(element) for element in elements)


def statements(log: str) -> list[Statement]:
    """Statements with their parameters, in order, from an echo log excerpt."""
    messages = [part.strip() for part in ENTRY.split(log) if part.strip()]
    found = []
    for sql, following in zip(messages, [*messages[1:], ""], strict=True):
        params = _params(following)
        if params is not None and not sql.startswith(("[", *NOT_EXPLAINED)):
            found.append(Statement(sql, params, truncated=bool(TRUNCATED.search(following))))
    return found


EXPLAIN = "EXPLAIN (ANALYZE, BUFFERS) "
PREPARED = "bench_explained"


def _sql_literal(value: Any) -> str:
    """A parameter as a literal for EXECUTE (which takes no bound parameters)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


async def _rolled_back(connection: asyncpg.Connection, *sql: str, params: Any = ()) -> str:
    """Run these statements in a transaction that is rolled back (EXPLAIN ANALYZE executes
    the statement); the last one's rows, as text."""
    transaction = connection.transaction()
    await transaction.start()
    try:
        for setup in sql[:-1]:
            await connection.execute(setup)
        rows = await connection.fetch(sql[-1], *params)
    finally:
        await transaction.rollback()
    return "\n".join(row[0] for row in rows)


def _shape(plan: str) -> list[str]:
    """The plan's nodes, without costs, timings or parameter values."""
    return [
        line.split("(")[0].replace("->", "").strip()
        for n, line in enumerate(plan.splitlines())
        if n == 0 or "->" in line
    ]


async def plan_text(connection: asyncpg.Connection, statement: Statement) -> str:
    """The plan for these parameters, and the generic plan when its shape differs: asyncpg
    prepares every statement, and PostgreSQL may switch one to its generic plan after five
    runs."""
    if statement.truncated:
        return "(not explained: the echo log truncated its parameters)"
    custom = await _rolled_back(connection, EXPLAIN + statement.sql, params=statement.params)
    arguments = ", ".join(_sql_literal(value) for value in statement.params)
    await connection.execute(f"PREPARE {PREPARED} AS {statement.sql}")
    try:
        generic = await _rolled_back(
            connection,
            "SET LOCAL plan_cache_mode = force_generic_plan",
            f"{EXPLAIN}EXECUTE {PREPARED}" + (f"({arguments})" if arguments else ""),
        )
    finally:
        await connection.execute(f"DEALLOCATE {PREPARED}")
    if _shape(custom) == _shape(generic):
        return custom
    return f"{custom}\n\n-- generic plan (prepared, after 5 runs it may be chosen):\n{generic}"


async def capture(
    client: httpx.AsyncClient, log_path: Path, path: str, token: str
) -> list[Statement]:
    """The statements the API issued to answer one GET."""
    start = _size(log_path)
    response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
    response.raise_for_status()
    return statements(_read_from(log_path, start))


def _size(path: Path) -> int:
    return path.stat().st_size


def _read_from(path: Path, offset: int) -> str:
    with path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


def markdown(title: str, path: str, plans: list[tuple[Statement, str]], issued: int) -> str:
    """One scenario's section; `issued` counts the statements shown in earlier ones too."""
    shown = "" if len(plans) == issued else f" ({issued - len(plans)} shown above)"
    parts = [f"### {title}\n\n`GET {path}`: {issued} statements{shown}\n"]
    for statement, plan in plans:
        shown = "…" if statement.truncated else repr(statement.params)[:300]
        parts.append(f"```sql\n{statement.sql}\n-- {shown}\n```\n```\n{plan}\n```\n")
    return "\n".join(parts)
