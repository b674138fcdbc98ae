"""Storage in segments: an update writes one new segment and tombstones, and the result ranks exactly
as an index built from scratch over the same live chunks (bm25s, the library, is the oracle).

These tests are about storage and BM25, not retrieval quality: vectors are seeded random unit
vectors (dense scores are compared against brute force over the same vectors)."""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from qa import lexical
from qa.index import MAX_SEGMENTS, Index, live_version_name
from qa.load import LoadLimits, load_files
from qa.service import prepare_and_chunk

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"
KW = {"model": {"name": "seeded", "identity": "seeded", "dim": 16}, "chunker": {},
      "lexical_fingerprint": lexical.fingerprint()}


def _vectors(chunks, seed=0) -> np.ndarray:
    """A unit vector per chunk, the same for the same chunk id whatever the order."""
    out = np.zeros((len(chunks), 16), dtype=np.float32)
    for i, c in enumerate(chunks):
        v = np.random.default_rng(int(hashlib.sha256(f"{seed}{c.chunk_id}".encode()).hexdigest()[:8], 16)).normal(size=16)
        out[i] = v / np.linalg.norm(v)
    return out


@pytest.fixture(scope="module")
def cmrc():
    """The CMRC 2018 trial contexts as documents and chunks, and its questions."""
    raws, problems = load_files([BENCH / "cmrc2018_trial" / "contexts.jsonl"], LoadLimits())
    assert not problems
    docs, chunks = [], {}
    for raw in raws:
        doc, cs, error = prepare_and_chunk(raw, (300, 600, 1))
        assert error is None
        docs.append(doc)
        chunks[doc.doc_id] = cs
    questions = [json.loads(line)["question"] for line in (BENCH / "cmrc2018_trial" / "qa.jsonl").open(encoding="utf-8")]
    return docs, chunks, questions[::5]


def _bm25s_oracle(chunks):
    """bm25s over the chunks, split as the index splits them: what a from-scratch index scored before segments."""
    import bm25s
    from bm25s.tokenization import Tokenizer

    tok = Tokenizer(lower=False, splitter=lexical.split, stopwords=sorted(lexical.stopwords()))
    tokens = tok.tokenize([c.search_text for c in chunks], return_as="tuple", show_progress=False)
    retriever = bm25s.BM25()
    retriever.index(tokens, show_progress=False)

    def scores(query: str) -> np.ndarray:
        ids = [tok.word_to_id[w] for w in lexical.split(query) if w in tok.word_to_id and w]
        return retriever.get_scores_from_ids(ids) if ids else np.zeros(len(chunks), dtype=np.float32)

    return scores


def _same_bm25(index: Index, oracle_chunks, questions) -> None:
    oracle = _bm25s_oracle(oracle_chunks)
    at = {c.chunk_id: i for i, c in enumerate(oracle_chunks)}
    assert sorted(at) == sorted(c.chunk_id for c in index.chunks)
    for q in questions:
        want = oracle(q)
        rows, got = index.lexical.search(q, len(index.chunks))
        mine = np.zeros(len(oracle_chunks), dtype=np.float32)
        mine[[at[index.chunks[r].chunk_id] for r in rows]] = got
        assert np.array_equal(mine, want), q  # the same float32 numbers, not merely close ones


def test_a_segmented_index_scores_bm25_exactly_as_bm25s_over_the_live_chunks(tmp_path, cmrc):
    docs, chunks, questions = cmrc
    first, rest = docs[:150], docs[150:]
    live = {d.doc_id: d for d in first}
    idx = Index.build(first, [c for d in first for c in chunks[d.doc_id]],
                      _vectors([c for d in first for c in chunks[d.doc_id]]), **KW)
    idx.save(tmp_path / "kb")
    # Adds in batches, an update of a document with new text, deletes: segments and tombstones.
    for i in range(0, len(rest), 40):
        batch = rest[i:i + 40]
        cs = [c for d in batch for c in chunks[d.doc_id]]
        idx = Index.load(tmp_path / "kb").changed(batch, cs, _vectors(cs))
        idx.save(tmp_path / "kb")
        live.update({d.doc_id: d for d in batch})
    gone = {docs[3].doc_id, docs[170].doc_id, docs[-1].doc_id}
    idx = Index.load(tmp_path / "kb").changed([], [], np.zeros((0, 16), np.float32), gone)
    idx.save(tmp_path / "kb")
    for d in gone:
        del live[d]
    loaded = Index.load(tmp_path / "kb")
    assert len(loaded.segments) > 1 and any(e["deleted"] for e in loaded.manifest["segments"])
    order = [c for d in live.values() for c in chunks[d.doc_id]]
    _same_bm25(loaded, order, questions)
    assert set(loaded.docs) == set(live)
    # BM25's idf follows the live chunks too: a deleted document's words no longer count.
    fresh = Index.build(list(live.values()), order, _vectors(order), **KW)
    for word in ("中国", "北京", "成立", "比赛"):
        assert loaded.lexical.idf(word) == pytest.approx(fresh.lexical.idf(word))


