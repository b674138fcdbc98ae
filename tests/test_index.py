"""The index on disk: self-describing, atomic, incremental, and refusing a mismatched model."""
import json
import shutil

import numpy as np
import pytest
from conftest import CORPUS, double_settings

from qa.errors import IndexMismatch, IndexNotFound, InsufficientStorage
from qa.index import Index, live_version
from qa.retrieve import dense_search, rrf
from qa.service import Service

SMALL = ("湖南以精准监管助推高质量发展", "贵州省市场监管暨知识产权工作会议")


@pytest.fixture()
def small_corpus(tmp_path):
    """Two short documents of the shipped corpus (with their sidecars), writable."""
    dest = tmp_path / "small"
    dest.mkdir()
    for name in SMALL:
        for f in CORPUS.glob(f"{name}.*"):
            shutil.copy(f, dest / f.name)
    return dest


@pytest.fixture()
def small_service(tmp_path, small_corpus, hashing_embedder):
    """The store and ingest-plan tests below claim nothing about retrieval quality: the seeded test double embeds."""
    svc = Service(double_settings(tmp_path / "kb", corpus_dir=small_corpus), embedder=hashing_embedder)
    svc.ingest([small_corpus])
    return svc


def test_manifest_describes_the_index(corpus_service):
    folder = live_version(corpus_service.settings.index_dir)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["model"]["identity"] == corpus_service.embedder.identity and "multilingual-e5-small" in manifest["model"]["identity"]
    assert manifest["model"]["dim"] == 384
    assert manifest["model"]["passage_prompt"] == "passage: "
    assert manifest["chunker"]["version"]
    assert manifest["counts"]["documents"] == 5
    assert manifest["counts"]["chunks"] == len(corpus_service.index.chunks)
    assert {"faiss-cpu", "bm25s", "jieba", "sentence-transformers", "torch"} <= set(manifest["libraries"])
    assert all(len(d["checksum"]) == 64 and d["chunks"] > 0 for d in manifest["documents"])
    assert manifest["created_at"]
    assert manifest["format_version"] == 2 and manifest["segments"]
    for seg in manifest["segments"]:
        for name in ("store.sqlite", "vectors.npy", "lexical/vocab.json", "lexical/post_rows.npy"):
            assert (folder / "segments" / seg["name"] / name).exists()
            assert manifest["files"][f"segments/{seg['name']}/{name}"]["sha256"]


def test_reingesting_unchanged_corpus_embeds_nothing_and_writes_nothing(small_service, small_corpus):
    before = live_version(small_service.settings.index_dir)
    report = small_service.ingest([small_corpus])
    assert report.embedded_chunks == 0
    assert set(report.unchanged) == set(SMALL)
    assert live_version(small_service.settings.index_dir) == before


def test_changed_file_replaces_its_chunks_and_embeds_only_what_changed(small_service, small_corpus):
    path = small_corpus / "贵州省市场监管暨知识产权工作会议.txt"
    old_chunks = small_service.index.chunks_of("贵州省市场监管暨知识产权工作会议")
    path.write_text(path.read_text() + "\n附：全省新增市场主体99.9万户。\n")
    report = small_service.ingest([small_corpus])
    assert report.updated == ("贵州省市场监管暨知识产权工作会议",)
    assert 0 < report.embedded_chunks < len(old_chunks)
    new_chunks = small_service.index.chunks_of("贵州省市场监管暨知识产权工作会议")
    assert any("99.9万户" in c.text for c in new_chunks)
    assert len(small_service.index.chunks) == len(set(c.chunk_id for c in small_service.index.chunks))


def test_remove_deletes_a_document(small_service):
    report = small_service.remove(["湖南以精准监管助推高质量发展"])
    assert report.removed == ("湖南以精准监管助推高质量发展",)
    reloaded = Index.load(small_service.settings.index_dir)
    assert set(reloaded.docs) == {"贵州省市场监管暨知识产权工作会议"}
    assert all(c.doc_id == "贵州省市场监管暨知识产权工作会议" for c in reloaded.chunks)


