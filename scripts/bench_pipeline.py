"""Benchmark the non-model part of ingest: load → clean → metadata → chunk → BM25 tokenise.

    python scripts/bench_pipeline.py                  # shipped corpus and CMRC 2018 contexts
    python scripts/bench_pipeline.py --only cmrc --profile 25   # with the 25 hottest functions

No model is loaded (the embedding stage is left out): each stage's CPU time (time.process_time)
is printed as chunks per CPU-second, so the figure does not depend on what else the machine runs.
Figures are printed, never asserted: speed is measured here, not in the test suite.
"""
from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CMRC = ROOT.parent / "shared" / "bench" / "cmrc2018_dev"
DATASETS = {"corpus": ROOT / "corpus", "cmrc": CMRC / "contexts.jsonl"}


def run(name: str) -> dict:
    sys.path.insert(0, str(ROOT))
    from qa import chunk, clean, lexical, load, metadata  # noqa: PLC0415
    from qa.service import _stated_fields  # noqa: PLC0415

    # Warm the lazy singletons (OpenCC dictionaries, jieba dictionaries) outside the timings:
    # they are paid once per process, not per document.
    from qa.textnorm import normalize  # noqa: PLC0415

    normalize("預熱")
    metadata.regions_in("湖南省长沙市")
    lexical.split("预热")
    lexical.stopwords()

    times: dict[str, float] = {}

    def timed(stage, fn, *args):
        t = time.process_time()
        out = fn(*args)
        times[stage] = times.get(stage, 0.0) + time.process_time() - t
        return out

    raws, _ = timed("load", load.load_files, load.find_files([DATASETS[name]]))
    cleaned = [timed("clean", clean.clean, r.text) for r in raws]
    metas = [timed("metadata", metadata.extract, c.text, _stated_fields(r), r.doc_id) for r, c in zip(raws, cleaned)]
    from qa.service import checksum  # noqa: PLC0415
    from qa.types import Document  # noqa: PLC0415

    docs = [Document(doc_id=r.doc_id, title=m.title, date=m.date, source=m.source, region=m.region, kind=m.kind,
                     path=r.path, fmt=r.fmt, checksum=checksum(r), raw_text=r.text, text=c.text, offsets=c.offsets)
            for r, c, m in zip(raws, cleaned, metas)]
    chunks = [c for d in docs for c in timed("chunk", chunk.chunk_document, d)]
    timed("bm25_tokenise", lambda: [lexical.split(c.search_text) for c in chunks])
    total = sum(times.values())

    # An update that changes one document: BM25 over every chunk from scratch (a rebuild), against
    # the postings of the one new segment an update writes (qa/index.py: segments and tombstones).
    changed = {c.chunk_id for c in chunks if c.doc_id == docs[0].doc_id}
    texts = [c.search_text + "（修订）" if c.chunk_id in changed else c.search_text for c in chunks]
    extra: dict[str, float] = {}
    for label, batch in (("bm25 rebuild, every chunk", texts),
                         ("bm25 update, the changed document's segment", [t for c, t in zip(chunks, texts)
                                                                           if c.chunk_id in changed])):
        t = time.process_time()
        lexical.Postings.build(batch)
        extra[label] = time.process_time() - t
    extra["filter mask at 100k chunks"] = _filter_seconds(chunks, docs)
    return {"dataset": name, "documents": len(docs), "chunks": len(chunks), "times": times, "total": total,
            "extra": extra}


def _filter_seconds(chunks, documents) -> float:
    """CPU time of one filtered query's mask over 100k chunks (the chunks repeated), columns built."""
    from types import SimpleNamespace  # noqa: PLC0415

    from qa.index import DocumentInfo, Index  # noqa: PLC0415
    from qa.retrieve import allowed_rows  # noqa: PLC0415
    from qa.types import Filters  # noqa: PLC0415

    many = (chunks * (100_000 // len(chunks) + 1))[:100_000]
    docs = {d.doc_id: DocumentInfo(d.doc_id, d.title, d.date, d.source, d.region, d.kind, d.path, d.fmt,
                                   d.checksum, 0) for d in documents}
    index = SimpleNamespace(chunks=many, docs=docs, _derived={})
    index.derived = lambda key, make: Index.derived(index, key, make)
    f = Filters(regions=("湖南",), kinds=("规划", "新闻"), date_from="2000-01-01")
    allowed_rows(index, f)  # columns: built once per loaded version
    t = time.process_time()
    for _ in range(10):
        allowed_rows(index, f)
    return (time.process_time() - t) / 10


def show(r: dict) -> None:
    n = r["chunks"]
    print(f"\n{r['dataset']}: {r['documents']} documents, {n} chunks")
    for stage, s in [*r["times"].items(), ("total", r["total"])]:
        rate = n / s if s else float("inf")
        print(f"  {stage:<14} {s * 1000:9.1f} ms CPU  {rate:10.1f} chunks/CPU-s")
    for label, s in r.get("extra", {}).items():
        print(f"  {label:<36} {s * 1000:9.1f} ms CPU")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=sorted(DATASETS))
    ap.add_argument("--profile", type=int, default=0, metavar="N", help="print the N hottest functions (cProfile)")
    args = ap.parse_args()
    for name in [args.only] if args.only else list(DATASETS):
        if args.profile:
            prof = cProfile.Profile()
            result = prof.runcall(run, name)
            show(result)
            pstats.Stats(prof).sort_stats("cumulative").print_stats(args.profile)
        else:
            show(run(name))


if __name__ == "__main__":
    main()
