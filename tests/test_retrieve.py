"""Retrieval on the shipped corpus with the real model: the acceptance queries, filters, modes."""
import re

import pytest
from conftest import PLAN, TRADITIONAL

from qa.errors import InvalidArgument
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
