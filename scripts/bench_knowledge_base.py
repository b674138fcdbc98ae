"""Benchmark the knowledge base: ingest throughput, search latency and peak memory.

    python scripts/bench_knowledge_base.py                 # shipped corpus and CMRC 2018 contexts
    python scripts/bench_knowledge_base.py --only corpus   # one of them

Each dataset runs in its own process so peak memory is that dataset's alone.
Figures are printed, never asserted: speed is measured here, not in the test suite.
"""
from __future__ import annotations

import argparse
import json
import random
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
    "corpus": (ROOT / "corpus", None),
    "cmrc": (CMRC / "contexts.jsonl", CMRC / "qa.jsonl"),
}
N_QUERIES = 100


def _queries(name: str, svc) -> list[str]:
    _, qa_file = DATASETS[name]
    if qa_file is not None:
        with open(qa_file, encoding="utf-8") as f:
            return [json.loads(line)["question"] for line, _ in zip(f, range(N_QUERIES))]
    # The shipped corpus has no question set of its own here: use phrases cut from its chunks.
    rng = random.Random(0)
    chunks = [c for c in svc.index.chunks if c.kind == "text" and len(c.text) > 40]
    return [c.text[5:25] for c in rng.choices(chunks, k=N_QUERIES)]


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

        queries = _queries(name, svc)
        svc.search(queries[0])  # warm-up
        lat = []
        for q in queries:
            t = time.perf_counter()
            svc.search(q, k=5)
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
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
        "search_p50_ms": round(statistics.median(lat), 1),
        "search_p95_ms": round(lat[int(0.95 * (len(lat) - 1))], 1),
        "queries": len(lat),
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
