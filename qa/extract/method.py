"""如何/怎样/采取了哪些措施: the 1–3 sentences that carry the method or the measures, or the
enumerated block after a lead-in ("采取以下措施：一是…二是…")."""
from __future__ import annotations

import re

from . import cell
from .base import Asked, Candidate, Passage, Sentence, W, clause_at, sentences
from .entity import slot_candidates
from .sentence import with_blocks

KIND = "method"
RULES = ((35, re.compile(r"如何|怎样|怎么(?!会|回事)|通过什么|用什么(?:方法|方式|办法)|"
                         r"(?:哪些|什么|何种|有何)(?:措施|举措|办法|做法|方式|方法|途径|手段|政策)|采取.{0,6}(?:措施|举措)|"
                         # "有哪些支持措施" ("什么样的方式" asks for a slot: no gap after 什么/何种; "从哪些方面推出措施" asks which ones)
                         r"(?:哪些|有何)(?!方面|领域|环节|部门|单位)[\u4e00-\u9fff]{1,4}?(?:措施|举措|政策)|"
                         # the measures asked the other way round, or as the work done: "具体做法是什么",
                         # "主要任务有哪些", "做了哪些工作" ("做了什么工作" asks what one person did: a slot)
                         r"(?:措施|举措|做法|办法|路径|任务)(?:主要)?(?:是|有|包括)(?:什么|哪些)|"
                         r"(?:做|开展|推进)了?哪些(?:工作|行动)")),)
# Words that carry a method or a measure: a sentence saying how, not just that.
_MARKERS = re.compile(r"通过|采取|采用|实行|推行|建立|完善|加强|实施|开展|推进|落实|强化|健全|依托|利用|以.{1,12}为")


# "以什么方式呈现" asks for the means a sentence names in the question's frame ("以浪漫喜剧的方式呈现"):
# a slot, beside the sentence
_MEANS = re.compile(r"[以用靠凭借]什么(?:方式|方法|办法|手段|途径)")
# "名称是怎么来的", "是怎样得名的": why it bears its name, which a sentence gives before "(而)得名"
_NAMED_Q = re.compile(r"得名|名[称字]?.{0,4}(?:由来|来的|来历)")
_NAMED_S = re.compile(r"[，,]?\s*(?:故而|因而|因此|所以|故|而|遂)?得名")
_NAMED_WHY = re.compile(r"是由于|由于|因为|因")


def _why_named(s: Sentence) -> list[Candidate]:
    """The reason a sentence gives before its 得名: from its 因/由于, else its clause start."""
    if not (m := _NAMED_S.search(s.text)) or m.start() < 2:
        return []
    end = m.start()
    clause = clause_at(s.text, end)[0]
    if re.search(r"由此|因此|从此", s.text[clause:end]) and clause:
        end = clause - 1  # "…题刻二字，这幢别墅由此得名": what 由此 points back to
        clause = clause_at(s.text, end)[0]
    why = _NAMED_WHY.search(s.text, 0, end)
    start = why.start() + (why.group(0) == "是由于") if why else clause
    return [s.candidate(start, end, s.base + 2 * W.method_marker, KIND)] if end - start >= 2 else []


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return cell.extract(q, p)
    out = []
    means, named = _MEANS.search(q.text), _NAMED_Q.search(q.text)
    for s in sentences(q, p):
        out.extend(with_blocks(s, s.base + (W.method_marker if _MARKERS.search(s.norm) else 0.0), KIND, leads=True))
        if means:
            out.extend(slot_candidates(q, s, s.base))
        if named:
            out.extend(_why_named(s))
    return out
