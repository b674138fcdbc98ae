"""Retrieval on the shipped corpus with the real model: the acceptance queries, filters, modes."""
import hashlib
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import PLAN, TRADITIONAL

from qa import lexical
from qa.errors import InvalidArgument
from qa.index import MAX_SEGMENTS, Index, live_version
from qa.load import LoadLimits, load_files
from qa.retrieve import minmax, rrf
from qa.service import prepare_and_chunk
from qa.types import Filters


def test_market_entity_target_puts_its_table_row_first(corpus_service):
    top = corpus_service.search("2025年市场主体目标是多少")[0]
    assert top.chunk.kind == "table_row"
    assert "全省市场主体数(万户)" in top.chunk.text and "2025年: 650" in top.chunk.text
    assert top.dense_rank is not None and top.bm25_rank is not None


def test_traditional_article_answers_a_simplified_query_without_pinyin(corpus_service):
    hits = corpus_service.search("湖南查扣非法口罩多少只", k=3)
    top = hits[0].chunk
    assert top.doc_id == TRADITIONAL
    assert "查扣非法口罩734萬只" in top.text
    assert not re.search(r"\([a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜ]+\)", top.text)


def test_hits_are_ranked_with_all_their_scores(corpus_service):
    hits = corpus_service.search("知识产权质押融资", k=5)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.dense_rank or h.bm25_rank for h in hits)


def test_region_filter_keeps_only_that_region(corpus_service):
    hits = corpus_service.search("市场主体", k=10, filters=Filters(regions=("贵州",)))
    assert hits and all(h.chunk.doc_id == "贵州省市场监管暨知识产权工作会议" for h in hits)


def test_region_filter_reaches_sections_of_a_multi_region_article(corpus_service):
    hits = corpus_service.search("单体药店入网审核", k=10, filters=Filters(regions=("河北",)))
    assert hits and all("河北" in h.chunk.region for h in hits)
    assert hits[0].chunk.doc_id == TRADITIONAL


def test_date_filter_excludes_documents_outside_the_range(corpus_service):
    hits = corpus_service.search("市场监管", k=20, filters=Filters(date_from="2021-01-01", date_to="2021-12-31"))
    docs = {h.chunk.doc_id for h in hits}
    assert TRADITIONAL not in docs  # 2020-07-21
    assert "株洲市市场监管局服务高质量发展纪实" not in docs  # undated
    assert PLAN in docs


def test_document_and_kind_filters(corpus_service):
    hits = corpus_service.search("质量", k=10, filters=Filters(kinds=("规划",), chunk_kinds=("table_row",)))
    assert hits and all(h.chunk.doc_id == PLAN and h.chunk.kind == "table_row" for h in hits)
    only = corpus_service.search("质量", k=10, filters=Filters(doc_ids=(TRADITIONAL,)))
    assert only and {h.chunk.doc_id for h in only} == {TRADITIONAL}


def test_single_retriever_modes(corpus_service):
    dense = corpus_service.search("市场主体", k=5, mode="dense")
    bm25 = corpus_service.search("市场主体", k=5, mode="bm25")
    assert all(h.bm25_rank is None and h.dense_rank == h.rank for h in dense)
    assert all(h.dense_rank is None and h.bm25_rank == h.rank for h in bm25)


def test_query_of_only_stopwords_still_returns_dense_hits(corpus_service):
    hits = corpus_service.search("是多少", k=3)
    assert len(hits) == 3 and all(h.bm25_rank is None for h in hits)


@pytest.mark.parametrize("bad", ["", "   ", "问" * 501])
def test_bad_query_is_a_clear_error(corpus_service, bad):
    with pytest.raises(InvalidArgument):
        corpus_service.search(bad)


def test_out_of_range_k_is_a_clear_error(corpus_service):
    with pytest.raises(InvalidArgument, match="k 必须"):
        corpus_service.search("市场主体", k=0)


# ----- fusion arithmetic (qa/retrieve.py `minmax`), on literal scores -----

@pytest.mark.parametrize(("scores", "tops", "weights", "floors", "fused"), [
    # the cosine scaled from its list's last (0.8) to its best (0.9), BM25 from 0 to its best (10)
    ([[0.9, 0.85, 0.8], [0.0, 10.0, 5.0]], [[0.9, 0.8], [10.0, 5.0]], [1.0, 1.5], [None, 0.0], [1.0, 2.0, 0.75]),
    # a candidate below a retriever's list (here: a BM25 candidate's cosine) gets 0 from it, not less
    ([[0.7, 0.9], [4.0, 0.0]], [[0.9, 0.8], [4.0]], [1.0, 1.0], [None, 0.0], [1.0, 1.0]),
    # a retriever that found nothing adds nothing (a query of stopwords only)
    ([[0.9, 0.8], [0.0, 0.0]], [[0.9, 0.8], []], [1.0, 1.5], [None, 0.0], [1.0, 0.0]),
    # a list of one (best == last): 1 for that score, 0 below it
    ([[0.9, 0.8], [0.0, 0.0]], [[0.9], []], [1.0, 1.0], [None, 0.0], [1.0, 0.0]),
    # a weight of 0 switches a retriever off
    ([[0.9, 0.8], [0.0, 3.0]], [[0.9, 0.8], [3.0]], [0.0, 2.0], [None, 0.0], [0.0, 2.0]),
    # every score equal to the floor: nothing to tell apart
    ([[0.5, 0.5]], [[0.5, 0.5]], [1.0], [None], [1.0, 1.0]),
])
def test_minmax_fusion_by_hand(scores, tops, weights, floors, fused):
    got = minmax([np.array(s) for s in scores], [np.array(t) for t in tops], weights, floors)
    assert got == pytest.approx(fused)


