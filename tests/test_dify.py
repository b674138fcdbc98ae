"""Dify's external knowledge API (POST /api/v1/dify/retrieval) against a real `qa serve` on loopback,
with requests shaped as Dify's documentation shows them ("External Knowledge API": Authorization:
Bearer, knowledge_id, query, retrieval_setting {top_k, score_threshold}, metadata_condition) and
as Dify's own client sends them (metadata_condition null when none is set)."""
from __future__ import annotations

import json
import re
import subprocess

import httpx
import pytest
from conftest import ADMIN_KEY, READER_KEY, WAIT_CAP_S

from qa import relevance
from qa.settings import PROJECT_ROOT, Settings

Q2025 = "2025年市场主体目标是多少？"
DIFY_KEY = {"Authorization": f"Bearer {READER_KEY}", "Content-Type": "application/json"}
PLAN, GUIZHOU, ZHUZHOU = "湖南省十四五市场监管规划", "贵州省市场监管暨知识产权工作会议", "株洲市市场监管局服务高质量发展纪实"


def documented(query: str, top_k: int = 2, score_threshold: float = 0.5, **extra) -> dict:
    """The request body of Dify's documentation ("Request Syntax"), with our knowledge base's name."""
    return {"knowledge_id": "default", "query": query,
            "retrieval_setting": {"top_k": top_k, "score_threshold": score_threshold}, **extra}


@pytest.fixture(scope="module")
def retrieve(live_server):
    url = f"{live_server.url}/api/v1/dify/retrieval"

    def post(body=None, headers=DIFY_KEY, **kw) -> httpx.Response:
        return httpx.post(url, json=body, headers=headers, timeout=60, **kw)

    return post


def records(r: httpx.Response) -> list[dict]:
    assert r.status_code == 200, r.text
    return r.json()["records"]


def test_documented_request_returns_scored_records_with_metadata(retrieve):
    recs = records(retrieve(documented(Q2025)))
    assert 1 <= len(recs) <= 2
    first = recs[0]
    assert set(first) == {"content", "score", "title", "metadata"}
    assert "650" in first["content"] and first["title"] == "湖南省“十四五”市场监管规划"
    assert all(0.5 <= r["score"] <= 1 for r in recs) and [r["score"] for r in recs] == sorted(
        (r["score"] for r in recs), reverse=True)
    meta = first["metadata"]
    assert meta["doc_id"] == PLAN and meta["chunk_id"] and meta["rank"] == 1 and meta["date"] == "2021-08-18"
    assert {"section", "source", "region", "page", "location", "kind", "chunk_kind", "fused_score",
            "dense_score", "bm25_score"} <= set(meta)


def test_request_as_dify_sends_it_with_null_metadata_condition_is_accepted(retrieve):
    recs = records(retrieve(documented(Q2025, top_k=4, score_threshold=0.0, metadata_condition=None)))
    assert len(recs) == 4 and "650" in recs[0]["content"]


def test_top_k_caps_the_records_and_more_never_changes_the_first(retrieve):
    three = records(retrieve(documented(Q2025, top_k=3, score_threshold=0.0)))
    eight = records(retrieve(documented(Q2025, top_k=8, score_threshold=0.0)))
    assert len(three) == 3 and len(eight) == 8
    assert [(r["metadata"]["chunk_id"], r["score"]) for r in eight[:3]] == [
        (r["metadata"]["chunk_id"], r["score"]) for r in three]


def test_score_threshold_keeps_a_shrinking_prefix_of_the_ranking(retrieve):
    everything = records(retrieve(documented(Q2025, top_k=10, score_threshold=0.0)))
    assert len(everything) == 10
    previous = everything
    for t in (0.05, 0.2, 0.5, 0.7, 0.9):
        kept = records(retrieve(documented(Q2025, top_k=10, score_threshold=t)))
        assert all(r["score"] >= t for r in kept)
        assert kept == previous[:len(kept)]  # a prefix of the looser threshold's records
        assert kept == [r for r in everything if r["score"] >= t]
        previous = kept
    assert everything[0]["score"] > 0.5 > everything[-1]["score"]


def test_a_question_the_documents_cannot_answer_scores_low(retrieve):
    answerable = records(retrieve(documented(Q2025, top_k=1, score_threshold=0.0)))[0]["score"]
    unrelated = records(retrieve(documented("今天北京的天气怎么样", top_k=1, score_threshold=0.0)))
    assert unrelated[0]["score"] < 0.5 < answerable
    assert records(retrieve(documented("今天北京的天气怎么样", top_k=5, score_threshold=0.5))) == []


def docs_of(recs: list[dict]) -> set[str]:
    return {r["metadata"]["doc_id"] for r in recs}


def condition(*conds, logical_operator="and") -> dict:
    return {"logical_operator": logical_operator,
            "conditions": [{"name": n, "comparison_operator": op, **({} if v is None else {"value": v})}
                           for n, op, v in conds]}