def test_dense_search_over_segments_equals_brute_force_over_the_live_rows(tmp_path, cmrc):
    docs, chunks, _ = cmrc
    idx = None
    for i in range(0, 120, 30):
        batch = docs[i:i + 30]
        cs = [c for d in batch for c in chunks[d.doc_id]]
        idx = Index.build(batch, cs, _vectors(cs), **KW) if idx is None else idx.changed(batch, cs, _vectors(cs))
        idx.save(tmp_path / "kb")
    idx = idx.changed([], [], np.zeros((0, 16), np.float32), {docs[5].doc_id, docs[40].doc_id})
    idx.save(tmp_path / "kb")
    loaded = Index.load(tmp_path / "kb")
    vectors = loaded.vectors
    assert np.array_equal(vectors, _vectors(loaded.chunks))
    rng = np.random.default_rng(7)
    mask = rng.random(len(loaded.chunks)) < 0.3
    for _ in range(20):
        q = rng.normal(size=16).astype(np.float32)
        q /= np.linalg.norm(q)
        rows, scores = loaded.dense.search(q, 10)
        brute = np.argsort(-(vectors @ q), kind="stable")[:10]
        assert list(rows) == list(brute)
        np.testing.assert_allclose(scores, (vectors @ q)[brute], rtol=1e-5)
        rows, _ = loaded.dense.search(q, 10, mask)
        allowed = np.where(mask, vectors @ q, -np.inf)
        assert list(rows) == list(np.argsort(-allowed, kind="stable")[:10])


def _own_files(index_dir: Path, version: str) -> dict[str, int]:
    """The version's files it does not share with the version before (hard links), with their sizes."""
    folder = index_dir / "versions" / version
    return {p.relative_to(folder).as_posix(): p.stat().st_size for p in folder.rglob("*")
            if p.is_file() and p.stat().st_nlink == 1}


def _size(index_dir: Path, version: str) -> int:
    return sum(p.stat().st_size for p in (index_dir / "versions" / version).rglob("*") if p.is_file())


def test_an_update_writes_only_its_segment_and_a_delete_writes_no_segment(tmp_path, cmrc):
    docs, chunks, _ = cmrc
    kb = tmp_path / "kb"
    all_chunks = [c for d in docs[:-1] for c in chunks[d.doc_id]]
    Index.build(docs[:-1], all_chunks, _vectors(all_chunks), **KW).save(kb)
    one = chunks[docs[-1].doc_id]
    Index.load(kb).changed([docs[-1]], one, _vectors(one)).save(kb)
    own = _own_files(kb, live_version_name(kb))
    segment = {Path(rel).parts[1] for rel in own if rel != "manifest.json"}
    assert len(segment) == 1, own  # the manifest and one new segment, holding the one document
    assert sum(size for rel, size in own.items() if rel != "manifest.json") < 0.02 * _size(kb, live_version_name(kb))
    before = {p.name for p in (kb / "versions" / live_version_name(kb) / "segments").iterdir()}
    Index.load(kb).changed([], [], np.zeros((0, 16), np.float32), {docs[0].doc_id}).save(kb)
    after = Index.load(kb)
    assert {p.name for p in (kb / "versions" / live_version_name(kb) / "segments").iterdir()} == before
    assert docs[0].doc_id not in after.docs and all(c.doc_id != docs[0].doc_id for c in after.chunks)
    assert list(_own_files(kb, live_version_name(kb))) == ["manifest.json"]  # tombstones only


def test_many_small_updates_are_merged_and_still_rank_as_from_scratch(tmp_path, cmrc):
    docs, chunks, questions = cmrc
    kb = tmp_path / "kb"
    cs = [c for d in docs[:40] for c in chunks[d.doc_id]]
    Index.build(docs[:40], cs, _vectors(cs), **KW).save(kb)
    for d in docs[40:40 + 3 * MAX_SEGMENTS]:
        Index.load(kb).changed([d], chunks[d.doc_id], _vectors(chunks[d.doc_id])).save(kb)
        assert len(Index.load(kb).segments) <= MAX_SEGMENTS
    # An update of a document that lives in a merged segment, then the whole set against the oracle.
    d = docs[45]
    loaded = Index.load(kb).changed([d], chunks[d.doc_id], _vectors(chunks[d.doc_id]))
    loaded.save(kb)
    loaded = Index.load(kb)
    live = docs[:40 + 3 * MAX_SEGMENTS]
    assert sorted(loaded.docs) == sorted(x.doc_id for x in live)
    _same_bm25(loaded, [c for x in live for c in chunks[x.doc_id]], questions[:40])
    assert np.array_equal(loaded.vectors, _vectors(loaded.chunks))