@pytest.mark.parametrize(("ranked", "rrf_k", "fused"), [
    ([([7, 3], 1.0), ([3, 9], 2.0)], 10, {7: 1 / 11, 3: 1 / 12 + 2 / 11, 9: 2 / 12}),
    ([([5], 1.0), ([], 2.0)], 1, {5: 1 / 2}),
])
def test_rrf_fusion_by_hand(ranked, rrf_k, fused):
    got = rrf([(np.array(r, dtype=np.int64), w) for r, w in ranked], rrf_k)
    assert got.keys() == fused.keys() and all(got[r] == pytest.approx(v) for r, v in fused.items())


def test_a_heading_match_ranks_above_a_body_only_match(corpus_service):
    """"放心工程" is the heading of 专栏3 (“4812”食品安全放心工程) and said once in the body of a
    Hebei/Jiangsu/Hunan article, which plain BM25 and the former RRF put first: the heading field
    (QA_HEAD_WEIGHT) puts the 专栏 first."""
    def heading(h):
        return h.chunk.search_text.split("\n", 1)[0]

    def body(h):
        return h.chunk.search_text.split("\n", 1)[1]

    hits = corpus_service.search("放心工程有哪些", k=5)
    assert "放心工程" in heading(hits[0]) and "放心工程" not in body(hits[0])
    body_only = [h for h in hits if "放心工程" in body(h) and "放心工程" not in heading(h)]
    assert body_only and body_only[0].rank > 1


# ----- the heading field on disk: per segment, through updates, deletes, merges and reloads -----

def _seeded_vectors(chunks) -> np.ndarray:
    """Stand-in unit vectors (this is about BM25 storage, not retrieval quality)."""
    out = np.zeros((len(chunks), 16), dtype=np.float32)
    for i, c in enumerate(chunks):
        v = np.random.default_rng(int(hashlib.sha256(c.chunk_id.encode()).hexdigest()[:8], 16)).normal(size=16)
        out[i] = v / np.linalg.norm(v)
    return out


def _heading_scores(index: Index, query: str) -> dict[str, float]:
    scores = index.lexical.head.scores(query)
    return {} if scores is None else {c.chunk_id: float(s) for c, s in zip(index.chunks, scores) if s}


def test_the_heading_field_scores_as_if_built_from_scratch_after_updates_deletes_merges_and_reload(tmp_path):
    bench = Path(__file__).resolve().parents[2] / "shared" / "bench" / "cmrc2018_trial"
    raws, problems = load_files([bench / "contexts.jsonl"], LoadLimits())
    assert not problems
    docs, chunks = [], {}
    for raw in raws[:120]:
        doc, cs, error = prepare_and_chunk(raw, (300, 600, 1))
        assert error is None
        docs.append(doc)
        chunks[doc.doc_id] = cs
    kw = {"model": {"name": "seeded", "identity": "seeded", "dim": 16}, "chunker": {},
          "lexical_fingerprint": lexical.fingerprint()}
    kb = tmp_path / "kb"
    live = {}
    for i in range(0, len(docs), 10):  # 12 writes: more segments than MAX_SEGMENTS, so some merge
        batch = docs[i:i + 10]
        cs = [c for d in batch for c in chunks[d.doc_id]]
        idx = Index.build(batch, cs, _seeded_vectors(cs), **kw) if not live else \
            Index.load(kb).changed(batch, cs, _seeded_vectors(cs), {docs[i - 7].doc_id})
        if live:
            live.pop(docs[i - 7].doc_id)
        idx.save(kb)
        live.update({d.doc_id: d for d in batch})
    loaded = Index.load(kb)
    assert 1 < len(loaded.segments) <= MAX_SEGMENTS and loaded.deleted
    order = [c for d in live.values() for c in chunks[d.doc_id]]
    fresh = Index.build(list(live.values()), order, _seeded_vectors(order), **kw)
    titles = [d.title for d in list(live.values())[::9]]
    assert titles and all(_heading_scores(loaded, t) for t in titles)
    for t in titles:
        assert _heading_scores(loaded, t) == _heading_scores(fresh, t), t

    # An index written before the heading field (no lexical/head/) gets it from its chunks' texts.
    version = live_version(kb)
    manifest = json.loads((version / "manifest.json").read_text(encoding="utf-8"))
    for seg in manifest["segments"]:
        shutil.rmtree(version / "segments" / seg["name"] / "lexical" / "head")
    manifest["files"] = {k: v for k, v in manifest["files"].items() if "/lexical/head/" not in k}
    (version / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    old = Index.load(kb)
    for t in titles:
        assert _heading_scores(old, t) == _heading_scores(fresh, t), t
