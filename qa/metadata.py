"""Document metadata (title, date, source, region, kind), read from what the text says.

Fields the source states outright (JSONL fields, a `.meta.json` sidecar, an
HTML page's metadata) always win over what is inferred here.
"""
from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .textnorm import normalize

_MIN_FLOAT = -3.14e100  # jieba.posseg.viterbi's score of an emission it never saw
_HEAD_CHARS = 1500  # dates and sources are stated near the top

_DATE_LABELLED = re.compile(
    r"(?:发布时间|发布日期|发文日期|成文日期|日期|时间)\s*[:：]\s*(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})"
)
_DATE_LINE = re.compile(r"^\s*(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})(?:\s|$)", re.MULTILINE)
_DATE_CN_LINE = re.compile(r"^\s*(\d{4})年(\d{1,2})月(\d{1,2})日\s*$", re.MULTILINE)
_SOURCE = re.compile(r"(?:本文来源|信息来源|文章来源|来源|编辑)\s*[:：]\s*([^\s|｜]{2,40})")

# A line that is a label or a dateline, never a title.
_NOT_TITLE = re.compile(
    r"^(?:发布|来源|日期|时间|作者|编辑|□|\d{4}[-年]|[(（]|核心提示|第[一二三四五六七八九十]+章|[一二三四五六七八九十]+、)"
)
_SENTENCE_END = re.compile(r"[。；;:：!！?？,，]$")
_ISSUED = re.compile(r"关于印发[《“\"]?(.+?)[》”\"]?的通知")

# Suffixes dropped so "湖南省" and "湖南" count as one region.
_REGION_SUFFIX = re.compile(r"(?:省|市|自治区|特别行政区|地区|自治州|县|区)$")
# Place names jieba tags that are not regions a bureau is in.
_NOT_REGION_START = re.compile(r"^[一二三四五六七八九十两多各全本我该]")  # 三省, 各市, 全省
_NOT_REGION = {"中国", "全国", "国家", "全省", "全市", "中华人民共和国", "西部", "东部", "中部", "长株潭"}

PROVINCES = (
    "北京", "天津", "上海", "重庆", "河北", "山西", "辽宁", "吉林", "黑龙江", "江苏", "浙江", "安徽",
    "福建", "江西", "山东", "河南", "湖北", "湖南", "广东", "海南", "四川", "贵州", "云南", "陕西",
    "甘肃", "青海", "台湾", "内蒙古", "广西", "西藏", "宁夏", "新疆", "香港", "澳门",
)

_KINDS = (
    ("规划", re.compile(r"规划|纲要")),
    ("通知", re.compile(r"通知|办法|意见|方案")),
    ("会议报道", re.compile(r"会议|工作报告")),
)


@dataclass(frozen=True)
class Metadata:
    title: str
    date: str
    source: str
    region: str
    kind: str


def _iso(y: str, m: str, d: str) -> str:
    return f"{int(y):04d}-{int(m):02d}-{int(d):02d}"


def find_date(text: str) -> str:
    head = normalize(text[:_HEAD_CHARS])
    for pattern in (_DATE_LABELLED, _DATE_LINE, _DATE_CN_LINE):
        m = pattern.search(head)
        if m:
            return _iso(*m.groups())
    return ""


def find_source(text: str) -> str:
    m = _SOURCE.search(normalize(text[:_HEAD_CHARS]))
    return m.group(1) if m else ""


def _title_of(line: str) -> str:
    """A headline line as a title: "关于印发《X》的通知" gives X."""
    issued = _ISSUED.search(line) or _ISSUED.search(normalize(line))
    if issued:
        start, end = issued.span(1)
        return line[start:end].strip("《》“”\"")
    return line


def find_title(clean_text: str, fallback: str) -> str:
    """The first short line that reads like a headline; "关于印发《X》的通知" gives X."""
    for line in clean_text.split("\n")[:40]:
        line = line.strip()
        simple = normalize(line)
        if not 4 <= len(line) <= 60 or _NOT_TITLE.match(simple) or _SENTENCE_END.search(simple):
            continue
        return _title_of(line)
    return fallback