def test_an_older_version_stays_whole_after_later_updates_and_rollback_serves_it(tmp_path, cmrc):
    from qa.index import rollback

    docs, chunks, _ = cmrc
    kb = tmp_path / "kb"
    cs = [c for d in docs[:20] for c in chunks[d.doc_id]]
    Index.build(docs[:20], cs, _vectors(cs), **KW).save(kb)
    Index.load(kb).changed([], [], np.zeros((0, 16), np.float32), {docs[0].doc_id}).save(kb)
    first = live_version_name(kb)
    Index.load(kb).changed([docs[30]], chunks[docs[30].doc_id], _vectors(chunks[docs[30].doc_id])).save(kb)
    assert rollback(kb)[1] == first
    back = Index.load(kb)
    assert docs[0].doc_id not in back.docs and docs[30].doc_id not in back.docs and len(back.docs) == 19
    assert back.document(docs[1].doc_id).text == docs[1].text


def test_segment_files_are_shared_not_copied(tmp_path, cmrc):
    docs, chunks, _ = cmrc
    kb = tmp_path / "kb"
    cs = [c for d in docs[:20] for c in chunks[d.doc_id]]
    Index.build(docs[:20], cs, _vectors(cs), **KW).save(kb)
    old = live_version_name(kb)
    Index.load(kb).changed([docs[30]], chunks[docs[30].doc_id], _vectors(chunks[docs[30].doc_id])).save(kb)
    [seg] = (kb / "versions" / old / "segments").iterdir()
    shared = kb / "versions" / live_version_name(kb) / "segments" / seg.name / "vectors.npy"
    assert os.path.samefile(seg / "vectors.npy", shared)


def _write_format_1(index_dir: Path, documents, chunks, vectors) -> str:
    """A version folder laid out as the release before segments wrote it (format 1)."""
    import bm25s
    import faiss
    from bm25s.tokenization import Tokenizer

    from qa.index import _infos, switch, write_json, write_store
    from qa.integrity import file_checksums

    name = "20261101T000000000000-format01"
    folder = index_dir / "versions" / name
    folder.mkdir(parents=True)
    write_store(folder / "store.sqlite", documents, chunks)
    np.save(folder / "vectors.npy", vectors)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    faiss.write_index(flat, str(folder / "dense.faiss"))
    tok = Tokenizer(lower=False, splitter=lexical.split, stopwords=sorted(lexical.stopwords()))
    retriever = bm25s.BM25()
    retriever.index(tok.tokenize([c.search_text for c in chunks], return_as="tuple", show_progress=False),
                    show_progress=False)
    (folder / "bm25").mkdir()
    retriever.save(str(folder / "bm25"), show_progress=False)
    tok.save_vocab(str(folder / "bm25"))
    manifest = {"format_version": 1, "version": name, "created_at": "2026-11-01T00:00:00+0000",
                "model": KW["model"], "chunker": {}, "dense": {"kind": "flat", "hnsw_m": 32},
                "lexical": {"tokenizer": "jieba", "fingerprint": KW["lexical_fingerprint"]},
                "counts": {"documents": len(documents), "chunks": len(chunks)},
                "documents": _infos(documents, chunks), "files": file_checksums(folder)}
    write_json(folder / "manifest.json", manifest)
    switch(index_dir, name)
    return name


def test_a_version_written_before_segments_loads_and_its_first_update_writes_segments(tmp_path, cmrc):
    docs, chunks, questions = cmrc
    kb = tmp_path / "kb"
    cs = [c for d in docs[:60] for c in chunks[d.doc_id]]
    old = _write_format_1(kb, docs[:60], cs, _vectors(cs))
    loaded = Index.load(kb)
    assert len(loaded.docs) == 60 and loaded.document(docs[2].doc_id).text == docs[2].text
    _same_bm25(loaded, cs, questions[:30])
    loaded.changed([docs[70]], chunks[docs[70].doc_id], _vectors(chunks[docs[70].doc_id]), {docs[1].doc_id}).save(kb)
    now = Index.load(kb)
    assert now.manifest["format_version"] == 2 and len(now.segments) == 2
    assert docs[70].doc_id in now.docs and docs[1].doc_id not in now.docs and len(now.docs) == 60
    live = [d for d in docs[:60] if d.doc_id != docs[1].doc_id] + [docs[70]]
    _same_bm25(now, [c for d in live for c in chunks[d.doc_id]], questions[:30])
    assert (kb / "versions" / old / "store.sqlite").is_file()  # the old version is kept as it was, for rollback


