"""A retrieved passage's relevance in [0, 1]: the calibrated probability that it holds the answer.

The fused score ranks passages within one query but means nothing across queries (min-max fusion
puts every query's best passage near 2, whether or not the knowledge base can answer it). What
a caller's threshold needs (Dify's `score_threshold`) is a probability: of passages scored 0.7,
about 7 in 10 contain the answer. It is a logistic regression (`qa.calibration.Calibrator`, the
same fit as the answer's confidence) on a few facts about a hit and the hits above it:

    fused      its fused score                     gap        the best fused score minus its own
    rank       log of its rank                     dense      its cosine (absent: the fit's mean)
    dense_top  the best passage's cosine: how close the knowledge base comes to the question at all

then made non-increasing down the ranking (each passage at most as relevant as the one above it),
so a threshold always cuts a ranking into a prefix. Every feature of a hit depends only on it and
the hits ranked above it: asking for more passages never changes the scores of the first ones.

Fitted by `scripts/calibrate_relevance.py` on the tuning sets (a passage is relevant when it
contains a gold answer or the evidence, `qa.evaluate.relevant_chunks`) and stored in
`qa/data/relevance.json` with the embedding identity it was fitted on. Without that file the
score falls back to the fused score over its maximum of 2 (uncalibrated; a warning says so).
"""
from __future__ import annotations

import functools
import json
import logging
import math
from pathlib import Path

from .calibration import Calibrator
from .types import Hit

log = logging.getLogger(__name__)

PATH = Path(__file__).resolve().parent / "data" / "relevance.json"
NUMERIC = ("fused", "gap", "rank", "dense", "dense_top")
_GAP_CAP = 2.0  # a passage that far below the best says nothing more
_FALLBACK_SCALE = 2.0  # the fused score of a passage first in both retrievers (default weights 1 + 1)


def features(hits: list[Hit]) -> list[dict[str, float]]:
    """One feature row per hit, in rank order (`hits` as `Service.search` returns them)."""
    if not hits:
        return []
    best, top = hits[0].score, hits[0].dense_score
    rows = []
    for rank, h in enumerate(hits, start=1):
        row = {"fused": float(h.score), "gap": min(float(best - h.score), _GAP_CAP), "rank": math.log(rank)}
        if h.dense_score is not None:
            row["dense"] = float(h.dense_score)
        if top is not None:
            row["dense_top"] = float(top)
        rows.append(row)
    return rows


def monotone(probs: list[float]) -> list[float]:
    """Each at most the one before: relevance never rises down a ranking."""
    out, low = [], 1.0
    for p in probs:
        low = min(low, p)
        out.append(low)
    return out


def scores(hits: list[Hit], model: Calibrator | None = None) -> list[float]:
    """The relevance of each hit, in rank order; `model` defaults to the fitted one (`load()`)."""
    model = model or load()
    if model is None:
        raw = [min(1.0, max(0.0, h.score / _FALLBACK_SCALE)) for h in hits]
    else:
        raw = [model.probability(f) for f in features(hits)]
    return [round(p, 4) for p in monotone(raw)]


@functools.cache
def load(path: Path = PATH) -> Calibrator | None:
    """The fitted model, read once. A missing or unreadable file is not fatal: scores fall back to
    the scaled fused score, and a warning says so."""
    try:
        return Calibrator.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        log.warning("no relevance calibration at %s: relevance is the fused score / %.0f (uncalibrated); "
                    "run scripts/calibrate_relevance.py", path, _FALLBACK_SCALE)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        log.warning("relevance calibration %s is invalid (%s): relevance is the fused score / %.0f (uncalibrated); "
                    "run scripts/calibrate_relevance.py", path, e, _FALLBACK_SCALE)
    return None
