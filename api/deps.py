"""What routes receive: the loaded service, the caller (by API key), the app's runtime parts.

Routes take these through `Annotated` aliases (`ServiceDep`, `Reader`, `Admin`, `RuntimeDep`),
so a route's signature says what it needs and who may call it.
"""
from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from qa.errors import IndexMismatch, IndexNotFound, QAError
from qa.index import live_version_name
from qa.load import find_files
from qa.records import Records
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
    records: Records | None = None  # None with QA_RECORDS=off
    ready: bool = False
    load_error: QAError | None = None
    # `CURRENT` when loading failed: once it moves (`qa index rollback`, `qa restore`, an ingest),
    # loading is tried again, so the admin's fix needs no restart.
    failed_at: str | None = None
    _loaded: threading.Event = field(default_factory=threading.Event)
    _retrying: threading.Lock = field(default_factory=threading.Lock)

    def load(self) -> None:
        """Load the index and the model, then warm them up with one query. The index is built from
        the corpus folder only when the index folder holds no version at all (a missing or dangling
        `CURRENT` falls back to an intact version in `Index.load`, and says so); one built by an
        older chunker or tokenizer is re-chunked as it stands. Whatever fails ends in `load_error`,
        which /readyz reports."""
        svc = self.service
        try:
            try:
                index = svc.index
            except IndexNotFound as e:
                corpus = self.settings.corpus_dir
                if not corpus.is_dir() or not find_files([corpus]):
                    raise
                log.info("%s: building the index from %s", e.code, corpus)
                svc.ingest([corpus])
                index = svc.index
            except IndexMismatch as e:
                # Another chunker or tokenizer: the documents already there are re-chunked (vectors
                # reused), never replaced by the sample corpus. Another model stays refused.
                log.info("%s: re-chunking the documents of the index", e.code)
                svc.ingest([])
                index = svc.index
            svc.search("预热", k=1)  # loads the model and warms it up before the first real question
            self.metrics.index_size(len(index.docs), len(index.chunks))
            self.ready = True
            log.info("ready: %d documents, %d chunks", len(index.docs), len(index.chunks))
            if index.warning:
                log.warning("%s", index.warning)
        except QAError as e:
            self._fail(e)
        except Exception as e:  # noqa: BLE001 - a background thread: a failure must reach /readyz, not only the log
            log.exception("loading the index or the model failed")
            self._fail(QAError(f"加载索引或模型时出错（{type(e).__name__}: {e}），详见服务日志"))
        finally:
            self._loaded.set()

    def _fail(self, e: QAError) -> None:
        self.failed_at = live_version_name(self.settings.index_dir)
        self.load_error = e
        log.error("not ready: %s (%s)", e.message, e.code)

    def retry_if_moved(self) -> None:
        """After a failed load, load again (in the background) once `CURRENT` has moved."""
        if self.load_error is None or live_version_name(self.settings.index_dir) == self.failed_at:
            return
        if not self._retrying.acquire(blocking=False):
            return
        self.load_error = None
        self._loaded.clear()

        def again() -> None:
            try:
                self.load()
            finally:
                self._retrying.release()

        threading.Thread(target=again, name="reload-index", daemon=True).start()

    def wait_loaded(self, timeout: float | None = None) -> bool:
        return self._loaded.wait(timeout)


def runtime(request: Request) -> Runtime:
    return request.app.state.runtime


RuntimeDep = Annotated[Runtime, Depends(runtime)]


def service(rt: RuntimeDep) -> Service:
    rt.retry_if_moved()
    if not rt.ready:
        if (e := rt.load_error) is not None:  # read once: a retry may clear it meanwhile
            raise NotReady(f"服务未就绪：{e.message}")
        raise NotReady("服务正在加载索引和模型，请稍后重试")
    return rt.service


ServiceDep = Annotated[Service, Depends(service)]

# Declared as security schemes, so /docs offers an "Authorize" button for either form.
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API 密钥")
_bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer <API 密钥>")


def caller(request: Request, rt: RuntimeDep,
           api_key: Annotated[str | None, Depends(_api_key_header)],
           bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> Principal:
    """Identified by the `Guard` at the edge, before the body was read; `api_key` and `bearer` are
    declared for the OpenAPI page only."""
    who = getattr(request.state, "principal", None)
    if who is None:  # a route outside the guarded prefix: identify here, as the guard would
        who = rt.keys.identify(presented_key(api_key, request.headers.get("authorization")))
        request.state.key_id = who.key_id
        rt.limiter.check(who.key_id or f"ip:{request.client.host if request.client else '-'}")
    return who


Reader = Annotated[Principal, Depends(caller)]


def admin(who: Reader) -> Principal:
    return require_admin(who)


Admin = Annotated[Principal, Depends(admin)]


# ----- whose records: conversations belong to a key, or (anonymous reading) to a browser -----

CLIENT_ID = r"^[A-Za-z0-9_-]{8,64}$"
_CLIENT_ID = re.compile(CLIENT_ID)


@dataclass(frozen=True)
class Viewer:
    """Whose conversations a request reads and writes. `owner` is "key:<key id>" (never the key), or
    "key:<key id>/client:<X-Client-ID>" when the caller also names its browser (the chat page does),
    or, for an anonymous reader, "client:<X-Client-ID>"; "" when none is known (nothing of its own
    can be read back). An admin reads every owner's."""

    owner: str
    admin: bool

    @property
    def reads(self) -> str | None:
        """The owner to filter reads by; None (everyone's) for an admin."""
        return None if self.admin else self.owner


def viewer(who: Reader, x_client_id: Annotated[str | None, Header(
        description="浏览器的编号（8–64 个字母、数字、-、_；网页自动生成并保存在本地）：对话记录归属于它（带 API 密钥时"
                    "归属于该密钥下的这个浏览器）；不合此格式的视同未给出，带密钥时对话则归属于密钥")] = None) -> Viewer:
    # A malformed id is taken as none rather than refused: the header is only a filing label, and
    # a proxy or portal may send its own. With a key, the browser narrows the owner: a portal that
    # puts one reader key in its page for every visitor must not show each visitor the others'
    # questions. An integration that sends no browser id files under the key alone.
    client = x_client_id if x_client_id and _CLIENT_ID.match(x_client_id) else None
    if who.key_id:
        return Viewer(f"key:{who.key_id}" + (f"/client:{client}" if client else ""), who.is_admin)
    return Viewer(f"client:{client}" if client else "", who.is_admin)


ViewerDep = Annotated[Viewer, Depends(viewer)]


def records(rt: RuntimeDep) -> Records | None:
    return rt.records


RecordsDep = Annotated[Records | None, Depends(records)]
