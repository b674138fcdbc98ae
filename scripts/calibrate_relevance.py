"""Fit a retrieved passage's relevance (`qa.relevance`, Dify's `score`) on the tuning sets.

    python scripts/calibrate_relevance.py [--check] [--dry-run] [--rows rows.json]

Tuning and held-out sets as for the answer's confidence (scripts/calibrate_confidence.py, whose
helpers this reuses): tuning = CMRC 2018 trial + the seed set's odd half (a seed question weighs
SEED_WEIGHT CMRC ones); held out (`--check`) = CMRC 2018 dev + the seed set's even half.

Each question is searched once as the Dify endpoint searches (hybrid, top K passages); each
passage is a row: its `qa.relevance.features` and whether it is relevant, i.e. contains a gold
answer or the evidence (`qa.evaluate.relevant_chunks`; never, for an unanswerable question).
A logistic regression (`qa.calibration.fit`) on those rows is the relevance; scores are then made
non-increasing down each ranking, as served. Printed: ECE of the uncalibrated fallback (fused / 2)
and of the fit, the reliability table, and what thresholds keep. Written: qa/data/relevance.json
(unless --dry-run). Re-run after a change to retrieval, fusion or the embedding model, and commit it.

CMRC indexes are built on first use under index/ (minutes each); `--trial-index`, `--dev-index`
and `--seed-index` take existing ones (only read).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from calibrate_confidence import SEED_WEIGHT, arguments, gather, seed_half

from qa import calibration, relevance
from qa.evaluate import relevant_chunks
from qa.rewrite import rewrite

K = 10  # passages per question: Dify's top_k is rarely more
THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9)


def collect(svc, items) -> list[dict]:
    """One row per retrieved passage: question id, rank, features, relevant or not."""
    index = svc.index
    rows = []
    for item in items:
        hits = svc.search(rewrite(item.question, list(item.history)), k=K)
        wanted = set() if item.unanswerable else relevant_chunks(index, item)
        for rank, (h, feats) in enumerate(zip(hits, relevance.features(hits)), start=1):
            rows.append({"id": item.id, "rank": rank, "features": feats, "relevant": h.chunk.chunk_id in wanted,
                         "fused": h.score})
    return rows


def by_question(rows: list[dict]) -> list[list[dict]]:
    groups: dict[str, list[dict]] = {}
    for r in rows:
        groups.setdefault(r["id"], []).append(r)
    return [sorted(g, key=lambda r: r["rank"]) for g in groups.values()]


def served(rows: list[dict], model) -> list[float]:
    """The scores as the endpoint serves them (monotone down each ranking), in the order of `rows`."""
    out: dict[tuple[str, int], float] = {}
    for group in by_question(rows):
        if model is None:
            probs = [min(1.0, max(0.0, r["fused"] / 2.0)) for r in group]
        else:
            probs = [model.probability(r["features"]) for r in group]
        for r, p in zip(group, relevance.monotone(probs)):
            out[(r["id"], r["rank"])] = p
    return [out[(r["id"], r["rank"])] for r in rows]


def summary(name: str, rows: list[dict], model) -> str:
    labels = [r["relevant"] for r in rows]
    before = calibration.ece(served(rows, None), labels)
    after = calibration.ece(served(rows, model), labels)
    return (f"{name:<15} passages {len(rows):>6}  relevant {sum(labels) / max(len(rows), 1):.3f}  "
            f"ECE fallback {before:.4f}  calibrated {after:.4f}")


def table(name: str, rows: list[dict], model) -> str:
    probs, labels = served(rows, model), [r["relevant"] for r in rows]
    lines = [f"{name}: reliability (calibrated)", "  bin        passages  mean score  share relevant"]
    for b in calibration.reliability(probs, labels):
        if b["count"]:
            lines.append(f"  {b['lo']:.1f}–{b['hi']:.1f}  {b['count']:>9}  {b['confidence']:>10.3f}  {b['accuracy']:>14.3f}")
    relevant = sum(labels)
    lines.append("  threshold  kept  precision  recall (of the relevant passages among the top K)")
    for t in THRESHOLDS:
        kept = [y for p, y in zip(probs, labels) if p >= t]
        precision = sum(kept) / len(kept) if kept else float("nan")
        lines.append(f"  {t:>9.1f}  {len(kept) / len(rows):.3f}  {precision:>9.3f}  {sum(kept) / max(relevant, 1):.3f}")
    return "\n".join(lines)


def main() -> None:
    args = arguments(__doc__.split("\n\n")[0], relevance.PATH,
                     "keep the retrieved rows in this JSON file and reuse them (only while retrieval is unchanged)")
    rows = gather(args, collect)
    seed_tune = [r for r in rows["seed"] if seed_half(r["id"]) == "tuning"]
    seed_held = [r for r in rows["seed"] if seed_half(r["id"]) == "held_out"]
    fit_rows = rows["trial"] + seed_tune
    weights = [1.0] * len(rows["trial"]) + [SEED_WEIGHT] * len(seed_tune)
    model = calibration.fit([r["features"] for r in fit_rows], [r["relevant"] for r in fit_rows], weights,
                            identity=rows["identity"], fitted_on=("cmrc2018_trial", "seed_questions:odd"),
                            numeric=relevance.NUMERIC)
    print("weights (standardised): " + ", ".join(f"{n} {w:+.2f}" for n, w in zip(model.names, model.weights)))
    print(summary("CMRC trial", rows["trial"], model))
    print(summary("seed tuning", seed_tune, model))
    if args.check:
        print(summary("CMRC dev", rows["dev"], model))
        print(summary("seed held-out", seed_held, model))
        print()
        print(table("CMRC dev", rows["dev"], model))
        print()
        print(table("seed held-out", seed_held, model))
    if not args.dry_run:
        args.out.write_text(json.dumps(model.to_json(), ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
