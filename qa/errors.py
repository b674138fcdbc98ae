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


class ModelMismatch(QAError):
    """The query embedding variant does not embed like the passage variant (another vector space)."""

    status = 503
    code = "model_mismatch"


class EmbeddingDeviceUnavailable(QAError):
    """QA_EMBED_DEVICE names a device this machine (or the configured backend) cannot use."""

    status = 503
    code = "embedding_device_unavailable"


class EmbeddingEndpointUnavailable(QAError):
    """The embedding server of QA_EMBED_URL could not be reached or answered something unusable."""

    status = 503
    code = "embedding_endpoint_unavailable"


class DocumentNotFound(QAError):
    status = 404
    code = "document_not_found"


class IndexCorrupt(QAError):
    """A file of an index version is missing or damaged (its size or checksum differs from the manifest)."""

    status = 503
    code = "index_corrupt"


class InsufficientStorage(QAError):
    """The disk (or the user's quota) is full: the write was abandoned and the live index is unchanged."""

    status = 507
    code = "insufficient_storage"


class BackupInvalid(QAError):
    """A backup archive is not one `qa backup` wrote, or it was damaged since."""

    status = 422
    code = "backup_invalid"


class TrashNotFound(QAError):
    status = 404
    code = "trash_not_found"


class NoEarlierVersion(QAError):
    """`qa index rollback` found no intact version older than the live one."""

    status = 409
    code = "no_earlier_version"


class ConversationNotFound(QAError):
    """No such conversation, or not the caller's: the two are not told apart (nothing is revealed)."""

    status = 404
    code = "conversation_not_found"


class AnswerNotFound(QAError):
    """No such answer record, or not the caller's."""

    status = 404
    code = "answer_not_found"


class RecordsUnavailable(QAError):
    """The answer records database cannot be opened or upgraded (QA_RECORDS_URL)."""

    status = 503
    code = "records_unavailable"
