"""The OpenAI-compatible endpoint (/v1), spoken to by the official `openai` client against a real
`qa serve` on loopback; what it answers is checked against /api/v1/ask, the one answer path."""
from __future__ import annotations

import json
import re
import subprocess
import sys

import httpx
import openai
import pytest
from conftest import READER, READER_KEY, WAIT_CAP_S, app_client, private_server, wait_ready
from llm_double import Script

from api.routes.openai_compat import MessageIn, conversation
from qa.settings import PROJECT_ROOT, Settings

Q2025 = "2025年市场主体目标是多少？"
FOLLOW_UP = "那2020年呢？"
MARS = "火星上有多少家奶茶店？"
UNSURE = "湖南2020年清掉了多少家长期不经营的空壳企业"  # the nearest passages are close, the answer is withheld


@pytest.fixture(scope="module")
def ai(live_server) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{live_server.url}/v1", api_key=READER_KEY, max_retries=0, timeout=120)


def asked(server, question: str, history: list[str] = ()) -> dict:
    """The same question through /api/v1/ask."""
    r = httpx.post(f"{server.url}/api/v1/ask", headers=READER, timeout=120,
                   json={"question": question, "history": list(history)})
    assert r.status_code == 200, r.text
    return r.json()


def user(text: str) -> dict:
    return {"role": "user", "content": text}


def highlighted(citation: dict) -> list[str]:
    return [citation["text"][s:e] for s, e in citation["highlight"]]


# ----- models -----

def test_models_list_the_knowledge_base(ai):
    models = ai.models.list()
    assert [m.id for m in models.data] == ["qa-default"]
    assert models.data[0].object == "model" and models.data[0].owned_by == "qa" and models.data[0].created > 0
    assert ai.models.retrieve("qa-default").id == "qa-default"


def test_an_unknown_model_is_a_404_in_openai_shape(ai):
    with pytest.raises(openai.NotFoundError) as e:
        ai.chat.completions.create(model="gpt-4o", messages=[user(Q2025)])
    assert e.value.code == "model_not_found" and e.value.type == "invalid_request_error"
    assert "gpt-4o" in e.value.body["message"] and "qa-default" in e.value.body["message"]


# ----- answers -----

def test_a_completion_gives_the_answer_with_its_sources_and_citations(ai, live_server):
    expected = asked(live_server, Q2025)
    completion = ai.chat.completions.create(model="qa-default", messages=[user(Q2025)])
    choice = completion.choices[0]
    content = choice.message.content
    assert choice.finish_reason == "stop" and choice.message.role == "assistant"
    assert completion.object == "chat.completion" and completion.model == "qa-default"
    extra = completion.model_extra
    assert extra["status"] == "found" and extra["confidence"] == expected["confidence"]
    assert extra["citations"] == expected["citations"]
    # the answer first, then the sentence it comes from, then its source by title and section
    first = expected["citations"][0]
    assert content.startswith(expected["answer"]) and f"依据：{expected['answer_sentence']}" in content
    assert f"来源：\n[1] 《{first['title']}》 {first['section']}" in content
    # the cited passage holds the answer: its highlighted spans are in the answer
    assert any(span in expected["answer"] for span in highlighted(first))
    assert completion.usage.completion_tokens == len(content)


def test_a_stream_sends_the_role_the_content_then_the_citations(ai, live_server):
    expected = asked(live_server, Q2025)
    plain = ai.chat.completions.create(model="qa-default", messages=[user(Q2025)]).choices[0].message.content
    chunks = list(ai.chat.completions.create(model="qa-default", messages=[user(Q2025)], stream=True,
                                             stream_options={"include_usage": True}))
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == plain
    *_, last, usage = chunks
    assert last.choices[0].finish_reason == "stop" and not last.choices[0].delta.content
    assert last.model_extra["citations"] == expected["citations"] and last.model_extra["status"] == "found"
    assert [c.choices[0].finish_reason for c in chunks[:-2]] == [None] * (len(chunks) - 2)
    assert usage.choices == [] and usage.usage.completion_tokens == len(text)


