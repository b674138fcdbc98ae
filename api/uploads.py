"""Uploaded files written to disk as their bytes arrive, each counted against its own limit.

FastAPI's `UploadFile` parameters would parse (and spool) the whole multipart body before the
route could look at a single file; here a file over the limit or one file too many stops the upload
at the byte where it shows. A file of a refused type is refused alone: its bytes are not kept, and
the rest of the batch goes on (the route says which files were refused, and why). What is inside a
file (empty, encrypted, damaged) is the ingest's to find, and reports per file.
"""
from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

from .errors import BadRequest, PayloadTooLarge

_FIELD_CAP = 64 * 1024  # a form field that is not a file (none is expected): read, capped, ignored


@dataclass(frozen=True)
class StoredFile:
    name: str  # as the client sent it; it names the document, never a path
    path: Path


@dataclass(frozen=True)
class RefusedFile:
    name: str
    code: str
    message: str  # in Chinese, naming the file


class Refused(Exception):
    """Raised by `check_name` to refuse one file (not the request)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code, self.message = code, message


class _Receiver:
    """python-multipart callbacks: each part of field `field` that carries a filename goes to a file
    of its own under `folder`."""

    def __init__(self, folder: Path, field: str, check_name: Callable[[str], str], max_bytes: int, max_files: int):
        self.folder, self.field, self.check_name = folder, field, check_name
        self.max_bytes, self.max_files = max_bytes, max_files
        self.stored: list[StoredFile] = []
        self.refused: list[RefusedFile] = []
        self._skipping = False  # the current part is a refused file: its bytes are dropped
        self._header_name = self._header_value = b""
        self._disposition = b""
        self._out = None  # the open file of the current part, if it is one we keep
        self._size = 0
        self._name = ""

    def callbacks(self) -> dict:
        return {"on_part_begin": self._begin, "on_header_field": self._header_field,
                "on_header_value": self._header_val, "on_header_end": self._header_end,
                "on_headers_finished": self._headers_done, "on_part_data": self._data, "on_part_end": self._end}

    def _begin(self) -> None:
        self._disposition, self._size, self._out, self._skipping = b"", 0, None, False

    def _header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_name += data[start:end]

    def _header_val(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _header_end(self) -> None:
        if self._header_name.lower() == b"content-disposition":
            self._disposition = self._header_value
        self._header_name = self._header_value = b""

    def _headers_done(self) -> None:
        _, options = parse_options_header(self._disposition)
        if options.get(b"name", b"").decode("utf-8", "replace") != self.field or b"filename" not in options:
            return
        if len(self.stored) + len(self.refused) >= self.max_files:
            raise PayloadTooLarge(f"一次最多上传 {self.max_files} 个文件")
        self._name = options[b"filename"].decode("utf-8", "replace")
        try:
            suffix = self.check_name(self._name)
        except Refused as e:
            self.refused.append(RefusedFile(self._name, e.code, e.message))
            self._skipping = True
            return
        path = self.folder / f"{len(self.stored) + 1:02d}-{uuid.uuid4().hex}{suffix}"
        # Plain writes from the parser's callback: each is one received block (≤ 64 KB from uvicorn).
        self._out = open(path, "wb")  # noqa: SIM115 - closed in _end, or by `close` on failure
        self.stored.append(StoredFile(self._name, path))

    def _data(self, data: bytes, start: int, end: int) -> None:
        self._size += end - start
        if self._skipping:  # the request as a whole is bounded by the guard's upload limit
            return
        if self._out is None:
            if self._size > _FIELD_CAP:
                raise PayloadTooLarge(f"表单字段超过 {_FIELD_CAP} 字节")
            return
        if self._size > self.max_bytes:
            raise PayloadTooLarge(f"文件 {self._name!r} 超过 {self.max_bytes / (1024 * 1024):g} MB 的上限")
        self._out.write(data[start:end])

    def _end(self) -> None:
        self.close()

    def close(self) -> None:
        if self._out is not None:
            self._out.close()
            self._out = None


async def receive_files(content_type: str, blocks: AsyncIterator[bytes], folder: Path, *, field: str,
                        check_name: Callable[[str], str], max_bytes: int,
                        max_files: int) -> tuple[list[StoredFile], list[RefusedFile]]:
    """Store every file of multipart field `field` under `folder`; `check_name` returns a file's
    suffix, or raises `Refused` to refuse that file alone. Returns the stored files and the refused
    ones, in the order they came. On any error the caller removes `folder`."""
    _, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if not boundary:
        raise BadRequest("multipart 请求缺少 boundary")
    receiver = _Receiver(folder, field, check_name, max_bytes, max_files)
    parser = MultipartParser(boundary, receiver.callbacks())
    try:
        async for block in blocks:
            parser.write(block)
        parser.finalize()
    except FormParserError as e:
        raise BadRequest("multipart 请求体格式不正确") from e
    finally:
        receiver.close()
    return receiver.stored, receiver.refused
