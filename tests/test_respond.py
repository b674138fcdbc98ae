"""What an answer shows: "found", "unsure" (refused, but the nearest passages are close, each marked
on its best sentence) or "not found"; and which passages it cites. On the shipped corpus and the real
model, plus table-driven checks of the rules that need no model."""
from __future__ import annotations

import pytest
from conftest import PLAN

from qa.answer import Candidate, Choice, terms
from qa.chunk import split_sentences
from qa.excerpt import best_sentence
from qa.respond import LEAD, UNSURE_MESSAGE, Nearness, nearest_is_close
from qa.types import Answer, Chunk, Hit

# A paraphrase: the passage says "注销“僵尸企业”7.43万家", but it shares too few of the question's words
# (清掉, 空壳企业) for its span to be shown as the answer, while the passage is close.
SHELLS = "湖南2020年清掉了多少家长期不经营的空壳企业"
HUNAN = "湖南以精准监管助推高质量发展"


def marked(c) -> list[str]:
    return [c.text[a:b] for a, b in c.highlight]


# ----- on the shipped corpus -----

def test_refused_answer_with_a_close_passage_is_unsure(corpus_service):
    a = corpus_service.ask(SHELLS)
    assert (a.found, a.status, a.answer, a.answer_sentence) == (False, "unsure", UNSURE_MESSAGE, "")
    assert a.citations and a.others == ()
    assert a.citations[0].doc_id == HUNAN


def test_unsure_cards_each_highlight_their_own_best_sentence(corpus_service):
    a = corpus_service.ask(SHELLS)
    ws = terms(a.rewritten_question, corpus_service.idf)
    for c in a.citations:
        assert len(c.highlight) == 1, c
        (start, end), = c.highlight
        text = c.text[start:end]
        assert any(w in text for w in ws), (text, ws)  # it holds some of the question's words
        if c.kind == "text":  # … and is a whole sentence of the card's passage
            assert (start, end) in {(s.start, s.end) for s in split_sentences(c.text, 0, len(c.text))}
    assert "注销“僵尸企业”7.43万家" in marked(a.citations[0])[0]


def test_question_about_something_absent_is_not_found_without_highlights(corpus_service):
    a = corpus_service.ask("火星上的市场主体有多少？")
    assert (a.found, a.status) == (False, "not_found")
    assert a.answer == "知识库中没有找到与“火星上的市场主体”相关的内容。"
    assert a.citations and all(c.highlight == () for c in a.citations)


def test_refusal_for_another_region_stays_not_found(corpus_service):
    # Its nearest passage is about the same office of another province: close in wording, but the
    # refusal says the knowledge base is about somewhere else, so nothing is offered as "relevant".
    a = corpus_service.ask("上海市市场监管局局长是谁")
    assert (a.found, a.status) == (False, "not_found")
    assert a.answer.startswith("知识库中没有找到")


def test_found_answer_cites_the_best_passages_of_any_document_and_keeps_others_apart(corpus_service):
    question = "疫情期间湖南指导多少家重点防疫用品生产企业快速通过应急审批"
    a, hits = corpus_service.answer(question)
    assert (a.found, a.status, a.answer) == (True, "found", "400多家")
    first = a.citations[0]
    assert "400多家" in "".join(marked(first))
    # The answering passage, then the best-ranked remaining passages, whatever their document …
    rest = [h.chunk.chunk_id for h in hits if h.chunk.chunk_id != first.chunk_id]
    assert [c.chunk_id for c in a.citations[1:LEAD]] == rest[: LEAD - 1]
    assert len({c.doc_id for c in a.citations[:LEAD]}) >= 2
    # … then only the answer's document; only the answer's passage is highlighted.
    assert all(c.doc_id == first.doc_id for c in a.citations[LEAD:])
    assert all(c.highlight == () for c in a.citations[1:])
    assert [c.rank for c in a.citations] == list(range(1, len(a.citations) + 1))
    # `others`: one passage per document not cited, never a cited passage.
    cited_docs = {c.doc_id for c in a.citations}
    assert a.others and all(o.doc_id not in cited_docs for o in a.others)
    assert len({o.doc_id for o in a.others}) == len(a.others)
    assert [o.rank for o in a.others] == list(range(1, len(a.others) + 1))


