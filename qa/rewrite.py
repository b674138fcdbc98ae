"""Follow-up questions rewritten into standalone ones, deterministically and without an LLM.

    ["2025年市场主体目标是多少"] + "那2020年呢？"   → "2020年市场主体目标是多少"
    ["湖南全省市场主体总量达到多少"] + "贵州呢？"     → "贵州全省市场主体总量达到多少"
    ["株洲2020年申请专利多少件"] + "其中发明专利申请多少件？"
                                                 → "株洲2020年申请专利多少件，其中发明专利申请多少件"

A question that names its own subject is left as it is, and so is a bare keyword ("口罩"): only a
question that needs the earlier turn (a bare year or region, 那…呢, 其中…, nothing but the asking)
is rewritten.
"""
from __future__ import annotations

import re
from functools import lru_cache

from .metadata import PROVINCES, regions_in
from .regions import is_region
from .textnorm import normalize

YEAR = re.compile(r"((?:19|20)\d{2})\s*年")
_LEAD = re.compile(r"^(?:那么|那|还有|另外|再问一下|请问|那请问)\s*")
_TRAIL = re.compile(r"(?:的情况|的话|又|呢|吧|啊|如何)*\s*[？?。！!]*$")
# What is left of a follow-up once its year and region are taken out, when it asks nothing new.
_EMPTY_REST = re.compile(r"^(?:的|是|有|为|年|省|市|全省|全市|地区|方面|多少|是多少|怎么样|怎样|情况)*$")
# "那消费品质量合格率呢？": the same question about another subject.
_SWAP = re.compile(r"^(?:那么?|还有)\s*(.+?)(?:的情况|的话)?\s*呢\s*[？?。]*$")
# The asking part at the end of a question: "…2025年目标是多少" → "目标是多少".
_ASK_TAIL = re.compile(r"(?:(?:19|20)\d{2}\s*年)?(?:的)?(?:目标|计划)?(?:是|为|有|达到|达)?(?:多少\S{0,2}|几\S{0,2}|谁|什么\S{0,2}|哪些\S{0,2})$")
_SWAP_MIN = 4  # characters: a shorter subject ("完成率") is a facet of the previous one, not a new one
# A follow-up that leans on the previous question's subject.
_ANAPHORA = re.compile(r"^(?:其中|其|它|它们|该|这个|这些|这|此|他|她|他们|同期|同时)")
_SHORT = 8  # characters; a shorter question that leans on the last one (see `_leans`) is a follow-up
# What makes a short question lean on the last one: 呢 at its end, 那/还有 at its start, or a
# question word with no subject of its own ("多少家？", "罚没了多少钱？"). A bare keyword ("口罩",
# "食品安全") asks nothing of the last turn: it is asked as it is.
_LEANS_END = re.compile(r"呢\s*[？?。！!]*$")
_LEANS_START = re.compile(r"^(?:那么|那|还有|另外)")
_ASKS = re.compile(r"多少|几|哪|什么|谁|何时|何地|怎么|怎样|如何|为什么|为何|是否|吗")
# Earlier turns that can shape a follow-up: a chain of follow-ups longer than this has long since
# restated its subject, and each turn costs a part-of-speech pass.
_TURNS = 4


def years(text: str) -> list[str]:
    return YEAR.findall(normalize(text))


def regions(text: str) -> list[str]:
    """Provinces and other places named in a question ("贵州", "株洲"), in order."""
    return list(_regions(text))


@lru_cache(maxsize=4096)  # a conversation's turns are read again with every follow-up
def _regions(text: str) -> tuple[str, ...]:
    simple = normalize(text)
    found = [p for p in PROVINCES if p in simple]
    for name in regions_in(simple):  # jieba's place tag, kept only for a real division (not 东西, 城市)
        if is_region(name) and name not in found and not any(name in p or p in name for p in found):
            found.append(name)
    return tuple(sorted(found, key=simple.find))


def _strip(question: str) -> str:
    q = question.strip()
    q = _LEAD.sub("", q)
    return _TRAIL.sub("", q).strip()


def _replace_slots(previous: str, new_years: list[str], new_regions: list[str]) -> str:
    out = _TRAIL.sub("", previous.strip())
    if new_years:
        old = years(out)
        if old:
            out = re.sub(rf"{old[0]}(\s*年)", rf"{new_years[0]}\1", out, count=1)
        else:
            out = f"{new_years[0]}年{out}"
    if new_regions:
        old = regions(out)
        if old:
            # "湖南省…" → "贵州…": the old suffix may not fit the new place (株洲 is a 市).
            out = re.sub(rf"{re.escape(old[0])}(?:省|市|自治区)?", new_regions[0], out, count=1)
        else:
            out = f"{new_regions[0]}{out}"
    return out


def rewrite(question: str, history: list[str] | tuple[str, ...] = ()) -> str:
    """A standalone form of `question`, given the user's earlier questions (oldest first)."""
    question = question.strip()
    if not history:
        return question
    # Earlier turns may be follow-ups themselves: make each standalone in turn.
    history = history[-_TURNS:]
    previous = history[0].strip()
    for turn in history[1:]:
        previous = rewrite(turn, [previous])

    core = _strip(question)
    q_years, q_regions = years(core), regions(core)
    rest = normalize(core)
    for y in q_years:
        rest = re.sub(rf"{y}\s*年", "", rest)
    for r in q_regions:
        rest = rest.replace(r, "")
    rest = rest.strip(" ，,")

    if (q_years or q_regions) and _EMPTY_REST.match(rest):
        return _replace_slots(previous, q_years, q_regions)
    swap = _SWAP.match(question.strip())
    prev = _TRAIL.sub("", previous)
    tail = _ASK_TAIL.search(prev)
    if swap and tail and len(swap.group(1)) >= _SWAP_MIN and not _ANAPHORA.match(core):
        prev_years = years(prev)
        year = f"{prev_years[0]}年" if prev_years and prev_years[0] not in tail.group(0) else ""
        return f"{''.join(regions(prev)[:1])}{year}{swap.group(1)}{tail.group(0)}"
    if _ANAPHORA.match(core) or (len(core) <= _SHORT and not q_regions and _leans(question, core)):
        return f"{prev}，{core}"
    return question


def _leans(question: str, core: str) -> bool:
    """Whether a short question needs the earlier turn to mean anything (see `_LEANS_END`)."""
    q = question.strip()
    return bool(_LEANS_END.search(q) or _LEANS_START.match(q) or _ASKS.search(normalize(core)))
