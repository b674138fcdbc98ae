"""The gap report and the eval set through the API, on a real server over its own index copy: questions
not found or given a 👎 are listed grouped, one becomes an eval case, and `qa eval --kb` runs it."""
import json
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import httpx
import pytest
from conftest import ADMIN, PLAN, READER, private_server

API = "/api/v1"
HENAN = ("河南省2020年市场主体有多少户", "河南2020年底有多少市场主体")
PLAN_Q = "截至2020年底湖南全省实有市场主体多少户"
SHANGHAI = "上海市市场监管局局长是谁"


@pytest.fixture(scope="module")
def server(tmp_path_factory, corpus_service, model_dir):
    with private_server(tmp_path_factory, corpus_service, model_dir, "analysis") as s:
        yield s


@pytest.fixture(scope="module")
def asked(server):
    """Questions a reader asked, with the 👎 given to one answer: {question: answer JSON}."""
    out = {}
    with httpx.Client(base_url=server.url + API, timeout=120) as c:
        for q in (*HENAN, PLAN_Q, SHANGHAI):
            r = c.post("/ask", json={"question": q}, headers=READER)
            assert r.status_code == 200, r.text
            out[q] = r.json()
        r = c.put(f"/answers/{out[PLAN_Q]['answer_id']}/feedback", json={"vote": "down", "reason": "答案错误"},
                  headers=READER)
        assert r.status_code == 200, r.text
    assert all(out[q]["status"] == "not_found" for q in (*HENAN, SHANGHAI))
    assert out[PLAN_Q]["found"] and "488.84" in out[PLAN_Q]["answer"]
    return out


@pytest.fixture()
def api(server):
    with httpx.Client(base_url=server.url + API, timeout=120, headers=ADMIN) as c:
        yield c


def group_of(groups: list[dict], answer_id: str) -> dict:
    return next(g for g in groups if answer_id in {i["answer_id"] for i in g["items"]})


def test_not_found_and_downvoted_questions_are_listed_grouped(api, asked):
    r = api.get("/analysis")
    assert r.status_code == 200, r.text
    groups = r.json()["groups"]
    henan = group_of(groups, asked[HENAN[0]]["answer_id"])
    assert henan["count"] == 2 and henan["kinds"] == {"not_found": 2}
    assert henan["question"] == HENAN[1] and henan["answer_id"] == asked[HENAN[1]]["answer_id"]  # the newest
    assert groups[0] is not None and groups[0]["count"] == max(g["count"] for g in groups)  # sorted by count
    plan = group_of(groups, asked[PLAN_Q]["answer_id"])
    assert plan["count"] == 1 and plan["kinds"] == {"downvoted": 1}
    assert plan["items"][0]["reason"] == "答案错误" and plan["items"][0]["vote"] == -1
    assert group_of(groups, asked[SHANGHAI]["answer_id"]) is not henan


def test_the_date_filter_and_sort_are_applied(api, asked):
    today = datetime.now(timezone.utc).date()
    assert api.get("/analysis", params={"since": str(today + timedelta(days=1))}).json()["groups"] == []
    assert api.get("/analysis", params={"until": str(today - timedelta(days=1))}).json()["groups"] == []
    recent = api.get("/analysis", params={"since": str(today), "until": str(today), "sort": "recent"}).json()["groups"]
    assert [g["last"] for g in recent] == sorted((g["last"] for g in recent), reverse=True)
    assert group_of(recent, asked[SHANGHAI]["answer_id"])


@pytest.mark.parametrize("params", [{"since": "2026-13-01"}, {"sort": "sideways"}, {"until": "yesterday"}])
def test_bad_analysis_parameters_get_a_clean_422(api, params):
    r = api.get("/analysis", params=params)
    assert r.status_code == 422 and r.json()["error"]["code"]


def test_readers_may_not_see_the_analysis_or_the_eval_set(server):
    for method, path in (("GET", "/analysis"), ("GET", "/evalset"), ("POST", "/evalset/unanswerable")):
        r = httpx.request(method, server.url + API + path, headers=READER, json={"answer_id": "x"}, timeout=60)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden", (path, r.text)


