"""Extractive answers: a span of a retrieved passage, never invented text.

The question's type decides what span to look for: a number with its unit
(多少/几/比例), a table cell (the column of the question's year, or the target
year), a name (谁), a date (什么时候), an enumeration (哪些/包括), or else the single
best sentence. Every candidate is scored by how much of the question it covers
and how near the span sits to the question's words; the question's region and
year must be borne out by the passage, or the answer is refused.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from . import slots
from .chunk import split_sentences
from .lexical import split, stopwords
from .regions import covers
from .rewrite import regions, years
from .textnorm import normalize
from .types import Hit

# ---------------------------------------------------------------- question types

_NUMBER_Q = re.compile(r"多少|几[个家件项次年天人名所台批位]|几$|比例|比重|百分之|占比|增长了?多|率是|率为|数量|规模|金额|总量|总数")
_WHO_Q = re.compile(r"谁|哪位|什么人|姓名|叫什么名字")
_WHEN_Q = re.compile(r"什么时候|何时|哪一?天|哪一?年|几月|时间是|日期")
_LIST_Q = re.compile(r"哪些|包括|包含|有哪几|哪几[个项类方面]|主要有|分别是")
_QUESTION_WORDS = {"多少", "几", "谁", "多久", "多长", "多长时间", "多高", "多大", "哪天", "哪年", "哪一年", "几天", "哪些", "哪个", "哪位", "什么", "时候", "何时", "是否", "有没有", "怎么",
                   "如何", "为什么", "呢", "吗", "是", "有", "达到", "达", "的", "了", "请问", "一下", "情况",
                   "哪里", "哪", "包括", "分别", "主要", "年", "月", "日"}

ROLE = r"党组书记|副局长|局长|副厅长|厅长|主任|副主任|市长|副市长|省长|副省长|书记|部长|处长|主席|记者|作者|董事长|总经理"
_ROLE_AFTER = re.compile(rf"({ROLE})[、，,]?([\u4e00-\u9fff]{{2,3}}?)(?=[出对在表作主任率带说指强要称、，,。：:（(\s]|$)")
_NOT_NAME = re.compile(r"[任担由为的和是在等及与对将把被从向到了着过省市县局长重要]$|^[的和是在等及与对将把被从到作出表主率带说指强要称]")
_BYLINE = re.compile(r"(?:□|作者[:：]\s*|记者\s*|文/\s*)([\u4e00-\u9fff]{2,3})(?=[\s，,）)]|$)")
_ROLE_BEFORE = re.compile(rf"(?:^|(?<=[，,、。；;\s□]))([\u4e00-\u9fff]{{2,3}})(?={ROLE})")

_MAGNITUDE = "万|萬|亿|億|千|百"
_UNITS = ("批次/千人|批次|个工作日|個工作日|户|戶|家|件|只|个|個|项|項|元|人|名|天|次|台|條|条|所|倍|起|份|张|張|处|處|"
          "类|類|部|吨|噸|辆|輛|小时|小時|公里|平方米|平方公里|公顷|公頃|厘米|釐米|毫米|千米|米|公斤|千克|克|"
          "岁|歲|册|冊|座|株|头|頭|篇|首|集|届|屆|层|層|亩|畝|英尺|英里|分钟|分鐘|秒|周|场|場|票|双|雙|套|箱|瓶|盒|支|枚|%|％")
_QUANTITY = rf"\d+(?:,\d{{3}})*(?:\.\d+)?(?:多|余)?(?:\s*(?:{_MAGNITUDE}))?(?:多|余)?"
# A quantity, or a range of two ("2-4个", "100米至2,800米"): a range is one answer, never two halves.
_NUMBER = re.compile(rf"[≤≥<>＜＞]?{_QUANTITY}(?:\s*(?:{_UNITS}))?"
                     rf"(?:\s*(?:至|到|~|～|－|—|-)\s*{_QUANTITY}(?:\s*(?:{_UNITS}))?)?")
_DATE = re.compile(r"(?:\d{4}年)?\d{1,2}月\d{1,2}日|\d{4}-\d{1,2}-\d{1,2}|\d{4}年\d{1,2}月|(?:19|20)\d{2}年")
_ENUM = re.compile(r"[^，,。；;：:！？!?]*?[^，,。；;：:、！？!?]+(?:、[^，,。；;：:、！？!?]+){2,}")
_UNIT_HINT = re.compile(rf"多少\s*((?:{_MAGNITUDE})?(?:{_UNITS}))|几\s*((?:{_MAGNITUDE})?(?:{_UNITS}))")
_PERCENT_Q = re.compile(r"比例|比重|百分之|占比|率")
# What a question's wording says about the unit of its answer.
_UNIT_WORDS = ((re.compile(r"金额|资金|罚没|多少钱|费用|收入|融资|投资|担保"), "元"),
               (re.compile(r"多久|多长时间|几天|时间"), "天|分钟|小时|工作日|日"),
               (re.compile(r"人数|多少人"), "人"))
_CELL_UNIT = re.compile(r"[(（]([^()（）]+)[)）]\s*$")
_CLAUSE_BREAK = re.compile(r"[，,；;：:]")


_WHY_HOW_Q = re.compile(r"为什么|为何|怎么|怎样|如何|什么原因|什么作用|什么意义|什么影响|什么特点")


def classify(question: str) -> str:
    q = normalize(question)
    if _UNIT_HINT.search(q):  # "平均时间是多少天", "包括多少项": a quantity, whatever else is said
        return "number"
    if _WHO_Q.search(q):
        return "who"
    if _WHEN_Q.search(q):
        return "when"
    if _LIST_Q.search(q):
        return "list"
    if _NUMBER_Q.search(q):
        return "number"
    if not _WHY_HOW_Q.search(q) and slots.WH.search(q):
        return "entity"  # 什么/哪个/哪里…: the phrase that fills the question's slot
    return "sentence"


def terms(question: str, idf=None) -> dict[str, float]:
    """The question's content words with weights: rare words in the knowledge base (`idf`)
    say more than common ones ("护照" more than "申请"); without `idf`, longer words do."""
    stop = stopwords()
    out: dict[str, float] = {}
    for w in split(normalize(question)):
        if w in _QUESTION_WORDS or w in stop or len(w) < 2 and not w.isdigit():
            continue
        if len(w) >= 3 and w[-1] in "省市县":  # "醴陵市": the text may say just "醴陵"
            w = w[:-1]
        out[w] = (idf(w) if idf else min(len(w), 4)) * (1.5 if w.isdigit() else 1.0)
    return out


# ---------------------------------------------------------------- candidates


@dataclass
class Candidate:
    hit_index: int
    answer: str
    sentence: str
    spans: list[tuple[int, int]]  # in the chunk's text
    coverage: float  # weighted share of the question's words in the sentence and its headings
    score: float
    checks: dict = field(default_factory=dict)
    extractor: str = "sentence"  # which kind of span it is: `qa eval` scores each kind apart


def _positions(norm: str, ws: dict[str, float]) -> list[tuple[int, float]]:
    out = []
    for w, weight in ws.items():
        for m in re.finditer(re.escape(w), norm, re.IGNORECASE):
            out.append((m.start(), weight))
    return out


def _coverage(norm: str, header: str, ws: dict[str, float]) -> float:
    """Weighted share of the question's words found in `norm` (half weight for the headings)."""
    norm, header = norm.lower(), header.lower()  # the tokenizer lower-cases words ("PCT" → "pct")
    total = sum(ws.values()) or 1.0
    found = sum(wt if w in norm else (0.5 * wt if w in header else 0.0) for w, wt in ws.items())
    return found / total


