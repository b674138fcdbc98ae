"""The gap report: which answers are gaps, and real questions grouped by the real model."""
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from qa import gaps
from qa.records import AnswerRecord, Feedback
from qa.settings import Settings

T0 = datetime(2026, 11, 1, 9, 0, tzinfo=timezone.utc)
SIMILARITY = Settings.model_fields["gap_similarity"].default
LOW = Settings.model_fields["gap_low_confidence"].default


def record(n: int, question: str, status: str = "not_found", confidence: float = 0.0, vote: int = 0,
           rewritten: str = "", day: int = 0) -> AnswerRecord:
    fb = Feedback(vote, "答案错误" if vote < 0 else "", "", T0) if vote else None
    return AnswerRecord(answer_id=f"a{n}", conversation_id="c", owner="key:k", kb="default", question=question,
                        rewritten_question=rewritten or question, status=status, confidence=confidence,
                        answer="" if status == "not_found" else "某个答案", created=T0 + timedelta(days=day, minutes=n),
                        feedback=fb)


# Paraphrases of three questions the corpus does not answer well, and one it answers.
RECORDS = [
    record(1, "河南省2020年市场主体有多少户", day=0),
    record(2, "河南2020年底有多少市场主体", day=3),
    record(3, "2020年河南全省市场主体数量是多少", day=5),
    record(4, "河南2020年底有多少市场主体？", day=6),  # asked again, word for word
    record(5, "上海的营商环境排名第几", status="found", confidence=0.9, vote=-1, day=1),
    record(6, "上海营商环境在全国排第几名", status="found", confidence=0.3, day=2),
    record(7, "那2030年呢", status="unsure", confidence=0.4, rewritten="2030年湖南市场主体目标是多少", day=4),
    record(8, "办个新公司最多花几天", status="found", confidence=0.2, day=2),
    record(9, "企业开办需要几天", status="not_found", day=3),
    record(10, "湖南查扣非法口罩多少只", status="found", confidence=0.95, vote=1, day=1),  # answered well: no gap
]


@pytest.fixture(scope="module")
def groups(embedder):
    return gaps.group(gaps.gap_items(RECORDS, LOW), embedder.encode_queries, SIMILARITY)


def ids(group: gaps.Gap) -> set[str]:
    return {i.answer_id for i in group.items}


def test_paraphrases_of_a_question_fall_in_one_group(groups):
    # Most asked first; of two groups asked as often, the one asked last.
    assert [ids(g) for g in groups] == [{"a1", "a2", "a3", "a4"}, {"a8", "a9"}, {"a5", "a6"}, {"a7"}]


def test_different_questions_on_the_same_subject_stay_apart(groups):
    # 河南 2020 市场主体 and 湖南 2030 市场主体目标 share most words: still two groups.
    henan = next(g for g in groups if "a1" in ids(g))
    assert "a7" not in ids(henan)


def test_the_same_question_about_another_region_or_year_is_another_group(embedder):
    # The model scores these 0.94–0.96 against 河南省2020年市场主体有多少户: as close as a paraphrase.
    asked = [record(1, "河南省2020年市场主体有多少户"), record(2, "湖南2020年底有多少市场主体"),
             record(3, "贵州2020年新设立市场主体多少户"), record(4, "河南省2021年市场主体有多少户"),
             record(5, "河南2020年底有多少市场主体")]
    found = gaps.group(gaps.gap_items(asked, LOW), embedder.encode_queries, SIMILARITY)
    assert sorted(sorted(ids(g)) for g in found) == [["a1", "a5"], ["a2"], ["a3"], ["a4"]]


def test_a_group_has_its_count_newest_example_dates_and_kinds(groups):
    henan, shanghai = groups[0], next(g for g in groups if "a5" in ids(g))
    assert henan.count == 4 and henan.newest.answer_id == "a4"
    assert henan.first == RECORDS[0].created and henan.last == RECORDS[3].created
    assert henan.kinds == {"not_found": 4}
    assert shanghai.kinds == {"downvoted": 1, "low_confidence": 1}


def test_a_follow_up_is_grouped_by_its_rewritten_question(groups):
    follow_up = next(g for g in groups if "a7" in ids(g))
    assert follow_up.newest.question == "那2030年呢" and follow_up.newest.text == "2030年湖南市场主体目标是多少"


@pytest.mark.parametrize("kw,expected", [
    ({"status": "not_found"}, ("not_found",)),
    ({"status": "found", "confidence": 0.9, "vote": -1}, ("downvoted",)),
    ({"status": "not_found", "vote": -1}, ("not_found", "downvoted")),
    ({"status": "unsure", "confidence": 0.7}, ("low_confidence",)),
    ({"status": "found", "confidence": LOW - 0.01}, ("low_confidence",)),
    ({"status": "found", "confidence": LOW}, ()),
    ({"status": "found", "confidence": 0.2, "vote": 1}, ("low_confidence",)),
])
def test_which_answers_are_gaps(kw, expected):
    assert gaps.kinds_of(record(0, "问题", **kw), LOW) == expected


def test_sorted_by_count_or_by_most_recent(embedder):
    items = gaps.gap_items(RECORDS, LOW)
    by_count = gaps.group(items, embedder.encode_queries, SIMILARITY, "count")
    by_recent = gaps.sort_gaps(by_count, "recent")
    assert [g.count for g in by_count] == sorted((g.count for g in by_count), reverse=True)
    assert [g.last for g in by_recent] == sorted((g.last for g in by_count), reverse=True)
    assert by_recent[0].newest.answer_id == "a4"


def test_the_date_filter_keeps_answers_in_the_range():
    items = gaps.gap_items(RECORDS, LOW, since=T0 + timedelta(days=2), until=T0 + timedelta(days=4))
    assert {i.answer_id for i in items} == {"a2", "a6", "a8", "a9"}
    naive = gaps.gap_items(RECORDS, LOW, since=datetime(2026, 11, 7))  # naive times are UTC
    assert {i.answer_id for i in naive} == {"a4"}


def test_no_gaps_no_groups_and_no_model_call():
    def encode(texts):
        raise AssertionError("nothing to embed")

    assert gaps.group([], encode, SIMILARITY) == []


def test_a_group_centre_does_not_chain_dissimilar_questions():
    # b is 0.95 from a and from c, a and c are 0.81 apart: single linkage would join all three.
    angle = np.arccos(0.95)
    a, b, c = (np.array([np.cos(t), np.sin(t)], dtype=np.float32) for t in (0.0, angle, 2 * angle))
    assert gaps.cluster(np.stack([a, b, c]), 0.92) == [[0, 1], [2]]


def test_the_cached_encoder_embeds_each_question_once_and_gives_the_same_rows(embedder):
    calls = []

    def encode(texts):
        calls.append(list(texts))
        return embedder.encode_queries(texts)

    cached = gaps.CachedEncoder(encode, max_items=3)
    first = cached(["河南2020年底有多少市场主体", "企业开办需要几天"])
    again = cached(["企业开办需要几天", "上海营商环境在全国排第几名", "河南2020年底有多少市场主体"])
    assert calls == [["河南2020年底有多少市场主体", "企业开办需要几天"], ["上海营商环境在全国排第几名"]]
    assert np.allclose(again[[2, 0]], first, atol=1e-6)
    cached(["湖南查扣非法口罩多少只"])  # past max_items: the oldest row is dropped and embedded again when asked
    cached(["河南2020年底有多少市场主体"])
    assert calls[-1] == ["河南2020年底有多少市场主体"]
