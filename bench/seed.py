"""Set-based seeder for the HTTP benchmark: users, items with tags, comment threads, loaded
with PostgreSQL COPY (asyncpg `copy_records_to_table`), so 100 000 items take seconds and
1 000 000 take a minute or two. Runs on a database just migrated with `alembic upgrade head`.

    .venv/bin/python -m bench.seed --database-url postgresql://postgres@127.0.0.1:5432/items_bench \
        --users 1000 --items 100000 [--out bench/.seed.json]

Every user has the password `PASSWORD` (one argon2 hash, computed once). The ids, logins and
search terms the scenarios need are written as JSON to `--out`.
"""

import argparse
import asyncio
import json
import random
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

import asyncpg

PASSWORD = "bench-password-not-a-secret"  # noqa: S105 - every seeded user's, known to the runner
READER, WRITER = "reader", "zzz-writer"  # the writer sorts last: off /users/with-items' pages
LOGIN_USERS = 20  # distinct accounts the login side-load cycles through
TAG_POOL = 200
MAX_TAGS_PER_ITEM = 5
CHUNK = 50_000  # rows generated and copied at a time: bounded memory, visible progress
THREAD_ROOTS, REPLIES_PER_ROOT = 10, 4  # the known thread: 50 comments, 10 top-level
COMMENTED_EVERY = 97  # one item in so many gets a small thread of its own
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)  # fixed: the same seed gives the same rows
YEAR_SECONDS = 365 * 86_400
SEARCH_TERM, TAG_NAME = "kettle", "tag-042"

# words of titles: "kettle" is in 1 title of 40
# fmt: off
ADJECTIVES = [
    "amber", "azure", "brisk", "calm", "dusty", "eager", "faded", "gentle", "hollow", "idle",
    "jolly", "keen", "lofty", "mellow", "narrow", "odd", "pale", "quiet", "rapid", "rustic",
    "sandy", "silent", "tidy", "umber", "vivid", "warm", "young", "zesty", "bold", "cosy", "damp",
    "early", "fancy", "grand", "humble", "icy", "jaunty", "kind", "lucky", "merry",
]
NOUNS = [
    "anchor", "basket", "candle", "drum", "engine", "fiddle", "garden", "harbor", "island",
    "jacket", "kettle", "lantern", "mirror", "needle", "orchard", "pillow", "quilt", "ribbon",
    "saddle", "teapot", "umbrella", "violin", "wagon", "yarn", "zither", "bridge", "chimney",
    "dagger", "easel", "fountain", "globe", "hammer", "inkwell", "jigsaw", "kite", "ladder",
    "mallet", "notebook", "oven", "parcel",
]
# fmt: on
ROW = tuple[Any, ...]


@dataclass
class SeedInfo:
    """What the benchmark scenarios need to know about the seeded rows (written as JSON)."""

    users: int
    items: int
    password: str
    reader: str  # the user every read is made as
    reader_id: str
    reader_items: int
    writer: str  # POST /items writes as this user, privately: the reader's lists stay put
    login_users: list[str]
    item_id: str  # the reader's own item, with tags, carrying the known thread
    thread_comments: int
    search: str
    tag: str
    comments: int = 0
    seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


class Progress:
    """A one-line progress bar on stderr (a line per 10 % when stderr is not a terminal)."""

    def __init__(self, label: str, total: int, stream: TextIO = sys.stderr) -> None:
        self.label, self.total, self.done, self.stream = label, total, 0, stream
        self.started, self._last_tenth = time.monotonic(), -1

    def advance(self, count: int) -> None:
        self.done += count
        fraction = self.done / self.total if self.total else 1.0
        line = (
            f"{self.label:<10} [{'#' * int(fraction * 30):<30}] {self.done:>9,}/{self.total:,}"
            f" {time.monotonic() - self.started:6.1f}s"
        )
        if self.stream.isatty():
            self.stream.write("\r" + line + ("\n" if self.done >= self.total else ""))
        elif int(fraction * 10) != self._last_tenth:
            self._last_tenth = int(fraction * 10)
            self.stream.write(line + "\n")
        self.stream.flush()


def _uuid(rng: random.Random) -> uuid.UUID:
    # from the seeded generator, so the same --seed gives the same ids
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _moment(rng: random.Random) -> datetime:
    return EPOCH - timedelta(seconds=rng.randrange(YEAR_SECONDS), microseconds=rng.randrange(10**6))


