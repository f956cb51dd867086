"""Idempotent retries: a create sent again with the same `Idempotency-Key` gets the first
answer back (`Idempotent-Replayed: true`) instead of writing twice.

A key belongs to its caller and to the request target (method and path as sent), and is kept
with a fingerprint of the request body (canonical JSON: whitespace and key order do not
matter), a state (`running` while the first request works, `done` once it answered 2xx), the
status, body and a few headers of that answer, and an expiry (IDEMPOTENCY_TTL_SECONDS).

Transactions — this module holds the one exception to "one unit of work per request":
1. Look the key up in the request's own session (a read). `done` with the same body: replay
   it; with another body: 422. Nothing of the feature has run or been checked yet.
2. Claim the key in a short transaction of its own, committed at once (`_claim`): the
   `running` row must be visible to a duplicate arriving on another worker or host while this
   request still works. A new key is inserted with INSERT … ON CONFLICT DO NOTHING (of two
   racing first requests, one inserts); an existing row is taken over only when its attempt
   is over (expired, or `running` but no longer held: its request died). It runs on the
   request's session, whose transaction so far has only read (so one connection per request).
3. Hold it: the request's own transaction locks the row (FOR UPDATE) and checks that the claim
   is still its own. Until that transaction ends, a duplicate finds the row locked: 409.
4. The route runs. Its answer is written into the row (`done`) by the request's own
   transaction, so it commits together with what the route wrote, or not at all.
5. On any error the request's transaction is rolled back first (that frees the lock), then
   the claim is deleted in a short transaction of its own (`_release`): a request that ended
   in 4xx/5xx keeps nothing, and the key may be retried.
A process that dies between 2 and 5 leaves a `running` row that nobody holds: the next attempt
takes it over (2), and the check in 3 lets only one attempt through.

SQLite has no row locks: a write transaction holds the whole database's write lock from its
BEGIN IMMEDIATE to its end, so the claim (2) and the work (3–4) each queue for it. FOR UPDATE
and SKIP LOCKED mean nothing there, so a `running` claim always looks free; step 3, run under
the write lock, still lets exactly one attempt do the work.

Expired rows are ignored by lookups, overwritten when their key is used again, and removed by
`python -m cli prune-idempotency-keys` (`prune_expired`; run it from cron).
"""

import hashlib
import json
import logging
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import Depends, Header, Request, Response
from pydantic import BaseModel
from sqlalchemy import ColumnElement, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, Text, col

from core.codes import ErrorCode
from core.config import get_settings
from core.db import SessionDep, UTCDateTime, insert_or_ignore
from core.errors import BadRequest, Conflict, ReadyResponse, UnprocessableEntity, raises

logger = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
RUNNING, DONE = "running", "done"
# answer headers replayed with the body (lower-case, as Starlette keeps them)
KEPT_HEADERS = ("etag", "location")
# 1–255 visible ASCII characters
_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")

# What the four routes declare: the errors a key can add, and the header a replay carries.
IDEMPOTENCY_ERRORS = (
    BadRequest(ErrorCode.IDEMPOTENCY_KEY_INVALID),
    Conflict(ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS),
    UnprocessableEntity(ErrorCode.IDEMPOTENCY_KEY_REUSED),
)


# OpenAPI: the header a success answer carries when it is a replay (`responses=` headers)
REPLAYED_HEADER_DOC: dict[str, Any] = {
    REPLAYED_HEADER: {
        "description": "`true` when this is the kept answer of an earlier request with the "
        "same Idempotency-Key (nothing was written again)",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


class IdempotencyKey(SQLModel, table=True):
    """A caller's Idempotency-Key for one request target, and the answer kept for it."""

    __tablename__ = "idempotency_keys"

    user_id: uuid.UUID = Field(foreign_key="users.id", ondelete="CASCADE", primary_key=True)
    # sha256 (hex) of "METHOD path as sent": bounded whatever the path's length
    target: str = Field(max_length=64, primary_key=True)
    key: str = Field(max_length=255, primary_key=True)
    fingerprint: str = Field(max_length=64)
    state: str = Field(max_length=8)
    # which attempt holds the key: checked under the row lock before the work starts
    claim: uuid.UUID
    status_code: int | None = None
    body: str | None = Field(default=None, sa_type=Text)
    headers: str | None = Field(default=None, sa_type=Text)  # a JSON object
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)


class _Caller(Protocol):
    @property
    def id(self) -> uuid.UUID: ...


@dataclass(frozen=True, slots=True)
class _Scope:
    user_id: uuid.UUID
    target: str
    key: str

    def where(self) -> tuple[ColumnElement[bool], ...]:
        return (
            col(IdempotencyKey.user_id) == self.user_id,
            col(IdempotencyKey.target) == self.target,
            col(IdempotencyKey.key) == self.key,
        )


M = TypeVar("M", bound=BaseModel)


class Idempotency:
    """A route's side of its Idempotency-Key: it ends with `return idempotency.keep(answer)`.

    Without a key (or before the answer exists) nothing is kept; `keep` returns its argument.
    """

    def __init__(self) -> None:
        self.answer: BaseModel | None = None

    def keep(self, answer: M) -> M:
        self.answer = answer
        return answer


def _expiry() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=get_settings().idempotency_ttl_seconds)


