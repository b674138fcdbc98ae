"""The edge of the API, before any route runs: who is calling, and how much they may send.

A plain ASGI layer, so it acts before FastAPI reads a single byte of the body (FastAPI parses the
body before it resolves a route's dependencies):

- the key is checked first: a request without a valid key, or a reader's write, is refused
  without its body being read; wrong keys are counted per client address and throttled;
- the per-key rate limit applies here too, for the same reason;
- the body is counted as it arrives, chunked or not, and refused at the limit (413): a declared
  Content-Length over the limit is refused before reading, an undeclared one as soon as it passes.

Routes get the caller from `request.state.principal` (`deps.caller`).
"""
from __future__ import annotations

import logging
from collections.abc import Callable

from starlette.responses import Response

from qa.errors import QAError

from .auth import KeyRing, Principal, RateLimiter, presented_key, require_admin
from .errors import PayloadTooLarge, RateLimited, Unauthorized, error_response

log = logging.getLogger(__name__)


class _BodyTooLarge(PayloadTooLarge):
    """Raised by the counting `receive` once a body passes its limit. A `QAError`, so a route that
    is reading the body itself (uploads) ends in the same 413 rather than an unforeseen error."""


def _header(scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return v.decode("latin-1")
    return None


class Guard:
    def __init__(self, app, *, keys: KeyRing, limiter: RateLimiter, failures: RateLimiter,
                 api_prefix: str | tuple[str, ...], open_paths: tuple[str, ...], admin_paths: tuple[str, ...],
                 body_limit: int, upload_limit: int,
                 error_shapes: tuple[tuple[str, Callable[[QAError], Response]], ...] = ()):
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.failures = failures  # wrong keys per client address
        self.api_prefix = api_prefix
        self.open_paths = open_paths  # under the prefix, but readable without a key (probes)
        self.admin_paths = admin_paths  # writes (POST, PUT, PATCH, DELETE) there need an admin key
        self.body_limit = body_limit
        self.upload_limit = upload_limit
        # (prefix, render): refusals under a prefix that speaks another protocol (OpenAI's /v1/) take
        # that protocol's error shape, so its clients can read them; elsewhere our own.
        self.error_shapes = error_shapes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path, method = scope["path"], scope["method"]
        limit = self.upload_limit if method == "POST" and self._is_admin_path(path) else self.body_limit
        try:
            declared = _header(scope, b"content-length")
            if declared is not None and declared.strip().isdigit() and int(declared) > limit:
                raise PayloadTooLarge(f"请求体 {int(declared)} 字节，超过 {limit} 字节的上限")
            if path.startswith(self.api_prefix) and path not in self.open_paths:
                who = self._identify(scope)
                if method not in ("GET", "HEAD", "OPTIONS") and self._is_admin_path(path):
                    require_admin(who)
                state = scope.setdefault("state", {})
                state["principal"], state["key_id"] = who, who.key_id
        except QAError as e:
            return await self._error(path, e)(scope, receive, send)
        await self._counted(scope, receive, send, limit)

    def _error(self, path: str, e: QAError) -> Response:
        render = next((r for prefix, r in self.error_shapes if path.startswith(prefix)), error_response)
        return render(e)

    def _is_admin_path(self, path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in self.admin_paths)

    def _identify(self, scope) -> Principal:
        client = scope.get("client")
        address = f"ip:{client[0] if client else '-'}"
        x_api_key, authorization = _header(scope, b"x-api-key"), _header(scope, b"authorization")
        presents = x_api_key is not None or authorization is not None
        if presents:
            # Once an address has guessed wrong too often, nothing it presents is checked this window.
            retry = self.failures.exhausted(address)
            if retry:
                raise RateLimited(f"密钥错误次数过多：每分钟最多 {self.failures.per_minute} 次，"
                                  f"请 {retry} 秒后再试", retry)
        try:
            who = self.keys.identify(presented_key(x_api_key, authorization))
        except Unauthorized:
            if presents:
                self.failures.check(address, "密钥错误次数过多")
            raise
        self.limiter.check(who.key_id or address)
        return who

    async def _counted(self, scope, receive, send, limit: int) -> None:
        received = 0
        exceeded = False
        started = False

        async def counting_receive():
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    exceeded = True
                    raise _BodyTooLarge(f"请求体超过 {limit} 字节的上限")
            return message

        async def guarded_send(message):
            nonlocal started
            if exceeded:  # whatever the app made of the interrupted body, the answer is 413
                if not started and message["type"] == "http.response.start":
                    started = True
                    await self._error(scope["path"], _BodyTooLarge(f"请求体超过 {limit} 字节的上限"))(scope, _no_body, send)
                return
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded:
                raise
            if not started:  # the app let the error out before answering
                await guarded_send({"type": "http.response.start", "status": 413, "headers": []})
            log.info("request body over %d bytes refused on %s %s", limit, scope["method"], scope["path"])


async def _no_body():
    return {"type": "http.request", "body": b"", "more_body": False}