# -- users --


USER_FLAGS = (True, False, True)  # active, not a superuser, verified


def user_rows(count: int, hashed: str, rng: random.Random) -> list[ROW]:
    """(id, email, username, full_name, hashed_password, is_active, is_superuser, is_verified,
    created_at, updated_at, tokens_valid_after); the reader first, the writer second."""
    names = [READER, WRITER] + [f"user{n:06d}" for n in range(2, count)]
    rows = []
    for n, name in enumerate(names):
        created = _moment(rng)
        full_name = None if n % 3 == 0 else f"User {name.title()}"
        user_id, email = _uuid(rng), f"{name}@example.com"
        rows.append((user_id, email, name, full_name, hashed, *USER_FLAGS, created, created, None))
    return rows


# fmt: off
USER_COLUMNS = [
    "id", "email", "username", "full_name", "hashed_password", "is_active", "is_superuser",
    "is_verified", "created_at", "updated_at", "tokens_valid_after",
]
# fmt: on


# -- items and their tags --


def item_chunks(
    count: int, owners: list[uuid.UUID], tag_ids: list[int], rng: random.Random
) -> Iterator[tuple[list[ROW], list[ROW]]]:
    """Items (owned round-robin, half public, newest anywhere in a year) and their 0–5 tags,
    CHUNK at a time. Item 0 is the reader's, public, with 3 tags: the one the scenarios read."""
    for start in range(0, count, CHUNK):
        items, links = [], []
        for n in range(start, min(start + CHUNK, count)):
            item_id = _uuid(rng)
            title = f"{rng.choice(ADJECTIVES).title()} {rng.choice(NOUNS)} no. {n}"
            description = None if n % 10 == 9 else f"{title}, described in a sentence or so."
            is_public = n == 0 or rng.random() < 0.5
            created = _moment(rng)
            updated = created if n % 4 else created + timedelta(days=rng.randrange(1, 30))
            owner = owners[n % len(owners)]
            items.append(
                (item_id, title, title.casefold(), description, is_public, owner, created, updated)
            )
            tags = 3 if n == 0 else rng.randint(0, MAX_TAGS_PER_ITEM)
            links.extend((item_id, tag_id) for tag_id in rng.sample(tag_ids, tags))
        yield items, links


# fmt: off
ITEM_COLUMNS = [
    "id", "title", "title_search", "description", "is_public", "owner_id", "created_at",
    "updated_at",
]
# fmt: on


# -- comments --


def thread_rows(
    item: ROW, roots: int, replies_per_root: int, authors: list[uuid.UUID], rng: random.Random
) -> list[ROW]:
    """A thread on `item`: `roots` top-level comments, each with replies nested under random
    earlier comments of its tree, oldest first. (id, item_id, author_id, parent_id, content,
    is_deleted, created_at, updated_at)"""
    rows: list[ROW] = []
    moment = item[6]
    for _ in range(roots):
        tree: list[uuid.UUID] = []
        for reply in range(replies_per_root + 1):
            comment_id = _uuid(rng)
            parent = rng.choice(tree) if reply else None
            moment += timedelta(seconds=rng.randrange(1, 3600))
            content = f"Comment {len(rows)} on {item[1]}: a few words about it."
            rows.append(
                (comment_id, item[0], rng.choice(authors), parent, content, False, moment, moment)
            )
            tree.append(comment_id)
    return rows


# fmt: off
COMMENT_COLUMNS = [
    "id", "item_id", "author_id", "parent_id", "content", "is_deleted", "created_at",
    "updated_at",
]
# fmt: on


# -- loading --


async def _check_fresh(connection: asyncpg.Connection) -> None:
    try:
        users = await connection.fetchval("SELECT count(*) FROM users")
    except asyncpg.UndefinedTableError:
        raise SystemExit(
            "no users table: run `alembic upgrade head` on this database first"
        ) from None
    if users:
        raise SystemExit(f"the database holds {users} users already: seed a fresh one")


async def _insert_tags(connection: asyncpg.Connection) -> list[int]:
    # INSERT … RETURNING, not COPY with ids: the sequence behind tags.id stays in step, so the
    # API's POST /items can create new tags afterwards
    names = [f"tag-{n:03d}" for n in range(TAG_POOL)]
    rows = await connection.fetch(
        "INSERT INTO tags (name) SELECT unnest($1::text[]) RETURNING id", names
    )
    return [row["id"] for row in rows]