async def _fingerprint(request: Request) -> str:
    """The body as a value: the same JSON however it is spaced or its keys are ordered."""
    raw = await request.body()
    try:
        value = await request.json()  # parsed (and cached) by FastAPI already
        canonical = b"json:" + json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
    except (ValueError, RecursionError):
        canonical = b"raw:" + raw
    return hashlib.sha256(canonical).hexdigest()


def _target(request: Request) -> str:
    path = request.scope.get("raw_path") or request.url.path.encode()
    return hashlib.sha256(request.method.encode() + b" " + path).hexdigest()


def _replay(row: Any) -> Response:
    headers = json.loads(row.headers) if row.headers else {}
    headers[REPLAYED_HEADER] = "true"
    return Response(
        content=(row.body or "").encode(),
        status_code=row.status_code,
        media_type="application/json",
        headers=headers,
    )


class _Claimed(Enum):
    WON = "won"  # this attempt holds the key now
    HELD = "held"  # a live attempt holds it (PostgreSQL: its transaction locks the row)
    CHANGED = "changed"  # the row is not what the lookup saw: look again


async def _claim(
    session: AsyncSession, scope: _Scope, *, fingerprint: str, claim: uuid.UUID, seen: Any | None
) -> _Claimed:
    """Claim the key for this attempt, committed at once.

    The one exception to "one unit of work per request" (see the module's docstring): the
    claim is committed in a short transaction of its own before the route's work starts, so
    that the `running` row is visible to any duplicate while this request works. It runs on
    the request's own session, after ending what that session did so far (it only read: the
    caller, the lookup): so a request never holds two pooled connections at once, and a burst
    of keyed requests cannot exhaust the pool waiting for second ones.
    """
    if session.new or session.dirty or session.deleted:
        raise RuntimeError("an Idempotency-Key is claimed before anything is written")
    await session.commit()  # ends a transaction that read only (on SQLite: frees the lock)
    values = {
        "fingerprint": fingerprint,
        "state": RUNNING,
        "claim": claim,
        "status_code": None,
        "body": None,
        "headers": None,
        "expires_at": _expiry(),
    }
    if seen is None:
        inserted = await session.execute(
            insert_or_ignore(session, IdempotencyKey, index_elements=["user_id", "target", "key"])
            .values(user_id=scope.user_id, target=scope.target, key=scope.key, **values)
            .returning(col(IdempotencyKey.claim))
        )
        # a racing first request inserted it first: look again
        outcome = _Claimed.WON if inserted.first() is not None else _Claimed.CHANGED
    else:
        # Take over an attempt that is over: its row is expired, or still `running` but not
        # locked by any transaction (its request died). SKIP LOCKED skips a row a live attempt
        # holds; the row got, locked, is checked again: it may have become `done` meanwhile.
        current = (
            await session.execute(
                select(
                    col(IdempotencyKey.claim),
                    col(IdempotencyKey.state),
                    col(IdempotencyKey.expires_at),
                )
                .where(*scope.where())
                .with_for_update(skip_locked=True)
            )
        ).first()
        if current is None:
            outcome = _Claimed.HELD  # (or deleted just now: a retry finds it free)
        elif current.claim != seen.claim or (
            current.state != RUNNING and current.expires_at > datetime.now(UTC)
        ):
            outcome = _Claimed.CHANGED
        else:
            await session.execute(update(IdempotencyKey).where(*scope.where()).values(**values))
            outcome = _Claimed.WON
    await session.commit()
    return outcome


async def _release(session: AsyncSession, scope: _Scope, claim: uuid.UUID) -> None:
    """Forget the claim of a request that failed: its transaction is rolled back first (on
    PostgreSQL it holds the row's lock), then the claim is deleted in a short transaction of
    its own, and the key may be retried. Best effort: a claim left behind is taken over by the
    next attempt."""
    try:
        await session.rollback()
        await session.execute(
            delete(IdempotencyKey).where(
                *scope.where(),
                col(IdempotencyKey.claim) == claim,
                col(IdempotencyKey.state) == RUNNING,
            )
        )
        await session.commit()
    except Exception:
        logger.exception("could not release an idempotency key; the next attempt takes it over")