def test_the_draft_proposes_the_answer_and_the_passage_holding_it(api, asked):
    r = api.get("/evalset/draft", params={"answer_id": asked[PLAN_Q]["answer_id"]})
    assert r.status_code == 200, r.text
    d = r.json()
    assert d["question"] == PLAN_Q and d["answers"] == [asked[PLAN_Q]["answer"]] and d["case_id"] is None
    holding = [p for p in d["passages"] if p["evidence"]]
    assert holding and holding[0]["doc_id"] == PLAN and holding[0]["evidence"] in holding[0]["text"]
    not_found = api.get("/evalset/draft", params={"answer_id": asked[SHANGHAI]["answer_id"]}).json()
    assert not_found["answers"] == [] and not_found["status"] == "not_found"


@pytest.mark.parametrize("body,status,code", [
    ({"answer_id": "no-such-answer", "answers": ["1"], "citation": 1}, 404, "answer_not_found"),
    ({"answers": ["488.84万户"], "doc": PLAN, "evidence": "全省实有市场主体999万户"}, 422, "invalid_eval_case"),
    ({"answers": ["650万户"], "doc": PLAN, "evidence": "全省实有市场主体488.84万户"}, 422, "invalid_eval_case"),
    ({"answers": ["488.84万户"], "doc": "没有这篇", "evidence": "全省实有市场主体"}, 422, "invalid_eval_case"),
    ({"answers": ["488.84万户"], "citation": 49}, 422, "invalid_argument"),
    ({"answers": [], "citation": 1}, 422, "invalid_request"),
    ({"answers": ["x" * 10_000], "citation": 1}, 422, "invalid_request"),
    ({"answers": ["488.84万户"], "citation": 1, "type": "riddle"}, 422, "invalid_request"),
    ({"answers": ["488.84万户"], "citation": 1, "owner": "someone"}, 422, "invalid_request"),
])
def test_a_bad_case_gets_a_clean_4xx_and_nothing_is_written(api, asked, body, status, code):
    before = api.get("/evalset").json()["cases"]
    r = api.post("/evalset/cases", json={"answer_id": asked[PLAN_Q]["answer_id"], **body})
    assert r.status_code == status and r.json()["error"]["code"] == code, r.text
    assert api.get("/evalset").json()["cases"] == before


def test_added_cases_are_listed_and_run_by_qa_eval_kb(api, asked, server, corpus_service):
    plan_id = asked[PLAN_Q]["answer_id"]
    draft = api.get("/evalset/draft", params={"answer_id": plan_id}).json()
    citation = next(p["rank"] for p in draft["passages"] if p["evidence"])
    r = api.post("/evalset/cases", json={"answer_id": plan_id, "answers": ["488.84万户", "488.84"], "citation": citation})
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["source"] == "feedback" and case["doc"] == PLAN and "488.84" in case["evidence"]
    assert datetime.strptime(case["added"], "%Y-%m-%d")
    again = api.post("/evalset/cases", json={"answer_id": plan_id, "answers": ["488.84万户"], "citation": citation})
    assert again.status_code == 409 and again.json()["error"]["code"] == "eval_case_exists"

    r = api.post("/evalset/unanswerable", json={"answer_id": asked[SHANGHAI]["answer_id"]})
    assert r.status_code == 201 and r.json()["unanswerable"] is True and r.json()["type"] == "unanswerable"

    listed = [(c["id"], c["answer_id"]) for c in api.get("/evalset").json()["cases"]]
    assert listed == [(case["id"], plan_id), (r.json()["id"], asked[SHANGHAI]["answer_id"])]
    groups = api.get("/analysis").json()["groups"]
    assert group_of(groups, plan_id)["items"][0]["case_id"] == case["id"]

    # The knowledge base's own eval set now holds both; `qa eval --kb default` runs them.
    out = subprocess.run([sys.executable, "-m", "qa.cli", "eval", "--kb", "default", "--json",
                          "--index", str(server.index_dir), "--model", corpus_service.settings.embed_model],
                         capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    fb = json.loads(out.stdout)["metrics"]["hybrid"]["feedback"]
    assert fb["cases"] == 2 and fb["correct"] == 2 and fb["unanswerable"] == 1
    assert api.get("/evalset").json()["runs"][-1]["feedback_cases"] == 2


def test_with_records_off_the_analysis_is_empty_and_cases_get_a_clean_404(corpus_service):
    from conftest import app_client, wait_ready

    with app_client(corpus_service, records="off") as c:
        wait_ready(c)
        r = c.get(API + "/analysis", headers=ADMIN)
        assert r.status_code == 200 and r.json()["records"] == "off" and r.json()["groups"] == []
        r = c.post(API + "/evalset/unanswerable", json={"answer_id": "a" * 32}, headers=ADMIN)
        assert r.status_code == 404 and r.json()["error"]["code"] == "answer_not_found"
