"""`create_app(settings=None)`: the FastAPI service. Its lifespan loads the one `Service`
(index and model) into `app.state.runtime` in the background; /readyz says when it is done.

    /api/v1/ask  /search  /chat  /documents  /documents/{id}  /jobs/{id}  /index  /me
    /api/v1/conversations[/{id}]  /answers/{id}[/feedback]  /records/export
    /api/v1/analysis  /evalset[/draft|/cases|/unanswerable]   (admin: the gap report, the eval set)
    /api/v1/dify/retrieval (Dify's external knowledge API)
    /v1/chat/completions  /v1/models[/{model}]   (OpenAI's protocol, its error shape)
    /healthz  /readyz  /metrics  /docs (OpenAPI)  /  (the web chat)
"""
from __future__ import annotations

import logging
import sys
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from qa.records import Records
from qa.service import Service
from qa.settings import Settings

from . import errors
from .access import AccessLog
from .auth import KeyRing, RateLimiter
from .deps import Runtime
from .guard import Guard
from .jobs import IngestJobs
from .metrics import Metrics
from .routes import (
    analysis,
    answers,
    ask,
    chat,
    conversations,
    dify,
    documents,
    jobs,
    openai_compat,
    search,
    status,
)

log = logging.getLogger(__name__)

API = "/api/v1"
STATIC = Path(__file__).parent / "static"
_JSON_BODY_LIMIT = 1024 * 1024  # a question with its history is a few KB; anything near this is not one

DESCRIPTION = """政务知识问答服务：对市场监管等政府文件的知识库进行问答与检索，答案附带出处片段。

**认证**：在请求头 `X-API-Key: <密钥>` 或 `Authorization: Bearer <密钥>` 中提供 API 密钥。
reader 密钥可问答、检索、阅读文档；admin 密钥还可上传和删除文档。

**错误**：一律为 `{"error": {"code": "...", "message": "中文说明"}}`，状态码 400/401/403/404/413/415/422/429/503/507。
"""


# Said on start when nobody could use the service; /readyz reports the same state (`auth`).
NO_KEYS_MESSAGE = ("未配置任何 API 密钥，且未允许匿名读取：所有请求都会被拒绝。创建管理员密钥："
                   "qa key new --role admin --file /etc/qa/keys，然后设置 QA_API_KEYS_FILE=/etc/qa/keys 并重启服务。")


def create_app(settings: Settings | None = None, service: Service | None = None) -> FastAPI:
    """The app for `settings` (default: the environment). `service` lets a caller share an
    already-loaded service (tests); otherwise the lifespan builds one."""
    settings = settings or Settings()
    # The query embedding runs torch op by op, each op taking the interpreter lock back from
    # threads doing Python work for other requests; at the default 5 ms hand-over interval that
    # convoy, not the arithmetic, sets the latency under concurrent load.
    sys.setswitchinterval(0.0005)
    keys = KeyRing.from_settings(settings)  # a malformed key setting stops start-up, not a request
    if not keys.configured and not keys.allow_anonymous_read:
        log.warning(NO_KEYS_MESSAGE)
    limiter = RateLimiter(settings.rate_limit_per_minute)
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        svc = service or Service(settings)
        records = Records.from_settings(settings)  # migrated to the newest schema here; None when off
        jobs_ = IngestJobs(settings.index_dir, svc, on_finish=lambda s: _after_job(rt, s))
        rt = Runtime(settings, svc, keys, limiter, metrics, jobs_, records)
        app.state.runtime = rt
        threading.Thread(target=rt.load, name="load-index", daemon=True).start()
        yield
        jobs_.shutdown()
        if records is not None:
            records.close()

    # FastAPIOffline serves the /docs page's scripts itself: the intranet has no CDN.
    app = FastAPIOffline(title="政务知识问答 API", version="1", description=DESCRIPTION, lifespan=lifespan,
                         openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)
    errors.install(app)
    _document_limits(app, settings)
    for r in (ask.router, chat.router, search.router, documents.router, jobs.router, status.router, status.probes,
              conversations.router, answers.router, dify.router, analysis.router):
        app.include_router(r, prefix=API)
    app.include_router(status.probes, include_in_schema=False)
    app.include_router(openai_compat.router, prefix=openai_compat.PREFIX)  # OpenAI's protocol, beside /api/v1
    metrics.install(app)
    _static(app)

    # Inside out: the guard checks the key and counts the body before any route reads it; the
    # access log wraps it, so refusals are logged with their request id too.
    app.add_middleware(Guard, keys=keys, limiter=limiter, failures=RateLimiter(settings.auth_failures_per_minute),
                       api_prefix=(f"{API}/", f"{openai_compat.PREFIX}/"), open_paths=(f"{API}/healthz", f"{API}/readyz"),
                       error_shapes=((f"{openai_compat.PREFIX}/", openai_compat.error_response),
                                     (f"{API}/dify/", dify.error_response)),  # Dify's protocol, its error codes
                       admin_paths=(f"{API}/documents",), body_limit=_JSON_BODY_LIMIT,
                       upload_limit=settings.max_upload_bytes * settings.max_upload_files + _JSON_BODY_LIMIT)
    app.add_middleware(AccessLog)

    origins = [o.strip() for o in settings.cors_origins.split(",") if o.strip()]
    if origins:  # added last, so it wraps everything: error responses carry CORS headers too
        app.add_middleware(CORSMiddleware, allow_origins=origins, allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                           allow_headers=["X-API-Key", "Authorization", "Content-Type", "X-Request-ID", "X-Client-ID"],
                           expose_headers=["Location", "Retry-After", "X-Request-ID"], max_age=600)
    return app


