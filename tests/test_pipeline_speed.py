"""The ingest pipeline made faster gives exactly what it gave before: same documents, chunks, scores, filters.

Speed itself is measured by `scripts/bench_pipeline.py`, never asserted here.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path

import pytest
from conftest import CORPUS

from qa import load
from qa.chunk import chunk_document
from qa.service import prepare

CMRC = Path(__file__).resolve().parents[2] / "shared" / "bench" / "cmrc2018_dev" / "contexts.jsonl"
# sha256 over every document's metadata, cleaned text and offsets and every field of every chunk,
# as the pipeline produced them before it was optimised (chunker version 2, default sizes), then
# with the opening headline made a heading (chunker version 3: two of the corpus's chunks change),
# then with the chunk fields `page` and `row` added (0 for these texts: without them the digests are
# exactly the ones before, f5631059… and c38793d4…), then `ocr_confidence` (0.0 for text documents:
# without it, eac04638… and c4bcfa18…), then with a wiki's script-conversion markup cleaned (35 CMRC
# passages change, the corpus none: without it, CMRC's is exactly the one before, c0079a1d…), then with
# HTML and wiki tags cleaned ("<br>", "</ref>": 22 CMRC passages change, the corpus none; without it, c98b05f3…).
CORPUS_DIGEST = "3c379860f161b45419052f0a64c88e0d53de2a3b586a4ed09fc293a1f024f7e5"
CMRC_DIGEST = "d753acf5086828be3797955975967bc8e2efab88717b4138819f428fcaf60615"


def _digest(documents, chunks_of) -> str:
    h = hashlib.sha256()
    for d in documents:
        h.update(json.dumps([d.doc_id, d.title, d.date, d.source, d.region, d.kind, d.text, list(d.offsets)],
                            ensure_ascii=False).encode())
        for c in chunks_of(d):
            h.update(json.dumps(dataclasses.astuple(c), ensure_ascii=False).encode())
    return h.hexdigest()


def _prepared(path: Path):
    raws, _ = load.load_files(load.find_files([path]))
    return [prepare(r) for r in raws]


def test_corpus_documents_and_chunks_are_unchanged_by_the_optimisations():
    assert _digest(_prepared(CORPUS), chunk_document) == CORPUS_DIGEST


@pytest.mark.skipif(not CMRC.exists(), reason="CMRC 2018 contexts not present (../shared/bench)")
def test_cmrc_documents_and_chunks_are_unchanged_by_the_optimisations():
    assert _digest(_prepared(CMRC), chunk_document) == CMRC_DIGEST


def test_fast_pos_tagger_tags_like_jieba():
    import jieba.posseg

    from qa.metadata import _posseg

    raws, _ = load.load_files(load.find_files([CORPUS]))
    for raw in raws:
        text = raw.text[:3000]
        assert [tuple(p) for p in _posseg().cut(text)] == [tuple(p) for p in jieba.posseg.cut(text)]


@pytest.mark.skipif(not CMRC.exists(), reason="CMRC 2018 contexts not present (../shared/bench)")
def test_a_large_ingest_prepared_in_worker_processes_matches_one_process():
    from qa.service import POOL_MIN_DOCUMENTS, prepare_all

    raws, _ = load.load_files(load.find_files([CMRC]))
    raws = raws[:3 * POOL_MIN_DOCUMENTS]
    bad = dataclasses.replace(raws[1], text="分享\n打印本页\n")  # only page chrome: a per-document problem
    raws = [raws[0], bad, *raws[2:]]
    sizes = (400, 500, 1)
    pooled = prepare_all(raws, sizes, workers=2, min_chars=0)
    assert pooled == prepare_all(raws, sizes, workers=1)
    assert pooled[1][0] is None and pooled[1][2][0] == "empty_document"
    assert [d.doc_id for d, _, _ in pooled if d is not None] == [r.doc_id for r in raws if r is not bad]


# ----- BM25: an update splits only the new chunks, and scores like a rebuild -----

QUERIES = ["市场主体数量", "2025年企业开办时间目标", "知识产权保护", "河北 食品安全", "株洲 营商环境"]


def _lexical_index(documents, known=None):
    """An index whose vectors are a zero stand-in: only its BM25 half is under test."""
    import numpy as np

    from qa import lexical
    from qa.index import Index

    chunks = [c for d in documents for c in chunk_document(d)]
    return Index.build(documents, chunks, np.zeros((len(chunks), 4), dtype=np.float32), model={}, chunker={},
                       lexical_fingerprint=lexical.fingerprint(), known_splits=known)


def _changed_corpus():
    """The corpus with one document edited and one added (the one left out of the first version)."""
    raws, _ = load.load_files(load.find_files([CORPUS]))
    edited = dataclasses.replace(raws[0], text=raws[0].text + "\n\n补充说明：市场主体数量继续增长，企业开办时间压缩到2天以内。\n")
    return [prepare(r) for r in raws[:-1]], [prepare(r) for r in [edited, *raws[1:]]]


def _same_bm25(a, b) -> None:
    import numpy as np

    for q in QUERIES:
        (ra, sa), (rb, sb) = a.lexical.search(q, 20), b.lexical.search(q, 20)
        assert len(ra) and [a.chunks[r].chunk_id for r in ra] == [b.chunks[r].chunk_id for r in rb]
        assert np.array_equal(sa, sb)


def test_bm25_update_splits_only_new_chunks_and_scores_like_a_rebuild(tmp_path):
    from qa.index import Index

    before, after = _changed_corpus()
    _lexical_index(before).save(tmp_path / "kb")
    old = Index.load(tmp_path / "kb")
    updated = _lexical_index(after, known=old.split_lookup())
    rebuilt = _lexical_index(after)
    old_texts = {c.search_text for c in old.chunks}
    [fresh], [scratch] = updated.segments, rebuilt.segments
    assert fresh.postings.split_fresh == sum(c.search_text not in old_texts for c in updated.chunks) > 0
    assert fresh.postings.split_fresh < len(updated.chunks) // 2
    assert scratch.postings.split_fresh == len(rebuilt.chunks)
    _same_bm25(updated, rebuilt)


# ----- filters as numpy masks, titles once per version -----

def _mask_by_loop(index, filters):
    """The filter as a Python loop over every chunk: the oracle (a region keeps the places within it)."""
    import numpy as np

    from qa.regions import within

    wanted = set().union(*(within(r) for r in filters.regions))
    mask = np.ones(len(index.chunks), dtype=bool)
    for i, c in enumerate(index.chunks):
        d = index.docs.get(c.doc_id)
        mask[i] = d is not None and not (
            filters.doc_ids and c.doc_id not in filters.doc_ids
            or filters.regions and not any(r in c.region for r in wanted)
            or filters.kinds and d.kind not in filters.kinds
            or filters.chunk_kinds and c.kind not in filters.chunk_kinds
            or (filters.date_from or filters.date_to) and (
                not d.date or (filters.date_from and d.date < filters.date_from)
                or (filters.date_to and d.date > filters.date_to)))
    return mask


def test_filter_masks_match_the_per_chunk_loop_on_the_corpus():
    import numpy as np

    from qa.retrieve import allowed_rows
    from qa.types import Filters

    documents = _prepared(CORPUS)
    index = _lexical_index(documents)
    ids = [d.doc_id for d in documents]
    dates = sorted(d.date for d in documents if d.date)
    cases = [
        Filters(doc_ids=(ids[0],)), Filters(doc_ids=(ids[1], ids[3], "不存在")), Filters(regions=("湖南",)),
        Filters(regions=("河北", "贵州")), Filters(regions=("火星",)), Filters(kinds=("规划",)),
        Filters(kinds=("新闻", "会议报道")), Filters(chunk_kinds=("table_row",)), Filters(chunk_kinds=("text", "table")),
        Filters(date_from=dates[1]), Filters(date_to=dates[1]), Filters(date_from=dates[0], date_to=dates[-1]),
        Filters(regions=("湖南",), kinds=("规划",), chunk_kinds=("table_row",), date_from="2000-01-01"),
        Filters(doc_ids=(ids[2],), regions=("湖南",)),
    ]
    assert allowed_rows(index, Filters()) is None
    counts = set()
    for f in cases:
        mask = allowed_rows(index, f)
        assert mask.dtype == bool and np.array_equal(mask, _mask_by_loop(index, f)), f
        counts.add(int(mask.sum()))
    assert len(counts) > 5  # the cases really cut the corpus differently
    assert index.derived("filter_columns", None) is index.derived("filter_columns", None)  # built once


def test_titles_are_normalised_once_per_index_version():
    from qa.answer import _named_documents, _titles
    from qa.textnorm import normalize

    index = _lexical_index(_prepared(CORPUS))
    made = _titles(index.docs)
    assert _titles(index.docs) is made and made.titles == {d: i.title for d, i in index.docs.items()}
    title = next(i.title for i in index.docs.values() if "精准监管" in i.title)
    question = f"《{title}》一文提到了什么？"
    assert _named_documents(question, index.docs) == {
        d for d, i in index.docs.items() if normalize(title) in normalize(i.title)}
    assert _titles(dict(index.docs)) is not made  # another version's documents: made afresh
