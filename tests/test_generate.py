"""Generated answers (qa/prompt.py, qa/verify.py, qa/generate.py, /ask and /chat): the prompt, the
check of each sentence against the real passages of the shipped corpus, and every scripted reply of
the model test double (tests/llm_double.py) through a real `qa serve` on loopback, asserting what
the user is given."""
from __future__ import annotations

import json

import httpx
import pytest
from conftest import CORPUS, PLAN, READER, TRADITIONAL, private_server
from llm_double import Script

from qa.generate import SentenceCutter
from qa.prompt import SYSTEM_PROMPT, build_messages, passage_text
from qa.verify import check_sentence

TARGET = "2025年市场主体目标是多少"  # answered from the plan's table row: 2025年: 650 (万户), 2020年: 488.84
MASKS = "湖南查扣非法口罩多少只"  # answered from the traditional-script news: 查扣非法口罩734萬只
LLM_KEY = "sk-llm-test-8675309"
TIMEOUT_S = 3  # the server's QA_LLM_TIMEOUT; the slow script waits well past it
RETRIES = 1


def cited(svc, question: str, needle: str):
    """The answer to `question` and the number → passage map the model would be given, with the
    rank of the citation whose text holds `needle`."""
    answer, _ = svc.answer(question)
    assert answer.status == "found", answer
    passages = {c.rank: passage_text(c) for c in answer.citations}
    rank = next(c.rank for c in answer.citations if needle in c.text)
    return answer, passages, rank


# ----- the prompt -----

def test_prompt_numbers_passages_as_their_cards_show_them(corpus_service):
    answer, _ = corpus_service.answer(TARGET)
    messages = build_messages(answer.rewritten_question, answer.citations)
    assert [m["role"] for m in messages] == ["system", "user"]
    assert messages[0]["content"] == SYSTEM_PROMPT and "[1][2]" in SYSTEM_PROMPT and "中文" in SYSTEM_PROMPT
    user = messages[1]["content"]
    starts = [user.index(f"[{c.rank}]\n来源：《{c.title}》") for c in answer.citations]
    assert starts == sorted(starts) and len(starts) == len(answer.citations) >= 2
    for c, start in zip(answer.citations, starts):
        assert user.index(c.text.strip(), start) > start  # each passage whole, under its own number
    assert user.rstrip().endswith("并用[编号]注明出处。") and f"问题：{TARGET}" in user


# ----- the check, on real passages -----

def test_figures_as_the_passage_writes_them_pass(corpus_service):
    answer, passages, n = cited(corpus_service, TARGET, "650")
    title = answer.citations[n - 1].title
    check = check_sentence(f"根据《{title}》，2025年全省市场主体目标为650万户，2020年为488.84万户[{n}]。", passages)
    assert check.ok, check.problems
    assert check.citations == (n,)


def test_figures_in_another_written_form_pass(corpus_service):
    # The passage is in traditional script (萬, 辦理價格投訴舉報10497件); the sentence is simplified, with
    # a Chinese numeral, a thousands separator and full-width digits.
    answer, passages, n = cited(corpus_service, MASKS, "734")
    assert answer.citations[n - 1].doc_id == TRADITIONAL and "市場監管局" in answer.citations[n - 1].title
    for sentence in (f"湖南查扣非法口罩七百三十四万只[{n}]。", f"办理价格投诉举报10,497件[{n}]。",
                     f"查扣非法口罩７３４万只，检查市场主体285.43万家次[{n}]。"):
        assert check_sentence(sentence, passages).ok, sentence


def test_an_altered_figure_fails(corpus_service):
    _, passages, n = cited(corpus_service, TARGET, "650")
    for sentence in (f"2025年全省市场主体目标为680万户[{n}]。", f"2025年目标为650亿户[{n}]。",
                     f"2020年为488.48万户[{n}]。"):
        check = check_sentence(sentence, passages)
        assert not check.ok, sentence
        assert any("不在所引片段" in p for p in check.problems)


def test_an_altered_percentage_fails_and_the_true_one_passes():
    # 贵州: 市场主体……年均增长16.08% (the corpus text itself, so no retrieval is needed).
    passage = {1: next(line for line in (CORPUS / "贵州省市场监管暨知识产权工作会议.txt").read_text().splitlines()
                       if "16.08%" in line)}
    assert check_sentence("市场主体年均增长16.08％[1]。", passage).ok
    assert not check_sentence("市场主体年均增长16.8%[1]。", passage).ok
    assert not check_sentence("市场主体年均增长16.08个百分点[1]。", passage).ok


def test_a_citation_of_a_passage_not_given_fails(corpus_service):
    _, passages, n = cited(corpus_service, TARGET, "650")
    missing = max(passages) + 1
    check = check_sentence(f"2025年目标为650万户[{n}][{missing}]。", passages)
    assert check.problems == (f"引用了未提供的片段[{missing}]",)