def _proximity(pos: int, occurrences: list[tuple[int, float]]) -> float:
    return sum(wt / (1.0 + abs(pos - p) / 4.0) for p, wt in occurrences)


def _numbers(text: str, q_numbers: set[str]) -> list[re.Match]:
    """Quantities in `text`: years, parts of dates and numbers the question itself states are not answers."""
    out = []
    for m in _NUMBER.finditer(text):
        value = re.match(r"[≤≥<>＜＞]?([\d,.]+)", m.group(0)).group(1)
        after = text[m.end():m.end() + 1]
        before = text[m.start() - 1:m.start()] if m.start() else ""
        if value in q_numbers or after in "年月日号-/:：" and after or before in "-/:：" and before:
            continue
        if re.fullmatch(r"(?:19|20)\d{2}", m.group(0)):  # a bare year
            continue
        out.append(m)
    return out


def _table_candidate(i: int, hit: Hit, question: str, ws: dict, focus: dict, rank_prior: float) -> Candidate | None:
    """A table row: the cell of the question's year column, else the target (last) year."""
    text = hit.chunk.text
    cells = [part.split(": ", 1) for part in text.split("｜")[1:] if ": " in part]
    cols = {k: v for k, v in cells}
    year_cols = [k for k in cols if re.fullmatch(r"(?:19|20)\d{2}年", k)]
    if not year_cols:
        return None
    asked = [f"{y}年" for y in years(question) if f"{y}年" in cols]
    col = asked[0] if asked else year_cols[-1]
    value = cols[col]
    if value in ("—", ""):
        return None
    name = cols.get("指标名称", "")
    unit_m = _CELL_UNIT.search(name)
    unit = unit_m.group(1) if unit_m else ""
    answer = value if not unit or value.endswith(unit) else value + unit  # 650 + 万户, ≤2 + 天, 98 + %
    start = text.index(f"{col}: {value}") + len(col) + 2
    spans = [(start, start + len(value))]
    if unit_m:
        u0 = text.index(name) + unit_m.start(1)
        spans.append((u0, u0 + len(unit)))
    coverage = _coverage(normalize(text), "", ws)
    # Scored like a number in prose whose clause is the indicator's name, sitting right beside it.
    # The chosen column is part of what the row says: "2020年" for a question about 2020, and
    # the last year column of a plan's indicator table is its target (目标).
    said = f"{name} {col}" + (" 目标 预期 规划" if col == year_cols[-1] else "")
    support = _coverage(normalize(said), "", focus)
    score = coverage + rank_prior + 0.6 * support + 0.3 + (0.2 if asked else 0.0)
    return Candidate(i, answer, text, sorted(spans), coverage, score, {"column": col, "support": support}, "table_cell")