def test_found_answer_with_a_small_k_cites_at_most_k(corpus_service):
    a = corpus_service.ask("2025年市场主体目标是多少", k=2)
    assert a.status == "found" and len(a.citations) == 2
    assert a.citations[0].doc_id == PLAN and "650" in marked(a.citations[0])


# ----- the rules, on literal passages (no model) -----

@pytest.mark.parametrize(("text", "kind", "expected"), [
    # the sentence that holds most of the question's words, not the first one
    ("株洲市场监管局开展专项行动。疫情期间,全市1452家药店开门营业。同时加强监管。", "text",
     "疫情期间,全市1452家药店开门营业。"),
    # a table row: its cells are its sentences
    ("专栏1 主要指标｜类别: 营商环境｜指标名称: 全省市场主体数(万户)｜2020年: 488.84｜2025年: 650", "table_row",
     "指标名称: 全省市场主体数(万户)"),
    # a whole table: its rows are
    ("类别 序号 指标名称 2020年 2025年\n营商 1 全省市场主体数(万户) 488.84 650\n环境 2 企业开办平均时间(天) 2 ≤2",
     "table", "营商 1 全省市场主体数(万户) 488.84 650"),
    # none of the question's words: nothing is marked
    ("今年天气晴好。", "text", None),
])
def test_best_sentence_holds_the_most_question_words(text, kind, expected):
    span = best_sentence("疫情期间全市药店市场主体数多少", text, kind)
    assert (text[span[0]:span[1]] if span else None) == expected


def test_best_sentence_prefers_the_rarer_word():
    text = "湖南推进市场监管改革。株洲药店开门营业。"
    idf = {"湖南": 1.0, "药店": 5.0}.get
    span = best_sentence("湖南药店", text, idf=lambda w: idf(w) or 1.0)
    assert text[span[0]:span[1]] == "株洲药店开门营业。"


def _hit(dense: float | None) -> Hit:
    chunk = Chunk("c1", "d1", 0, "text", "", "药店开门营业。", "药店开门营业。", 0, 7, 0, 7, "")
    return Hit(chunk, 0.5, 1, dense_rank=1 if dense is not None else None, dense_score=dense)


def _choice(reason: str, coverage: float = 0.3, candidate: bool = True) -> Choice:
    cand = Candidate(0, "", "药店开门营业。", [], coverage, 1.0) if candidate else None
    return Choice(cand, reason == "ok", 0.5, reason)


@pytest.mark.parametrize(("reason", "dense", "coverage", "candidate", "close"), [
    ("unsupported", 0.90, 0.3, True, True),
    ("coverage", 0.88, 0.1, True, True),  # exactly on the floor
    ("distant", 0.87, 0.3, True, False),  # below it
    ("unsure", 0.90, 0.6, True, True),  # a calibrated-confidence refusal, when qa.answer gives one
    ("region", 0.95, 0.9, True, False),  # about somewhere else: never "relevant"
    ("year", 0.95, 0.9, True, False),
    ("document", 0.95, 0.9, True, False),
    ("empty", 0.95, 0.0, False, False),
    ("coverage", 0.95, 0.1, False, False),  # no candidate at all
    ("ok", 0.95, 0.9, True, False),  # found: not a refusal
    ("distant", None, 0.5, True, True),  # BM25 only: coverage stands in for the cosine
    ("distant", None, 0.3, True, False),
])
def test_nearest_is_close_only_for_weak_refusals_near_enough(reason, dense, coverage, candidate, close):
    assert nearest_is_close(_choice(reason, coverage, candidate), [_hit(dense)], Nearness(0.88, 0.45)) is close


def test_answer_status_follows_found_when_not_given():
    base = {"question": "q", "rewritten_question": "q", "answer": "", "answer_sentence": "", "confidence": 0.0,
            "citations": (), "others": (), "timings_ms": {}}
    assert Answer(found=True, **base).status == "found"
    assert Answer(found=False, **base).status == "not_found"
    assert Answer(found=False, status="unsure", **base).status == "unsure"
