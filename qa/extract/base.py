"""What every extractor shares: the candidate it returns, the question worked out once, the
passage's sentences with their scores, and every weight in one frozen dataclass."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

from ..chunk import split_sentences
from ..lexical import split, stopwords
from ..numerals import arabic, value
from ..textnorm import normalize
from ..types import Hit

# Words that ask rather than say: never counted as the question's content.
QUESTION_WORDS = frozenset({
    "多少", "几", "谁", "多久", "多长", "多长时间", "多高", "多大", "哪天", "哪年", "哪一年", "几天", "哪些", "哪个",
    "哪位", "什么", "时候", "何时", "是否", "有没有", "怎么", "如何", "为什么", "呢", "吗", "是", "有", "达到", "达",
    "的", "了", "请问", "一下", "情况", "哪里", "哪", "包括", "分别", "主要", "年", "月", "日"})

ROLE = r"党组书记|副局长|局长|副厅长|厅长|主任|副主任|市长|副市长|省长|副省长|书记|部长|处长|主席|记者|作者|董事长|总经理"

MAGNITUDE = "万|萬|亿|億|千|百"
# Words that give a figure or a date as approximate ("约22平方公里", "约公元700年"): part of the answer.
ABOUT = "大约|约"
# A count of times things were done ("2594家次", "3.5万人次", "1500台次") and percentage points ("2.5个百分点")
# first: 家/人/台/个 alone would end them early.
UNITS = ("(?:户|戶|家|件|人|台|辆|輛|艘|架|项|項|条|條|处|處|个|個|车|吨|噸)次(?![日年月])|(?:个|個)?百分点|"
         "批次/千人|批次|个工作日|個工作日|户|戶|家|件|只|个|個|项|項|元|人|名|天|次|台|條|条|所|倍|起|份|张|張|处|處|"
         "类|類|部|吨|噸|辆|輛|小时|小時|公里|平方米|平方公里|公顷|公頃|厘米|釐米|毫米|千米|米|公斤|千克|克|"
         "岁|歲|册|冊|座|株|头|頭|篇|首|集|届|屆|层|層|亩|畝|英尺|英里|分钟|分鐘|秒|周|场|場|票|双|雙|套|箱|瓶|盒|支|枚|%|％|"
         "美元|美金|英镑|欧元|日元|日圆|港元|港币|韩元|卢布|新台币|台币|人民币|澳元|加元|新元|越南盾|泰铢|令吉|卢比|比索|法郎|里拉|克朗|光年|千瓦|兆瓦|马力|海里|立方米|毫升|升|码|磅|盎司|节|度|级|"
         "公分|公尺|位|种|種|季|期|代|任|轮|輪|章|版|颗|顆|架|艘|间|間|栋|棟|分|发|發|"
         "(?i:km²|km/h|km|cm|mm|kg|m²|[kmg]?hz|[kmg]w|[kmgt]b|mah|db)(?![a-zA-Z])|㎡|m(?![a-zA-Z])")
UNIT_HINT = re.compile(rf"多少\s*((?:{MAGNITUDE})?(?:{UNITS}))|几\s*((?:{MAGNITUDE})?(?:{UNITS}))")
_PERCENT_Q = re.compile(r"比例|比重|百分之|占比|率|同比|环比|增幅|增速|降幅|涨幅")
# What a question's wording says about the unit of its answer. The last four ask a size by its
# dimension (多高, 面积): `Asked.sized`.
_UNIT_WORDS = ((re.compile(r"金额|资金|罚没|多少钱|费用|收入|融资|投资|担保"), "元"),
               (re.compile(r"几天"), "天|日"),
               # 年: a duration (number.py); "有效期多长", "期限多长": a spell of time, not a length
               (re.compile(r"多久|多长时间|时间|(?:期|期限|时限|年限|时长)(?:是|为|有)?多长"), "天|分钟|小时|工作日|日|年|个月|周"),
               (re.compile(r"多少年|几年|多少个月|几个月"), "年|个月"),
               (re.compile(r"人数|多少人|(?<!万)人口(?:总?数|数量|规模)?(?:是|为|有|达到?)?多少"), "人"))
_SIZE_WORDS = ((re.compile(r"多[高长宽深远厚]|高度|长度|宽度|深度|距离|海拔"), "米|公尺|厘米|公分|毫米|千米|公里|英尺|英里|海里"),
               (re.compile(r"多重|重量|体重"), "克|公斤|千克|吨|磅"),
               (re.compile(r"面积|多大的?(?:地方|土地|面积)"), "亩|平方米|平方公里|公顷|平方英里"),
               (re.compile(r"多快|速度|时速"), "公里|节|米|马赫"))
CLAUSE_BREAK = re.compile(r"[，,；;：:]")
_SPELL_Q = re.compile(r"(?:多少|几)个月")
# A rate's change ("覆盖率同比提升多少") is given in percentage points as often as in per cent.
_CHANGE_Q = re.compile(r"(?:提[升高]|增长|增加|上升|下降|降低|减少|回落)了?(?:多少|几)")
# A negated word of the question ("不合格"): jieba cuts 不 off and alone it is a stopword, so the word
# counts as said wherever 合格 is; `Asked.negated` keeps the negation for the figure's clause to say.
_NEGATED = re.compile(r"[不未非无][\u4e00-\u9fff]{2}")


@dataclass(frozen=True)
class Weights:
    """Every weight of span scoring, named. A candidate scores its sentence's coverage of the
    question's words, plus a prior for its passage's rank, plus what its own kind adds."""

    rank_prior: float = 0.3  # divided by the passage's rank (1, 2, …)
    clause: float = 0.6  # a number's clause covers the question's last clause
    proximity: float = 0.3  # a number sits near the question's words
    unit_match: float = 0.3  # the number carries the unit the question asks for
    unit_mismatch: float = -0.2
    negation: float = 0.3  # the number's clause says the question's negated word ("不合格10批次")
    former: float = -0.3  # the number is the former one ("由原来的5个工作日压缩至1个"), not asked about
    bare_number: float = -0.1  # a number with no unit rarely answers 多少
    number_in_slot: float = 0.3  # the number stands where the question's slot is (× slot strength)
    cell_support: float = 0.6  # a table row's indicator and column say what the question asks
    cell_base: float = 0.3
    cell_asked_year: float = 0.2  # the column is the year the question names
    name_proximity: float = 0.8
    name_coverage: float = 0.5  # a name by the asked role counts when its sentence covers this share of the best one's
    who_slot: float = -0.1  # a 谁 slot filler ranks below a name by a role
    name_in_slot: float = 0.01  # … and a name inside the slot ("副局长某某") above the slot
    date_proximity: float = 0.5
    date_clause: float = 0.6  # a date's clause covers the question's last clause
    clock: float = 0.5  # 几点/时间段: a time of day over a date
    period: float = -0.3  # a period named, not dated ("孔雀王朝时期"): below any date another passage gives
    list_base: float = 0.1
    list_clause: float = 0.3  # × the question's words said by the enumeration's clause
    list_quoted: float = 0.2  # the enumeration carries the question's “quoted” name
    list_near_quote: float = 0.3  # … or the sentence right after it
    block: float = 0.1  # an enumerated block over its lead-in sentence
    slot_base: float = 0.2  # slot fillers: (slot_base + slot_strength × strength) × coverage
    slot_strength: float = 0.5
    place: float = 0.15  # 哪里: a slot that is (or holds) a place name
    reason_marker: float = 0.2  # 为什么: the clause after 因为/由于/是为了
    method_marker: float = 0.15  # 如何: a sentence carrying 通过/采取/实行 …
    yes_no_marker: float = 0.1  # 是否: a sentence that states or denies the asked predicate
    definition: float = 0.3  # 什么是X: a sentence that says "X是…" (× 1.5 when it opens with X)


W = Weights()


def terms(question: str, idf=None) -> dict[str, float]:
    """The question's content words with weights: rare words in the knowledge base (`idf`)
    say more than common ones ("护照" more than "申请"); without `idf`, longer words do."""
    stop = stopwords()
    out: dict[str, float] = {}
    for w in split(normalize(question)):
        if w in QUESTION_WORDS or w in stop or len(w) < 2 and not w.isdigit():
            continue
        if len(w) >= 3 and w[-1] in "省市县":  # "醴陵市": the text may say just "醴陵"
            w = w[:-1]
        out[w] = (idf(w) if idf else min(len(w), 4)) * (1.5 if w.isdigit() else 1.0)
    return out


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


@dataclass(frozen=True)
class Asked:
    """What a question asks, worked out once for all passages."""

    text: str  # the question, normalised as the passages are
    ws: dict[str, float]  # all its content words, weighted
    focus: dict[str, float]  # the words of its last clause ("…，其中发明专利申请多少件"): spans sit near these
    numbers: set[str]  # numbers it states itself, never the answer
    quoted: list[str]  # “…” names: a list must be the one so named
    day_asked: bool  # 哪天/日期: a bare year is no answer
    unit_hint: str  # the unit the answer should carry, as a regex alternation
    roles: list[str]  # 局长, 作者 …: a name must stand by one of these
    years: tuple[str, ...] = ()  # years it names (a table's column)
    unit_word: str = ""  # the word after 多少/几 ("多少公分"): a number right before it carries it
    sized: bool = False  # it asks a size by its dimension (有多高, 面积)
    negated: tuple[str, ...] = ()  # negated words it says ("不合格"), whose clause is the one it asks about

    @property
    def focus_total(self) -> float:
        return sum(self.focus.values()) or 1.0


def asked(question: str, idf=None, part: str | None = None) -> Asked:
    """`part`: one ask of a question with several; its words say where the span sits and its unit."""
    from ..rewrite import years  # noqa: PLC0415 - rewrite imports the answer stage's names

    ws = terms(question, idf)
    q = normalize(part or question)
    hint = UNIT_HINT.search(q)
    unit_hint = (hint.group(1) or hint.group(2)) if hint else ("%" if _PERCENT_Q.search(q) else "")
    if _SPELL_Q.search(q):  # "减免多少个月": a spell of months ("3个月"), not a count of 个
        unit_hint = "年|个月"
    elif unit_hint == "%" and _CHANGE_Q.search(q):
        unit_hint = "%|百分点"
    if not unit_hint:
        unit_hint = next((u for pattern, u in _UNIT_WORDS + _SIZE_WORDS if pattern.search(q)), "")
    return Asked(
        text=q, ws=ws, focus=terms(re.split(r"[，,]", part or question)[-1], idf) or ws,
        numbers=set(re.findall(r"\d+(?:\.\d+)?", arabic(normalize(question)))), quoted=re.findall(r"“([^”]{2,12})”", q),
        day_asked=bool(re.search(r"哪一?天|日期|几月|几号", q)), unit_hint=unit_hint, roles=re.findall(ROLE, q),
        years=tuple(years(question)), unit_word=_unit_word(q), sized=any(p.search(q) for p, _ in _SIZE_WORDS),
        negated=tuple(m.group(0) for m in _NEGATED.finditer(q)),
    )


_ASKED_UNIT = re.compile(r"(?:多少|几)([\u4e00-\u9fff]{1,2}?)(?=[的？?，,。]|$)")


def _unit_word(q: str) -> str:
    m = _ASKED_UNIT.search(q)
    return m.group(1) if m and m.group(1) not in ("年", "月", "日", "天", "人", "次") else ""


def positions(norm: str, ws: dict[str, float]) -> list[tuple[int, float]]:
    out = []
    for w, weight in ws.items():
        for m in re.finditer(re.escape(w), norm, re.IGNORECASE):
            out.append((m.start(), weight))
    return out


_COUNTED = re.compile(r"([一二两三四五六七八九十]+)([年月天日次项家户条件个位名])")


def _in_figures(word: str) -> str:
    """A counted word in figures ("五年" → "5年", "十四项" → "14项"), else the word: a text may write either."""
    m = _COUNTED.fullmatch(word)
    if not m:
        return word
    figure = value(m.group(1))
    return f"{figure}{m.group(2)}" if figure else word


def _partly(word: str, norm: str) -> float:
    """The share of a long word ("照常营业") that a text says in two-character pieces ("开门营业"): a
    compound is often paraphrased by a sibling sharing its head. A word of two characters gets none."""
    if len(word) < 3:
        return 0.0
    covered = set()
    for i in range(len(word) - 1):
        if word[i:i + 2] in norm:
            covered.update((i, i + 1))
    return len(covered) / len(word)


def coverage(norm: str, header: str, ws: dict[str, float], partly: bool = False) -> float:
    """Weighted share of the question's words found in `norm` or its passage's headings. A word the
    headings say counts in full: a title names the subject every sentence under it speaks of, so
    "其叶柄有四到六个腺体" under 大果西番莲 says as much as a sentence repeating the name, and the
    word it adds (叶柄) tells it apart. (At half weight, the sentence repeating the name won.)
    Numbers count whether written in figures or in words (一千二百零六 = 1206, 五年 = 5年). With
    `partly`, a long word the text does not say whole counts for the share of it said in pieces
    (`_partly`): right for whether a text is about the question, wrong for telling two clauses of
    one sentence apart ("申请专利…，其中发明专利申请…" must not both hold 发明专利)."""
    norm, header = norm.lower(), header.lower()  # the tokenizer lower-cases words ("PCT" → "pct")
    total = sum(ws.values()) or 1.0
    digits = arabic(norm) if any(w.isdigit() or _COUNTED.fullmatch(w) for w in ws) else norm
    found = 0.0
    for w, wt in ws.items():
        if w in norm or w in header or (w.isdigit() or _COUNTED.fullmatch(w)) and _in_figures(w) in digits:
            found += wt
        else:
            found += wt * (_partly(w, norm) if partly else 0.0)
    return found / total


def proximity(pos: int, occurrences: list[tuple[int, float]]) -> float:
    return sum(wt / (1.0 + abs(pos - p) / 4.0) for p, wt in occurrences)


def clause_at(sentence: str, pos: int) -> tuple[int, int]:
    a = max((m.end() for m in CLAUSE_BREAK.finditer(sentence, 0, pos)), default=0)
    b = next((m.start() for m in CLAUSE_BREAK.finditer(sentence, pos)), len(sentence))
    return a, b


@dataclass(frozen=True)
class Passage:
    """One retrieved passage as the extractors see it."""

    index: int  # its rank in the hits, from 0
    hit: Hit
    header: str  # title and section, normalised

    @property
    def text(self) -> str:
        return self.hit.chunk.text

    @property
    def kind(self) -> str:
        return self.hit.chunk.kind

    @property
    def rank_prior(self) -> float:
        return W.rank_prior / (self.index + 1)


@dataclass(frozen=True)
class Sentence:
    """A sentence of a passage, with what every extractor scores it by."""

    passage: Passage
    k: int  # its place among the passage's sentences
    start: int  # in the chunk's text
    end: int
    text: str  # as displayed
    norm: str  # normalised, same length (else the display text)
    coverage: float
    occ: list  # where the question's focus words are in it
    all: tuple  # every sentence of the passage (for blocks that run on)

    @property
    def base(self) -> float:
        return self.coverage + self.passage.rank_prior

    def candidate(self, a: int, b: int, score: float, extractor: str, answer: str | None = None,
                  checks: dict | None = None) -> Candidate:
        """A span [a, b) of this sentence (positions in the sentence) as a candidate."""
        text = self.text[a:b] if answer is None else answer
        return Candidate(self.passage.index, text.strip(), self.text, [(self.start + a, self.start + b)],
                         self.coverage, score, checks or {}, extractor)

    def whole(self, score: float, extractor: str = "sentence") -> Candidate:
        return Candidate(self.passage.index, self.text.strip(), self.text, [(self.start, self.end)],
                         self.coverage, score, {}, extractor)


def sentences(q: Asked, p: Passage) -> Iterator[Sentence]:
    text = p.text
    parts = split_sentences(text, 0, len(text))
    for k, s in enumerate(parts):
        sentence = text[s.start:s.end]
        norm = normalize(sentence)
        if len(norm) != len(sentence):  # positions must line up with the display text
            norm = sentence
        yield Sentence(p, k, s.start, s.end, sentence, norm, coverage(norm, p.header, q.ws, partly=True),
                       positions(norm, q.focus), tuple(parts))