def _clause_at(sentence: str, pos: int) -> tuple[int, int]:
    a = max((m.end() for m in _CLAUSE_BREAK.finditer(sentence, 0, pos)), default=0)
    b = next((m.start() for m in _CLAUSE_BREAK.finditer(sentence, pos)), len(sentence))
    return a, b


@dataclass(frozen=True)
class _Asked:
    """What a question asks, worked out once for all passages."""

    text: str  # the question, normalised as the passages are
    ws: dict[str, float]  # all its content words, weighted
    focus: dict[str, float]  # the words of its last clause ("…，其中发明专利申请多少件"): spans sit near these
    numbers: set[str]  # numbers it states itself, never the answer
    quoted: list[str]  # “…” names: a list must be the one so named
    day_asked: bool  # 哪天/日期: a bare year is no answer
    unit_hint: str  # the unit the answer should carry, as a regex alternation
    roles: list[str]  # 局长, 作者 …: a name must stand by one of these

    @property
    def focus_total(self) -> float:
        return sum(self.focus.values()) or 1.0


def _asked(question: str, idf) -> _Asked:
    q = normalize(question)
    ws = terms(question, idf)
    hint = _UNIT_HINT.search(q)
    unit_hint = (hint.group(1) or hint.group(2)) if hint else ("%" if _PERCENT_Q.search(q) else "")
    if not unit_hint:
        unit_hint = next((u for pattern, u in _UNIT_WORDS if pattern.search(q)), "")
    return _Asked(
        text=q, ws=ws, focus=terms(re.split(r"[，,]", question)[-1], idf) or ws,
        numbers=set(re.findall(r"\d+(?:\.\d+)?", q)), quoted=re.findall(r"“([^”]{2,12})”", q),
        day_asked=bool(re.search(r"哪一?天|日期|几月|几号", q)), unit_hint=unit_hint, roles=re.findall(ROLE, q),
    )


def _number_spans(q: _Asked, sentence: str, norm: str, occ) -> list[tuple[re.Match, float, float]]:
    """(match, score bonus, support) for each quantity: its clause must hold the question's words."""
    out = []
    for m in _numbers(sentence, q.numbers):
        unit_bonus = 0.0
        if q.unit_hint:
            unit_bonus = 0.3 if re.search(rf"(?:{q.unit_hint})$", normalize(m.group(0))) else -0.2
        elif not re.search(r"\D$", m.group(0)):
            unit_bonus = -0.1  # a bare number is rarely the answer to 多少
        a, b = _clause_at(norm, m.start())
        clause = _coverage(norm[a:b], "", q.focus)
        prox = _proximity(m.start(), occ) / q.focus_total
        out.append((m, 0.6 * clause + 0.3 * prox + unit_bonus, clause))
    return out