def test_a_follow_up_takes_the_earlier_user_messages_as_history(ai, live_server):
    first = ai.chat.completions.create(model="qa-default", messages=[user(Q2025)]).choices[0].message.content
    messages = [{"role": "system", "content": "你是政务知识助手"}, user(Q2025),
                {"role": "assistant", "content": first}, user(FOLLOW_UP)]
    completion = ai.chat.completions.create(model="qa-default", messages=messages)
    expected = asked(live_server, FOLLOW_UP, [Q2025])
    extra = completion.model_extra
    assert extra["status"] == "found" and extra["rewritten_question"] == expected["rewritten_question"]
    assert "2020" in extra["rewritten_question"] and extra["citations"] == expected["citations"]
    content = completion.choices[0].message.content
    assert content.startswith(expected["answer"]) and not content.startswith(asked(live_server, Q2025)["answer"])
    assert any(span in expected["answer"] for span in highlighted(extra["citations"][0]))


def test_an_unanswerable_question_says_so_and_cites_no_source(ai, live_server):
    expected = asked(live_server, MARS)
    completion = ai.chat.completions.create(model="qa-default", messages=[user(MARS)])
    choice = completion.choices[0]
    assert expected["status"] == "not_found" and completion.model_extra["status"] == "not_found"
    assert choice.message.content == expected["answer"] and "没有找到" in choice.message.content
    assert choice.finish_reason == "stop" and "来源" not in choice.message.content
    assert completion.model_extra["citations"] == expected["citations"]  # the nearest passages, for who wants them


def test_an_unsure_answer_lists_the_nearest_sentences_under_their_sources(ai, live_server):
    expected = asked(live_server, UNSURE)
    assert expected["status"] == "unsure"
    content = ai.chat.completions.create(model="qa-default", messages=[user(UNSURE)]).choices[0].message.content
    assert content.startswith(expected["answer"])
    for c in expected["citations"]:
        assert f"[{c['rank']}] 《{c['title']}》" in content and highlighted(c)[0].strip() in content


def test_content_given_as_parts_is_read_as_text(ai, live_server):
    parts = [{"type": "text", "text": Q2025}]
    completion = ai.chat.completions.create(model="qa-default", messages=[{"role": "user", "content": parts}])
    assert completion.choices[0].message.content.startswith(asked(live_server, Q2025)["answer"])


# ----- refusals, in OpenAI's shape -----

def test_a_bad_key_is_an_authentication_error(live_server):
    bad = openai.OpenAI(base_url=f"{live_server.url}/v1", api_key="not-a-key", max_retries=0, timeout=60)
    with pytest.raises(openai.AuthenticationError) as e:
        bad.chat.completions.create(model="qa-default", messages=[user(Q2025)])
    assert e.value.type == "authentication_error" and e.value.code == "unauthorized"
    assert e.value.body["message"] == "API 密钥无效"
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()


@pytest.mark.parametrize(("messages", "said"), [
    ([], "没有用户"),
    ([{"role": "system", "content": "你是政务知识助手"}], "没有用户"),
    ([user("   ")], "问题不能为空"),
    ([user("问" * 501)], "问题过长"),
])
def test_messages_without_a_question_are_a_400(ai, messages, said):
    with pytest.raises(openai.BadRequestError) as e:
        ai.chat.completions.create(model="qa-default", messages=messages)
    assert e.value.type == "invalid_request_error" and said in e.value.body["message"]


def test_a_malformed_body_is_a_400_in_openai_shape(live_server):
    r = httpx.post(f"{live_server.url}/v1/chat/completions", headers=READER, timeout=60,
                   json={"model": "qa-default", "messages": [{"role": "robot", "content": Q2025}]})
    assert r.status_code == 400 and r.headers["x-request-id"]
    error = r.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_request"
    assert error["param"] == "messages.0.role" and set(error) == {"message", "type", "param", "code"}


