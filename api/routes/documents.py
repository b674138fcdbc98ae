"""The knowledge base's documents: list, read (for the citation viewer), upload, delete."""
from __future__ import annotations

import logging
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from qa.integrity import out_of_space
from qa.load import SUPPORTED
from qa.settings import Settings

from ..deps import Admin, Reader, RuntimeDep, ServiceDep
from ..errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from ..jobs import document_name
from ..schemas import (
    ChunkSpanOut,
    DocumentDetailOut,
    DocumentListOut,
    DocumentOut,
    JobOut,
    RemovedOut,
)
from ..uploads import receive_files
from .responses import READ_ERRORS, WRITE_ERRORS
from .status import index_status

log = logging.getLogger(__name__)

router = APIRouter(tags=["文档"])

JSONL_TYPES = ("application/x-ndjson", "application/jsonl", "application/x-jsonlines", "application/jsonlines")


@router.get("/documents", summary="文档列表", response_model=DocumentListOut, responses=READ_ERRORS)
def list_documents(who: Reader, svc: ServiceDep) -> DocumentListOut:
    """知识库中的全部文档（标题、日期、来源、地区、类型、片段数）及索引状态。"""
    index = svc.index
    return DocumentListOut(documents=[DocumentOut.from_info(d) for d in index.docs.values()],
                           index=index_status(index))


@router.get("/documents/{doc_id:path}", summary="文档原文与片段位置", response_model=DocumentDetailOut, responses=READ_ERRORS | {404: WRITE_ERRORS[404]})
def get_document(doc_id: str, who: Reader, svc: ServiceDep) -> DocumentDetailOut:
    """一篇文档的元数据和完整原文，以及每个片段在原文中的位置（供引用查看器定位和高亮）。"""
    index = svc.index
    doc = index.document(doc_id)
    info = index.docs[doc_id]
    spans = [ChunkSpanOut(chunk_id=c.chunk_id, ordinal=c.ordinal, kind=c.kind, section=c.section,
                          raw_start=c.raw_start, raw_end=c.raw_end) for c in index.chunks_of(doc_id)]
    return DocumentDetailOut(**DocumentOut.from_info(info).model_dump(), raw_text=doc.raw_text, chunk_spans=spans)


def _check_suffix(name: str) -> str:
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED:
        raise UnsupportedMediaType(f"不支持的文件类型：{name!r}（支持 {'、'.join(SUPPORTED)}）")
    return suffix


async def _store(blocks: AsyncIterator[bytes], dest: Path, limit: int, what: str) -> None:
    """Copy `blocks` to `dest`, refusing to go past `limit` bytes (the file is removed with its folder)."""
    size = 0
    async with await anyio.open_file(dest, "wb") as out:
        async for block in blocks:
            size += len(block)
            if size > limit:
                raise PayloadTooLarge(f"{what}超过 {limit / (1024 * 1024):g} MB 的上限")
            await out.write(block)


async def _receive(request: Request, folder: Path, s: Settings) -> list[tuple[str, Path, str]]:
    """The uploaded files, stored under `folder`: (client's file name, stored path, document id)."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type in JSONL_TYPES:
        dest = folder / f"01-{uuid.uuid4().hex}.jsonl"
        await _store(request.stream(), dest, s.max_upload_bytes, "请求体")
        return [("上传.jsonl", dest, "上传")]
    if media_type == "multipart/form-data":
        files = await receive_files(content_type, request.stream(), folder, field="files",
                                    check_name=lambda name: _check_suffix(name or ""),
                                    max_bytes=s.max_upload_bytes, max_files=s.max_upload_files)
        if not files:
            raise BadRequest("没有收到文件：请用 multipart 字段 files 上传")
        return [(f.name or f.path.name, f.path, document_name(f.name)) for f in files]
    raise UnsupportedMediaType("请以 multipart/form-data（字段 files）上传文件，或以 application/x-ndjson 提交 JSONL")


# The body is read by the route itself, as it arrives (see `uploads`), so it is described here.
_UPLOAD_BODY = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {"type": "object", "required": ["files"], "properties": {"files": {
        "type": "array", "minItems": 1, "items": {"type": "string", "format": "binary"},
        "description": f"一个或多个文件；文件名的后缀决定类型：{' '.join(SUPPORTED)}"}}},
        # The suffix of each part's file name is what the service reads, so the document says so.
        "encoding": {"files": {"headers": {"Content-Disposition": {"schema": {
            "type": "string", "example": 'form-data; name="files"; filename="notice.txt"'}}}}}},
    JSONL_TYPES[0]: {"schema": {"type": "string", "description": '每行一篇文档：{"id", "title", "text", …}'}},
}}}


@router.post("/documents", summary="上传文档（后台导入）", status_code=202, response_model=JobOut, responses=WRITE_ERRORS,
             openapi_extra=_UPLOAD_BODY)
async def upload_documents(request: Request, who: Admin, rt: RuntimeDep) -> JSONResponse:
    """上传文档（multipart 的 `files` 字段，可多个；或以 `Content-Type: application/x-ndjson` 直接提交 JSONL，
    每行 `{"id", "title", "text", …}`）。在后台导入，立即返回 202 和任务编号；用 `GET /jobs/{job_id}` 查看进度。

    导入在新的索引版本上进行，完成后原子切换；失败时在线索引不变。每个文件在接收时计数，超过上限即停止接收。
    """
    with out_of_space(Path("uploads"), "保存上传的文件", "没有导入任何文件"):
        job_id, folder = rt.jobs.new_upload_dir()
        try:
            job = rt.jobs.submit(job_id, await _receive(request, folder, rt.settings))
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)  # nothing half-stored stays behind
            raise
    return JSONResponse(JobOut.model_validate(job).model_dump(mode="json"), status_code=202,
                        headers={"Location": f"{request.scope.get('root_path', '')}/api/v1/jobs/{job_id}"})


@router.delete("/documents/{doc_id:path}", summary="删除文档", response_model=RemovedOut, responses=WRITE_ERRORS)
def delete_document(doc_id: str, who: Admin, svc: ServiceDep, rt: RuntimeDep) -> RemovedOut:
    """从知识库删除一篇文档：在新的索引版本上删除后原子切换（不重新嵌入其他文档）。"""
    report = svc.remove([doc_id])
    rt.metrics.index_size(report.documents, report.chunks)
    log.info("document %r deleted by %s", doc_id, who.key_id)
    return RemovedOut(removed=list(report.removed), documents=report.documents, chunks=report.chunks)