async def _copy(
    connection: asyncpg.Connection, table: str, rows: list[ROW], columns: list[str]
) -> None:
    if rows:
        await connection.copy_records_to_table(table, records=rows, columns=columns)


async def _count_items(connection: asyncpg.Connection) -> None:
    """The counts the API keeps beside the items (features/items/counts.py): COPY bypasses
    the service that maintains them, so they are computed once, as the migration does."""
    await connection.execute("DELETE FROM item_counts; DELETE FROM item_totals")
    await connection.execute(
        "INSERT INTO item_counts (owner_id, total, public) SELECT owner_id, count(*), "
        "sum(CASE WHEN is_public THEN 1 ELSE 0 END) FROM items GROUP BY owner_id"
    )
    await connection.execute(
        "INSERT INTO item_totals (slot, total, public) SELECT 0, count(*), "
        "coalesce(sum(CASE WHEN is_public THEN 1 ELSE 0 END), 0) FROM items"
    )


async def load(connection: asyncpg.Connection, users: int, items: int, seed: int) -> SeedInfo:
    """Everything, in one transaction (an interrupted seed leaves the database empty)."""
    from fastapi_users.password import PasswordHelper  # the API's own hasher and parameters

    rng = random.Random(seed)
    hashed = PasswordHelper().hash(PASSWORD)  # once: argon2 costs ~100 ms a hash
    people = user_rows(users, hashed, rng)
    await _copy(connection, "users", people, USER_COLUMNS)
    owners = [row[0] for row in people]
    tag_ids = await _insert_tags(connection)

    progress, first, comments = Progress("items", items), None, []
    for chunk, links in item_chunks(items, owners, tag_ids, rng):
        await _copy(connection, "items", chunk, ITEM_COLUMNS)
        await _copy(connection, "item_tags", links, ["item_id", "tag_id"])
        first = first or chunk[0]
        comments += [
            row
            for n, item in enumerate(chunk)
            if n % COMMENTED_EVERY == COMMENTED_EVERY - 1
            for row in thread_rows(item, rng.randint(1, 3), rng.randint(0, 2), owners[:50], rng)
        ]
        progress.advance(len(chunk))
    assert first is not None, "--items must be at least 1"
    thread = thread_rows(first, THREAD_ROOTS, REPLIES_PER_ROOT, owners[:50], rng)
    await _copy(connection, "comments", thread + comments, COMMENT_COLUMNS)
    await _count_items(connection)
    return SeedInfo(
        users=users,
        items=items,
        password=PASSWORD,
        reader=READER,
        reader_id=str(owners[0]),
        reader_items=len(range(0, items, users)),
        writer=WRITER,
        login_users=[row[2] for row in people[2 : 2 + LOGIN_USERS]],
        item_id=str(first[0]),
        thread_comments=len(thread),
        search=SEARCH_TERM,
        tag=TAG_NAME,
        comments=len(thread) + len(comments),
    )


async def seed_database(url: str, users: int, items: int, seed: int = 0) -> SeedInfo:
    """Seed a freshly migrated database, then VACUUM ANALYZE it (autovacuum may be off, and
    the planner needs statistics to plan as it would on a live database)."""
    started = time.monotonic()
    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await _check_fresh(connection)
        async with connection.transaction():
            info = await load(connection, users, items, seed)
        print("vacuum analyze …", file=sys.stderr, flush=True)
        await connection.execute("VACUUM (ANALYZE)")
    finally:
        await connection.close()
    info.seconds = round(time.monotonic() - started, 1)
    return info


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", required=True, help="postgresql://… (a migrated db)")
    parser.add_argument("--users", type=int, default=1000, help="at least 2 + 20 (default 1000)")
    parser.add_argument("--items", type=int, default=100_000, help="default 100 000")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--out", type=Path, default=Path("bench/.seed.json"))
    args = parser.parse_args(argv)
    if args.users < 2 + LOGIN_USERS or args.items < 1:
        parser.error(f"--users must be ≥ {2 + LOGIN_USERS} and --items ≥ 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    info = asyncio.run(seed_database(args.database_url, args.users, args.items, args.seed))
    args.out.write_text(json.dumps(asdict(info), indent=2) + "\n")
    print(
        f"seeded {info.users:,} users, {info.items:,} items, {info.comments:,} comments"
        f" in {info.seconds}s → {args.out}",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
