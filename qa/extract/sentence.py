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


def block_end(s: Sentence) -> int:
    """Where the enumerated block opened by sentence `s` ends: a lead-in ending in "：" or an item
    ("一是…") runs on through the items right after it; -1 when it opens no block."""
    text = s.passage.text
    first = s.text.strip()
    after_colon = re.split(r"[：:]", first)[-1]
    if not (first.endswith(("：", ":")) or ITEM.match(first) or after_colon != first and ITEM.match(after_colon)):
        return -1
    end = -1
    for nxt in s.all[s.k + 1:s.k + 4]:
        if not ITEM.match(text[nxt.start:nxt.end]) or nxt.end - s.start > BLOCK_MAX:
            break
        end = nxt.end
    return end


# A paragraph's run-in heading ("——助力企业复工复产。该局…", "二、优化营商环境。…"): a few words that
# name what the paragraph then says, and no answer by themselves.
HEADING_MAX = 16  # characters
_RUN_IN = re.compile(r"^\s*(?:——|—|[一二三四五六七八九十]+、|[（(][一二三四五六七八九十\d]+[)）])")


def heading_end(s: Sentence) -> int:
    """Where the paragraph that sentence `s` heads ends (its next one or two sentences, within
    BLOCK_MAX); -1 when `s` is no run-in heading."""
    text = s.passage.text
    first = s.text.strip()
    if len(first) > HEADING_MAX or not _RUN_IN.match(first) or not first.endswith(("。", "！", "!")):
        return -1
    end = prev = -1
    for nxt in s.all[s.k + 1:s.k + 3]:
        if "\n" in text[max(prev, s.end):nxt.start] or nxt.end - s.start > BLOCK_MAX:
            break  # the paragraph ends, or the answer would be a page
        end = prev = nxt.end
    return end


def with_blocks(s: Sentence, score: float, extractor: str = KIND) -> list[Candidate]:
    """The sentence (named `extractor`), and the block it opens when it opens one."""
    out = [s.whole(score, extractor)]
    if (end := max(block_end(s), heading_end(s))) > s.end:
        block = s.passage.text[s.start:end]
        out.append(Candidate(s.passage.index, block.strip(), block, [(s.start, end)], s.coverage, score + W.block,
                             {}, "block"))
    return out


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return cell.extract(q, p)
    out = []
    for s in sentences(q, p):
        out.extend(with_blocks(s, s.base))
    return out