async def _begin(session: AsyncSession, scope: _Scope, fingerprint: str) -> uuid.UUID:
    """Steps 1–3: replay, refuse, or claim and hold the key; the claim held."""
    for _attempt in range(3):  # another look when the row changed since the last one
        seen = (
            await session.execute(
                select(
                    col(IdempotencyKey.fingerprint),
                    col(IdempotencyKey.state),
                    col(IdempotencyKey.claim),
                    col(IdempotencyKey.status_code),
                    col(IdempotencyKey.body),
                    col(IdempotencyKey.headers),
                    col(IdempotencyKey.expires_at),
                ).where(*scope.where())
            )
        ).first()
        if seen is not None and seen.state == DONE and seen.expires_at > datetime.now(UTC):
            if seen.fingerprint != fingerprint:
                raise UnprocessableEntity(ErrorCode.IDEMPOTENCY_KEY_REUSED)
            raise ReadyResponse(_replay(seen))

        claim = uuid.uuid4()
        outcome = await _claim(session, scope, fingerprint=fingerprint, claim=claim, seen=seen)
        if outcome is _Claimed.WON:
            held = await session.scalar(
                select(col(IdempotencyKey.claim)).where(*scope.where()).with_for_update()
            )
            if held != claim:
                # another attempt took the key over before we could lock it (and has
                # finished, or we would still be waiting for its lock)
                raise Conflict(ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS)
            return claim
        if outcome is _Claimed.HELD and seen is not None:
            if seen.fingerprint != fingerprint:
                raise UnprocessableEntity(ErrorCode.IDEMPOTENCY_KEY_REUSED)
            raise Conflict(ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS)
    raise Conflict(ErrorCode.IDEMPOTENCY_KEY_IN_PROGRESS)


async def _finish(
    session: AsyncSession,
    scope: _Scope,
    claim: uuid.UUID,
    *,
    answer: BaseModel,
    status_code: int,
    headers: dict[str, str],
) -> None:
    """Step 4: keep the answer, in the request's own transaction (it commits with the work)."""
    await session.execute(
        update(IdempotencyKey)
        .where(*scope.where(), col(IdempotencyKey.claim) == claim)
        .values(
            state=DONE,
            status_code=status_code,
            body=answer.model_dump_json(),
            headers=json.dumps(headers),
            expires_at=_expiry(),
        )
    )


def idempotency_for(
    current_user: Callable[..., Awaitable[_Caller]],
) -> Callable[..., AsyncIterator[Idempotency]]:
    """The Idempotency-Key dependency for routes whose caller `current_user` gives (core
    knows no feature). Declare it before any dependency that checks the request's target:
    a replay answers before anything else is looked at. Use it with scope="function", so that
    it keeps the answer before the session dependency commits."""

    @raises(*IDEMPOTENCY_ERRORS)
    async def idempotency(
        request: Request,
        response: Response,
        session: SessionDep,
        caller: Annotated[_Caller, Depends(current_user)],
        key: Annotated[
            str | None,
            Header(
                alias=HEADER,
                description="1–255 visible ASCII characters; a retry with the same key and "
                "body gets the first answer again instead of writing twice",
                json_schema_extra={"minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"},
            ),
        ] = None,
    ) -> AsyncIterator[Idempotency]:
        handle = Idempotency()
        if key is None:
            yield handle
            return
        if not _VALID_KEY.fullmatch(key):
            raise BadRequest(ErrorCode.IDEMPOTENCY_KEY_INVALID)
        scope = _Scope(user_id=caller.id, target=_target(request), key=key)
        claim = await _begin(session, scope, await _fingerprint(request))
        try:
            yield handle
        except BaseException:
            await _release(session, scope, claim)
            raise
        if handle.answer is None:
            raise RuntimeError("an idempotent route must end with `idempotency.keep(answer)`")
        route = request.scope.get("route")
        status_code = response.status_code or getattr(route, "status_code", None) or 200
        kept = {name: response.headers[name] for name in KEPT_HEADERS if name in response.headers}
        await _finish(
            session, scope, claim, answer=handle.answer, status_code=status_code, headers=kept
        )

    return idempotency


async def prune_expired(*, session: AsyncSession) -> int:
    """Delete every expired key; how many went."""
    result = await session.execute(
        delete(IdempotencyKey).where(col(IdempotencyKey.expires_at) <= datetime.now(UTC))
    )
    return int(getattr(result, "rowcount", 0) or 0)
