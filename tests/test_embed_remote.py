"""Embedding through an OpenAI-compatible `/v1/embeddings` endpoint (QA_EMBED_URL).

TEI, vLLM, Xinference and Ollama cannot run here (no GPU, no network to fetch them), so a small real
HTTP server on loopback stands in for them: it speaks their `/v1/embeddings` protocol and wraps the
LOCAL model through sentence-transformers (torch), as TEI would serve the same weights. Everything
between `qa` and that server is real: the `openai` SDK, HTTP, JSON, timeouts and retries.
"""
from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from conftest import ADMIN_KEY, CORPUS, PLAN, READER, TRADITIONAL, _free_port, app_client, make_settings, wait_ready

from qa.embed import Embedder
from qa.errors import EmbeddingEndpointUnavailable, IndexMismatch
from qa.settings import Settings

SERVED = "multilingual-e5-small"
API_KEY = "sk-embed-test-7f3a9c"  # must reach the server, and never a message or a log
QUESTION = "2025年市场主体目标是多少？"


class EmbeddingServer:
    """`POST /v1/embeddings` over the local model, on a fixed loopback port that can be stopped and
    started again (an endpoint going down and coming back). `mode` "garbage" answers 200 with HTML,
    as a misconfigured proxy would."""

    def __init__(self, model_dir):
        from sentence_transformers import SentenceTransformer

        self.st = SentenceTransformer(str(model_dir), device="cpu", local_files_only=True)
        self.port, self.mode = _free_port(), "ok"
        self.received: list[str] = []
        self.auth: set[str] = set()
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> None:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.auth.add(self.headers.get("Authorization", ""))
                if self.path != "/v1/embeddings":
                    return self._send(404, {"error": {"message": f"no route {self.path}"}})
                if server.mode == "garbage":
                    return self._send(200, b"<html>proxy error</html>", "text/html")
                texts = [body["input"]] if isinstance(body["input"], str) else body["input"]
                with server._lock:  # one forward pass at a time, as one GPU would
                    server.received.extend(texts)
                    rows = server.st.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
                self._send(200, {"object": "list", "model": body["model"],
                                 "data": [{"object": "embedding", "index": i, "embedding": row.tolist()}
                                          for i, row in enumerate(rows)],
                                 "usage": {"prompt_tokens": 0, "total_tokens": 0}})

            def _send(self, status, payload, content_type="application/json"):
                data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._httpd.serve_forever, name="embeddings-server", daemon=True).start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture(scope="module")
def endpoint(model_dir):
    server = EmbeddingServer(model_dir)
    server.start()
    yield server
    server.stop()


def remote_settings(index_dir, model_dir, endpoint, **overrides):
    return make_settings(index_dir, model_dir, **{"embed_url": endpoint.url, "embed_api_key": API_KEY, **overrides})


@pytest.fixture(scope="module")
def remote_index(tmp_path_factory, model_dir, endpoint):
    """Two documents of the shipped corpus, ingested through the endpoint."""
    from qa.service import Service

    root = tmp_path_factory.mktemp("remote")
    docs = root / "docs"
    docs.mkdir()
    for name in (PLAN, TRADITIONAL):
        shutil.copy(CORPUS / f"{name}.txt", docs)
    svc = Service(remote_settings(root / "index", model_dir, endpoint))
    report = svc.ingest([docs])
    assert report.problems == () and report.embedded_chunks > 0
    return svc


def test_vectors_through_the_endpoint_match_the_local_model(endpoint, embedder, model_dir, corpus_chunks):
    texts = [c.search_text for doc in corpus_chunks.values() for c in doc][::10][:12]
    remote = Embedder(str(model_dir), url=endpoint.url, api_key=API_KEY, batch_size=5)  # batches of 5, 5, 2
    assert remote.identity == f"url:{SERVED}@http://127.0.0.1:{endpoint.port}/v1"
    assert (remote.query_prompt, remote.passage_prompt) == (embedder.query_prompt, embedder.passage_prompt)
    passages = remote.encode_passages(texts)
    assert passages.dtype == np.float32 and passages.shape == (len(texts), embedder.dim) == (len(texts), remote.dim)
    assert np.min(np.sum(passages * embedder.encode_passages(texts), axis=1)) >= 0.9999
    question = "截至2020年底湖南全省实有市场主体多少户"
    assert float(remote.encode_queries([question])[0] @ embedder.encode_queries([question])[0]) >= 0.9999
    # e5's prompts went with the text, as the local model gets them; the key went in the header
    assert f"passage: {texts[0]}" in endpoint.received and f"query: {question}" in endpoint.received
    assert f"Bearer {API_KEY}" in endpoint.auth


