"""The answer's `confidence` as a calibrated probability that the chosen span is right.

A logistic regression on a few features of the chosen candidate (coverage of the question,
score and margin over the runner-up, the best passage's cosine, rank, support, which extractor
spoke, length), fitted by `scripts/calibrate_confidence.py` on the tuning sets and stored in
`qa/data/calibration.json` with the embedding identity and the sets it was fitted on, plus the
threshold below which an answer is withheld as "unsure". Also here: the expected calibration
error and the reliability bins `qa eval` reports.

Extractors change: after a change, re-run `python scripts/calibrate_confidence.py` and commit the JSON.
"""
from __future__ import annotations

import functools
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

PATH = Path(__file__).resolve().parent / "data" / "calibration.json"
VERSION = 1
NUMERIC = ("coverage", "score", "margin", "alone", "dense", "rank", "support", "slot", "length", "votes", "echo",
           "span_share", "dense_first", "bm25_first")
# Which extractor spoke is a 0/1 feature "kind=<Candidate.extractor>", one per kind the tuning sets
# show at least MIN_KIND times: extractors come and go, and a kind the fit has not seen (or saw too
# rarely to weigh) gets no weight of its own.
KIND = "kind="
MIN_KIND = 20
_MARGIN_CAP = 2.0  # a runner-up that far behind says nothing more


def features(question: str, best, rivals, hits, dense_max: float | None) -> dict[str, float]:
    """What is known about `best` when it is chosen: `rivals` are the grounded candidates it beat
    (one with the same answer text is agreement, not competition), `hits` the passages, `dense_max`
    the best passage's cosine (None without a dense leg: then the fit's mean stands in). Nothing
    about the document itself (its issuer, its date) is a feature: that would tell the tuning
    corpora apart instead of right answers from wrong ones."""
    runner = max((c.score for c in rivals if c is not best and c.answer != best.answer), default=None)
    answer = best.answer.strip()
    # Other passages giving the same answer (or one containing it) back it up.
    votes = len({c.hit_index for c in rivals if c.hit_index != best.hit_index and answer
                 and (answer in c.answer or c.answer.strip() in answer and c.answer.strip())})
    hit = hits[best.hit_index]
    out = {
        "coverage": float(best.coverage),
        "score": float(best.score),
        "margin": min(best.score - runner, _MARGIN_CAP) if runner is not None else _MARGIN_CAP,
        "alone": float(runner is None),
        "rank": math.log1p(best.hit_index),
        "support": float(best.checks.get("support", 1.0)),
        "slot": float(best.checks.get("slot", 0.0)),
        "length": math.log1p(len(answer)),
        "votes": math.log1p(votes),
        # An answer made of the question's own characters restates it rather than answers it.
        "echo": sum(ch in question for ch in answer) / len(answer) if answer else 1.0,
        "span_share": len(answer) / max(len(best.sentence.strip()), 1),
        "dense_first": float(hit.dense_rank == 1),
        "bm25_first": float(hit.bm25_rank == 1),
    }
    if dense_max is not None:
        out["dense"] = float(dense_max)
    out[KIND + best.extractor] = 1.0
    return out


def margin_confidence(coverage: float, dense_max: float | None, min_coverage: float, min_dense: float) -> float:
    """The uncalibrated confidence used before (a sigmoid of a hand-weighted margin over the refusal
    thresholds): the fallback without a calibration file, and the "before" of the calibration report."""
    margin = 6.0 * (coverage - min_coverage)
    if dense_max is not None:
        margin += 30.0 * (dense_max - min_dense)
    return 1.0 / (1.0 + math.exp(-margin))