def test_the_guard_covers_v1_rate_limit_in_openai_shape(corpus_service):
    with app_client(corpus_service, rate_limit_per_minute=1) as c:
        wait_ready(c)
        headers = {"Authorization": f"Bearer {READER_KEY}"}
        assert c.get("/v1/models", headers=headers).status_code == 200
        r = c.get("/v1/models", headers=headers)
    assert r.status_code == 429 and int(r.headers["retry-after"]) >= 1
    assert r.json()["error"]["type"] == "rate_limit_error" and r.json()["error"]["code"] == "rate_limited"


def test_the_guard_covers_v1_body_limit_in_openai_shape(corpus_service):
    with app_client(corpus_service) as c:
        r = c.post("/v1/chat/completions", headers={"Authorization": f"Bearer {READER_KEY}"},
                   json={"model": "qa-default", "messages": [user("问" * 600_000)]})
    assert r.status_code == 413 and r.json()["error"]["type"] == "invalid_request_error"
    assert r.json()["error"]["code"] == "payload_too_large"


def test_the_rest_of_the_api_keeps_its_own_error_shape(corpus_service):
    with app_client(corpus_service) as c:
        r = c.post("/api/v1/ask", headers={"X-API-Key": "wrong"}, json={"question": Q2025})
    assert r.status_code == 401 and set(r.json()["error"]) == {"code", "message"}


# ----- messages → question and history (no server) -----

def messages(*texts: str) -> list[MessageIn]:
    return [MessageIn(role="user", content=t) for t in texts]


def test_the_last_user_message_is_the_question_and_earlier_ones_the_history():
    said = conversation([*messages("一"), MessageIn(role="assistant", content="答"), *messages("二", "三")],
                        Settings())
    assert said.question == "三" and said.history == ("一", "二")


def test_history_keeps_the_newest_messages_within_the_limits():
    settings = Settings(max_history=2, max_history_chars=10, max_question_chars=6)
    assert conversation(messages("一", "二", "三", "四"), settings).history == ("二", "三")
    assert conversation(messages("一", "  ", "二", "问题"), settings).history == ("一", "二")  # blanks skipped
    # an over-long earlier message ends the history: what came before it is older still
    assert conversation(messages("一", "长" * 7, "二", "问题"), settings).history == ("二",)
    assert conversation(messages("一二三四五六", "七八九十一", "问题"), settings).history == ("七八九十一",)


# ----- the README's examples, run as written -----

def readme_section() -> str:
    readme = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    return readme.split("### OpenAI 兼容接口", 1)[1].split("\n### ", 1)[0]


def block(text: str, lang: str) -> str:
    return re.search(rf"```{lang}\n(.*?)```", text, re.DOTALL).group(1)


def run(args: list[str], server) -> str:
    out = subprocess.run(args, check=False, capture_output=True, text=True, timeout=WAIT_CAP_S,
                         env={"PATH": "/usr/bin:/bin", "QA": server.url, "KEY": READER_KEY})
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_readme_openai_examples_run_against_a_real_server(live_server):
    section = readme_section()
    examples = section.split("<!-- openai-examples -->", 1)[1].split("<!-- /openai-examples -->", 1)[0]
    first, follow_up = asked(live_server, Q2025), asked(live_server, FOLLOW_UP, [Q2025])
    printed = run([sys.executable, "-c", block(examples, "python")], live_server)
    content = httpx.post(f"{live_server.url}/v1/chat/completions", headers=READER, timeout=120,
                         json={"model": "qa-default", "messages": [user(Q2025)]}).json()["choices"][0]["message"]["content"]
    assert printed.startswith(content + "\n") and f"\nfound {first['citations'][0]['doc_id']}\n" in printed
    assert printed.split(f"found {first['citations'][0]['doc_id']}\n", 1)[1].startswith(follow_up["answer"])
    # the reply shown after the examples is the one the service gives
    assert block(section.split("<!-- /openai-examples -->", 1)[1], "") == content + "\n"

    shell = run(["bash", "-euo", "pipefail", "-c", block(examples, "bash")], live_server)
    replies, _, stream = shell.partition("data: ")  # curl prints the two JSON bodies back to back, then the stream
    decoder = json.JSONDecoder()
    models, end = decoder.raw_decode(replies)
    completion, _ = decoder.raw_decode(replies, end)
    assert [m["id"] for m in models["data"]] == ["qa-default"]
    assert completion["choices"][0]["message"]["content"] == content and completion["status"] == "found"
    assert stream.rstrip().endswith("data: [DONE]") and '"finish_reason": "stop"' in stream