def test_figures_without_a_citation_fail_and_plain_words_pass(corpus_service):
    _, passages, _ = cited(corpus_service, TARGET, "650")
    assert not check_sentence("2025年全省市场主体目标为650万户。", passages).ok
    assert not check_sentence(f"详见《{PLAN}》。", passages).ok
    assert check_sentence("总体来看，市场监管工作成效明显。", passages).ok


def test_a_date_must_be_the_passage_date():
    passage = {1: "2021年3月5日，全省召开市场监管工作会议。"}
    assert check_sentence("会议于2021年3月5日召开[1]。", passage).ok
    assert check_sentence("会议于三月五日召开[1]。", passage).ok
    assert not check_sentence("会议于2021年3月6日召开[1]。", passage).ok
    assert not check_sentence("会议于2021年5月3日召开[1]。", passage).ok


def line_of(name: str, needle: str) -> dict[int, str]:
    """The shipped corpus's line holding `needle`, as passage [1]."""
    return {1: next(line for line in (CORPUS / f"{name}.txt").read_text().splitlines() if needle in line)}


ZHUZHOU, HUNAN, THREE = "株洲市市场监管局服务高质量发展纪实", "湖南以精准监管助推高质量发展", TRADITIONAL
GUIZHOU = "贵州省市场监管暨知识产权工作会议"


# Model outputs a real model plausibly writes, over real lines of the corpus: each altered figure is
# caught however it is written, and each faithful rewording passes.
@pytest.mark.parametrize("name, needle, sentence, ok", [
    # Chinese decimals: 十七点五五 is 17.55, and 九十八点五 is not the passage's 98.
    (ZHUZHOU, "17.55件", "每万人发明专利拥有量为十七点五五件[1]。", True),
    (PLAN, "488.84万户", "截至2020年底，全省实有市场主体四百八十八点八四万户[1]。", True),
    (ZHUZHOU, "98%以上", "合格率达到百分之九十八点五[1]。", False),
    (PLAN, "89.2%", "较十二五期末增长八十九点二个百分点[1]。", False),
    # A single numeral counting something: the passage's 2个 is not 三个; 近百项 is not 近千项.
    (ZHUZHOU, "2个超过", "株洲与长沙一起成为全省仅有的两个超过全国平均值的地区[1]。", True),
    (ZHUZHOU, "2个超过", "株洲与长沙一起成为全省仅有的三个超过全国平均值的地区[1]。", False),
    (PLAN, "三个高地", "2020年9月，总书记赋予湖南三个高地战略定位[1]。", True),
    (PLAN, "三个高地", "2020年9月，总书记赋予湖南五个高地战略定位[1]。", False),
    (PLAN, "2020年9月", "总书记于2020年第四季度到湖南视察[1]。", False),
    (ZHUZHOU, "100余家", "全市原有十余家米粉小作坊[1]。", False),
    (GUIZHOU, "位列全国第四", "获批1334张有机产品认证证书，位列全国第四[1]。", True),
    (GUIZHOU, "位列全国第四", "获批1334张有机产品认证证书，位列全国第五[1]。", False),
    (ZHUZHOU, "居省内第二", "第一，株洲居省内第二[1]。", True),  # "第一，" enumerates, it ranks nothing
    (THREE, "近百項", "近百项高频证照事项实现一件事一次办[1]。", True),
    (THREE, "近百項", "近千项高频证照事项实现一件事一次办[1]。", False),
    (HUNAN, "95%", "明厨亮灶覆盖率超过八成[1]。", False),
    (HUNAN, "二0三五年", "到2035年基本实现远景目标[1]。", True),  # a year with a Latin 0 among its numerals
    (HUNAN, "二0三五年", "到2036年基本实现远景目标[1]。", False),
    # A plan period is compared as written.
    (PLAN, "89.2%", "较十二五期末增长89.2%[1]。", True),
    (PLAN, "89.2%", "较十三五期末增长89.2%[1]。", False),
    # A magnitude word dropped or added: 734萬只 is not 734只; 每万人 is no table header saying 万.
    (THREE, "734萬只", "查扣非法口罩734只[1]。", False),
    (ZHUZHOU, "17.55件", "每万人发明专利拥有量为17.55万件[1]。", False),
    (ZHUZHOU, "14万户", "全市市场主体增加14千万户[1]。", False),
    (THREE, "734萬只", "查扣非法口罩734只，检查市场主体285.43万家次[1]。", False),
    # A range or a change shares its second figure's unit, here a table header's "(万户)".
    (PLAN, "(万户) 488.84", "全省市场主体从488.84增至650万户[1]。", True),
    (PLAN, "(万户) 488.84", "全省市场主体从488.84增至650亿户[1]。", False),
])
def test_figures_are_read_however_the_model_writes_them(name, needle, sentence, ok):
    check = check_sentence(sentence, line_of(name, needle))
    assert check.ok == ok, (sentence, check.problems)