@dataclass(frozen=True)
class Calibrator:
    """Logistic regression on standardised features. A missing numeric feature (no dense leg) sits
    at the fit's mean; a missing kind is 0 (another extractor spoke)."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    intercept: float
    threshold: float  # below this probability an answer is withheld as "unsure"
    identity: str = ""  # the embedding identity whose cosines it was fitted on
    fitted_on: tuple[str, ...] = ()

    def probability(self, feats: dict[str, float]) -> float:
        z = self.intercept
        for name, mean, scale, w in zip(self.names, self.mean, self.scale, self.weights):
            z += w * (feats.get(name, 0.0 if name.startswith(KIND) else mean) - mean) / scale
        return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))

    def to_json(self) -> dict:
        return {"version": VERSION, "model": "logistic", "identity": self.identity, "fitted_on": list(self.fitted_on),
                "threshold": self.threshold, "intercept": self.intercept,
                "features": {n: {"mean": m, "scale": s, "weight": w}
                             for n, m, s, w in zip(self.names, self.mean, self.scale, self.weights)}}

    @classmethod
    def from_json(cls, data: dict) -> Calibrator:
        """Raises ValueError / KeyError / TypeError on a file that is not a calibration of this version."""
        if data.get("version") != VERSION or data.get("model") != "logistic":
            raise ValueError(f"version {data.get('version')!r} / model {data.get('model')!r}, expected {VERSION} / logistic")
        feats = data["features"]
        names = tuple(feats)
        cal = cls(names, tuple(float(feats[n]["mean"]) for n in names), tuple(float(feats[n]["scale"]) for n in names),
                  tuple(float(feats[n]["weight"]) for n in names), float(data["intercept"]),
                  float(data["threshold"]), str(data.get("identity", "")), tuple(data.get("fitted_on", ())))
        if not 0.0 <= cal.threshold <= 1.0 or any(s <= 0 or not math.isfinite(s) for s in cal.scale) \
                or not all(math.isfinite(x) for x in (*cal.mean, *cal.weights, cal.intercept)):
            raise ValueError("threshold outside [0, 1] or a non-finite / non-positive parameter")
        return cal


def fit(rows: list[dict[str, float]], labels: list[bool], weights: list[float] | None = None,
        l2: float = 1.0, threshold: float = 0.0, identity: str = "", fitted_on: tuple[str, ...] = (),
        numeric: tuple[str, ...] = NUMERIC) -> Calibrator:
    """L2-regularised logistic regression by Newton's method (numpy only; the intercept is not penalised).
    `numeric` names the features fitted besides the kinds (another model, e.g. `qa.relevance`, brings its own)."""
    import numpy as np  # noqa: PLC0415

    seen: dict[str, int] = {}
    for r in rows:
        for n in r:
            seen[n] = seen.get(n, 0) + n.startswith(KIND)
    names = tuple(numeric) + tuple(sorted(n for n, count in seen.items() if count >= MIN_KIND))
    x = np.array([[r.get(n, 0.0 if n.startswith(KIND) else np.nan) for n in names] for r in rows], dtype=float)
    present = (~np.isnan(x)).sum(axis=0)
    mean = np.where(present > 0, np.nansum(x, axis=0) / np.maximum(present, 1), 0.0)  # a feature never seen: 0
    x = np.where(np.isnan(x), mean, x)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.hstack([np.ones((len(x), 1)), (x - mean) / scale])
    y = np.asarray(labels, dtype=float)
    w = np.ones(len(y)) if weights is None else np.asarray(weights, dtype=float)
    penalty = np.full(z.shape[1], l2)
    penalty[0] = 0.0
    beta = np.zeros(z.shape[1])
    for _ in range(100):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ beta, -30, 30)))
        grad = z.T @ (w * (p - y)) + penalty * beta
        hess = (z * (w * p * (1 - p))[:, None]).T @ z + np.diag(penalty) + 1e-9 * np.eye(z.shape[1])
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return Calibrator(names, tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in scale),
                      tuple(round(float(v), 6) for v in beta[1:]), round(float(beta[0]), 6), threshold, identity,
                      tuple(fitted_on))


@functools.cache
def load(path: Path = PATH) -> Calibrator | None:
    """The fitted calibration, read once. A missing or unreadable file is not fatal: answers then
    carry the uncalibrated margin confidence and none is withheld as unsure; a warning says so."""
    try:
        return Calibrator.from_json(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        log.warning("no confidence calibration at %s: confidence is the uncalibrated margin and no answer is "
                    "withheld as unsure; run scripts/calibrate_confidence.py", path)
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        log.warning("confidence calibration %s is invalid (%s): confidence is the uncalibrated margin and no "
                    "answer is withheld as unsure; run scripts/calibrate_confidence.py", path, e)
    return None


# ---------------------------------------------------------------- measuring calibration


def reliability(confidences: list[float], correct: list[bool], bins: int = 10) -> list[dict]:
    """Equal-width bins over [0, 1]: each bin's count, mean confidence and observed accuracy
    (empty bins are listed with None, so every report shows the same rows)."""
    sums = [[0, 0.0, 0] for _ in range(bins)]
    for c, ok in zip(confidences, correct):
        b = sums[min(bins - 1, max(0, int(c * bins)))]
        b[0] += 1
        b[1] += c
        b[2] += bool(ok)
    return [{"lo": round(i / bins, 4), "hi": round((i + 1) / bins, 4), "count": n,
             "confidence": round(s / n, 4) if n else None, "accuracy": round(k / n, 4) if n else None}
            for i, (n, s, k) in enumerate(sums)]


def ece(confidences: list[float], correct: list[bool], bins: int = 10) -> float | None:
    """Expected calibration error: the count-weighted mean |accuracy − confidence| over the bins."""
    total = len(confidences)
    if not total:
        return None
    return round(sum(b["count"] / total * abs(b["accuracy"] - b["confidence"])
                     for b in reliability(confidences, correct, bins) if b["count"]), 4)
