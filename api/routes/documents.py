"""The knowledge base's documents: list, read (for the citation viewer), download the original, upload, delete."""
from __future__ import annotations

import logging
import re
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import anyio
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse

from qa import originals
from qa.errors import DocumentNotFound, QAError
from qa.formats import sheet
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
    ErrorOut,
    JobOut,
    RemovedOut,
)
from ..uploads import Refused, RefusedFile, receive_files
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
                           index=index_status(index), upload_types=list(SUPPORTED))


class OriginalNotKept(QAError):
    status = 404
    code = "original_not_found"


# Served in the page (`?inline=true`) only where the browser shows it without running anything of
# ours: an uploaded .html or .svg, shown inline, would run its scripts as this site.
_INLINE_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/gif", "image/tiff", "image/webp")
_NOT_ASCII_NAME = re.compile(r'[^A-Za-z0-9._ ()\[\]-]+')
_ORIGINAL_RESPONSES = {
    200: {"description": "原件的字节，Content-Type 为其类型（.docx、.xlsx、.pdf、.ofd…），Content-Disposition 给出文件名"
                         "（RFC 5987 的 filename*=UTF-8''…，另附 ASCII 文件名供旧客户端使用）",
          "content": {"*/*": {"schema": {"type": "string", "format": "binary"}}},
          "headers": {"Content-Disposition": {"schema": {"type": "string"}, "description": "attachment（或 inline）与文件名",
                                              "example": "attachment; filename=\"2026.docx\"; filename*=UTF-8''%E5%85%B3%E4%BA%8E2026.docx"}}},
    **READ_ERRORS,
    404: {"model": ErrorOut, "description": "没有这个文档（document_not_found），或该文档没有保存原件（original_not_found："
                                            "以 JSONL 导入的、或在保存原件之前导入的文档；重新上传该文件即可）"},
}


@router.get("/documents/{doc_id:path}/original", summary="下载原件", response_class=FileResponse,
            responses=_ORIGINAL_RESPONSES)
def get_original(doc_id: str, who: Reader, svc: ServiceDep, inline: bool = False):
    """一篇文档上传或导入时的原始文件，与文档本身的读取权限相同（reader 密钥即可）。

    默认作为附件下载（`Content-Disposition: attachment`，中文文件名按 RFC 5987 编码）；
    `inline=true` 时 PDF 和图片在浏览器中直接打开（如 `…/original?inline=true#page=3` 打开第 3 页），其他类型仍为下载。
    """
    index = svc.index
    if doc_id not in index.docs and f"{doc_id}/original" in index.docs:
        # a document whose own id ends in "/original" (a JSONL id may): its text, as the route below gives it
        return JSONResponse(get_document(f"{doc_id}/original", who, svc).model_dump(mode="json"))
    info = index.docs.get(doc_id)
    if info is None:
        raise DocumentNotFound(f"知识库中没有文档 {doc_id!r}")
    path = originals.path_of(svc.settings.index_dir, info.original_sha256, info.original_name)
    if path is None:
        raise OriginalNotKept(f"文档 {doc_id!r} 没有保存原件（以 JSONL 导入，或在保存原件之前导入）；重新上传该文件即可保存")
    if not path.is_file():
        raise OriginalNotKept(f"文档 {doc_id!r} 的原件 {info.original_name!r} 已不在服务器上（可能被清理）；重新上传该文件即可")
    media_type = originals.content_type(info.original_name)
    shown = inline and media_type in _INLINE_TYPES
    return FileResponse(path, media_type=media_type, headers={
        "Content-Disposition": _disposition("inline" if shown else "attachment", info.original_name),
        "X-Content-Type-Options": "nosniff",
        # the bytes are a user's file: never run as this site (a PDF shown inline needs its viewer, so no sandbox)
        **({} if shown else {"Content-Security-Policy": "sandbox"}),
        "Cache-Control": "private, max-age=3600",  # content-addressed: the bytes under this name never change
    })