def _name_spans(q: _Asked, sentence: str, norm: str, occ) -> list[tuple[int, str, float]]:
    """(position, name, score bonus) for people named by role or byline (matched on the simplified form)."""
    found = [(m.start(2), m.end(2), False) for m in _ROLE_AFTER.finditer(norm)]
    found += [(m.start(1), m.end(1), False) for m in _ROLE_BEFORE.finditer(norm)]
    found += [(m.start(1), m.end(1), True) for m in _BYLINE.finditer(norm)]
    out = []
    for a, b, byline in found:
        name = sentence[a:b]
        if _NOT_NAME.search(normalize(name)):
            continue
        near = normalize(sentence[max(0, a - 8):b + 4])
        if q.roles and not any(r in near for r in q.roles) and not (byline and {"作者", "记者"} & set(q.roles)):
            continue  # asked for a 局长, this is a 记者
        out.append((a, name, 0.8 * _proximity(a, occ) / q.focus_total))
    return out


def _list_spans(q: _Asked, sentence: str) -> list[tuple[int, str, float]]:
    """(position, enumeration, score bonus): "A、B、C" runs, the one carrying the quoted name first."""
    out = []
    for m in _ENUM.finditer(sentence):
        span = m.group(0).strip()
        a = m.start() + (len(m.group(0)) - len(m.group(0).lstrip()))
        own = 0.2 if q.quoted and any(x in normalize(span) for x in q.quoted) else 0.0
        out.append((a, span, 0.1 + own))
    return out


def candidates(question: str, qtype: str, hits: list[Hit], titles: dict[str, str], idf=None) -> list[Candidate]:
    """Every span of the asked kind in the passages, scored."""
    q = _asked(question, idf)
    out: list[Candidate] = []
    slotted: list[Candidate] = []  # a 谁 question's slot fillers: only when no name stands by a role
    for i, hit in enumerate(hits):
        c = hit.chunk
        rank_prior = 0.15 / (i + 1)
        header = normalize(f"{titles.get(c.doc_id, '')} {c.section}")
        if c.kind == "table_row":
            cand = _table_candidate(i, hit, question, q.ws, q.focus, rank_prior) if qtype in ("number", "sentence") \
                else None
            out.extend([cand] if cand else [])
            continue
        if c.kind == "table" and qtype in ("number", "when"):
            continue  # its rows are chunks of their own, with their columns named
        text = c.text
        if qtype == "list" and q.quoted and not all(x in normalize(text) or x in header for x in q.quoted):
            continue  # "“五个安全”是哪些": only a passage that speaks of “五个安全”
        sentences = split_sentences(text, 0, len(text))
        for k, s in enumerate(sentences):
            sentence = text[s.start:s.end]
            norm = normalize(sentence)
            if len(norm) != len(sentence):  # positions must line up with the display text
                norm = sentence
            coverage = _coverage(norm, header, q.ws)
            occ = _positions(norm, q.focus)
            base = coverage + rank_prior
            if qtype == "number":
                filled = slots.slot(q.text, norm)  # "整合规范成了多少家" ↔ "…整合规范成35家"
                for m, bonus, support in _number_spans(q, sentence, norm, occ):
                    if filled and filled.start <= m.start() < filled.end:
                        bonus += 0.3 * filled.strength
                    out.append(Candidate(i, m.group(0).strip(), sentence, [(s.start + m.start(), s.start + m.end())],
                                         coverage, base + bonus, {"support": support}, "number"))
            elif qtype == "who":
                for pos, name, bonus in _name_spans(q, sentence, norm, occ):
                    out.append(Candidate(i, name, sentence, [(s.start + pos, s.start + pos + len(name))],
                                         coverage, base + bonus, extractor="name"))
                slotted.extend(_slot_candidates(i, q.text, sentence, norm, s.start, coverage, base - 0.1))
            elif qtype == "entity":
                out.extend(_slot_candidates(i, q.text, sentence, norm, s.start, coverage, base))
                out.append(Candidate(i, sentence.strip(), sentence, [(s.start, s.end)], coverage, base))
            elif qtype == "when":
                for m in _DATE.finditer(sentence):
                    if q.day_asked and re.fullmatch(r"(?:19|20)\d{2}年", m.group(0)):
                        continue  # asked for a day, a bare year is not an answer
                    out.append(Candidate(i, m.group(0), sentence, [(s.start + m.start(), s.start + m.end())],
                                         coverage, base + 0.5 * _proximity(m.start(), occ) / q.focus_total,
                                         extractor="date"))
            elif qtype == "list":
                # The sentence that names the list, or the one right after ("完善“八大体系”。着力完善…").
                near_quote = 0.3 if q.quoted and all(
                    x in normalize(text[max(0, s.start - 30):s.end]) for x in q.quoted) else 0.0
                for pos, span, bonus in _list_spans(q, sentence):
                    out.append(Candidate(i, span, sentence, [(s.start + pos, s.start + pos + len(span))], coverage,
                                         base + bonus + near_quote, extractor="list"))
                out.append(Candidate(i, sentence.strip(), sentence, [(s.start, s.end)], coverage, base + near_quote))
            else:
                out.append(Candidate(i, sentence.strip(), sentence, [(s.start, s.end)], coverage, base))
                if (end := _block_end(text, sentences, k)) > s.end:  # "采取以下措施：一是…；二是…"
                    block = text[s.start:end]
                    out.append(Candidate(i, block.strip(), block, [(s.start, end)], coverage, base + 0.1,
                                         extractor="block"))
    # A 谁 question naming a role (局长) is answered by a name beside that role when there is one;
    # one that names none ("被谁所杀") by what fills its slot as much as by a name.
    return out + slotted if not q.roles else out or slotted