def test_ingest_through_the_endpoint_then_ask_answers(remote_index, endpoint):
    assert remote_index.index.manifest["model"]["identity"] == f"url:{SERVED}@http://127.0.0.1:{endpoint.port}/v1"
    answer = remote_index.ask(QUESTION)
    assert answer.found and answer.answer == "650万户" and answer.citations[0].doc_id == PLAN


def test_an_index_built_through_the_endpoint_refuses_the_local_model(remote_index, model_dir, endpoint):
    from qa.service import Service

    index_dir = remote_index.settings.index_dir
    for other in ({}, {"embed_backend": "torch"}):
        with pytest.raises(IndexMismatch, match="url:multilingual-e5-small@"):
            Service(make_settings(index_dir, model_dir, **other)).search(QUESTION, k=3)
    # another served model, or the same name served elsewhere, is another vector space too
    for other in ({"embed_url_model": "bge-m3"}, {"embed_url": f"http://localhost:{endpoint.port}/v1"}):
        with pytest.raises(IndexMismatch):
            Service(remote_settings(index_dir, model_dir, endpoint, **other)).search(QUESTION, k=3)


def test_an_index_built_with_the_local_model_refuses_the_endpoint(corpus_service, model_dir, endpoint):
    from qa.service import Service

    through = Service(remote_settings(corpus_service.settings.index_dir, model_dir, endpoint))
    with pytest.raises(IndexMismatch, match="openvino"):
        through.search(QUESTION, k=3)


def test_endpoint_down_is_a_clear_503_and_the_service_carries_on(remote_index, endpoint, caplog):
    with app_client(remote_index) as client:
        wait_ready(client)
        assert client.post("/api/v1/ask", json={"question": QUESTION}, headers=READER).json()["answer"] == "650万户"
        endpoint.stop()
        try:
            r = client.post("/api/v1/ask", json={"question": "市场主体发展目标"}, headers=READER)
            assert r.status_code == 503
            error = r.json()["error"]
            assert error["code"] == "embedding_endpoint_unavailable"
            assert f"127.0.0.1:{endpoint.port}/v1/embeddings" in error["message"] and "无法连接" in error["message"]
            assert client.get("/healthz").status_code == 200  # the process is still serving
        finally:
            endpoint.start()
        # the endpoint is back: the next question is answered, no restart needed
        r = client.post("/api/v1/ask", json={"question": QUESTION}, headers=READER)
        assert r.status_code == 200 and r.json()["answer"] == "650万户"
    assert API_KEY not in caplog.text and ADMIN_KEY not in caplog.text


def test_a_sentences_closeness_without_the_endpoint_leaves_the_answer_to_its_words(remote_index, endpoint, caplog):
    # The answer stage asks a refused answer's sentence how close it is to the question (qa/answer.py);
    # an endpoint gone since the search must not turn that into an error: the word rules decide.
    close = remote_index.closeness("全省市场主体发展目标")
    assert 0.0 < close("到2025年全省市场主体数达到650万户") <= 1.0
    endpoint.stop()
    try:
        assert remote_index.closeness("全省市场主体发展目标")("到2025年全省市场主体数达到650万户") == -1.0
        assert "closeness not measured" in caplog.text
    finally:
        endpoint.start()


def test_an_answer_that_is_not_embeddings_is_a_clear_error(endpoint, model_dir):
    remote = Embedder(str(model_dir), url=endpoint.url)
    endpoint.mode = "garbage"
    try:
        with pytest.raises(EmbeddingEndpointUnavailable, match="无法解析|格式不对") as e:
            remote.encode_passages(["本办法自2021年1月1日起施行。"])
    finally:
        endpoint.mode = "ok"
    assert e.value.status == 503 and endpoint.url in e.value.message


def test_the_endpoint_key_is_a_secret_and_the_identity_never_holds_it():
    s = Settings(embed_url="http://gpu-server:8080/v1/embeddings", embed_api_key=API_KEY, embed_url_model="e5")
    assert s.public()["embed_api_key"] == "***" and API_KEY not in repr(s) and API_KEY not in s.model_dump_json()
    # one endpoint has one spelling: …/v1/embeddings, …/v1 and …/v1/ are the same identity
    assert s.embed_identity == "url:e5@http://gpu-server:8080/v1"
    assert Settings(embed_url="http://gpu-server:8080/v1/", embed_url_model="e5").embed_identity == s.embed_identity
