"""The outermost layer of the app: gives every request an id (`X-Request-ID`, the caller's own when
it sent a sensible one) and logs every request as one JSON line (request id, route, status,
latency, key id — never the key).

A plain ASGI middleware: Starlette's `@app.middleware("http")` wraps each request in extra tasks
and copies, a cost on every question that shows under concurrent load.
"""
from __future__ import annotations

import json
import logging
import re
import time
import uuid

access_log = logging.getLogger("api.access")

# A caller's request id is kept only when it is short and plain: it goes into logs and headers.
_REQUEST_ID = re.compile(rb"^[A-Za-z0-9._:@/+=-]{1,128}$")


def route_template(scope: dict) -> str:
    """The matched route as declared (`/api/v1/documents/{doc_id}`), so logs group by route, not by id."""
    route = scope.get("route")
    if route is None:
        return "unmatched"
    included = (scope.get("fastapi") or {}).get("included_router")
    context = getattr(included, "include_context", None)
    return getattr(context, "prefix", "") + route.path


def request_id(scope) -> str:
    given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
    return given.decode("ascii") if _REQUEST_ID.match(given) else uuid.uuid4().hex


class AccessLog:
    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = 500
        rid = request_id(scope)
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), (b"x-request-id", rid.encode())]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            client = scope.get("client")
            access_log.info(json.dumps({
                "request_id": rid, "method": scope["method"], "route": route_template(scope), "status": status,
                "ms": round((time.perf_counter() - t0) * 1000, 1), "key_id": scope["state"].get("key_id"),
                "client": client[0] if client else None,
            }, ensure_ascii=False))
