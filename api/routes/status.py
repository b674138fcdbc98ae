"""Health, readiness and index status: for load balancers, orchestrators and the admin view."""
from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from qa.index import Index

from ..deps import Reader, RuntimeDep, ServiceDep
from ..errors import error_body
from ..schemas import AuthStateOut, HealthOut, IndexOut, MeOut, ReadyOut
from .responses import READ_ERRORS

router = APIRouter(tags=["运行状态"])
# Liveness and readiness: mounted under /api/v1 and at the root, where orchestrators' probes look.
probes = APIRouter(tags=["运行状态"])


def index_status(index: Index) -> IndexOut:
    m, model = index.manifest, index.manifest.get("model", {})
    return IndexOut(version=m.get("version"), created_at=m.get("created_at"), documents=len(index.docs),
                    chunks=len(index.chunks), model=model.get("name", ""), dim=model.get("dim"), warning=index.warning)


@probes.get("/healthz", summary="存活检查", response_model=HealthOut)
def healthz() -> HealthOut:
    """进程存活。"""
    return HealthOut(status="ok")


@probes.get("/readyz", summary="就绪检查", response_model=ReadyOut, responses={503: READ_ERRORS[503]})
def readyz(rt: RuntimeDep):
    """索引和模型都已加载时返回 200，否则 503（启动加载中，或加载失败的原因及处理办法；`reason` 为其错误码，
    如 index_corrupt）。"""
    rt.retry_if_moved()
    if not rt.ready:
        if (e := rt.load_error) is not None:  # read once: a retry may clear it meanwhile
            return JSONResponse(error_body("not_ready", f"服务未就绪：{e.message}", reason=e.code), status_code=503)
        return JSONResponse(error_body("not_ready", "正在加载索引和模型"), status_code=503)
    return ReadyOut(status="ready", index=index_status(rt.service.index),
                    auth=AuthStateOut(keys_configured=rt.keys.configured, anonymous_read=rt.keys.allow_anonymous_read))


@router.get("/index", summary="索引状态", response_model=IndexOut, responses=READ_ERRORS)
def index(who: Reader, svc: ServiceDep) -> IndexOut:
    """在线索引的版本、创建时间、文档数、片段数和嵌入模型。"""
    return index_status(svc.index)


@router.get("/me", summary="当前密钥的角色", response_model=MeOut, responses=READ_ERRORS)
def me(who: Reader, rt: RuntimeDep) -> MeOut:
    """调用者的角色（reader 或 admin）、密钥编号（密钥的哈希前缀；匿名读取时为 null），以及能否请求生成式回答。"""
    return MeOut(role=who.role, key_id=who.key_id, generation=rt.settings.llm_configured)