# --- a headline glued to the first paragraph ------------------------------------------
# Scraped notices and news often open "关于开展…的通知 各区市场监管局：为…" or "…会议召开 3月5日，…":
# the headline, then the body on the same line after a space. A sentence candidate that starts
# with the headline is wrong, so the chunker keeps the headline out of the text (as a heading).

_HEADLINE_MAX = 40  # characters of a headline recognised by its shape alone
_TITLE_MATCH_MIN = 6  # a shorter line is only the title when it is the whole title
_TITLE_COVER = 0.6  # a line inside the title (or the title inside it) covers this much of the longer
_TITLE_LINE_MAX = 80
_IN_SENTENCE = re.compile(r"[。!?;,:]")  # on the normalised line
_GAP = re.compile(r"[ \t\u3000\xa0]+")
_NOT_HEADLINE = re.compile(r"[。!?;,:>|｜【】\[\]]")  # on the normalised line: punctuation a headline lacks
# How a body opens after its headline (normalised text): a date or time, a reporter's credit, the
# addressees of a notice ("各区市场监管局:"), or (after a known title) a purpose or basis. Anything
# else after the gap (a bracket, "是…", a name) continues the opening words, which are then the
# subject of one sentence: "银杏树 (学名:…)，为银杏科…" is not a headline and a body.
_WHEN = (r"(?:(?:\d{4}年)?\d{1,2}月\d{1,2}日|\d{4}年\d{1,2}月|\d{4}[-/.]\d{1,2}[-/.]\d{1,2}"
         r"|近日|日前|近期|连日来|近年来|今年以来|去年以来|昨天|昨日|今天|今日)(?:[上下]午|晚上|晚间)?")
_CREDIT = r"本报讯|据悉,|据了解,|记者从|\(记者"
_ADDRESSEES = (r"(?=[^\s,.;:!?。]{0,20}各)[^\s,.;:!?。]{2,30}:"  # 各区市场监管局: / 市直各单位:
               r"|[^\s,.;:!?。]{1,28}(?:局|委|办|厅|院|部门|单位|机构|公司|企业|同志们?):")
_PURPOSE = r"根据|按照|依据|为(?:了|进一步|深入|全面|切实|加快|加强|推动|推进|做好|确保|落实|贯彻|促进|规范|提升|提高|保障|维护)"
_BODY_OPENER = re.compile(rf"^(?:{_WHEN}|{_CREDIT}|{_ADDRESSEES}|{_PURPOSE})")
# Without a title to match, a subject with a stray space ("全市市场监管系统 为进一步…，", "某局 3月5日召开…")
# must not pass for a headline: only a time set off by a comma, a credit or addressees open a body.
_BODY_OPENER_UNTITLED = re.compile(rf"^(?:{_WHEN},|{_CREDIT}|{_ADDRESSEES})")


@dataclass(frozen=True)
class Headline:
    """A document's opening headline: `text[start:end]`, the body from `body` on."""

    text: str
    start: int
    end: int
    body: int
    own_line: bool  # followed by a line break, not glued to the body on its line


def _squash(text: str) -> str:
    return "".join(normalize(text).split()).strip("《》“”\"")


def names_title(line: str, title: str) -> bool:
    """Whether a headline line is the document's title: the same after normalisation, the title
    with a region before it or a site name after it (or the line with those), or the notice that
    issues it ("…关于印发X的通知")."""
    a, t = _squash(line), _squash(title)
    if not a or not t:
        return False
    if a == t:
        return True
    # Anything looser only for a line without sentence punctuation: "某某（1976年－）是一位…，"
    # starts with its title too, and is a sentence about it.
    if len(a) > _TITLE_LINE_MAX or _IN_SENTENCE.search(normalize(line)):
        return False
    if _squash(_title_of(line)) == t:
        return True
    short, long_ = sorted((a, t), key=len)
    return len(short) >= _TITLE_MATCH_MIN and short in long_ and (
        long_.startswith(short) or long_.endswith(short) or len(short) >= _TITLE_COVER * len(long_))