# An enumerated item's opening: 一是, （一）, 1、, 首先 … (no number or name of any document).
_ITEM = re.compile(r"^\s*(?:[一二三四五六七八九十]+是|[（(][一二三四五六七八九十\d]+[)）]|[一二三四五六七八九十]+、|\d+[、.．]\D|"
                   r"第[一二三四五六七八九十]+[，,、]|首先|其次|再次|最后|此外|同时)")
_BLOCK_MAX = 220  # characters: a how/what-measures answer is a clause to a few sentences, not a page


def _block_end(text: str, sentences: list, k: int) -> int:
    """Where the enumerated block opened by sentence `k` ends: a lead-in ending in "：" or an item
    ("一是…") runs on through the items right after it; -1 when it opens no block."""
    first = text[sentences[k].start:sentences[k].end].strip()
    after_colon = re.split(r"[：:]", first)[-1]
    if not (first.endswith(("：", ":")) or _ITEM.match(first) or after_colon != first and _ITEM.match(after_colon)):
        return -1
    end = -1
    for nxt in sentences[k + 1:k + 4]:
        if not _ITEM.match(text[nxt.start:nxt.end]) or nxt.end - sentences[k].start > _BLOCK_MAX:
            break
        end = nxt.end
    return end


def _slot_candidates(i: int, asked: str, sentence: str, norm: str, offset: int, coverage: float,
                     base: float) -> list[Candidate]:
    """The phrase filling the question's slot in this sentence (see qa/slots.py), if any."""
    found = slots.slot(asked, norm)
    if found is None:
        return []
    span = sentence[found.start:found.end].strip()
    return [Candidate(i, span, sentence, [(offset + found.start, offset + found.end)], coverage,
                      base + (0.2 + 0.5 * found.strength) * coverage, {"slot": found.strength}, "slot")]


# ---------------------------------------------------------------- checks and choice


_YEAR_IN = re.compile(r"((?:19|20)\d{2})\s*年")


def grounded(q_regions: list[str], q_years: set[str], hit: Hit, cand: Candidate, doc_region: str,
             doc_date: str) -> dict[str, bool]:
    """Whether the passage bears out the places and years the question names.

    A year must be the one the answering sentence speaks of; a sentence naming no year
    borrows its passage's (or document's) years.
    """
    text = normalize(hit.chunk.search_text)
    sentence = normalize(cand.sentence)
    # The asked place is named by the sentence, the passage's region or its document's; or the
    # passage names it and comes from a place it lies in or that lies in it (醴陵 in a 株洲 report).
    # A related place alone is not enough: 湖南's figure is no answer about 株洲, nor the reverse.
    places = [p for p in (*hit.chunk.region.split("、"), *doc_region.split("、")) if p]
    region_ok = not q_regions or any(
        r in hit.chunk.region or r in doc_region or r in sentence
        or r in text and any(covers(r, p) for p in places) for r in q_regions)
    said = set(_YEAR_IN.findall(sentence))
    if not q_years:
        year_ok = True
    elif said:
        year_ok = bool(q_years & said)
    else:
        year_ok = any(y in text or doc_date.startswith(y) for y in q_years)
    return {"region": region_ok, "year": year_ok}


