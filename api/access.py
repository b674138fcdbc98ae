"""The outermost layer of the app: refuses oversized bodies before they are read, and logs every
request as one JSON line (route, status, latency, key id — never the key).

A plain ASGI middleware: Starlette's `@app.middleware("http")` wraps each request in extra tasks
and copies, a cost on every question that shows under concurrent load.
"""
from __future__ import annotations

import json
import logging
import time

from qa.errors import QAError

from .errors import PayloadTooLarge, error_response

access_log = logging.getLogger("api.access")


def route_template(scope: dict) -> str:
    """The matched route as declared (`/api/v1/documents/{doc_id}`), so logs group by route, not by id."""
    route = scope.get("route")
    if route is None:
        return "unmatched"
    included = (scope.get("fastapi") or {}).get("included_router")
    context = getattr(included, "include_context", None)
    return getattr(context, "prefix", "") + route.path


class AccessLog:
    def __init__(self, app, body_limit: int, upload_path: str, upload_limit: int):
        self.app = app
        self.body_limit = body_limit
        self.upload_path = upload_path
        self.upload_limit = upload_limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        t0 = time.perf_counter()
        status = 500

        async def send_status(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        if error := self._too_large(scope):
            await error_response(error)(scope, receive, send_status)
        else:
            await self.app(scope, receive, send_status)
        client = scope.get("client")
        access_log.info(json.dumps({
            "method": scope["method"], "route": route_template(scope), "status": status,
            "ms": round((time.perf_counter() - t0) * 1000, 1), "key_id": (scope.get("state") or {}).get("key_id"),
            "client": client[0] if client else None,
        }, ensure_ascii=False))

    def _too_large(self, scope) -> QAError | None:
        declared = next((v for k, v in scope["headers"] if k == b"content-length"), b"")
        limit = self.upload_limit if scope["path"] == self.upload_path else self.body_limit
        if declared.isdigit() and int(declared) > limit:
            return PayloadTooLarge(f"请求体 {int(declared)} 字节，超过 {limit} 字节的上限")
        return None