def _document_limits(app: FastAPI, settings: Settings) -> None:
    """The OpenAPI document states the configured limits the service enforces, so a request that
    the document calls valid is one the service accepts."""
    default = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schema = default()
            models = schema["components"]["schemas"]
            for model, field in (("AskRequest", "question"), ("SearchRequest", "query"),
                                 ("DifyRetrievalRequest", "query")):
                models[model]["properties"][field]["maxLength"] = settings.max_question_chars
            history = models["AskRequest"]["properties"]["history"]
            history["maxItems"] = settings.max_history
            # JSON Schema has no cap on the items' total length: each item gets its share of it.
            history["items"]["maxLength"] = min(settings.max_question_chars,
                                                settings.max_history_chars // max(1, settings.max_history))
            history["description"] += f"；最多 {settings.max_history} 条，合计不超过 {settings.max_history_chars} 个字符"
            upload = schema["paths"]["/api/v1/documents"]["post"]["requestBody"]["content"]["multipart/form-data"]
            files = upload["schema"]["properties"]["files"]
            files["maxItems"] = settings.max_upload_files  # more is refused with 413 (api/uploads.py)
            files["description"] += f"；一次最多 {settings.max_upload_files} 个"
        return app.openapi_schema

    app.openapi = openapi


def _after_job(rt: Runtime, status: str) -> None:
    rt.metrics.ingest_jobs.labels(status=status).inc()
    index = rt.service.index
    rt.metrics.index_size(len(index.docs), len(index.chunks))


def _static(app: FastAPI) -> None:
    """The web chat: / and its assets under /static, all served from api/static (no CDN)."""
    if (STATIC / "index.html").exists():
        app.mount("/static", StaticFiles(directory=STATIC), name="static")

        @app.get("/", include_in_schema=False)
        def chat_page() -> FileResponse:
            return FileResponse(STATIC / "index.html")
    else:
        @app.get("/", include_in_schema=False)
        def no_chat_page() -> RedirectResponse:
            return RedirectResponse("/docs")


def logging_config(level: str = "INFO") -> dict:
    """For uvicorn (`qa serve`): our loggers and the access log, one line per event."""
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stderr"}},
        "loggers": {
            "": {"handlers": ["stderr"], "level": level},
            "uvicorn.access": {"level": "WARNING"},  # api.access logs every request, with the route and key id
            "jieba": {"level": "WARNING"}, "sentence_transformers": {"level": "WARNING"}, "faiss": {"level": "WARNING"},
            # the embedding endpoint's client logs every request and retry at INFO (QA_EMBED_URL)
            "openai": {"level": "WARNING"}, "httpx": {"level": "WARNING"},
        },
    }