def _headline_shaped(line: str) -> bool:
    simple = normalize(line.strip())
    return (_TITLE_MATCH_MIN <= len(simple) <= _HEADLINE_MAX and not _NOT_HEADLINE.search(simple)
            and not _NOT_TITLE.match(simple) and sum("\u4e00" <= ch <= "\u9fff" for ch in simple) >= 4)


def leading_headline(clean_text: str, title: str = "") -> Headline | None:
    """The headline the text opens with, if any.

    With a `title`, the first line is the headline when it names the title, alone on its line or
    followed on the same line by a space and a body opener. Without one (the source states none),
    only a headline-shaped opening (short, no sentence punctuation) glued to a body opener counts.
    """
    start = len(clean_text) - len(clean_text.lstrip())
    end = clean_text.find("\n", start)
    end = len(clean_text) if end < 0 else end
    line = clean_text[start:end].rstrip()
    if not line:
        return None
    own_line = title and names_title(line, title) and not _SENTENCE_END.search(normalize(line))
    if own_line and clean_text[end:].strip():  # a headline heads a body: a text that is only its title stays text
        return Headline(line, start, start + len(line), end, own_line=True)
    for gap in _GAP.finditer(line):
        head, rest = line[:gap.start()], line[gap.end():]
        # The title said again opens the body: "星海公园 星海公园是一座…".
        repeated = bool(title) and _squash(rest).startswith(_squash(title))
        opener = _BODY_OPENER if title else _BODY_OPENER_UNTITLED
        if not rest or not (repeated or opener.match(normalize(rest))):
            continue
        if names_title(head, title) if title else _headline_shaped(head):
            return Headline(head, start, start + gap.start(), start + gap.end(), own_line=False)
    return None


class _Viterbi:
    """jieba.posseg's HMM (its `viterbi`) with each step one numpy operation instead of a Python
    max over every state pair: 90 % of metadata time went there. Same arithmetic in the same order
    (float64, `(V + trans) + emit`) and the same tie-break (the greater state), so the same words
    and tags come out; tests pin the corpus's chunks and metadata to a digest."""

    def __init__(self):
        from jieba.posseg import char_state_tab_P, emit_P, start_P, trans_P  # noqa: PLC0415

        self.states = sorted(trans_P)  # index order = tuple order, so "the greater state" = the higher index
        at = {s: i for i, s in enumerate(self.states)}
        n = len(self.states)
        self.trans = np.full((n, n), -np.inf)
        self.follows = np.zeros((n, n), dtype=bool)  # y can follow x (a key of trans_P[x])
        for x, row in trans_P.items():
            for y, p in row.items():
                self.trans[at[x], at[y]] = p
                self.follows[at[x], at[y]] = True
        self.has_next = self.follows.any(axis=1)
        self.start = np.array([start_P[s] for s in self.states])
        self.emit_p, self.char_states, self.at = emit_P, char_state_tab_P, at
        self.everything = np.ones(n, dtype=bool)
        self._emit: dict[str, np.ndarray] = {}
        self._allowed: dict[str, np.ndarray] = {}

    def emit(self, ch: str) -> np.ndarray:
        e = self._emit.get(ch)
        if e is None:
            e = self._emit[ch] = np.array([self.emit_p[s].get(ch, _MIN_FLOAT) for s in self.states])
        return e

    def allowed(self, ch: str) -> np.ndarray:
        a = self._allowed.get(ch)
        if a is None:
            names = self.char_states.get(ch)
            if names is None:
                a = self.everything
            else:
                a = np.zeros(len(self.states), dtype=bool)
                a[[self.at[s] for s in names]] = True
            self._allowed[ch] = a
        return a

    def __call__(self, obs: str):
        active = first = np.flatnonzero(self.allowed(obs[0]))
        v = self.start[active] + self.emit(obs[0])[active]
        back: list[tuple[np.ndarray, np.ndarray]] = []  # per step: (states, index into the previous step's states)
        for ch in obs[1:]:
            keep = self.has_next[active]
            prev, pv = active[keep], v[keep]
            expect = self.follows[prev].any(axis=0)
            now = self.allowed(ch) & expect
            if not now.any():
                now = expect if expect.any() else self.everything
            now = np.flatnonzero(now)
            m = (pv[:, None] + self.trans[np.ix_(prev, now)]) + self.emit(ch)[now][None, :]
            best = len(prev) - 1 - np.argmax(m[::-1], axis=0)  # the last maximum: the greater state
            v = m[best, np.arange(len(now))]
            back.append((now, np.flatnonzero(keep)[best]))
            active = now
        i = len(v) - 1 - int(np.argmax(v[::-1]))
        prob = float(v[i])
        route = [None] * len(obs)
        for t in range(len(obs) - 1, 0, -1):
            now, came = back[t - 1]
            route[t] = self.states[now[i]]
            i = int(came[i])
        route[0] = self.states[first[i]]
        return prob, route


