"""Whether a generated sentence says only what the passages it cites say, figure by figure.

The check is on what readers take at face value: every number, percentage, date and quoted title
(《…》, “…”) of the sentence must occur in a passage the sentence cites ([n]); every [n] must be a
passage the model was given; a sentence with any of these and no citation fails. Both sides are
compared in one normal form: simplified script and half-width (`qa.textnorm`), no thousands
separators, Chinese numerals as figures (`qa.numerals`, cn2an; also 八十五点三, and a single numeral
that counts or ranks: 三个, 第四), 百分之N as N%; a run cn2an cannot read (十四五) is compared as
written, and a range shares its unit (30-50万: both 万). "87%" in a sentence
whose passage says 85% fails; "120万户" over a table row "2030年: 120" under "(万户)" passes, since a
unit often sits in a header, but "120亿户" does not (the passage writes no 亿).

What it does not check is meaning: a true figure attached to the wrong subject passes. The shown
text is therefore always below the extractive answer and its cards, never instead of them.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

from .numerals import arabic
from .textnorm import normalize

# [1], [1][2], [1,2], [1、2], [1-3], ［1］, 【1】, 【来源1】: the model's citation markers, in any of the usual brackets.
_CITED = r"\d{1,3}(?:\s*[-–~～]\s*\d{1,3})?"
CITATION = re.compile(rf"[\[［【]\s*(?:来源|资料|片段)?\s*({_CITED}(?:\s*[,，、]\s*{_CITED})*)\s*[\]］】]")
_RANGE = re.compile(r"\s*[-–~～]\s*")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SMALL_CN = re.compile(r"[一二三四五六七八九十]{1,3}(?=\s*[月日号])")  # 三月五日: single numerals arabic() leaves
_CN_VALUE = dict(zip("一二三四五六七八九", "123456789"))
_PERCENT_WORDS = re.compile(r"百分之\s*(\d+(?:\.\d+)?)")
# 八十五点三 (arabic() reads 八十五 and stops at 点): the decimal is part of the figure, or 85.3% would pass as 85%.
_CN_DIGITS = "零〇一二两三四五六七八九"
# 二0三五年, 二O二O年: a year written digit by digit with a Latin 0 or O among the numerals.
_MIXED_YEAR = re.compile(r"(?<![\d〇零一二三四五六七八九十Oo])(?=[0-9Oo]*[〇零一二三四五六七八九])[〇零一二三四五六七八九0-9Oo]{4}(?=年)")
_CAPITALS = str.maketrans("壹贰叁肆伍陆柒捌玖拾佰仟", "一二三四五六七八九十百千")  # amounts on invoices and fines
_DECIMAL = re.compile(rf"(?<![\d.])(\d+|[{_CN_DIGITS}])点([\d{_CN_DIGITS}]+)")
# A single numeral counting or ranking something is a figure too: 三个, 五大, 十余家, 第四, 近千项 (arabic() reads
# only runs of two or more). 一 alone is read only as an ordinal (第一): "一个" is mostly an article, not a count.
_MEASURE = (r"[余多]?(?:个|项|家|次|件|条|种|名|批|起|类|户|所|座|张|台|位|篇|部|章|节|季度|年|周|天|倍|番|成|届|轮|"
            r"大|方面|层|级|套|支|处|场|期|份|点|人|省|市|县|区|地)")
_COUNT = re.compile(rf"(?<![\d{_CN_DIGITS}十百千万亿])(?:(?<=第)[一二两三四五六七八九十]|(?:[二两三四五六七八九十]"
                    rf"|(?<=[近逾约超过上数几])[百千])(?={_MEASURE}))"
                    r"|[一二两三四五六七八九十](?=分之)|(?<=分之)[一二两三四五六七八九十]")  # 三分之一
_ONE = dict(zip("一二两三四五六七八九十百千", ("1", "2", "2", "3", "4", "5", "6", "7", "8", "9", "10", "100", "1000")))
# A numeral run cn2an cannot read ("十四五", "十三五": plan periods) is compared as written.
_UNREAD = re.compile(r"[零〇一二两三四五六七八九十百千]{2,}")
_ENUMERATOR = re.compile(r"^\s*(?:\d{1,2}[.、)）]\s*(?!\d)|[(（]\d{1,2}[)）]|第\d{1,2}\s*[,、:是])")  # 1. (1) 第一，
_DATE = re.compile(
    r"(?P<y>\d{4})\s*年\s*(?P<m>\d{1,2})\s*月(?:\s*(?P<d>\d{1,2})\s*[日号])?"
    r"|(?P<y2>\d{4})[-/.](?P<m2>\d{1,2})[-/.](?P<d2>\d{1,2})(?!\d)"
    r"|(?<!\d)(?P<m3>\d{1,2})\s*月\s*(?P<d3>\d{1,2})\s*[日号]")
_NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)\s*"
                     r"(%|‰|个百分点|百分点|[十百千]?万亿|[十百千]?亿|[十百千]?万|[百千]|成(?![为立员本果效功绩交]))?")
# A magnitude word stated for a whole table: "经营主体数(万户) 96.5 120", "单位：亿元".
_HEADER_UNIT = re.compile(r"(?:\(|单位\s*[:：]?\s*)(万亿|亿|万)")
# What may stand between two figures that share the second's unit: a range or a change (30-50万, 由12增至15%).
_SHARED = re.compile(r"[\s\-~～—–至到增长加提高升降减少下为了]{1,5}")
_QUOTED = re.compile(r"《([^《》]{1,100})》|“([^“”]{1,150})”|「([^「」]{1,150})」|\"([^\"]{1,150})\"")
# A title is compared without white space and inner quote marks: 《湖南省十四五市场监管规划》 is the
# document 《湖南省“十四五”市场监管规划》.
_LOOSE = re.compile(r"[\s“”‘’\"'「」]+")


def _small(m: re.Match) -> str:
    s = m.group(0)
    if s == "十":
        return "10"
    if s.startswith("十"):
        return "1" + _CN_VALUE.get(s[1:], "0")
    if len(s) == 1:
        return _CN_VALUE.get(s, s)
    return s  # 二十, 三十一 …: arabic() has already read runs of two or more


@lru_cache(maxsize=4096)
def comparable(text: str) -> str:
    """`text` in the form figures are compared in (for matching only; offsets are not kept)."""
    t = _THOUSANDS.sub("", normalize(text)).translate(_CAPITALS)
    t = _DECIMAL.sub(lambda m: _digits(m.group(1)) + "." + _digits(m.group(2)), arabic(_MIXED_YEAR.sub(_year, t)))
    return _PERCENT_WORDS.sub(r"\1%", _COUNT.sub(lambda m: _ONE[m.group(0)], _SMALL_CN.sub(_small, t)))


def _year(m: re.Match) -> str:
    return _digits(m.group(0).replace("O", "0").replace("o", "0"))


_DIGIT = dict(zip(_CN_DIGITS, "001223456789"))


def _digits(numeral: str) -> str:
    return "".join(_DIGIT.get(c, c) for c in numeral)


def _value(number: str) -> str:
    whole, _, frac = number.partition(".")
    frac = frac.rstrip("0")
    return str(int(whole)) + (f".{frac}" if frac else "")


def _magnitude(unit: str | None) -> str:
    return {"百分点": "个百分点"}.get(unit or "", unit or "")


@dataclass(frozen=True)
class Facts:
    """What a text states that can be checked: dates (year, month, day; 0 when not said), numbers
    (value, magnitude word: "", 万, 亿, %…) and quoted titles, all in comparable form."""

    dates: frozenset[tuple[int, int, int]]
    numbers: frozenset[tuple[str, str]]
    quoted: tuple[str, ...]
    units: frozenset[str] = frozenset()  # magnitude words (万, 亿, 万亿) stated for a whole table: "(万户)"
    terms: tuple[str, ...] = ()  # numeral runs read as they are written ("十四五")


def _dates(t: str) -> tuple[set[tuple[int, int, int]], list[tuple[int, int]]]:
    found, spans = set(), []
    for m in _DATE.finditer(t):
        y = m.group("y") or m.group("y2")
        mo = m.group("m") or m.group("m2") or m.group("m3")
        d = m.group("d") or m.group("d2") or m.group("d3")
        found.add((int(y or 0), int(mo or 0), int(d or 0)))
        spans.append(m.span())
    return found, spans


@lru_cache(maxsize=4096)
def facts(text: str, *, all_numbers: bool = False) -> Facts:
    """The checkable facts of `text`. A date's numbers are checked as the date (not one by one), unless
    `all_numbers` (for a passage: any number it writes may be quoted, a date's included)."""
    t = comparable(CITATION.sub(" ", text))
    if not all_numbers:
        t = _ENUMERATOR.sub("", t)
    dates, spans = _dates(t)
    masked = t
    if not all_numbers:
        for start, end in reversed(spans):
            masked = masked[:start] + " " * (end - start) + masked[end:]
    numbers = set()
    found = list(_NUMBER.finditer(masked))
    for m, after in zip(found, [*found[1:], None]):
        mag = m.group(2)
        if not mag and after is not None and after.group(2) and _SHARED.fullmatch(masked, m.end(), after.start()):
            if all_numbers:  # a passage's figure may be quoted either way
                numbers.add((_value(m.group(1)), ""))
            mag = after.group(2)  # 从96.5增至120万户, 12至15%: the first figure's unit is the second's
        numbers.add((_value(m.group(1)), _magnitude(mag)))
    quoted = tuple(_LOOSE.sub("", next(g for g in m.groups() if g is not None)) for m in _QUOTED.finditer(t))
    units = frozenset(m.group(1) for m in _HEADER_UNIT.finditer(t))
    return Facts(frozenset(dates), frozenset(numbers), tuple(q for q in quoted if q), units,
                 tuple(_UNREAD.findall(t)))


def _number_in(number: tuple[str, str], passage: Facts, said_units: frozenset[str]) -> bool:
    value, mag = number
    if (value, mag) in passage.numbers:
        return True
    if not mag:  # a bare number under the sentence's own "(万户)"; "52只" over "52万只" drops a 万 and fails
        return any(v == value and m in said_units for v, m in passage.numbers)
    if mag in ("万", "亿", "万亿"):
        # "120万" matches a bare 120 in a table whose header says "(万户)"; not 120亿, and not over "每万人".
        return (value, "") in passage.numbers and mag in passage.units
    return False


def _date_in(date: tuple[int, int, int], passage: Facts) -> bool:
    y, m, d = date
    for py, pm, pd in passage.dates:
        if (m and pm != m) or (d and pd != d):
            continue
        if not y or py == y or (not py and (str(y), "") in passage.numbers):
            return True
    return False


@dataclass(frozen=True)
class Check:
    """One sentence's verdict: its citation numbers and what is wrong with it (nothing: it may be shown)."""

    sentence: str
    citations: tuple[int, ...]
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def citations_of(sentence: str) -> tuple[int, ...]:
    """The passage numbers a sentence cites, in order, each once."""
    numbers: list[int] = []
    for m in CITATION.finditer(sentence):
        for n in _marker_numbers(m.group(1)):
            if n not in numbers:
                numbers.append(n)
    return tuple(numbers)


def _marker_numbers(inside: str) -> list[int]:
    """"1,2" → [1, 2]; "1-3" → [1, 2, 3] (a range of a few; "1-99" is its two ends, each then checked)."""
    out = []
    for item in re.split(r"[,，、]", inside):
        lo, _, hi = _RANGE.sub("-", item.strip()).partition("-")
        lo, hi = int(lo), int(hi or lo)
        out += range(lo, hi + 1) if lo <= hi <= lo + 20 else (lo, hi) if hi != lo else (lo,)
    return out


def canonical_citations(sentence: str) -> str:
    """The sentence with every citation marker written [1][2], the form the page links."""
    return CITATION.sub(lambda m: "".join(f"[{n}]" for n in _marker_numbers(m.group(1))), sentence)


def check_sentence(sentence: str, passages: Mapping[int, str]) -> Check:
    """Verify one generated sentence against `passages` (number → the text the model was given)."""
    cited = citations_of(sentence)
    problems = [f"引用了未提供的片段[{n}]" for n in cited if n not in passages]
    said = facts(sentence)
    has_facts = bool(said.dates or said.numbers or said.quoted or said.terms)
    given = [facts(passages[n], all_numbers=True) for n in cited if n in passages]
    sources = "".join(f"[{n}]" for n in cited if n in passages)
    if has_facts and not cited:
        problems.append("含数字、日期或引用的名称，但没有注明出处")
    elif has_facts and given:
        for date in sorted(said.dates):
            if not any(_date_in(date, p) for p in given):
                problems.append(f"日期 {_date_text(date)} 不在所引片段{sources}中")
        for number in sorted(said.numbers):
            if not any(_number_in(number, p, said.units) for p in given):
                problems.append(f"数字 {''.join(number)} 不在所引片段{sources}中")
        for q in said.quoted:
            if not any(q in _LOOSE.sub("", comparable(passages[n])) for n in cited if n in passages):
                problems.append(f"引用的名称“{q}”不在所引片段{sources}中")
        for term in said.terms:
            if not any(term in comparable(passages[n]) for n in cited if n in passages):
                problems.append(f"“{term}”不在所引片段{sources}中")
    return Check(sentence, cited, tuple(problems))


def _date_text(date: tuple[int, int, int]) -> str:
    y, m, d = date
    return (f"{y}年" if y else "") + (f"{m}月" if m else "") + (f"{d}日" if d else "")
