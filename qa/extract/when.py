"""什么时候/哪天/哪一年: a date, the one nearest the question's words; a day when a day is asked."""
from __future__ import annotations

import re

from .base import (
    ABOUT,
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

KIND = "when"
RULES = ((30, re.compile(r"什么时候|何时|哪一?天|哪一?年|几月|时间是|日期|什么年代|哪个世纪|几点|时间段|什么时段")),)
FALLBACK = "sentence"
_YEAR = r"(?:1\d|20)\d{2}年"
# A time of day, with the days it recurs on ("每周日上午11:00", "周一至周五下午2时30分"): office hours, a broadcast.
_DAYS = r"(?:每天|每日|(?:每|逢)?(?:周|星期)[一二三四五六日天](?:至(?:周|星期)?[一二三四五六日天])?)"
_DAY_PART = r"(?:上午|下午|晚上|早上|凌晨|中午|正午|傍晚|清晨|深夜|午夜)"
_CLOCK = (rf"{_DAYS}?{_DAY_PART}?\d{{1,2}}[:：]\d{{2}}|"
          rf"{_DAYS}?{_DAY_PART}\d{{1,2}}[时点](?:\d{{1,2}}分|半)?")
_CLOCK_AT = re.compile(_CLOCK)
_CLOCK_Q = re.compile(r"几点|时间段|时段|几时")  # a time of day is asked: a clock time before any date
_ONE = (rf"{_CLOCK}|"
        r"[\u4e00-\u9fff]{2}(?:\d{1,2}|[元一二三四五六七八九十]{1,4})年\s*[（(](?:公元前?)?\d{1,4}年[）)]|"  # 天正16年（1588年）
        rf"(?:{_YEAR})?\d{{1,2}}月\d{{1,2}}日|\d{{4}}-\d{{1,2}}-\d{{1,2}}|{_YEAR}\d{{1,2}}月(?:底|初|末|[上中下]旬)?|"
        rf"{_YEAR}(?:[上下]半年|(?:第|前)?[一二三四]季度)|{_YEAR}(?:代|初|底|末)?|"  # 2021年一季度, 2020年上半年
        r"(?:\d{1,2}|[一二三四五六七八九十]{1,3})世纪(?:\d{2}年代|[一二三四五六七八九十]{2}年代)?(?:[初中末]期?|[前后]期|[上下]半叶)?|(?:公元前?)\d{1,4}年|"
        r"[〇零一二三四五六七八九]{4}年(?:[一二三四五六七八九十]{1,2}月(?:[一二三四五六七八九十]{1,3}日)?)?|"
        # a time of year with no year ("盛花期为夏季", "生殖季在2至4月"): what a 什么时候 about a
        # recurring thing is answered with
        r"(?<!\d)(?<!\d年)(?:\d{1,2}(?:至|到|-|－|~|～))?\d{1,2}月(?:[上中下]旬)?(?!\d{1,2}日)|(?<!\d年)[春夏秋冬][季天](?!奥|运)")
# 哪一年 (and no month or day asked): the year of a fuller date is the answer ("2006年2月14日" → 2006年).
_YEAR_ONLY = re.compile(r"哪一?年|什么年份|哪个年份|何年")
_DAY_TOO = re.compile(r"哪一?天|几月|几号|日期|月份|哪个月")
# A date, or a period of two ("1984年10月7日至1985年9月29日"): a period is one answer.
_TO = r"至|到|~|～|－|—|-"
# Two days of one year ("8月15日及8月16日") are one answer too; a second year is another date.
DATE = re.compile(rf"(?:{_ONE})(?:\s*(?:{_TO})\s*(?:{_ONE})|(?:和|及|、)(?!\d{{3,4}}年|公元)(?:{_ONE}))?")


# A period named, not dated ("上白垩纪早期", "明朝中叶", "孔雀王朝时期"): a date where the text gives none.
_PERIOD = re.compile(r"(?:[上中下早晚])?(?:白垩|侏罗|三叠|二叠|石炭|泥盆|志留|奥陶|寒武|震旦|古近|新近|第三|第四)纪"
                     r"(?:[早中晚末初]期)?|"
                     r"(?:[东西南北前后])?[夏商周秦汉晋隋唐宋元明清][朝代](?:[早中晚末初]期|中叶|末年|初年)?|"
                     r"[\u4e00-\u9fff]{2,4}(?:时期|时代|年间)")
_NOT_PERIOD = "在于至到从自是为的了和与及"  # what a period's first character never is

_BOUND = re.compile(r"以来|以后|以前|之后|之前|前后|左右")
_ABOUT = re.compile(rf"(?:{ABOUT})$")


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind in ("table_row", "table"):
        return []  # a table's rows are chunks of their own, with their columns named
    out = []
    year_only = bool(_YEAR_ONLY.search(q.text)) and not _DAY_TOO.search(q.text)
    clock_asked = bool(_CLOCK_Q.search(q.text))
    for s in sentences(q, p):
        for m in DATE.finditer(s.text):
            if q.day_asked and re.fullmatch(rf"{_YEAR}代?", m.group(0)):
                continue  # asked for a day, a bare year is not an answer
            end = m.end()
            year = re.match(_YEAR, m.group(0))
            if year_only and year and re.match(r"[\d初底末上下前第一二三四]", m.group(0)[year.end():year.end() + 1]) \
                    and not re.search(_TO, m.group(0)):
                end = m.start() + year.end()  # a month or 初/底 follows: "1990年代" stays whole
            if bound := _BOUND.match(s.text, end):
                end = bound.end()  # "1990年代以来", "1227年前后": a date given as a bound is answered so
            start = about.start() if (about := _ABOUT.search(s.text, 0, m.start())) else m.start()
            clock = W.clock if clock_asked and _CLOCK_AT.match(m.group(0)) else 0.0
            out.append(s.candidate(start, end, _score(q, s, m.start()) + clock, "date"))
        if q.day_asked or year_only or DATE.search(s.text):
            continue
        for m in _PERIOD.finditer(s.text):
            start = m.start() + len(m.group(0)) - len(m.group(0).lstrip(_NOT_PERIOD))
            if m.end() - start >= 2:
                out.append(s.candidate(start, m.end(), _score(q, s, start) + W.period, "date"))
    return out


def _score(q: Asked, s: Sentence, at: int) -> float:
    """A date's score: its sentence's, plus its own clause saying what is asked ("2001年9月参加工作",
    not "1978年2月出生"), plus its nearness to the question's words."""
    a, b = clause_at(s.norm, at)
    return s.base + W.date_clause * coverage(s.norm[a:b], "", q.focus) + \
        W.date_proximity * proximity(at, s.occ) / q.focus_total