# ----- with a generation model configured -----
# No LLM runs on these machines: the model is tests/llm_double.py, an OpenAI-compatible test double
# on loopback returning the scripted completion each test sets.

GENERATED = "2025年全省市场主体目标为650万户[1]。"


@pytest.fixture(scope="module")
def gen_ai(tmp_path_factory, corpus_service, model_dir, double) -> openai.OpenAI:
    with private_server(tmp_path_factory, corpus_service, model_dir, "gen-openai", QA_LLM_BASE_URL=double.url,
                        QA_LLM_TIMEOUT="10", QA_LLM_RETRIES="0") as server:
        yield openai.OpenAI(base_url=f"{server.url}/v1", api_key=READER_KEY, max_retries=0, timeout=120)


def test_a_verified_generated_answer_is_the_content_with_the_sources_it_cites(gen_ai, double):
    double.reset(Script.reply(GENERATED))
    r = gen_ai.chat.completions.create(model="qa-default", messages=[user(Q2025)])
    content, extra = r.choices[0].message.content, r.model_extra
    assert content.startswith(GENERATED), content
    first = extra["citations"][0]
    assert f"来源：\n[1] 《{first['title']}》" in content
    assert extra["generated"]["status"] == "verified" and extra["generated"]["text"] == GENERATED
    assert len(double.requests) == 1


def test_a_fabricated_figure_never_reaches_the_content(gen_ai, double):
    double.reset(Script.reply("2025年全省市场主体目标为666.66万户[1]。"))
    r = gen_ai.chat.completions.create(model="qa-default", messages=[user(Q2025)])
    content, extra = r.choices[0].message.content, r.model_extra
    assert "666.66" not in content
    assert extra["generated"]["status"] == "withheld" and extra["generated"]["text"] == ""
    # the extractive answer stands, with the model's note after it
    extractive = gen_ai.chat.completions.create(model="qa-default", messages=[user(Q2025)],
                                                extra_body={"generate": False}).choices[0].message.content
    assert content == f"{extractive}\n\n（{extra['generated']['note']}）"


def test_a_stream_sends_each_verified_sentence_then_the_sources(gen_ai, double):
    double.reset(Script.reply(GENERATED + "其余情况见规划[1]。"))
    chunks = list(gen_ai.chat.completions.create(model="qa-default", messages=[user(Q2025)], stream=True))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert pieces[0] == GENERATED
    last = chunks[-1].model_extra
    assert chunks[-1].choices[0].finish_reason == "stop" and last["generated"]["status"] == "verified"
    assert "".join(pieces).startswith(last["generated"]["text"]) and "来源：" in pieces[-1]


def test_generate_false_asks_the_model_nothing(gen_ai, double):
    double.reset(Script.reply(GENERATED))
    r = gen_ai.chat.completions.create(model="qa-default", messages=[user(Q2025)], extra_body={"generate": False})
    assert double.requests == [] and "generated" not in (r.model_extra or {})
    assert "依据：" in r.choices[0].message.content


@pytest.mark.parametrize("script", [Script.fail(500), Script.malformed_stream("2025年全省市场")], ids=["500", "malformed"])
def test_a_failing_model_leaves_the_extractive_answer_with_its_note(gen_ai, double, script):
    double.reset(script)
    r = gen_ai.chat.completions.create(model="qa-default", messages=[user(Q2025)])
    note = r.model_extra["generated"]["note"]
    assert r.model_extra["generated"]["status"] == "error" and note.endswith("请以上面的答案和出处为准。")
    assert r.choices[0].message.content.startswith("650万户") and r.choices[0].message.content.endswith(f"（{note}）")
    chunks = list(gen_ai.chat.completions.create(model="qa-default", messages=[user(Q2025)], stream=True))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == r.choices[0].message.content and chunks[-1].choices[0].finish_reason == "stop"