def test_metadata_condition_on_region_keeps_that_region_and_the_places_within_it(retrieve):
    guizhou = records(retrieve(documented("市场主体", top_k=10, score_threshold=0.0,
                                          metadata_condition=condition(("region", "is", "贵州")))))
    assert docs_of(guizhou) == {GUIZHOU}
    hunan_news = condition(("region", "is", "湖南"), ("kind", "is", "新闻"))
    assert docs_of(records(retrieve(documented("市场监管", top_k=30, score_threshold=0.0,
                                               metadata_condition=hunan_news)))) == {
        ZHUZHOU, "湖南以精准监管助推高质量发展", "河北江苏湖南三省市场监管局推进工作有实招"}  # 株洲 lies in 湖南


def test_metadata_conditions_combine_with_and_or(retrieve):
    dated = condition(("date", "after", "2021-03-01"), ("kind", "is", "规划"))
    assert docs_of(records(retrieve(documented("市场主体", top_k=20, score_threshold=0.0,
                                               metadata_condition=dated)))) == {PLAN}
    either = condition(("doc_id", "is", GUIZHOU), ("doc_id", "in", [ZHUZHOU]), logical_operator="or")
    assert docs_of(records(retrieve(documented("市场监管", top_k=20, score_threshold=0.0,
                                               metadata_condition=either)))) == {GUIZHOU, ZHUZHOU}
    undated = condition(("date", "empty", None))
    assert docs_of(records(retrieve(documented("市场监管", top_k=20, score_threshold=0.0,
                                               metadata_condition=undated)))) == {ZHUZHOU}


def test_metadata_condition_that_no_document_meets_returns_no_records(retrieve):
    none = condition(("date", "before", 0))  # a Unix timestamp: 1970-01-01
    assert records(retrieve(documented("市场监管", top_k=5, score_threshold=0.0, metadata_condition=none))) == []


@pytest.mark.parametrize(("cond", "named"), [
    ({"name": "category", "comparison_operator": "contains", "value": "AI"}, "category"),
    ({"name": "title", "comparison_operator": ">", "value": "A"}, ">"),
    ({"name": "date", "comparison_operator": "before", "value": "last year"}, "last year"),
])
def test_unsupported_metadata_condition_is_refused_not_ignored(retrieve, cond, named):
    r = retrieve(documented("市场监管", metadata_condition={"logical_operator": "and", "conditions": [cond]}))
    assert r.status_code == 400
    assert r.json()["error_code"] == 4000 and named in r.json()["error_msg"]


@pytest.mark.parametrize("authorization", ["your-api-key", f"Basic {READER_KEY}", "Bearer"])
def test_malformed_authorization_header_is_error_1001(retrieve, authorization):
    r = retrieve(documented(Q2025), headers={"Authorization": authorization})
    assert r.status_code == 403 and r.json()["error_code"] == 1001 and r.json()["error_msg"]


def test_missing_authorization_header_is_error_1001(retrieve):
    r = retrieve(documented(Q2025), headers={})
    assert r.status_code == 403 and r.json()["error_code"] == 1001


def test_wrong_key_is_error_1002(retrieve):
    r = retrieve(documented(Q2025), headers={"Authorization": "Bearer your-api-key"})
    assert r.status_code == 403 and r.json() == {"error_code": 1002, "error_msg": "API 密钥无效"}


def test_admin_key_may_retrieve_too(retrieve):
    assert records(retrieve(documented(Q2025), headers={"Authorization": f"Bearer {ADMIN_KEY}"}))


def test_unknown_knowledge_base_is_error_2001(retrieve):
    r = retrieve({**documented(Q2025), "knowledge_id": "AAA-BBB-CCC"})
    assert r.status_code == 404 and r.json()["error_code"] == 2001 and "AAA-BBB-CCC" in r.json()["error_msg"]


@pytest.mark.parametrize("body", [
    {"knowledge_id": "default", "query": Q2025},  # no retrieval_setting
    {"knowledge_id": "default", "retrieval_setting": {"top_k": 2, "score_threshold": 0.5}},  # no query
    documented(Q2025, top_k=0),
    documented(Q2025, score_threshold=1.5),
    documented("   "),
])
def test_malformed_body_is_a_400_in_difys_shape(retrieve, body):
    r = retrieve(body)
    assert r.status_code == 400 and set(r.json()) == {"error_code", "error_msg"} and r.json()["error_code"] == 4000


def test_body_that_is_not_json_is_a_400_in_difys_shape(retrieve):
    r = retrieve(content=b'{"knowledge_id": "default", "query": ', headers=DIFY_KEY)
    assert r.status_code == 400 and r.json() == {"error_code": 4000, "error_msg": "请求体不是合法的 JSON"}