_WRITER = r"""
import sys, numpy as np
sys.path.insert(0, {tests!r})
from test_segments import _vectors, KW
from qa.index import Index
from qa.load import LoadLimits, load_files
from qa.service import prepare_and_chunk
raws, _ = load_files([{contexts!r}], LoadLimits())
for raw in raws[{start}:{start} + 30]:
    doc, chunks, _ = prepare_and_chunk(raw, (300, 600, 1))
    Index.load({kb!r}).changed([doc], chunks, _vectors(chunks), {{"TRIAL_" + str(len(raw.doc_id))}}).save({kb!r})
    print(doc.doc_id, flush=True)
"""


def test_a_writer_killed_at_any_moment_leaves_the_previous_version_serving_and_the_next_write_clean(tmp_path, cmrc):
    import signal
    import subprocess
    import sys
    import time

    docs, chunks, _ = cmrc
    kb = tmp_path / "kb"
    cs = [c for d in docs[:30] for c in chunks[d.doc_id]]
    Index.build(docs[:30], cs, _vectors(cs), **KW).save(kb)
    rng = np.random.default_rng(3)
    for attempt in range(4):
        script = _WRITER.format(tests=str(Path(__file__).parent), contexts=str(BENCH / "cmrc2018_trial" / "contexts.jsonl"),
                                start=40 + 30 * attempt, kb=str(kb))
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
        proc.stdout.readline()  # one update done: the next is under way when the kill lands
        time.sleep(float(rng.uniform(0.0, 0.3)))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        loaded = Index.load(kb)  # whole: the version before the kill, or the one it finished
        assert np.array_equal(loaded.vectors, _vectors(loaded.chunks))
        assert all(loaded.document(d).doc_id == d for d in list(loaded.docs)[-3:])
        extra = docs[200 + attempt]
        loaded.changed([extra], chunks[extra.doc_id], _vectors(chunks[extra.doc_id])).save(kb)
        assert extra.doc_id in Index.load(kb).docs
        assert not [p for p in (kb / "versions").iterdir() if p.name.startswith(".")]


def test_auto_gives_a_large_segment_an_hnsw_graph_and_a_small_one_a_flat_index(tmp_path, cmrc):
    docs, chunks, _ = cmrc
    kb = tmp_path / "kb"
    cs = [c for d in docs[:120] for c in chunks[d.doc_id]]
    Index.build(docs[:120], cs, _vectors(cs), **{**KW, "dense_kind": "auto", "hnsw_min_rows": 100}).save(kb)
    Index.load(kb).changed([docs[130]], chunks[docs[130].doc_id], _vectors(chunks[docs[130].doc_id])).save(kb)
    loaded = Index.load(kb)
    big, small = loaded.segments
    assert (big.folder / "dense.faiss").is_file() and not (small.folder / "dense.faiss").exists()
    vectors = loaded.vectors
    for q in vectors[::25]:
        rows, _ = loaded.dense.search(q, 5)
        assert list(rows[:1]) == list(np.argsort(-(vectors @ q), kind="stable")[:1])  # itself, from either kind


def test_a_reader_whose_version_was_pruned_by_another_writer_reloads_and_writes(tmp_path, cmrc):
    """The server holds a loaded version while the ingest worker (another process) writes two more:
    the server's version folder is pruned. Reloading reuses the segments it holds; reading a document
    and writing a delete then go through the live version's files, not the pruned folder."""
    docs, chunks, _ = cmrc
    kb = tmp_path / "kb"
    cs = [c for d in docs[:20] for c in chunks[d.doc_id]]
    Index.build(docs[:20], cs, _vectors(cs), **KW).save(kb)
    server = Index.load(kb)
    first = live_version_name(kb)
    for d in docs[30:32]:
        Index.load(kb).changed([d], chunks[d.doc_id], _vectors(chunks[d.doc_id])).save(kb)
    assert not (kb / "versions" / first).exists()
    server = Index.load(kb, reuse=server)
    assert server.document(docs[1].doc_id).text == docs[1].text
    server.changed([], [], np.zeros((0, 16), np.float32), {docs[2].doc_id}).save(kb)
    after = Index.load(kb)
    assert docs[2].doc_id not in after.docs and {docs[30].doc_id, docs[31].doc_id} <= set(after.docs)