def _disposition(kind: str, name: str) -> str:
    """`attachment; filename="…"; filename*=UTF-8''…` (RFC 6266 / RFC 5987): the real name for every
    browser of today, and an ASCII stand-in for clients that only read `filename`."""
    stem, suffix = Path(name).stem, originals.suffix_of(name)
    ascii_stem = _NOT_ASCII_NAME.sub("_", stem).strip("_ .") or "original"
    return f'{kind}; filename="{ascii_stem}{suffix}"; filename*=UTF-8\'\'{quote(name, safe="")}'


@router.get("/documents/{doc_id:path}", summary="文档原文与片段位置", response_model=DocumentDetailOut, responses=READ_ERRORS | {404: WRITE_ERRORS[404]})
def get_document(doc_id: str, who: Reader, svc: ServiceDep) -> DocumentDetailOut:
    """一篇文档的元数据、完整原文（raw_text，文件中的文字）和清洗后的正文（text），以及每个片段在两者中的
    位置与页码（供引用查看器定位和高亮）；`original` 不为 null 时可下载原件。"""
    index = svc.index
    doc = index.document(doc_id)
    info = index.docs[doc_id]
    low = svc.settings.ocr_min_confidence
    spans = [ChunkSpanOut(chunk_id=c.chunk_id, ordinal=c.ordinal, kind=c.kind, section=c.section,
                          raw_start=c.raw_start, raw_end=c.raw_end, start=c.start, end=c.end,
                          page=c.page, row=c.row, cells=sheet.record_cells(c.text) if c.kind == "table_row" else [],
                          ocr_confidence=c.ocr_confidence, ocr_low=0 < c.ocr_confidence < low)
             for c in index.chunks_of(doc_id)]
    return DocumentDetailOut(**DocumentOut.from_info(info).model_dump(), raw_text=doc.raw_text, text=doc.text,
                             chunk_spans=spans)


def _check_suffix(name: str) -> str:
    """The suffix a file is stored under; a file of another type is refused alone (`Refused`)."""
    suffix = Path(name).suffix.lower()
    if suffix not in SUPPORTED:
        raise Refused("unsupported_format", f"不支持的文件类型：{name!r}（{suffix or '没有扩展名'}；"
                                            f"支持 {'、'.join(SUPPORTED)}），未导入")
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


async def _receive(request: Request, folder: Path, s: Settings) -> tuple[list[tuple[str, Path, str]], list[RefusedFile]]:
    """The uploaded files, stored under `folder`: (client's file name, stored path, document id);
    and the files refused alone (of a type not read). Only a request with no file to import is refused."""
    content_type = request.headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    if media_type in JSONL_TYPES:
        dest = folder / f"01-{uuid.uuid4().hex}.jsonl"
        await _store(request.stream(), dest, s.max_upload_bytes, "请求体")
        return [("上传.jsonl", dest, "上传")], []
    if media_type == "multipart/form-data":
        files, refused = await receive_files(content_type, request.stream(), folder, field="files",
                                             check_name=lambda name: _check_suffix(name or ""),
                                             max_bytes=s.max_upload_bytes, max_files=s.max_upload_files)
        if not files and refused:
            raise UnsupportedMediaType(f"没有可导入的文件：{'；'.join(r.message for r in refused)}")
        if not files:
            raise BadRequest("没有收到文件：请用 multipart 字段 files 上传")
        return [(f.name or f.path.name, f.path, document_name(f.name)) for f in files], refused
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

    一批文件中不支持的类型逐个拒绝（列在 `rejected` 中，附中文原因），其余文件照常导入；
    导入时读不出的文件（加密、损坏、没有文字…）在任务的 `files` 中各自标为 error 并说明原因。
    只有一个可导入的文件都没有时，整个请求才被拒绝（415 或 400）。原件保存在索引旁，可用
    `GET /documents/{doc_id}/original` 下载。

    导入在新的索引版本上进行，完成后原子切换；失败时在线索引不变。每个文件在接收时计数，超过上限即停止接收。
    """
    with out_of_space(Path("uploads"), "保存上传的文件", "没有导入任何文件"):
        job_id, folder = rt.jobs.new_upload_dir()
        try:
            files, refused = await _receive(request, folder, rt.settings)
            job = rt.jobs.submit(job_id, files, [{"name": r.name, "code": r.code, "message": r.message} for r in refused])
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