def test_openapi_documents_the_route_in_chinese_with_examples(live_server):
    spec = httpx.get(f"{live_server.url}/openapi.json", timeout=60).json()
    op = spec["paths"]["/api/v1/dify/retrieval"]["post"]
    assert op["summary"] == "Dify 外部知识库检索" and "外部知识库" in op["description"]
    assert {"400", "403", "404"} <= set(op["responses"])
    models = spec["components"]["schemas"]
    assert models["DifyRetrievalRequest"]["examples"][0]["knowledge_id"] == "default"
    assert models["DifyRetrievalRequest"]["properties"]["query"]["maxLength"] == 500  # QA_MAX_QUESTION_CHARS
    example = models["DifyRetrievalOut"]["examples"][0]["records"][0]
    assert example["metadata"]["doc_id"] and 0 <= example["score"] <= 1


def test_readme_example_runs_as_written(live_server, tmp_path):
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"<!-- dify-examples -->\s*```bash\n(.*?)```\s*<!-- /dify-examples -->", readme, re.DOTALL)
    assert block, "README has no dify-examples block"
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", block.group(1)], check=False, cwd=tmp_path,
                         capture_output=True, text=True, timeout=WAIT_CAP_S,
                         env={"PATH": "/usr/bin:/bin", "QA": live_server.url, "KEY": READER_KEY})
    assert out.returncode == 0, out.stderr
    recs = json.loads(out.stdout)["records"]
    assert 1 <= len(recs) <= 2 and "650" in recs[0]["content"] and all(r["score"] >= 0.5 for r in recs)


def test_relevance_is_calibrated_for_the_default_embedding_model():
    # A new model or fusion needs `python scripts/calibrate_relevance.py`: its cosines are another scale.
    model = relevance.load()
    assert model is not None and model.identity == Settings().embed_identity
    assert set(relevance.NUMERIC) <= set(model.names)


def test_relevance_never_rises_down_a_ranking():
    assert relevance.monotone([0.4, 0.9, 0.2, 0.3, 0.1]) == [0.4, 0.4, 0.2, 0.2, 0.1]


@pytest.mark.parametrize("raw", [
    b'"retrieval_setting": {"top_k": 2, "score_threshold": NaN}',
    b'"retrieval_setting": {"top_k": 2, "score_threshold": Infinity}',
    b'"retrieval_setting": {"top_k": 2, "score_threshold": -0.1}',
    b'"retrieval_setting": {"top_k": 1000000000000, "score_threshold": 0.5}',
    b'"retrieval_setting": {"top_k": -1, "score_threshold": 0.5}',
    b'"retrieval_setting": {"top_k": 2.5, "score_threshold": 0.5}',
    b'"retrieval_setting": {"top_k": 2, "score_threshold": "high"}',
    b'"retrieval_setting": null',
    (b'"retrieval_setting": {"top_k": 2}, "metadata_condition": {"conditions": [{"name": "date", '
     b'"comparison_operator": "before", "value": NaN}]}'),
    (b'"retrieval_setting": {"top_k": 2}, "metadata_condition": {"conditions": [{"name": "date", '
     b'"comparison_operator": "after", "value": 1e300}]}'),
    (b'"retrieval_setting": {"top_k": 2}, "metadata_condition": {"conditions": [{"name": "title", '
     b'"comparison_operator": "is", "value": {"a": 1}}]}'),
    (b'"retrieval_setting": {"top_k": 2}, "metadata_condition": {"conditions": [{"name": "title", '
     b'"comparison_operator": "contains"}]}'),
    (b'"retrieval_setting": {"top_k": 2}, "metadata_condition": {"conditions": [{"name": ["title", "date"], '
     b'"comparison_operator": "is", "value": "x"}]}'),
    (b'"retrieval_setting": {"top_k": 2}, "metadata_condition": {"conditions": [{"name": "region", '
     b'"comparison_operator": "in", "value": []}]}'),
], ids=["nan", "inf", "negative", "huge-k", "negative-k", "fractional-k", "text-threshold", "null-setting",
        "nan-date", "far-date", "dict-value", "no-value", "date-and-text", "empty-in"])
def test_edge_values_of_a_request_are_a_400_in_difys_shape(retrieve, raw):
    r = retrieve(content='{"knowledge_id": "default", "query": "市场主体", '.encode() + raw + b"}", headers=DIFY_KEY)
    assert r.status_code == 400, r.text
    assert set(r.json()) == {"error_code", "error_msg"} and r.json()["error_code"] == 4000 and r.json()["error_msg"]


@pytest.mark.parametrize("setting, most", [
    ({"top_k": 3}, 3),  # no score_threshold: Dify's "disabled", 0.0
    ({"top_k": 3, "score_threshold": 0}, 3),
    ({"top_k": 100, "score_threshold": 1}, 0),  # nothing is certain
    ({"top_k": 100, "score_threshold": 0}, 100),
])
def test_score_threshold_and_top_k_at_their_bounds_give_sane_records(retrieve, setting, most):
    recs = records(retrieve({"knowledge_id": "default", "query": Q2025, "retrieval_setting": setting}))
    assert len(recs) <= most and all(setting.get("score_threshold", 0) <= r["score"] <= 1 for r in recs)
    assert [r["metadata"]["rank"] for r in recs] == list(range(1, len(recs) + 1))
    if most == 3:
        assert len(recs) == 3
