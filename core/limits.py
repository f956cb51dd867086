"""Bounds on what a request may send: its body (413) and its head (431).

`RequestLimitMiddleware` (plain ASGI, outside every route) refuses a body over its cap while it
is read, before anything parses it: a `Content-Length` over the cap is answered at once without
reading a byte; a body without one (chunked) is counted as it arrives and cut off at the cap.
It also refuses more headers, or more header bytes, than the settings allow.

uvicorn's httptools parser itself bounds nothing (a 10 MB header line or 100 000 headers reach
the app), so `BoundedHttpToolsProtocol` bounds the head where it is parsed: serve.py runs
uvicorn with it (`--http core.limits:BoundedHttpToolsProtocol`).

FastAPI's own `max_body_size` (starlette.middleware.body_limit) was not used: when a route
answers before reading an oversized body it substitutes a plain-text "Content Too Large", and
a `Content-Length` over the cap is only noticed once the app reads or answers; our answer is
the contract's JSON `{"detail": "REQUEST_TOO_LARGE"}`, always, before the app runs.
"""

import json
from collections.abc import Mapping
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from core.codes import ErrorCode
from core.config import get_settings
from core.errors import DomainError, HeadersTooLarge, PayloadTooLarge

# (method, path) → the body cap of that route, where it differs from the default
BodyCaps = Mapping[tuple[str, str], int]


TOO_LARGE = PayloadTooLarge(ErrorCode.REQUEST_TOO_LARGE)
HEAD_TOO_LARGE = HeadersTooLarge(ErrorCode.REQUEST_HEADERS_TOO_LARGE)


def _error(error: DomainError) -> tuple[list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"detail": error.detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        # the rest of the request was not read: the connection cannot carry another one
        (b"connection", b"close"),
    ]
    return headers, body


async def _refuse(send: Send, error: DomainError) -> None:
    headers, body = _error(error)
    await send({"type": "http.response.start", "status": error.status_code, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodyTooLarge(HTTPException):
    """Raised from `receive` when a body passes its cap; answered as our 413."""

    def __init__(self) -> None:
        super().__init__(status_code=TOO_LARGE.status_code, detail=TOO_LARGE.code.value)


class RequestLimitMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        max_body_bytes: int,
        body_caps: BodyCaps | None = None,
        max_header_bytes: int,
        max_header_count: int,
    ) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.body_caps = dict(body_caps or {})
        self.max_header_bytes = max_header_bytes
        self.max_header_count = max_header_count

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: list[tuple[bytes, bytes]] = scope["headers"]
        if len(headers) > self.max_header_count or (
            sum(len(name) + len(value) for name, value in headers) > self.max_header_bytes
        ):
            await _refuse(send, HEAD_TOO_LARGE)
            return
        cap = self.body_caps.get((scope["method"], scope["path"]), self.max_body_bytes)
        content_length, chunked = _body_headers(headers)
        if content_length is not None and content_length > cap:
            await _refuse(send, TOO_LARGE)
            return
        if chunked:
            await _CountedBody(self.app, cap)(scope, receive, send)
            return
        # the server delivers no more than Content-Length bytes (none without it)
        await self.app(scope, receive, send)


class _CountedBody:
    """One request whose body has no announced length: counted as it arrives."""

    def __init__(self, app: ASGIApp, cap: int) -> None:
        self.app = app
        self.cap = cap
        self.received = 0
        self.exceeded = False
        self.started = False
        self.replaced = False

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def counted_receive() -> Message:
            if self.exceeded:
                raise BodyTooLarge()
            message = await receive()
            if message["type"] == "http.request":
                self.received += len(message.get("body", b""))
                if self.received > self.cap:
                    self.exceeded = True
                    raise BodyTooLarge()
            return message

        async def guarded_send(message: Message) -> None:
            if self.replaced:
                return
            if message["type"] == "http.response.start":
                if self.exceeded and message["status"] != TOO_LARGE.status_code:
                    # whatever the app made of the cut-off body, the answer is ours
                    self.replaced = self.started = True
                    await _refuse(send, TOO_LARGE)
                    return
                self.started = True
            await send(message)

        try:
            await self.app(scope, counted_receive, guarded_send)
        except BodyTooLarge:
            if not self.started:
                await _refuse(send, TOO_LARGE)


def _body_headers(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """The announced Content-Length, and whether the body comes without one (chunked)."""
    content_length = None
    chunked = False
    for name, value in headers:
        if name == b"content-length":
            # the server refuses a malformed one before the app sees it
            content_length = int(value) if value.isdigit() else None
        elif name == b"transfer-encoding":
            chunked = True
    return content_length, chunked and content_length is None


class BoundedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the request head bounded where it is parsed: more
    than MAX_HEADER_COUNT headers, or a head (request line and headers, also one still
    arriving) over MAX_HEADER_BYTES, is answered 431 and the connection closed."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        settings = get_settings()
        self._max_head_bytes = settings.max_header_bytes
        self._max_header_count = settings.max_header_count
        self._head_bytes = 0
        self._header_count = 0
        self._pending_bytes = 0
        self._in_head = False  # a request's head has begun and is not complete
        self._head_too_large = False

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self._max_head_bytes or self._header_count > self._max_header_count:
            self._head_too_large = True
            # httptools turns a callback's exception into HttpParserError: send_400_response
            raise ValueError("request head too large")

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = self._header_count = self._pending_bytes = 0
        self._in_head = True

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_count += 1
        self._count(len(name) + len(value))
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def data_received(self, data: bytes) -> None:
        was_in_head = self._in_head
        super().data_received(data)
        if not (was_in_head and self._in_head) or self.transport.is_closing():
            return
        # The whole chunk went into a head that is still incomplete (a header line that has
        # not ended yet, which the parser holds without a callback): bound that too.
        self._pending_bytes += len(data)
        if self._pending_bytes > self._max_head_bytes:
            self._head_too_large = True
            self.send_400_response("request head too large")

    def send_400_response(self, msg: str) -> None:
        if not self._head_too_large:
            super().send_400_response(msg)
            return
        headers, body = _error(HEAD_TOO_LARGE)
        head = b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
        head += b"".join(name + b": " + value + b"\r\n" for name, value in headers)
        self.transport.write(head + b"\r\n" + body)
        self.transport.close()