_QUOTED_TITLE = re.compile(r"《([^》]{4,60})》")


@dataclass(frozen=True)
class _Titles:
    docs: dict  # the version's documents these were read from (compared by identity)
    titles: dict[str, str]  # doc_id -> title
    normalized: tuple[tuple[str, str], ...]  # (doc_id, normalised title)


_titles_cache: _Titles | None = None


def _titles(docs: dict) -> _Titles:
    """Every document's title, plain and normalised, made once per index version (its `docs`
    dict) instead of on every question; the last version's are kept (one swap, thread-safe)."""
    global _titles_cache
    cached = _titles_cache
    if cached is None or cached.docs is not docs:
        cached = _titles_cache = _Titles(docs, {d: info.title for d, info in docs.items()},
                                         tuple((d, normalize(info.title)) for d, info in docs.items()))
    return cached


def _named_documents(question: str, docs: dict) -> set[str]:
    """Documents whose title the question quotes in 《》 ("《以精准监管助推湖南高质量发展》一文")."""
    out = set()
    for quoted in _QUOTED_TITLE.findall(normalize(question)):
        out |= {d for d, title in _titles(docs).normalized if quoted in title or title in quoted}
    return out


@dataclass(frozen=True)
class RefusalParams:
    """When a grounded answer is still too weak to give (calibrated by scripts/calibrate_refusal.py)."""

    min_coverage: float = 0.2  # below this share of the question's words: refuse
    weak_coverage: float = 0.45  # below this, refuse unless the passage is semantically close …
    min_dense: float = 0.905  # … i.e. its cosine similarity to the question reaches this


@dataclass(frozen=True)
class Choice:
    candidate: Candidate | None
    found: bool
    confidence: float
    reason: str


def choose(question: str, hits: list[Hit], docs: dict, params: RefusalParams = RefusalParams(),
           idf=None) -> Choice:
    """The best grounded candidate, or a refusal with its reason. `idf(word)` weighs the question's words."""
    qtype = classify(question)
    titles = _titles(docs).titles
    cands = candidates(question, qtype, hits, titles, idf)
    if not cands and qtype in ("number", "when", "who"):
        # No span of the asked kind: the best sentence (e.g. "三十四证合一" is a number in words).
        cands = [c for c in candidates(question, "sentence", hits, titles, idf)
                 if hits[c.hit_index].chunk.kind == "text"]
    named = _named_documents(question, docs)
    q_regions, q_years = regions(question), set(years(question))  # once: place names need jieba
    ok = []
    for c in cands:
        info = docs.get(hits[c.hit_index].chunk.doc_id)
        c.checks.update(grounded(q_regions, q_years, hits[c.hit_index], c, info.region if info else "",
                                 info.date if info else ""))
        # A question that names its document (《…》) is answered from that one.
        c.checks["document"] = not named or hits[c.hit_index].chunk.doc_id in named
        if c.checks["region"] and c.checks["year"] and c.checks["document"]:
            ok.append(c)
    if not ok:
        reason = "region" if cands and not any(c.checks["region"] for c in cands) else "year"
        return Choice(max(cands, key=lambda c: c.score) if cands else None, False, 0.0, reason if cands else "empty")
    best = max(ok, key=lambda c: (c.score, -c.hit_index))
    dense = [h.dense_score for h in hits if h.dense_score is not None]
    dense_max = max(dense) if dense else None
    margin = 6.0 * (best.coverage - params.min_coverage)
    if dense_max is not None:
        margin += 30.0 * (dense_max - params.min_dense)
    confidence = round(1.0 / (1.0 + math.exp(-margin)), 3)
    if best.checks.get("support", 1.0) == 0.0:
        return Choice(best, False, confidence, "unsupported")  # no question word near the number
    if best.coverage < params.min_coverage:
        return Choice(best, False, confidence, "coverage")
    if dense_max is not None and dense_max < params.min_dense and best.coverage < params.weak_coverage:
        return Choice(best, False, confidence, "distant")
    return Choice(best, True, confidence, "ok")
