"""Errors are types: each carries an HTTP status and a stable machine-readable code.

The API turns them into {"error": {"code", "message"}}; the CLI prints the message.
Messages are in Chinese (staff read them) and name the bad value.
"""
from __future__ import annotations


class QAError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidArgument(QAError):
    status = 422
    code = "invalid_argument"


class DocumentLoadError(QAError):
    """One file could not be read; ingest records it and goes on with the rest."""

    status = 422
    code = "document_unreadable"

    def __init__(self, path: str, message: str, code: str | None = None):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.reason = message
        if code:
            self.code = code


class UnsupportedFormat(DocumentLoadError):
    status = 415
    code = "unsupported_format"


class EmptyDocument(DocumentLoadError):
    code = "empty_document"


class UndecodableDocument(DocumentLoadError):
    code = "undecodable_document"


class IndexNotFound(QAError):
    status = 503
    code = "index_not_found"


class IndexMismatch(QAError):
    """The index on disk was built with another model or chunker than the settings name."""

    status = 503
    code = "index_mismatch"


class ModelNotFound(QAError):
    status = 503
    code = "model_not_found"


class DocumentNotFound(QAError):
    status = 404
    code = "document_not_found"
