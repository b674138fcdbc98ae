"""为什么/为何/什么原因: the clause that gives the reason (因为…, 由于…, 是为了…), the purpose a
sentence opens with ("为…，…"), or what comes before the consequence (…，因此…), else its sentence."""
from __future__ import annotations

import re

from . import cell
from .base import CLAUSE_BREAK, Asked, Candidate, Passage, Sentence, W, coverage, sentences

KIND = "reason"
# "称为什么" / "更名为什么" / "被誉为什么" ask what a thing is called or made (V为 + 什么), not why.
RULES = ((36, re.compile(r"(?<![称成作算改定视译分列变名现叫认换化誉编封划评尊奉选])(?<![称视名誉]之)为什么|为何|什么原因|原因是|何故|出于什么")),)
# Words that open a reason, and words that open a consequence (the reason stands before them).
_BECAUSE = re.compile(r"因为|由于|是为了|为了|之所以|原因是|原因在于|以便|旨在")
_THEREFORE = re.compile(r"因此|所以|因而|故而|以致|于是")
# "因X而Y": a single 因 opens a reason only when a 而 closes it.
_BECAUSE_THEN = re.compile(r"(?<![原基诱起])因(?![此为而素])([^，,。；;]{2,40}?)而")
_END = re.compile(r"[。；;！？!?]")
# A sentence opening with its purpose ("为切实维护消费者权益，市场监管局决定…", the way a notice states why):
# the purpose clause is the reason, not the rest of the sentence. 为 then is no copula nor 为此/为止/为主.
_PURPOSE = re.compile(r"\s*((?:为了|为)(?!什么|何|此|止|主|人|期|首|由|准)[^，,。；;！？!?]{2,60})[，,]")
_EDGE = "，,、：: "
RESTATED = 0.6  # share of a clause's characters the question says: more, and it restates the question


def _before(s, m: re.Match) -> Candidate | None:
    """What stands before a consequence's opening word: the sentence's start up to it, or the sentence
    before when the word opens the sentence ("…。因此…")."""
    b = m.start()
    while b and s.text[b - 1] in _EDGE:
        b -= 1
    if b >= 2:
        return s.candidate(0, b, s.base + W.reason_marker, KIND)
    if s.k == 0:
        return None
    prev = s.all[s.k - 1]
    text = s.passage.text[prev.start:prev.end].strip()
    if len(text) < 2:
        return None
    return Candidate(s.passage.index, text, text, [(prev.start, prev.end)], s.coverage, s.base + W.reason_marker, {},
                     KIND)


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return cell.extract(q, p)
    out = []
    for s in sentences(q, p):
        out.append(s.whole(s.base, KIND))
        if purpose := _PURPOSE.match(s.text):
            out.append(s.candidate(purpose.start(1), _purpose_end(q, s, purpose.end(1)), s.base + W.reason_marker,
                                   KIND))
        elif reason := _reason(s.text):
            a, b = reason
            b = _unsaid(q.text, s.text, a, b)
            out.append(s.candidate(a, b, s.base + W.reason_marker, KIND))
        elif (m := _THEREFORE.search(s.text)) and (c := _before(s, m)):
            out.append(c)
    return out


def _purpose_end(q: Asked, s: Sentence, end: int) -> int:
    """A purpose runs on through the clauses after its first ("为维护消费者权益，净化市场环境，总局决定开展…"
    → both aims) that say none of the question's words, up to the sentence's last clause, what was done."""
    clauses = [m.start() for m in CLAUSE_BREAK.finditer(s.text, end + 1)]
    for nxt in clauses:
        if coverage(s.norm[end + 1:nxt], "", q.focus) > 0:
            break
        end = nxt
    return end


def _reason(text: str) -> tuple[int, int] | None:
    """(start, end) of the clause that gives a reason, with its opening word: to the end of the
    sentence after 因为/由于…, up to the 而 after a single 因 ("因X而Y"); None when there is none."""
    if m := _BECAUSE.search(text):
        end = _END.search(text, m.end())
        a, opened, b = m.start(), m.end(), end.start() if end else len(text)
    elif m := _BECAUSE_THEN.search(text):
        a, opened, b = m.start(), m.start() + 1, m.end(1)
    else:
        return None
    return (a, b) if b - opened >= 2 else None


def _unsaid(question: str, text: str, a: int, b: int) -> int:
    """Where the reason text[a:b] ends without its last clauses when they say what the question asks
    about ("由于X，引起时人的强烈反感" for "为什么时人强烈反感…" → 由于X): the answer is why, not the
    consequence the question names. (Cutting such clauses from every sentence answer was tried: on
    the tuning set it cut answers short.)"""
    cuts = [m.start() for m in CLAUSE_BREAK.finditer(text, a, b)]
    while cuts:
        tail = text[cuts[-1] + 1:b].strip(" 。！？!?")
        if tail and sum(ch in question for ch in tail) / len(tail) < RESTATED:
            break
        b = cuts.pop()
    return b