@lru_cache(maxsize=1)
def _posseg():
    import jieba  # noqa: PLC0415 - slow to import
    import jieba.posseg  # noqa: PLC0415

    jieba.setLogLevel(logging.WARNING)  # once: it clears the logging caches, a cost on every question
    viterbi = _Viterbi()

    class FastPOS(jieba.posseg.POSTokenizer):
        def _POSTokenizer__cut(self, sentence):  # jieba's own __cut, with the fast HMM
            _, pos_list = viterbi(sentence)
            begin, nexti = 0, 0
            for i, char in enumerate(sentence):
                pos = pos_list[i][0]
                if pos == "B":
                    begin = i
                elif pos == "E":
                    yield jieba.posseg.pair(sentence[begin:i + 1], pos_list[i][1])
                    nexti = i + 1
                elif pos == "S":
                    yield jieba.posseg.pair(char, pos_list[i][1])
                    nexti = i + 1
            if nexti < len(sentence):
                yield jieba.posseg.pair(sentence[nexti:], pos_list[nexti][1])

    return FastPOS(jieba.dt)


def _region_mentions(text: str):
    """Place names as they occur (jieba's `ns` tag), suffixes dropped."""
    for word, flag in _posseg().cut(normalize(text)):
        if flag == "ns" and len(word) >= 2:
            name = _REGION_SUFFIX.sub("", word) if len(word) > 2 else word
            if len(name) >= 2 and name not in _NOT_REGION and not _NOT_REGION_START.match(name):
                yield name


def regions_in(text: str) -> list[str]:
    """Regions named in `text`, in order of first mention."""
    return list(dict.fromkeys(_region_mentions(text)))


def find_region(title: str, text: str) -> str:
    """Regions named in the title (all of them, "河北、江苏、湖南"), else the body's most mentioned."""
    in_title = regions_in(title)
    if in_title:
        return "、".join(in_title)
    counts = Counter(_region_mentions(text[:8000]))
    return counts.most_common(1)[0][0] if counts else ""


def find_kind(title: str) -> str:
    simple = normalize(title)
    for kind, pattern in _KINDS:
        if pattern.search(simple):
            return kind
    return "新闻"


def extract(clean_text: str, fields: dict[str, str], fallback_title: str) -> Metadata:
    title = fields.get("title")
    if not title and "sheets" in fields:  # a spreadsheet (qa/formats/sheet.py) has no headline: its file name
        title = fallback_title
    if not title:
        glued = leading_headline(clean_text)
        title = _title_of(glued.text) if glued else find_title(clean_text, fallback_title)
    return Metadata(
        title=title,
        date=fields.get("date") or find_date(clean_text),
        source=fields.get("source") or find_source(clean_text),
        region=fields.get("region") or find_region(title, clean_text),
        kind=fields.get("kind") or find_kind(title),
    )
