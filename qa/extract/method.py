"""如何/怎样/采取了哪些措施: the 1–3 sentences that carry the method or the measures, or the
enumerated block after a lead-in ("采取以下措施：一是…二是…")."""
from __future__ import annotations

import re

from . import cell
from .base import Asked, Candidate, Passage, W, sentences
from .sentence import with_blocks

KIND = "method"
RULES = ((35, re.compile(r"如何|怎样|怎么(?!会|回事)|通过什么|用什么(?:方法|方式|办法)|"
                         r"(?:哪些|什么|何种|有何)(?:措施|举措|办法|做法|方式|方法|途径|手段|政策)|采取.{0,6}(?:措施|举措)")),)
# Words that carry a method or a measure: a sentence saying how, not just that.
_MARKERS = re.compile(r"通过|采取|采用|实行|推行|建立|完善|加强|实施|开展|推进|落实|强化|健全|依托|利用|以.{1,12}为")


def extract(q: Asked, p: Passage) -> list[Candidate]:
    if p.kind == "table_row":
        return cell.extract(q, p)
    out = []
    for s in sentences(q, p):
        out.extend(with_blocks(s, s.base + (W.method_marker if _MARKERS.search(s.norm) else 0.0), KIND))
    return out
