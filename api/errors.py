"""Every error leaves the API as {"error": {"code", "message"}} with its HTTP status, never a stack trace.

Library errors (`qa.errors.QAError`) carry their own status and code; the errors below belong to
the HTTP edge (keys, roles, limits, readiness).
"""
from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from qa.errors import QAError

log = logging.getLogger(__name__)


class BadRequest(QAError):
    status = 400
    code = "bad_request"


class Unauthorized(QAError):
    status = 401
    code = "unauthorized"


# Same status and code as any other refused key; told apart where a protocol does (Dify's 1001 vs 1002).
class MissingKey(Unauthorized):
    """No key presented (and anonymous reading is off)."""


class MalformedAuthorization(Unauthorized):
    """An Authorization header that is not "Bearer <key>"."""


class Forbidden(QAError):
    status = 403
    code = "forbidden"


class JobNotFound(QAError):
    status = 404
    code = "job_not_found"


class PayloadTooLarge(QAError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(QAError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(QAError):
    status = 429
    code = "rate_limited"

    def __init__(self, message: str, retry_after: int):
        super().__init__(message)
        self.retry_after = retry_after


class NotReady(QAError):
    status = 503
    code = "not_ready"


def error_body(code: str, message: str, **extra) -> dict:
    return {"error": {"code": code, "message": message, **extra}}


def error_response(e: QAError) -> JSONResponse:
    headers = {}
    if isinstance(e, RateLimited):
        headers["Retry-After"] = str(e.retry_after)
    if isinstance(e, Unauthorized):
        headers["WWW-Authenticate"] = 'Bearer realm="qa"'
    return JSONResponse(error_body(e.code, e.message), status_code=e.status, headers=headers)


# Pydantic's error types, said in Chinese; the field path is added in front.
_VALIDATION_MESSAGES = {
    "missing": "缺少必填字段",
    "extra_forbidden": "不认识的字段",
    "string_type": "应为字符串",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "bool_type": "应为布尔值",
    "list_type": "应为数组",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "string_too_short": "不能为空",
    "string_too_long": "过长",
    "too_long": "项数过多",
    "too_short": "项数过少",
    "greater_than_equal": "数值过小",
    "less_than_equal": "数值过大",
    "literal_error": "取值不在允许范围内",
    "enum": "取值不在允许范围内",
    "string_pattern_mismatch": "格式不正确",
    "value_error": "取值不合法",
}


def _field(loc: tuple) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "请求体"


def _on_validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    if any(e.get("type") == "json_invalid" for e in errors):
        return JSONResponse(error_body("invalid_json", "请求体不是合法的 JSON"), status_code=400)
    details = []
    for e in errors:
        what = _VALIDATION_MESSAGES.get(e.get("type", ""), "不合法")
        limit = e.get("ctx") or {}
        bound = next((limit[k] for k in ("max_length", "min_length", "ge", "le", "expected", "pattern") if k in limit), None)
        details.append({"field": _field(tuple(e.get("loc", ()))), "type": e.get("type"),
                        "message": what + (f"（要求：{bound}）" if bound is not None else "")})
    first = details[0] if details else {"field": "请求体", "message": "不合法"}
    message = f"请求参数不合法：{first['field']} {first['message']}"
    if len(details) > 1:
        message += f"（另有 {len(details) - 1} 处）"
    return JSONResponse(error_body("invalid_request", message, details=details), status_code=422)


_HTTP_CODES = {
    400: ("bad_request", "请求不合法"),
    401: ("unauthorized", "需要 API 密钥"),
    403: ("forbidden", "没有权限"),
    404: ("not_found", "没有这个地址"),
    405: ("method_not_allowed", "该地址不支持此请求方法"),
    413: ("payload_too_large", "请求体过大"),
    415: ("unsupported_media_type", "不支持的内容类型"),
}


def _allowed_methods(request: Request) -> str:
    """Every method some route takes at this path. Starlette's 405 names only the first route
    matching the path (GET /documents), not its siblings (POST /documents)."""
    methods: set[str] = set()

    def walk(routes, prefix: str) -> None:
        for route in routes:
            included = getattr(route, "original_router", None)  # FastAPI's record of include_router
            if included is not None:
                walk(included.routes, prefix + getattr(route.include_context, "prefix", ""))
            elif getattr(route, "methods", None) and compile_path(prefix + route.path)[0].match(request.scope["path"]):
                methods.update(route.methods)

    walk(request.app.router.routes, "")
    return ", ".join(sorted(methods))


def _on_http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    code, message = _HTTP_CODES.get(exc.status_code, ("http_error", "请求失败"))
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request)
    return JSONResponse(error_body(code, message), status_code=exc.status_code, headers=headers)


def _on_qa_error(request: Request, exc: QAError) -> JSONResponse:
    return error_response(exc)


def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    # The one place an unforeseen error is caught: logged with its traceback, answered without it.
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(error_body("internal_error", "服务器内部错误，请稍后重试或联系管理员"), status_code=500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(QAError, _on_qa_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
