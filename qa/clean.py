"""Cleaning what bureaus really publish: web chrome, pinyin scraped into the text, stray separators.

Cleaning only ever deletes characters, so every character of the cleaned text
keeps its position in the original (`offsets`): a citation can always be
located in the document as published.

Paged formats mark page breaks with "\f" (qa/load.py). A break beside a line break is deleted
(the page is counted on the raw text, qa/chunk.py); one inside a line is kept, as a line break
to the chunker. A page's number line ("- 3 -", "第3页 共10页") is furniture in a paged text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from .textnorm import normalize

# Whole lines that are page furniture, matched on the simplified form of the line.
_CHROME_LINES = re.compile(
    r"^(?:"
    r"分享|分享到.*|请使用微信扫一扫.*|微信扫一扫.*|扫一扫.*|打印本页|关闭窗口|返回顶部|"
    r"放大字体\s*缩小字体|字体[:：]?\s*[大中小\s]+|"
    r"当前位置\s*[:：].*|您的位置\s*[:：].*|首页\s*>.*|"
    r"责任编辑\s*[:：].*|编辑\s*[:：]\s*\d+|"
    r"推荐产品&服务MORE>>|.*MORE>>|推荐.*舆情动态|"
    r"专题文章|核心阅读|相关阅读|相关链接|"
    r"\?+"  # a line of stray "?" where the scrape lost a separator
    r")$"
)
# Chrome inside an otherwise useful line ("放大字体 缩小字体 发布日期:… 来源:…").
_CHROME_SPANS = re.compile(r"放大字[体體]\s*缩小字[体體]|放大字[体體]|缩小字[体體]|【?打印[本此]?页】?|【?关闭窗口】?")
# A site masthead: short lines above a breadcrumb ("国家市场监督管理总局主管", slogans).
_BREADCRUMB = re.compile(r"^(?:当前位置|您的位置)\s*[:：]")
_MASTHEAD_MAX = 40
# An image file name glued to its caption: "省市场监管局.jpg2020年11月16日,…".
_IMAGE_NAME = re.compile(r"[\w\-（）()]{0,40}?\.(?:jpe?g|png|gif|bmp|webp)(?![a-z])", re.IGNORECASE)
# HTML and wiki tags left in text copied from a web page ("。<br>备注", "<nowiki>", "</ref>"): the tag
# goes, what it wraps stays.
_MARKUP_TAG = re.compile(r"</?(?:br|p|div|span|nowiki|ref|onlyinclude|noinclude|includeonly)\b[^<>\n]{0,40}?/?>",
                         re.IGNORECASE)
# Pinyin annotations after a hanzi: 監(jiān)督 → 監督. Tone-marked letters only,
# so "(万户)" or "(%)" are never touched.
_PINYIN_LETTERS = "a-zāáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜüêńňǹḿ"
_TONE = "āáǎàēéěèīíǐìōóǒòūúǔùǖǘǚǜńňǹḿ"
_PINYIN = re.compile(
    rf"(?<=[\u3400-\u9fff\uf900-\ufaff])\([{_PINYIN_LETTERS}]{{1,7}}\)"  # after a hanzi
    rf"|\((?=[a-zü]*[{_TONE}])[{_PINYIN_LETTERS}]{{1,7}}\)"  # tone-marked, after anything
)
# A broken annotation whose opening bracket was lost to mojibake, with the garbled
# characters it swallowed: "當(dāng)?shù)亟Y(jié)合" → "當(dāng)(jié)合". The lost hanzi
# cannot be recovered; dropping the garbage is the honest repair.
_BROKEN_PINYIN = re.compile(rf"\?[{_PINYIN_LETTERS}]{{1,7}}\)[^\s(（]{{0,3}}(?=\([{_PINYIN_LETTERS}]{{1,7}}\))")
_PAGE_NUMBER = re.compile(r"^(?:[-—–]\s*\d{1,4}\s*[-—–]|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?"
                          r"|\d{1,4}\s*/\s*\d{1,4}|[Pp]age\s*\d{1,4}(?:\s*of\s*\d{1,4})?)$")
# MediaWiki's script-conversion markup in text scraped from a wiki: "-{zh-hans:悉尼;zh-tw:雪梨;}-" keeps
# one variant (simplified first, as the service reads), "-{原文}-" and "-{T|原文}-" (a flag before |) its text.
_WIKI_CONVERT = re.compile(r"-\{(?:[A-Za-z;+\-]{1,8}\|)?([^{}|]{1,200})\}-")
_WIKI_VARIANT = re.compile(r"\s*(zh(?:-[a-z]+)?)\s*:\s*([^;]*?)\s*(?:;|$)")
_WIKI_RANK = {tag: rank for rank, tag in enumerate(("zh-hans", "zh-cn", "zh-sg", "zh-my", "zh", "zh-hant", "zh-tw",
                                                     "zh-hk", "zh-mo"))}  # which variant is kept, first first
_PAGE_BREAK = re.compile(r"(?<=\n)\f|\f(?=\n)")
_TRAILING_SPACE = re.compile(r"[ \t\u3000\xa0]+$", re.MULTILINE)
_LEADING_SPACE = re.compile(r"^[ \t\u3000\xa0]+", re.MULTILINE)
_BLANK_RUN = re.compile(r"\n{3,}")


@dataclass(frozen=True)
class CleanText:
    text: str
    offsets: tuple[int, ...]  # offsets[i] = index in the original of text[i]


def _delete(text: str, offsets: list[int], spans: list[tuple[int, int]]) -> tuple[str, list[int]]:
    if not spans:
        return text, offsets
    keep = [True] * len(text)
    for a, b in spans:
        for i in range(a, b):
            keep[i] = False
    return (
        "".join(c for c, k in zip(text, keep) if k),
        [o for o, k in zip(offsets, keep) if k],
    )


def _regex_spans(pattern: re.Pattern, text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in pattern.finditer(text)]


def _lines(text: str):
    """(start, end, line) for each line, `end` excluding the newline."""
    pos = 0
    for line in text.split("\n"):
        yield pos, pos + len(line), line
        pos += len(line) + 1


def _chrome_line_spans(text: str) -> list[tuple[int, int]]:
    spans = []
    lines = list(_lines(text))
    simplified = [normalize(line).strip() for _, _, line in lines]
    crumb = next((i for i, s in enumerate(simplified[:30]) if _BREADCRUMB.match(s)), None)
    paged = "\f" in text
    for i, ((a, b, _), s) in enumerate(zip(lines, simplified)):
        masthead = crumb is not None and i < crumb and len(s) <= _MASTHEAD_MAX
        if s and (masthead or _CHROME_LINES.match(s) or paged and _PAGE_NUMBER.match(s)):
            # the line and its newline; never a page break on it, which stays for the chunker
            spans.extend(_without_breaks(text, a, min(b + 1, len(text))))
    return spans


def _without_breaks(text: str, a: int, b: int) -> list[tuple[int, int]]:
    out, start = [], a
    for i in range(a, b):
        if text[i] == "\f":
            out.append((start, i))
            start = i + 1
    out.append((start, b))
    return [(x, y) for x, y in out if y > x]


def _wiki_markup_spans(text: str) -> list[tuple[int, int]]:
    """Everything of each conversion block but the variant kept."""
    spans = []
    for m in _WIKI_CONVERT.finditer(text):
        inner = m.group(1)
        variants = list(_WIKI_VARIANT.finditer(inner))
        if variants and "".join(v.group(0) for v in variants) == inner:
            kept = min(variants, key=lambda v: _WIKI_RANK.get(v.group(1), len(_WIKI_RANK)))
            a, b = m.start(1) + kept.start(2), m.start(1) + kept.end(2)
        else:
            a, b = m.start(1), m.end(1)
        spans.extend(span for span in ((m.start(), a), (b, m.end())) if span[1] > span[0])
    return spans


def clean(raw: str) -> CleanText:
    """Strip chrome, pinyin, wiki markup, HTML tags and stray separators; collapse blank runs. Script is
    unchanged."""
    text, offs = raw, list(range(len(raw)))
    # Pinyin first, so chrome lines in traditional script are recognisable.
    text, offs = _delete(text, offs, _regex_spans(_BROKEN_PINYIN, text))
    text, offs = _delete(text, offs, _regex_spans(_PINYIN, text))
    text, offs = _delete(text, offs, _wiki_markup_spans(text))
    text, offs = _delete(text, offs, _chrome_line_spans(text))
    text, offs = _delete(text, offs, _regex_spans(_PAGE_BREAK, text))
    for pattern in (_CHROME_SPANS, _IMAGE_NAME, _MARKUP_TAG, _TRAILING_SPACE, _LEADING_SPACE):
        text, offs = _delete(text, offs, _regex_spans(pattern, text))
    # Keep at most one blank line between blocks: delete the surplus newlines.
    text, offs = _delete(text, offs, [(m.start() + 2, m.end()) for m in _BLANK_RUN.finditer(text)])
    # Leading/trailing blank lines.
    lead = len(text) - len(text.lstrip("\n"))
    trail = len(text) - len(text.rstrip("\n"))
    text, offs = _delete(text, offs, [(0, lead), (len(text) - trail, len(text))])
    return CleanText(text=text, offsets=tuple(offs))
