"""多少/几/比例: a quantity with its unit ("1.4万件", "2-4个", "一千二百零六家"), with what it is given as
("最高不超过50万元", "每人每月500元", "5万元以上20万元以下"), in the clause that holds the question's
words; a telephone number for 电话/热线; a table row's cell when the passage is one."""
from __future__ import annotations

import re

from .. import slots
from ..numerals import value as numeral_value
from ..textnorm import normalize
from . import cell
from .base import (
    ABOUT,
    MAGNITUDE,
    UNIT_HINT,
    UNITS,
    Asked,
    Candidate,
    Passage,
    Sentence,
    W,
    clause_at,
    coverage,
    proximity,
    sentences,
)

KIND = "number"
# A unit after 多少/几 makes it a quantity whatever else is said ("平均时间是多少天", "包括多少项").
# "哪几座/哪几个" asks which ones, a list, not how many.
RULES = ((10, re.compile(rf"(?<!哪)(?:{UNIT_HINT.pattern})")),
         (50, re.compile(r"多少|多[长高大重宽深远快久厚]|(?<!哪)几[个家件项次年天人名所台批位]|(?<!哪)几$|比例|比重|百分之|占比|增长了?多|率是|率为|数量|规模|金额|总量|总数")))
FALLBACK = "sentence"  # no quantity in any passage: a number may be written in words the pattern misses

_QUANTITY = rf"\d+(?:,\d{{3}})*(?:\.\d+)?(?:多|余)?(?:\s*(?:{MAGNITUDE}))?(?:多|余)?"
# A quantity, or a range of two ("2-4个", "100米至2,800米"): a range is one answer, never two halves.
NUMBER = re.compile(rf"[≤≥<>＜＞±]?{_QUANTITY}(?:\s*(?:{UNITS}))?"
                    rf"(?:\s*(?:至|到|~|～|－|—|-)\s*{_QUANTITY}(?:\s*(?:{UNITS}))?)?")
# In words, a quantity needs its unit: "一千二百零六家" and "两个" are ones, "十一五" is not; a lone
# 一 before a unit is mostly an article ("一个虚拟人物"), so it is not.
_WORDS = re.compile(rf"([零〇一二两三四五六七八九十百千万亿]{{2,}}|[两二三四五六七八九十])(?:多|余)?(?:{UNITS})")
_ORDINAL_Q = re.compile(r"第几")
_COUNTED_LAST = re.compile(r"(?:多少|几)([\u4e00-\u9fff]{2,4})[？?]*$")  # the noun a question ends counting
# A span of years or months ("二十年", "近2,400万年", "3个月"): a quantity only where the question asks
# for one (its unit hint holds 年); anywhere else "N年" is part of a date.
_DURATION = re.compile(rf"(?:{_QUANTITY}|[零〇一二两三四五六七八九十百千万亿]+(?:多|余)?)\s*(?:年|个多?月|周年)")


def quantities(text: str, q_numbers: set[str], durations: bool = False) -> list[re.Match]:
    """Quantities in `text`: years, parts of dates and numbers the question itself states are not answers;
    with `durations`, spans of years and months are."""
    out = [m for m in _DURATION.finditer(text) if not re.match(r"(?:1\d|20)\d{2}年", m.group(0))
           and _number_of(m.group(0)) not in q_numbers] if durations else []
    for m in NUMBER.finditer(text):
        if _inside(m, out):
            continue
        value = re.match(r"[≤≥<>＜＞±]?([\d,.]+)", m.group(0)).group(1)
        after = text[m.end():m.end() + 1]
        before = text[m.start() - 1:m.start()] if m.start() else ""
        if value in q_numbers or after in "年月日号-/:：" and after or before in "-/:：" and before:
            continue
        if re.fullmatch(r"(?:19|20)\d{2}", m.group(0)) or _spell_of_time(text, m):  # a bare year, "3个月"
            continue
        out.append(m)
    return out + [m for m in _WORDS.finditer(text) if not _inside(m, out) and not _spell_of_time(text, m)
                  and (figure := numeral_value(m.group(1))) is not None and figure not in q_numbers]


