"""The last resort, and the answer to what only a sentence can say (什么作用/意义/特点): the best
sentence, or the enumerated block it opens ("采取以下措施：一是…；二是…")."""
from __future__ import annotations

import re

from . import cell
from .base import Asked, Candidate, Passage, Sentence, W, sentences

KIND = "sentence"
RULES = ((58, re.compile(r"什么作用|什么意义|什么影响|什么特点")), (100, re.compile(r"")))

# An enumerated item's opening: 一是, （一）, 1、, 首先 … (no number or name of any document).
ITEM = re.compile(r"^\s*(?:[一二三四五六七八九十]+是|[（(][一二三四五六七八九十\d]+[)）]|[一二三四五六七八九十]+、|\d+[、.．]\D|"
                  r"第[一二三四五六七八九十]+[，,、]|首先|其次|再次|最后|此外|同时)")
BLOCK_MAX = 220  # characters: a how/what-measures answer is a clause to a few sentences, not a page


_LEAD_BREAK = re.compile(r"[：:，,]")
_FULL_STOP = ("。", "！", "!", "？", "?")


def block_end(s: Sentence) -> int:
    """Where the enumerated block opened by sentence `s` ends: a lead-in ending in "：" or a heading line
    runs on through the items after it with what each says (`_items_end`); an item ("一是…", also after
    the lead-in's colon or comma: "该市加强监管，一是…；") through the items right after it; -1 when it
    opens no block."""
    first = s.text.strip()
    if first.endswith(("：", ":")):
        return _items_end(s)  # a lead-in: its items, with what each says
    if (heading := ITEM.match(first)) and not first.endswith(_FULL_STOP + ("；", ";")):
        return _items_end(s, sibling=_shape(heading.group(0)))  # a heading line ("四、工作要求"): its section
    items_after_lead = any(ITEM.match(part) for part in _LEAD_BREAK.split(first)[1:])
    if not (ITEM.match(first) or items_after_lead):
        return -1
    end = -1  # an item that is a sentence ("一是…；"): the items right after it, each a sentence
    for nxt in s.all[s.k + 1:s.k + 4]:
        if not ITEM.match(s.passage.text[nxt.start:nxt.end]) or nxt.end - s.start > BLOCK_MAX:
            break
        end = nxt.end
    return end


def _shape(marker: str) -> str:
    """An item marker with its number taken out ("四、" → "N、", "（二）" → "（N）"): items of one level share it."""
    return "".join(ch for ch in re.sub(r"[一二三四五六七八九十\d]+", "N", marker) if ch in "N、.．（）()是第，,")


def _items_end(s: Sentence, start: int | None = None, end: int | None = None, following=None,
               sibling: str = "") -> int:
    """Where the items from `start` (sentence `s` by default) end: they run on, within BLOCK_MAX, with
    the sentences each item carries ("（一）加强组织领导。各地要高度重视。"), to the last item of their
    paragraph when they share one ("一是…；二是…；三是…。全年未发生事故。" ends at 三是), else while a new
    paragraph opens with an item — not one of the `sibling` shape, the next section of a heading's
    level ("四、…" ends at "五、…"). -1 when no item follows."""
    text = s.passage.text
    start = s.start if start is None else start
    end = s.end if end is None else end
    following = s.all[s.k + 1:] if following is None else following
    last_item = -1
    for nxt in following:
        item = ITEM.match(text[nxt.start:nxt.end])
        if nxt.end - s.start > BLOCK_MAX or not item and "\n" in text[end:nxt.start] or \
                item and sibling and _shape(item.group(0)) == sibling:
            break  # too long, the last item's paragraph has ended, or the next section begins
        end = nxt.end
        last_item = end if item else last_item
    if "\n" not in text[start:end]:
        end = last_item  # items of one paragraph: what follows the last is no item
    return end if last_item >= 0 else -1


# A paragraph's run-in heading ("——助力企业复工复产。该局…", "二、优化营商环境。…"): a few words that
# name what the paragraph then says, and no answer by themselves.
HEADING_MAX = 16  # characters
_RUN_IN = re.compile(r"^\s*(?:——|—|[一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[)）])")
# A report's paragraph often opens with its aim in a few words and no mark ("推进信用管理体系，创新监管手段。",
# "一是着力深化市场准入制度改革。"), then says how. Asked how, that lead only restates the question: the
# answer is what follows it. A lead states no figure: a short opening sentence with one is a fact.
LEAD_MAX = 24  # characters
_FIGURE = re.compile(r"\d")


def _opens_paragraph(s: Sentence) -> bool:
    return s.k == 0 or "\n" in s.passage.text[s.all[s.k - 1].end:s.start]


def _is_lead(s: Sentence, first: str) -> bool:
    """Short, opening its paragraph, and stating no figure but its item number ("3.", "（二）")."""
    return len(first) <= LEAD_MAX and not _FIGURE.search(ITEM.sub("", first)) and _opens_paragraph(s)


