"""Benchmark the knowledge base: ingest throughput, search and ask latency, peak memory.

    python scripts/bench_knowledge_base.py                 # shipped corpus and CMRC 2018 contexts
    python scripts/bench_knowledge_base.py --only corpus   # one of them

Each dataset runs in its own process so peak memory is that dataset's alone.
Figures are printed, never asserted: speed is measured here, not in the test suite.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CMRC = ROOT.parent / "shared" / "bench" / "cmrc2018_dev"
DATASETS = {
    "corpus": (ROOT / "corpus", ROOT / "eval" / "seed_questions.jsonl"),
    "cmrc": (CMRC / "contexts.jsonl", CMRC / "qa.jsonl"),
}
N_QUERIES = 100


def _questions(name: str) -> list[tuple[str, list[str]]]:
    """(question, history) pairs: the seed set for the corpus, the first CMRC questions for CMRC."""
    _, qa_file = DATASETS[name]
    with open(qa_file, encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    rows = rows[:N_QUERIES] if len(rows) >= N_QUERIES else (rows * (N_QUERIES // len(rows) + 1))[:N_QUERIES]
    return [(r["question"], r.get("history", [])) for r in rows]


def _percentiles(ms: list[float]) -> tuple[float, float]:
    ms = sorted(ms)
    return round(statistics.median(ms), 1), round(ms[int(0.95 * (len(ms) - 1))], 1)


def run_one(name: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from qa.service import Service  # noqa: PLC0415
    from qa.settings import Settings  # noqa: PLC0415

    source, _ = DATASETS[name]
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        svc = Service(Settings(index_dir=Path(tmp) / "kb"))
        _ = svc.embedder
        load_s = time.perf_counter() - t

        t = time.perf_counter()
        report = svc.ingest([source])
        ingest_s = time.perf_counter() - t
        t = time.perf_counter()
        again = svc.ingest([source])
        reingest_s = time.perf_counter() - t

        questions = _questions(name)
        svc.ask(questions[0][0])  # warm-up
        search_ms, ask_ms = [], []
        for q, history in questions:
            t = time.perf_counter()
            svc.search(q, k=5)
            search_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            svc.ask(q, history=history)
            ask_ms.append((time.perf_counter() - t) * 1000)
    return {
        "dataset": name,
        "documents": report.documents,
        "chunks": report.chunks,
        "problems": len(report.problems),
        "model_load_s": round(load_s, 2),
        "ingest_s": round(ingest_s, 1),
        "ingest_chunks_per_s": round(report.chunks / ingest_s, 1),
        "reingest_s": round(reingest_s, 2),
        "reingest_embedded": again.embedded_chunks,
        "search_p50_ms": _percentiles(search_ms)[0],
        "search_p95_ms": _percentiles(search_ms)[1],
        "ask_p50_ms": _percentiles(ask_ms)[0],
        "ask_p95_ms": _percentiles(ask_ms)[1],
        "questions": len(ask_ms),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=sorted(DATASETS))
    parser.add_argument("--child", choices=sorted(DATASETS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(run_one(args.child)))
        return
    names = [args.only] if args.only else list(DATASETS)
    rows = []
    for name in names:
        out = subprocess.run([sys.executable, __file__, "--child", name], capture_output=True, text=True)
        if out.returncode != 0:
            sys.stderr.write(out.stderr)
            sys.exit(out.returncode)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    keys = list(rows[0])
    width = max(len(k) for k in keys)
    for k in keys:
        print(f"{k:<{width}}  " + "  ".join(f"{str(r[k]):>14}" for r in rows))


if __name__ == "__main__":
    main()