_TIME_AFTER_GE = re.compile(r"多?(?:月|小时|星期|钟头|礼拜|工作日)")


_DIMENSION_Q = re.compile(r"多([长高宽深远厚重])")
# The dimension a figure is given in, right before it ("长约702米", "高达55米", "深80米").
_DIMENSION_S = re.compile(r"([长高宽深厚重])(?:度|约|达|为|有|逾|近|可达|约为|达到)*$")


def _spell_of_time(text: str, m: re.Match) -> bool:
    """"入狱九个月": a count of 个 that is a spell of time, no count of things (as a duration it is
    found by _DURATION where one is asked)."""
    return m.group(0).endswith("个") and bool(_TIME_AFTER_GE.match(text, m.end()))


def _number_of(text: str) -> str | None:
    """The figure a quantity opens with, in digits ("二十年" → "20")."""
    m = re.match(r"[\d,.]+", text)
    if m:
        return m.group(0)
    return numeral_value(re.match(r"[零〇一二两三四五六七八九十百千万亿]+", text).group(0))


_BOUND = re.compile(r"以上|以下|以内|左右|之多|(?<=[日天月年周时])内")  # "3个工作日内": 内 only after a time
# …and what a figure is given as: approximate, or a bound, or a ceiling or floor ("最高不超过50万元" is no
# "50万元", still less "超过50万元"); the longest wins, a ceiling's 最高 with its 不超过.
_APPROX = re.compile(rf"(?:(?:最高|最多|最长|最低|最少|最短)?(?:不超过|不高于|不多于|不低于|不少于|不足|不到)|"
                     rf"{ABOUT}|近|将近|超过|逾|多达|至少|至多|最高|最多|最长|最低|最少|最短)$")
# What a rate is per, right before its figure ("每人每月500元", "每平方公里69670人"): part of the answer.
_PER = re.compile(r"(?:每(?:[人户家年月日天周次件项台名]|个月|平方(?:公里|千米|米)|公顷|公斤|千克|吨|亩)){1,3}$")
# "5万元以上20万元以下": a range given by its two bounds is one answer, whichever figure was found.
_LOWER_BOUND = re.compile(rf"{NUMBER.pattern}以上$")
_UPPER_BOUND = re.compile(rf"{NUMBER.pattern}以下")


# "由原来的5个工作日压缩至1个工作日": the figure said to be the former one answers only a question about
# the former one.
_FORMER_S = re.compile(r"(?:原来的?|原先的?|原有的?|以前的?|由原|从原)$")
_FORMER_Q = re.compile(r"原来|原先|原有|以前|之前|此前|改革前|压缩前|调整前")


def _inside(m: re.Match, others: list[re.Match]) -> bool:
    return any(o.start() <= m.start() < o.end() for o in others)


def _scored(q: Asked, sentence: str, norm: str, occ, about: float) -> list[tuple[re.Match, float, float]]:
    """(match, score bonus, support) for each quantity: its clause must hold the question's words, or
    (a size in the asked dimension's unit) its sentence and headings must, `about` being their share."""
    out = []
    dimension = _DIMENSION_Q.search(q.text)
    for m in quantities(sentence, q.numbers, durations="年" in q.unit_hint.split("|")):
        unit_bonus = 0.0
        if q.unit_hint:
            unit_bonus = W.unit_match if re.search(rf"(?:{q.unit_hint})$", normalize(m.group(0))) else W.unit_mismatch
        elif not re.search(r"\D$", m.group(0)):
            unit_bonus = W.bare_number
        if _ORDINAL_Q.search(q.text):  # 第几: an ordinal, never a count
            unit_bonus += W.unit_match if sentence[m.start() - 1:m.start()] == "第" else W.unit_mismatch
        if dimension:  # 多长 ↔ "长702米，深80米": the figure said of it
            said = _DIMENSION_S.search(norm, max(0, m.start() - 4), m.start())
            unit_bonus += 0 if said is None else W.unit_match if said.group(1) == dimension.group(1) \
                else W.unit_mismatch
        a, b = clause_at(norm, m.start())
        clause = coverage(norm[a:b], "", q.focus)
        prox = proximity(m.start(), occ) / q.focus_total
        # support (is the number about the question at all?) lets a paraphrase count: 照常营业 ↔ 开门营业
        support = coverage(norm[a:b], "", q.focus, partly=True)
        if unit_bonus > 0 and q.unit_hint and q.sized:
            # a size in its dimension's unit is about the question even where its clause names only
            # the dimension ("树高可达55米" under the tree's own heading)
            support = max(support, about)
        if _FORMER_S.search(sentence, max(0, m.start() - 4), m.start()) and not _FORMER_Q.search(q.text):
            unit_bonus += W.former
        if q.negated:  # "不合格…多少批次" ↔ "合格490批次，不合格10批次": the clause that negates it too
            unit_bonus += W.negation * sum(w in norm[a:b] for w in q.negated) / len(q.negated)
        out.append((m, W.clause * clause + W.proximity * prox + unit_bonus, support))
    return out