def test_a_crash_while_writing_leaves_the_previous_index_live(small_service, small_corpus, monkeypatch):
    index_dir = small_service.settings.index_dir
    before = live_version(index_dir)
    (small_corpus / "新文件.txt").write_text("新增文件：全省市场主体再创新高。\n", encoding="utf-8")

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "save", disk_full)  # the new segment's vectors
    with pytest.raises(InsufficientStorage, match="磁盘空间不足"):
        small_service.ingest([small_corpus])
    assert live_version(index_dir) == before
    assert set(Index.load(index_dir).docs) == set(SMALL)
    assert not [p for p in (index_dir / "versions").iterdir() if p.name.startswith(".tmp-")]


def test_loading_an_index_built_with_another_model_is_refused(small_service):
    with pytest.raises(IndexMismatch, match="bge-small-zh-v1.5"):
        Index.load(small_service.settings.index_dir, expect={"model.identity": "bge-small-zh-v1.5"})


def test_loading_a_missing_index_says_how_to_build_one(tmp_path):
    with pytest.raises(IndexNotFound, match="qa ingest"):
        Index.load(tmp_path / "nothing")


def test_a_bad_file_does_not_stop_the_batch(tmp_path, small_corpus, hashing_embedder):
    (small_corpus / "坏文件.pdf").write_bytes(b"\x00\x01not a pdf at all")
    svc = Service(double_settings(tmp_path / "kb2"), embedder=hashing_embedder)
    report = svc.ingest([small_corpus])
    assert set(report.added) == set(SMALL)
    assert [p.path.endswith("坏文件.pdf") for p in report.problems] == [True]


def test_hnsw_index_finds_what_the_flat_index_finds(tmp_path, small_corpus, small_service):
    svc = Service(double_settings(tmp_path / "hnsw", dense_index="hnsw"), embedder=small_service.embedder)
    svc.ingest([small_corpus])
    assert json.loads((live_version(svc.settings.index_dir) / "manifest.json").read_text())["dense"]["kind"] == "hnsw"
    for q in ("局长向曙光督查了什么", "贵州市场主体总量", "省长质量奖"):
        flat = small_service.search(q, k=1, mode="dense")[0].chunk.chunk_id
        assert svc.search(q, k=1, mode="dense")[0].chunk.chunk_id == flat


def test_faiss_search_equals_brute_force(corpus_service, embedder):
    index = corpus_service.index
    for q in ("市场主体目标", "查扣非法口罩", "知识产权质押融资", "食品安全放心工程"):
        qv = embedder.encode_queries([q])[0]
        rows, scores = dense_search(index, qv, 10, None)
        brute = np.argsort(-(index.vectors @ qv), kind="stable")[:10]
        assert list(rows) == list(brute)
        np.testing.assert_allclose(scores, (index.vectors @ qv)[brute], rtol=1e-5)


def test_filtered_faiss_search_equals_brute_force_over_allowed_rows(corpus_service, embedder):
    index = corpus_service.index
    mask = np.array([c.doc_id == "贵州省市场监管暨知识产权工作会议" for c in index.chunks])
    qv = embedder.encode_queries(["市场主体"])[0]
    rows, _ = dense_search(index, qv, 5, mask)
    sims = np.where(mask, index.vectors @ qv, -np.inf)
    assert list(rows) == list(np.argsort(-sims, kind="stable")[:5])


def test_rrf_matches_a_hand_computation():
    fused = rrf([(np.array([7, 3, 5]), 1.0), (np.array([3, 9]), 0.5)], rrf_k=60)
    assert fused[3] == pytest.approx(1 / 62 + 0.5 / 61)
    assert fused[7] == pytest.approx(1 / 61)
    assert fused[9] == pytest.approx(0.5 / 62)
    assert fused[5] == pytest.approx(1 / 63)


def test_an_index_from_an_older_chunker_is_rechunked_reusing_its_vectors(small_service, small_corpus, monkeypatch):
    from qa import chunk

    before = len(small_service.index.chunks)
    monkeypatch.setattr(chunk, "CHUNKER_VERSION", chunk.CHUNKER_VERSION + "-next")
    fresh = Service(small_service.settings, embedder=small_service.embedder)
    with pytest.raises(IndexMismatch):
        _ = fresh.index  # searching refuses an index from another chunker …
    report = fresh.ingest([small_corpus])  # … and ingest rebuilds it
    assert report.embedded_chunks == 0  # chunks came out the same: every vector reused
    assert len(fresh.index.chunks) == before
    assert fresh.index.manifest["chunker"]["version"].endswith("-next")