def heading_end(s: Sentence, leads: bool = False) -> int:
    """Where the paragraph that sentence `s` heads ends (its next one or two sentences, within
    BLOCK_MAX; the next one cut at its last clause within BLOCK_MAX when it alone is longer); -1 when
    `s` is no run-in heading, nor, with `leads` (a how question), a paragraph's lead."""
    text = s.passage.text
    first = s.text.strip()
    marked = len(first) <= HEADING_MAX and _RUN_IN.match(first)
    if not (marked or leads and _is_lead(s, first)) or not first.endswith(("。", "！", "!")):
        return -1
    end = prev = -1
    for nxt in s.all[s.k + 1:s.k + 3]:
        if "\n" in text[max(prev, s.end):nxt.start]:
            break  # the paragraph ends
        if nxt.end - s.start > BLOCK_MAX:
            if end < 0:  # the paragraph's next sentence alone is a page: up to its last clause that fits
                end = _clause_cut(text, nxt.start, s.start + BLOCK_MAX)
            break
        end = prev = nxt.end
    return end


_CLAUSE_END = re.compile(r"[；;，,]")


def _clause_cut(text: str, start: int, limit: int) -> int:
    """The end of the last clause of text[start:] that closes before `limit` (without its mark); -1 if none."""
    cut = max((m.end() for m in _CLAUSE_END.finditer(text, start, limit)), default=-1)
    return cut - 1 if cut > start + 1 else -1

# A pointer to what follows ("包括以下几个方面：", "出台以下措施。", "具体做法如下："): no answer itself,
# the answer is what it points to.
# ("20万元以下罚款", "18岁以下": 以下 after a figure or its unit bounds it, and points nowhere)
POINTER_WORD = re.compile(r"(?<![\d零一二两三四五六七八九十百千万亿元%％岁人个天年月日级])以下|如下|下列")
_POINTER = re.compile(rf"(?:{POINTER_WORD.pattern})(?:[^，,。；;：:！？!?]{{0,8}}?[。！!]?\s*$|[^。；;：:！？!?]{{0,20}}?[：:])")


def pointed_end(s: Sentence, at: int = 0) -> int:
    """Where what a pointer in sentence `s` (at or after `at`) points to ends: the rest of the sentence
    after it, or the next sentences when it ends the sentence, within BLOCK_MAX. Items ("一是…",
    "第一，…") run on to the last item that fits, with the sentences an item carries ("第一，…。既…。
    第二，…") and the last one's own paragraph; what follows them is no item. -1 when there is no
    pointer or nothing after it."""
    m = _POINTER.search(s.text, at)
    if m is None:
        return -1
    text, following = s.passage.text, list(s.all[s.k + 1:])
    start, end = s.start + m.end(), s.end
    if not s.text[m.end():].strip(" \t\n。"):  # "出台以下措施。": the next sentence opens it
        if not following:
            return -1
        start, end = following[0].start, following[0].end
        following = following[1:]
    start += len(text[start:end]) - len(text[start:end].lstrip())
    if ITEM.match(text[start:end]):
        end = max(end, _items_end(s, start, end, following))
    elif text[start:end].rstrip().endswith(("；", ";")):  # "…不得申报：甲的；乙的。": to the full stop
        end = max(end, semicolon_end(s, following))
    else:  # no items: the next sentences, whatever they are
        end = max([end] + [nxt.end for nxt in following if nxt.end - s.start <= BLOCK_MAX])
    if end - s.start > BLOCK_MAX:  # one sentence alone is a page: up to its last clause that fits
        end = cut if (cut := _clause_cut(text, start, s.start + BLOCK_MAX)) >= 0 else s.start + BLOCK_MAX
    return end


def semicolon_end(s: Sentence, following=None) -> int:
    """Where the sentence that `s` opens ends when `s` ends on a semicolon ("处1万元以上10万元以下罚款；
    情节严重的，吊销营业执照。"): a how answer is the whole of it, within BLOCK_MAX; else -1."""
    if not s.text.rstrip().endswith(("；", ";")) or ITEM.match(s.text):
        return -1  # items are blocks of their own (block_end)
    for nxt in s.all[s.k + 1:] if following is None else following:
        if nxt.end - s.start > BLOCK_MAX or ITEM.match(s.passage.text[nxt.start:nxt.end]):
            return -1
        if s.passage.text[nxt.start:nxt.end].rstrip().endswith(_FULL_STOP):
            return nxt.end
    return -1


def with_blocks(s: Sentence, score: float, extractor: str = KIND, leads: bool = False) -> list[Candidate]:
    """The sentence (named `extractor`), and the block it opens when it opens one (`leads`: a
    paragraph's unmarked lead opens one too, `heading_end`, and a sentence ended by a semicolon runs on,
    `semicolon_end`; a pointer, "出台以下措施。", `pointed_end`)."""
    ends = (block_end(s), heading_end(s, leads), pointed_end(s), semicolon_end(s) if leads else -1)
    return _with_block(s, score, extractor, max(ends))


def with_pointed(s: Sentence, score: float, extractor: str = KIND) -> list[Candidate]:
    """The sentence, and what it points to when it ends on a pointer ("应当符合以下条件：（一）…；")."""
    return _with_block(s, score, extractor, pointed_end(s))


def _with_block(s: Sentence, score: float, extractor: str, end: int) -> list[Candidate]:
    """The sentence, and the block from it to `end` when that runs past it."""
    out = [s.whole(score, extractor)]
    if end > s.end:
        out.append(block_at(s, end, score + W.block))
    return out


def block_at(s: Sentence, end: int, score: float) -> Candidate:
    """The passage's text from sentence `s` to `end` as a block answering."""
    block = s.passage.text[s.start:end]
    return Candidate(s.passage.index, block.strip(), block, [(s.start, end)], s.coverage, score, {}, "block")


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return cell.extract(q, p)
    out = []
    for s in sentences(q, p):
        out.extend(with_blocks(s, s.base))
    return out