# 电话/热线/号码 asks for a telephone number ("0731-12345678", "12315"), which is no quantity: its
# parts joined by "-" are not even found as figures.
_PHONE_Q = re.compile(r"电话|热线|号码|传真|手机")
_PHONE = re.compile(r"(?<![\d.\-－])(?:[(（]?0\d{2,3}[)）]?[-－—]?\d{7,8}(?:[-－—转]\d{1,5})?|1[3-9]\d{9}|"
                    r"400[-－]?\d{3}[-－]?\d{4}|\d{5,6})(?![\d.\-－])")


def _phones(q: Asked, s: Sentence) -> list[Candidate]:
    """Each telephone number of the sentence, scored as a quantity with the asked unit in its clause."""
    out = []
    for m in _PHONE.finditer(s.text):
        a, b = clause_at(s.norm, m.start())
        score = s.base + W.unit_match + W.clause * coverage(s.norm[a:b], "", q.focus)
        out.append(s.candidate(m.start(), m.end(), score, KIND))
    return out


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return cell.extract(q, p)
    if p.kind == "table":
        return []  # its rows are chunks of their own, with their columns named
    out = []
    counted = _COUNTED_LAST.search(q.text)
    phone = _PHONE_Q.search(q.text)
    for s in sentences(q, p):
        if phone:
            out.extend(_phones(q, s))
        filled = slots.slot(q.text, s.norm)  # "整合规范成了多少家" ↔ "…整合规范成35家"
        for m, bonus, support in _scored(q, s.text, s.norm, s.occ, s.coverage):
            if filled and filled.start <= m.start() < filled.end:
                bonus += W.number_in_slot * filled.strength
            start, end = m.start(), m.end()
            if s.text[start - 1:start] == "第" and _ORDINAL_Q.search(q.text):
                start -= 1  # "第3名" is the answer to 第几名, "3名" is not
            if about := _APPROX.search(s.text, 0, start):
                start = about.start()  # "约22平方公里": a figure given as approximate is answered so
            if per := _PER.search(s.text, 0, start):
                start = per.start()  # "每人每月500元": a rate is answered with what it is per
            if bound := _BOUND.match(s.text, end):
                end = bound.end()  # "95%以上", "30人左右": a figure given as a bound is answered so
                if bound.group(0) == "以上" and (upper := _UPPER_BOUND.match(s.text, end)):
                    end = upper.end()
                elif bound.group(0) == "以下" and (lower := _LOWER_BOUND.search(s.text, 0, start)):
                    start = lower.start()
            if q.unit_word and s.norm.startswith(q.unit_word, end):  # "80" + "公分" the question names
                end += len(q.unit_word)
                bonus += W.unit_match
            elif counted and s.norm.endswith(counted.group(1), 0, start):
                bonus += W.unit_match  # "有多少运动员" ↔ "共计40人，其中运动员23人": what is counted, then its count

            out.append(s.candidate(start, end, s.base + bonus, KIND, checks={"support": support}))
    return out
