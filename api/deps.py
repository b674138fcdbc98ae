"""What routes receive: the loaded service, the caller (by API key), the app's runtime parts.

Routes take these through `Annotated` aliases (`ServiceDep`, `Reader`, `Admin`, `RuntimeDep`),
so a route's signature says what it needs and who may call it.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from qa.errors import IndexMismatch, IndexNotFound, QAError
from qa.load import find_files
from qa.service import Service
from qa.settings import Settings

from .auth import KeyRing, Principal, RateLimiter, presented_key, require_admin
from .errors import NotReady
from .jobs import IngestJobs
from .metrics import Metrics

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    """Everything one app holds, on `app.state.runtime`: built by `create_app`'s lifespan."""

    settings: Settings
    service: Service
    keys: KeyRing
    limiter: RateLimiter
    metrics: Metrics
    jobs: IngestJobs
    ready: bool = False
    load_error: QAError | None = None
    _loaded: threading.Event = field(default_factory=threading.Event)

    def load(self) -> None:
        """Load the index (building it from the corpus folder when there is none, or when it was
        built by an older chunker) and the model, then warm them up with one query."""
        svc = self.service
        try:
            try:
                index = svc.index
            except (IndexNotFound, IndexMismatch) as e:
                corpus = self.settings.corpus_dir
                if not corpus.is_dir() or not find_files([corpus]):
                    raise
                log.info("%s: building the index from %s", e.code, corpus)
                svc.ingest([corpus])
                index = svc.index
            svc.search("预热", k=1)  # loads the model and warms it up before the first real question
            self.metrics.index_size(len(index.docs), len(index.chunks))
            self.ready = True
            log.info("ready: %d documents, %d chunks", len(index.docs), len(index.chunks))
        except QAError as e:
            self.load_error = e
            log.error("not ready: %s (%s)", e.message, e.code)
        finally:
            self._loaded.set()

    def wait_loaded(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def service(rt: RuntimeDep) -> Service:
    if not rt.ready:
        if rt.load_error is not None:
            raise NotReady(f"服务未就绪：{rt.load_error.message}")
        raise NotReady("服务正在加载索引和模型，请稍后重试")
    return rt.service


ServiceDep = Annotated[Service, Depends(service)]

# Declared as security schemes, so /docs offers an "Authorize" button for either form.
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API 密钥")
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API 密钥>")


def caller(request: Request, rt: RuntimeDep,
           api_key: Annotated[str | None, Depends(_api_key_header)],
           bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    # `bearer` is declared for the OpenAPI page; the header is read as sent, so a wrong scheme
    # ("Basic …") gets a clear 401 instead of being ignored.
    who = rt.keys.identify(presented_key(api_key, request.headers.get("authorization")))
    request.state.key_id = who.key_id
    rt.limiter.check(who.key_id or f"ip:{request.client.host if request.client else '-'}")
    return who


Reader = Annotated[Principal, Depends(caller)]


def admin(who: Reader) -> Principal:
    return require_admin(who)


Admin = Annotated[Principal, Depends(admin)]