def test_amounts_in_capital_numerals_are_compared_as_figures():
    passage = {1: "对该企业处以罚款人民币叁拾万元。"}  # the form amounts take in penalty decisions
    assert check_sentence("该企业被罚款30万元[1]。", passage).ok
    assert not check_sentence("该企业被罚款伍拾万元[1]。", passage).ok


def test_a_citation_range_cites_each_passage_in_it():
    passages = {1: "全市市场主体增加14万户。", 2: "总量增长82%。", 3: "其他情况。"}
    check = check_sentence("全市市场主体增加14万户，总量增长82%[1-3]。", passages)
    assert check.ok and check.citations == (1, 2, 3)
    assert check_sentence("全市市场主体增加14万户[1-4]。", passages).problems == ("引用了未提供的片段[4]",)
    cutter = SentenceCutter()
    out = [s for piece in ("增加14万户。", "[1", "-", "2]总量", "增长82%。【来", "源3】") for s in cutter.feed(piece)]
    assert out + cutter.feed("", final=True) == ["增加14万户。[1-2]", "总量增长82%。【来源3】"]
    assert check_sentence("总量增长82%。【来源2】", passages).citations == (2,)


def test_sentences_are_cut_with_their_trailing_citations():
    cutter = SentenceCutter()
    out = []
    for piece in ("\n\n2025年目标为", "650万户。", "[1", "][2]2020年", "为488.84万户[1]。\n\n1. 第一条", "[3]"):
        out += cutter.feed(piece)
    out += cutter.feed("", final=True)
    assert out == ["2025年目标为650万户。[1][2]", "2020年为488.84万户[1]。", "\n1. 第一条[3]"]


# ----- every scripted reply through a real server -----

@pytest.fixture(scope="module")
def gen_server(tmp_path_factory, corpus_service, model_dir, double):
    with private_server(tmp_path_factory, corpus_service, model_dir, "gen", QA_LLM_BASE_URL=double.url,
                        QA_LLM_API_KEY=LLM_KEY, QA_LLM_TIMEOUT=str(TIMEOUT_S), QA_LLM_RETRIES=str(RETRIES)) as server:
        yield server


def ask(server, question: str, **extra) -> dict:
    r = httpx.post(f"{server.url}/api/v1/ask", headers=READER, json={"question": question, **extra}, timeout=300)
    assert r.status_code == 200, r.text
    return r.json()


def chat(server, question: str, **extra) -> list[tuple[str, dict]]:
    events, name = [], None
    with httpx.stream("POST", f"{server.url}/api/v1/chat", headers=READER, json={"question": question, **extra},
                      timeout=300) as r:
        assert r.status_code == 200
        for line in r.iter_lines():
            if line.startswith("event:"):
                name = line.partition(":")[2].strip()
            elif line.startswith("data:"):
                events.append((name, json.loads(line.partition(":")[2])))
    return events


CORRECT = "根据规划，2025年全省市场主体目标为650万户[1]。2020年为488.84万户。[1]"


def test_correct_reply_is_shown_after_the_extractive_answer(gen_server, double):
    double.reset(Script.reply(CORRECT))
    events = chat(gen_server, TARGET)
    names = [n for n, _ in events]
    assert names == ["rewritten", "citations", "answer", "done", "generated_sentence", "generated_sentence", "generated"]
    done = events[3][1]
    assert done["answer"] == "650万户" and done["generated"] is None  # the extractive answer, before any generation
    assert [d for n, d in events if n == "generated_sentence"] == [
        {"text": "根据规划，2025年全省市场主体目标为650万户[1]。", "citations": [1]},
        {"text": "2020年为488.84万户。[1]", "citations": [1]}]
    generated = events[-1][1]
    assert generated["verified"] and generated["status"] == "verified" and generated["note"] == ""
    assert generated["text"] == "根据规划，2025年全省市场主体目标为650万户[1]。2020年为488.84万户。[1]"
    # The model was given the cards as numbered on screen, and the key as a bearer token.
    prompt = double.requests[-1]["messages"][1]["content"]
    assert all(f"[{c['rank']}]\n来源：《{c['title']}》" in prompt for c in done["citations"])
    assert double.headers[-1]["authorization"] == f"Bearer {LLM_KEY}"
    # /ask says the same in one object.
    out = ask(gen_server, TARGET)
    assert out["answer"] == "650万户" and out["generated"]["text"] == generated["text"]


def test_fabricated_number_is_never_given_to_the_user(gen_server, double):
    double.reset(Script.reply("2025年全省市场主体目标为666.66万户[1]。"))
    for raw in (httpx.post(f"{gen_server.url}/api/v1/ask", headers=READER, json={"question": TARGET}, timeout=300).text,
                json.dumps(chat(gen_server, TARGET), ensure_ascii=False)):
        assert "666.66" not in raw and "650万户" in raw
    out = ask(gen_server, TARGET)
    assert out["generated"] == {"text": "", "sentences": [], "verified": False, "status": "withheld",
                                "note": "生成的回答与所引片段核对不符，未予显示；请以上面的答案和出处为准。",
                                "model": "double-qwen"}


def test_sentence_after_a_failing_one_is_withheld_too(gen_server, double):
    double.reset(Script.reply("2025年全省市场主体目标为650万户[1]。2020年为500万户[1]。其余情况见规划[1]。"))
    events = chat(gen_server, TARGET)
    sentences = [d["text"] for n, d in events if n == "generated_sentence"]
    assert sentences == ["2025年全省市场主体目标为650万户[1]。"]  # sent before the bad one: it stays
    generated = events[-1][1]
    assert generated["status"] == "withheld" and not generated["verified"]
    assert generated["text"] == sentences[0] and "其后的内容已隐去" in generated["note"]
    assert "500万" not in json.dumps(events, ensure_ascii=False) and "其余情况" not in json.dumps(events, ensure_ascii=False)


def test_reasoning_before_the_answer_is_dropped(gen_server, double):
    # A reasoning model served by Ollama writes its thoughts into the text: they are not the answer.
    double.reset(Script.reply("<think>资料[1]说650，我猜可能是700万户。</think>\n\n2025年全省市场主体目标为650万户[1]。"))
    generated = ask(gen_server, TARGET)["generated"]
    assert generated["status"] == "verified" and generated["text"] == "2025年全省市场主体目标为650万户[1]。"


def test_citation_of_a_passage_not_given_is_withheld(gen_server, double):
    double.reset(Script.reply("2025年全省市场主体目标为650万户[9]。"))
    out = ask(gen_server, TARGET, top_k=3)
    assert len(out["citations"]) == 3
    assert out["generated"]["status"] == "withheld" and out["generated"]["text"] == ""


@pytest.mark.parametrize("script, note", [
    (Script.slow(TIMEOUT_S * 4), f"生成式回答超时（超过 {TIMEOUT_S} 秒）"),
    (Script.fail(500), "生成模型服务返回错误（HTTP 500）"),
    (Script.fail(503), "生成模型服务返回错误（HTTP 503）"),
], ids=["timeout", "500", "503"])
def test_model_failure_leaves_the_extractive_answer_with_a_note(gen_server, double, script, note):
    double.reset(script)
    out = ask(gen_server, TARGET)
    assert out["answer"] == "650万户" and out["found"]
    assert out["generated"]["status"] == "error" and out["generated"]["text"] == ""
    assert out["generated"]["note"] == f"{note}，未能给出生成式回答；请以上面的答案和出处为准。"
    assert len(double.requests) == RETRIES + 1  # retried by the openai client, then given up


def test_malformed_stream_leaves_the_extractive_answer_with_a_note(gen_server, double):
    double.reset(Script.malformed_stream("2025年全省市场"))
    events = chat(gen_server, TARGET)
    assert [n for n, _ in events] == ["rewritten", "citations", "answer", "done", "generated"]
    assert events[3][1]["answer"] == "650万户"
    assert events[-1][1]["status"] == "error" and "无法解析" in events[-1][1]["note"]


def test_unanswerable_question_asks_the_model_nothing(gen_server, double):
    double.reset(Script.reply("北京有1000家药店[1]。"))
    out = ask(gen_server, "北京市2019年有多少家药店")
    assert out["status"] != "found" and out["generated"] is None
    events = chat(gen_server, "北京市2019年有多少家药店")
    assert [n for n, _ in events][-1] == "done"
    assert double.requests == []


def test_generate_false_asks_the_model_nothing(gen_server, double):
    double.reset(Script.reply(CORRECT))
    assert ask(gen_server, TARGET, generate=False)["generated"] is None
    assert double.requests == []


def test_me_says_a_model_is_configured_and_the_key_is_never_logged(gen_server):
    me = httpx.get(f"{gen_server.url}/api/v1/me", headers=READER).json()
    assert me["generation"] is True
    assert LLM_KEY not in json.dumps(me) and LLM_KEY not in gen_server.log.read_text()


def test_without_a_model_nothing_changes(client):
    assert client.get("/api/v1/me", headers=READER).json()["generation"] is False
    assert client.post("/api/v1/ask", headers=READER, json={"question": TARGET}).json()["generated"] is None
    asked = client.post("/api/v1/ask", headers=READER, json={"question": TARGET, "generate": True}).json()
    assert asked["answer"] == "650万户"
    assert asked["generated"]["status"] == "error" and "未配置生成模型" in asked["generated"]["note"]
