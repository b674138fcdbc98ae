"""Benchmark the index at scale: synthetic knowledge bases of 10k, 100k and 1M chunks.

    python scripts/bench_scale.py                      # 10k, 100k and 1M chunks
    python scripts/bench_scale.py --sizes 10k,100k     # some of them

Each knowledge base holds the real chunks of the shipped corpus and of ~1,500 CMRC 2018 chunks,
with their real vectors (embedded once, cached in build/bench_scale/), and synthetic documents
for the rest: sentences of the corpus and the CMRC contexts shuffled across chunks, numbers
swapped, with varied ids, dates, regions and kinds, so BM25 sees realistic vocabulary and document
frequencies; their vectors are seeded random unit vectors. The index is built with `Index.build`
and saved with `Index.save`, then every figure is taken through the service in a fresh process
per step (so memory figures do not accumulate): load time, RSS, `search` / `ask` p50/p95 over 200
real questions (the seed set and CMRC trial), flat against HNSW, filtered `ask`, and adding and
deleting one document with the real embedder. Figures are printed beside the issue-15 targets.
"""
from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import math
import os
import pickle
import platform
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
BENCH = ROOT.parent / "shared" / "bench"
CACHE = ROOT / "build" / "bench_scale"
SEED = 15
REAL_VECTORS = 1500  # real chunks embedded once (corpus, CMRC trial, then CMRC dev up to this many)
N_SEED_QUESTIONS = 106  # the seed set's first 106, the questions the README's figures were measured with
N_TRIAL_QUESTIONS = 94  # with those: 200
SIZES = {"10k": 10_000, "100k": 100_000, "1M": 1_000_000}
REGIONS = ("湖南省", "株洲市", "长沙市", "贵州省", "贵阳市", "河北省", "江苏省", "南京市", "广东省", "四川省",
           "浙江省", "湖北省", "山东省", "河南省", "云南省", "")
KINDS = ("规划", "通知", "会议报道", "其他", "其他")
SOURCES = ("人民政府办公厅", "市场监督管理局", "发展和改革委员会", "新华社", "")
# The filters `ask` is timed with, in turn: a date range, a region, a kind, and two together.
FILTERS = (
    {"date_from": "2020-01-01", "date_to": "2021-12-31"},
    {"regions": ("湖南",)},
    {"kinds": ("规划",)},
    {"regions": ("贵州",), "date_from": "2019-01-01"},
)
SENTENCE = re.compile(r"[^。！？；\n]+[。！？；]?")
UPDATE_TEXT = (
    "规模基准测试专用通知\n"
    "为做好2026年度计量器具强制检定工作，现将有关事项通知如下。各县市区市场监管局要在3月31日前完成辖区内"
    "加油机、出租车计价器和医用血压计的摸底登记，建立强制检定台账，检定合格率应达到98%以上。"
    "对逾期未申请检定的使用单位，依法责令限期改正。联系人：计量处，电话0731-88888888。\n"
)


# ----- helpers -----

def rss_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    out = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            key, value = line.split(":")
            out[key] = int(value.split()[0]) / 1024
    return round(out["VmRSS"], 1), round(out["VmHWM"], 1)


def pct(ms: list[float], digits: int = 1) -> tuple[float, float]:
    ms = sorted(ms)
    return round(statistics.median(ms), digits), round(ms[int(0.95 * (len(ms) - 1))], digits)


def tree_state(folder: Path) -> dict[tuple[int, int], tuple[int, int]]:
    """Every file under `folder` by inode: a hard link to a file of the version before is not a write."""
    out = {}
    for dirpath, _, files in os.walk(folder):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            out[(st.st_dev, st.st_ino)] = (st.st_size, st.st_mtime_ns)
    return out


def written(before: dict, after: dict) -> int:
    """Bytes of the files created or modified between two `tree_state`s."""
    return sum(v[0] for key, v in after.items() if before.get(key) != v)


def machine() -> str:
    cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                if ln.startswith("model name")), platform.processor())
    mem = next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines() if ln.startswith("MemTotal"))
    load = os.getloadavg()
    return (f"machine: {cpu}, {len(os.sched_getaffinity(0))} cores usable ({os.cpu_count()} online), "
            f"{mem / 2**20:.1f} GiB RAM, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}; "
            f"Python {platform.python_version()}")


def settings(index_dir: Path, kind: str = "flat", hnsw_m: int = 32):
    from qa.settings import Settings  # noqa: PLC0415

    return Settings(index_dir=index_dir, dense_index=kind, hnsw_m=hnsw_m)


def questions() -> list[str]:
    seed = [json.loads(x)["question"] for x in (ROOT / "eval" / "seed_questions.jsonl").read_text("utf-8").splitlines() if x.strip()]
    trial = [json.loads(x)["question"] for x in (BENCH / "cmrc2018_trial" / "qa.jsonl").read_text("utf-8").splitlines() if x.strip()]
    step = max(1, len(trial) // N_TRIAL_QUESTIONS)
    return seed[:N_SEED_QUESTIONS] + trial[::step][:N_TRIAL_QUESTIONS]


# ----- step 1: the real sample (documents, chunks, vectors) and the sentence pool, cached -----

def prepare_base() -> dict:
    """Real documents and chunks with their real vectors, and a pool of perturbed sentences with
    their BM25 words. Cached per model identity and chunker."""
    import numpy as np  # noqa: PLC0415

    from qa import lexical, load  # noqa: PLC0415
    from qa.embed import model_identity  # noqa: PLC0415
    from qa.service import Service, prepare_and_chunk  # noqa: PLC0415

    s = settings(CACHE / "unused")
    svc = Service(s)
    key = hashlib.sha256(json.dumps([model_identity(s.embed_model, s.embed_backend, s.embed_file),
                                     svc.chunker_config(), lexical.fingerprint(), REAL_VECTORS],
                                    sort_keys=True).encode()).hexdigest()[:12]
    path = CACHE / f"base-{key}.pkl"
    if path.exists():
        return {"cache": str(path)}
    CACHE.mkdir(parents=True, exist_ok=True)
    sizes = (s.chunk_target, s.chunk_max, s.chunk_overlap_sentences)
    groups = []  # corpus, trial, dev: documents and chunks in that order of priority for real vectors
    for src in (ROOT / "corpus", BENCH / "cmrc2018_trial" / "contexts.jsonl", BENCH / "cmrc2018_dev" / "contexts.jsonl"):
        raws, _ = load.load_files(load.find_files([src]))
        docs, chunks = [], []
        for raw in raws:
            doc, cs, error = prepare_and_chunk(raw, sizes)
            if error is None:
                docs.append(doc)
                chunks.append(cs)
        groups.append((docs, chunks))
    real_docs, real_chunks, pool_texts = [], [], []
    for docs, chunks in groups:
        for doc, cs in zip(docs, chunks):
            pool_texts.extend(c.search_text.split("\n", 1)[-1] for c in cs)  # without the title｜section head
            if len(real_chunks) + len(cs) <= REAL_VECTORS:
                real_docs.append(doc)
                real_chunks.extend(cs)
    t = time.perf_counter()
    vectors = svc.embedder.encode_passages([c.search_text for c in real_chunks], progress=True)
    embed_s = time.perf_counter() - t
    emb = svc.embedder
    model = {"name": emb.name, "identity": emb.identity, "dim": emb.dim,
             "query_prompt": emb.query_prompt, "passage_prompt": emb.passage_prompt}

    # The sentence pool: every sentence once as written, and those with digits twice more with
    # their digits replaced (new numbers and years, as another year's report would have).
    rng = np.random.default_rng(SEED)
    seen, pool = set(), []
    for text in pool_texts:
        for m in SENTENCE.finditer(text):
            sent = m.group().strip()
            if len(sent) < 4 or sent in seen:
                continue
            seen.add(sent)
            pool.append(sent)
            if any(ch.isdigit() for ch in sent):
                for _ in range(2):
                    pool.append(re.sub(r"\d", lambda _m: str(rng.integers(10)), sent))
    t = time.perf_counter()
    words = [lexical.split(p) for p in pool]
    split_s = time.perf_counter() - t
    base = {"model": model, "chunker": svc.chunker_config(), "real_docs": real_docs, "real_chunks": real_chunks,
            "vectors": vectors, "pool": pool, "words": words, "embed_s": embed_s,
            "split_chars_per_s": sum(map(len, pool)) / split_s}
    with open(path, "wb") as f:
        pickle.dump(base, f, protocol=pickle.HIGHEST_PROTOCOL)
    print(f"cached {len(real_chunks)} real chunks ({embed_s:.0f} s to embed) and {len(pool)} sentences in {path}",
          file=sys.stderr)
    return {"cache": str(path)}


# ----- step 2: build one synthetic knowledge base -----

def synthesize(base: dict, n: int):
    """The real documents and chunks plus synthetic ones up to `n` chunks; vectors beside them.
    Returns (documents, chunks, vectors, words_of) where `words_of(text)` gives a synthetic
    chunk's BM25 words (the concatenation of its sentences' words: no jieba pass at 1M)."""
    import numpy as np  # noqa: PLC0415

    from qa.types import Chunk, Document  # noqa: PLC0415

    rng = np.random.default_rng(SEED + n)
    pool, words = base["pool"], base["words"]
    lengths = np.fromiter(map(len, pool), dtype=np.int64, count=len(pool))
    real_chunks, real_docs = list(base["real_chunks"]), list(base["real_docs"])
    dim = base["vectors"].shape[1]
    total = max(n, len(real_chunks))
    vectors = np.empty((total, dim), dtype=np.float32)
    vectors[: len(real_chunks)] = base["vectors"]
    # Random unit vectors, written in blocks so no second full-size copy is made.
    for start in range(len(real_chunks), total, 65536):
        block = rng.standard_normal((min(65536, total - start), dim), dtype=np.float32)
        block /= np.linalg.norm(block, axis=1, keepdims=True)
        vectors[start: start + len(block)] = block

    chunks, documents = real_chunks, real_docs
    sentence_ids: dict[str, np.ndarray] = {}
    picks = rng.integers(0, len(pool), size=(total - len(real_chunks)) * 12 + 64)
    p = 0
    d = 0
    while len(chunks) < total:
        d += 1
        doc_id = f"syn-{n}-{d:07d}"
        n_chunks = int(min(total - len(chunks), 1 + rng.geometric(0.1)))  # mean ~10 chunks a document
        region = REGIONS[int(rng.integers(len(REGIONS)))]
        kind = KINDS[int(rng.integers(len(KINDS)))]
        date = "" if rng.random() < 0.1 else \
            f"{int(rng.integers(2012, 2027))}-{int(rng.integers(1, 13)):02d}-{int(rng.integers(1, 29)):02d}"
        texts, ids_of = [], []
        for _ in range(n_chunks):
            target = int(rng.integers(150, 480))
            ids = []
            size = 0
            while size < target:
                if p == len(picks):
                    picks, p = rng.integers(0, len(pool), size=len(picks)), 0
                i = int(picks[p])
                p += 1
                if ids and size + lengths[i] > 500:
                    break
                ids.append(i)
                size += int(lengths[i])
            texts.append("".join(pool[i] for i in ids))
            ids_of.append(np.array(ids, dtype=np.int32))
        text = "\n".join(texts)
        title = f"{region}{pool[int(ids_of[0][0])][:20]}"
        documents.append(Document(
            doc_id=doc_id, title=title, date=date, source=f"{region}{SOURCES[int(rng.integers(len(SOURCES)))]}",
            region=region, kind=kind, path=f"synthetic/{doc_id}.txt", fmt="txt",
            checksum=hashlib.sha256(doc_id.encode()).hexdigest(), raw_text=text, text=text,
            offsets=range(len(text)),  # the cleaned text is the raw text; a range costs nothing at 1M
        ))
        start = 0
        for ordinal, (t, ids) in enumerate(zip(texts, ids_of)):
            end = start + len(t)
            chunks.append(Chunk(
                chunk_id=hashlib.sha1(f"{doc_id}\x00{ordinal}".encode()).hexdigest()[:16], doc_id=doc_id,
                ordinal=ordinal, kind="text", section="", text=t, search_text=t, start=start, end=end,
                raw_start=start, raw_end=end, region=region,
            ))
            sentence_ids[t] = ids
            start = end + 1

    def words_of(text: str):
        ids = sentence_ids.get(text)
        return None if ids is None else [w for i in ids.tolist() for w in words[i]]

    return documents, chunks, vectors, words_of


def step_build(n: int, kind: str, hnsw_m: int, kb: Path, cache: Path) -> dict:
    from qa import lexical  # noqa: PLC0415
    from qa.index import Index  # noqa: PLC0415

    with open(cache, "rb") as f:
        base = pickle.load(f)
    t = time.perf_counter()
    documents, chunks, vectors, words_of = synthesize(base, n)
    gen_s = time.perf_counter() - t
    del base
    extra = {}
    reuse = "known_splits" in inspect.signature(Index.build).parameters
    if reuse:
        extra["known_splits"] = words_of
    shutil.rmtree(kb, ignore_errors=True)
    t = time.perf_counter()
    index = Index.build(documents, chunks, vectors, model=_model(cache), chunker=_chunker(cache),
                        lexical_fingerprint=lexical.fingerprint(), dense_kind=kind, hnsw_m=hnsw_m, **extra)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    index.save(kb, documents)
    save_s = time.perf_counter() - t
    return {"chunks": len(chunks), "documents": len(documents), "generate_s": round(gen_s, 1),
            "build_s": round(build_s, 1), "save_s": round(save_s, 1), "jieba_skipped": reuse,
            "bytes": sum(v[0] for v in tree_state(kb).values()), "build_peak_rss_mb": rss_mb()[1]}


def _model(cache: Path) -> dict:
    with open(cache, "rb") as f:
        return pickle.load(f)["model"]


def _chunker(cache: Path) -> dict:
    with open(cache, "rb") as f:
        return pickle.load(f)["chunker"]


# ----- step 3: load and query through the service -----

def step_query(kind: str, hnsw_m: int, kb: Path, dense_out: Path) -> dict:
    import bm25s  # noqa: F401, PLC0415 - imported before the clock starts: a server has them loaded
    import faiss  # noqa: F401, PLC0415

    from qa import retrieve  # noqa: PLC0415
    from qa.service import Service  # noqa: PLC0415
    from qa.types import Filters  # noqa: PLC0415

    svc = Service(settings(kb, kind, hnsw_m))
    rss_before = rss_mb()[0]
    t = time.perf_counter()
    index = svc.index  # Index.load with the service's expectations
    load_s = time.perf_counter() - t
    rss_loaded = rss_mb()[0]
    qs = questions()
    svc.ask(qs[0])  # loads the model; warms caches built once per version
    filters = [Filters(**f) for f in FILTERS]
    search_ms, ask_ms, fask_ms = [], [], []
    slow = []  # (ms, question, the answer's own timings): what the p95 is made of
    for i, q in enumerate(qs):
        t = time.perf_counter()
        svc.search(q)
        search_ms.append((time.perf_counter() - t) * 1000)
        t = time.perf_counter()
        answer = svc.ask(q)
        ask_ms.append((time.perf_counter() - t) * 1000)
        slow.append((round(ask_ms[-1], 1), q, dict(answer.timings_ms)))
        t = time.perf_counter()
        svc.ask(q, filters=filters[i % len(filters)])
        fask_ms.append((time.perf_counter() - t) * 1000)
    # The dense leg alone (the part flat and HNSW differ in), on vectors embedded beforehand.
    qv = svc.embedder.encode_queries([q for q in qs])
    ef = svc.settings.hnsw_ef_search
    dense_ms, fdense_ms = [], []
    for i, v in enumerate(qv):
        t = time.perf_counter()
        retrieve.dense_search(index, v, svc.settings.candidates, None, ef)
        dense_ms.append((time.perf_counter() - t) * 1000)
        mask = retrieve.allowed_rows(index, filters[i % len(filters)])
        t = time.perf_counter()
        retrieve.dense_search(index, v, svc.settings.candidates, mask, ef)
        fdense_ms.append((time.perf_counter() - t) * 1000)
    top = {q: [h.chunk.chunk_id for h in svc.search(q, k=10, mode="dense")] for q in qs}
    recall = None
    if kind == "hnsw" and dense_out.exists():
        flat = json.loads(dense_out.read_text("utf-8"))
        recall = round(statistics.mean(len(set(top[q]) & set(flat[q])) / max(1, len(flat[q])) for q in qs), 3)
    elif kind == "flat":
        dense_out.write_text(json.dumps(top, ensure_ascii=False), "utf-8")
    found = sum(svc.ask(q).found for q in qs[:50])
    rss, hwm = rss_mb()
    return {"load_s": round(load_s, 2), "rss_before_load_mb": rss_before, "rss_loaded_mb": rss_loaded,
            "rss_serving_mb": rss, "peak_rss_mb": hwm, "queries": len(qs),
            "search_ms": pct(search_ms), "ask_ms": pct(ask_ms), "filtered_ask_ms": pct(fask_ms),
            "dense_ms": pct(dense_ms, 2), "filtered_dense_ms": pct(fdense_ms, 2), "recall_at_10": recall,
            "found_of_50": found, "slowest_asks": sorted(slow, key=lambda x: x[0], reverse=True)[:8]}


# ----- step 4: add and delete one document with the real embedder -----

def step_update(kb: Path) -> dict:
    from qa.service import Service  # noqa: PLC0415

    svc = Service(settings(kb))
    _ = svc.index
    svc.embedder.encode_passages(["热身"])  # the model is loaded in a server before any upload
    folder = CACHE / "update"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "规模基准测试专用通知.txt"
    path.write_text(UPDATE_TEXT, encoding="utf-8")
    index_bytes = sum(v[0] for v in tree_state(kb).values())
    before = tree_state(kb)
    t = time.perf_counter()
    report = svc.ingest([path])
    add_s = time.perf_counter() - t
    after = tree_state(kb)
    doc_id = report.added[0]
    hit = any(h.chunk.doc_id == doc_id for h in svc.search("加油机和出租车计价器的强制检定合格率要求"))
    t = time.perf_counter()
    svc.remove([doc_id])
    delete_s = time.perf_counter() - t
    gone = tree_state(kb)
    return {"index_bytes": index_bytes, "add_s": round(add_s, 2), "add_bytes": written(before, after),
            "added_chunks": report.chunks, "embedded": report.embedded_chunks, "answerable": hit,
            "delete_s": round(delete_s, 2), "delete_bytes": written(after, gone), "peak_rss_mb": rss_mb()[1]}


# ----- step 5: where HNSW starts to pay off, on the dense leg alone -----

def step_threshold(hnsw_m: int, ef: int) -> dict:
    """faiss flat and HNSW indexes (the kinds the index builds, same M and efSearch) over seeded
    random unit vectors, searched for 50 neighbours one query at a time, without the BM25 half:
    the crossover of the two latencies. faiss directly: the index's own wrapper is internal."""
    import faiss  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415

    threads = faiss.omp_get_max_threads()
    rng = np.random.default_rng(SEED)
    dim = 384
    q = rng.standard_normal((200, dim), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    out = []
    for n in (1_000, 2_000, 5_000, 10_000, 20_000, 50_000):
        x = rng.standard_normal((n, dim), dtype=np.float32)
        x /= np.linalg.norm(x, axis=1, keepdims=True)
        row = {"n": n}
        for kind in ("flat", "flat1", "hnsw"):
            # flat1: the same flat search with faiss (OpenMP) held to one thread
            faiss.omp_set_num_threads(1 if kind == "flat1" else threads)
            if kind != "hnsw":
                dense, params = faiss.IndexFlatIP(dim), None
            else:
                dense = faiss.IndexHNSWFlat(dim, hnsw_m, faiss.METRIC_INNER_PRODUCT)
                params = faiss.SearchParametersHNSW(efSearch=ef)
            t = time.perf_counter()
            dense.add(x)
            row[f"{kind}_build_s"] = round(time.perf_counter() - t, 2)
            ms = []
            for v in q:
                t = time.perf_counter()
                dense.search(v[None, :], 50, params=params)
                ms.append((time.perf_counter() - t) * 1000)
            row[f"{kind}_ms"] = pct(ms, 2)
        out.append(row)
    return {"rows": out}


# ----- the parent: runs each step in a fresh process and prints the tables -----

def run_step(*args: str) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--step", *args], stdout=subprocess.PIPE, text=True, check=False)
    if proc.returncode != 0:
        return {"error": f"step {' '.join(args)} failed with exit code {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def verdict(value, target, unit: str, better: str = "lower") -> str:
    if value is None:
        return ""
    ok = value <= target if better == "lower" else value >= target
    if ok:
        return f"ok (target ≤ {target:g} {unit})"
    return f"MISSES target ≤ {target:g} {unit} by {value - target:+,.1f} {unit} (×{value / target:.1f})"


def available_mb() -> float:
    return next(int(ln.split()[1]) for ln in Path("/proc/meminfo").read_text().splitlines()
                if ln.startswith("MemAvailable")) / 1024


def mb(b: float) -> str:
    return f"{b / 2**20:,.0f} MB"


def print_table(label: str, n: int, res: dict) -> None:
    flat, hnsw, up, build = res.get("flat", {}), res.get("hnsw", {}), res.get("update", {}), res.get("build", {})
    hbuild = res.get("hnsw_build", {})
    at_1m, at_100k = n >= 1_000_000, n == 100_000
    rows = []

    def row(name, f="", h="", note=""):
        rows.append((name, str(f), str(h), note))

    def ms(d, key, i):
        return d[key][i] if key in d else None

    row("chunks / documents", f"{build.get('chunks', '')} / {build.get('documents', '')}")
    row("build (Index.build)", f"{build.get('build_s', '–')} s", f"{hbuild.get('build_s', res.get('hnsw_note', '–'))}"
        + (" s" if "build_s" in hbuild else ""), "jieba skipped: words given by known_splits" if build.get("jieba_skipped") else "")
    row("save (Index.save)", f"{build.get('save_s', '–')} s", f"{hbuild.get('save_s', '–')} s" if hbuild else "")
    row("index bytes on disk", mb(build.get("bytes", 0)), mb(hbuild["bytes"]) if "bytes" in hbuild else "")
    row("load (Index.load)", f"{flat.get('load_s', '–')} s", f"{hnsw.get('load_s', '–')} s" if hnsw else "",
        verdict(flat.get("load_s"), 10, "s") if at_1m else "")
    row("RSS after load, no model", f"{flat.get('rss_loaded_mb', 0):,.0f} MB",
        f"{hnsw.get('rss_loaded_mb', 0):,.0f} MB" if hnsw else "")
    row("RSS serving (index + model)", f"{flat.get('rss_serving_mb', 0):,.0f} MB",
        f"{hnsw.get('rss_serving_mb', 0):,.0f} MB" if hnsw else "",
        verdict(flat.get("rss_serving_mb", 0) / 1024, 4, "GB") if at_1m else "")
    for key, name in (("search_ms", "search p50 / p95"), ("ask_ms", "ask p50 / p95"),
                      ("filtered_ask_ms", "filtered ask p50 / p95"), ("dense_ms", "dense leg alone p50 / p95"),
                      ("filtered_dense_ms", "filtered dense leg p50 / p95")):
        f = f"{ms(flat, key, 0)} / {ms(flat, key, 1)} ms" if key in flat else "–"
        h = f"{ms(hnsw, key, 0)} / {ms(hnsw, key, 1)} ms" if key in hnsw else ""
        note = ""
        if at_1m and key == "ask_ms":
            note = "flat: " + verdict(ms(flat, key, 1), 60, "ms")
            if key in hnsw:
                note += "; hnsw: " + verdict(ms(hnsw, key, 1), 60, "ms")
        row(name, f, h, note)
    if hnsw:
        row("HNSW dense recall@10 vs flat", "", hnsw.get("recall_at_10"))

    def slowest(d):
        if not d.get("slowest_asks"):
            return ""
        ms_, _, t = d["slowest_asks"][0]
        return f"{ms_} ms (retrieve {t.get('retrieve')}, answer {t.get('answer')})"

    row("slowest ask", slowest(flat), slowest(hnsw))
    row("answered (found) of first 50", flat.get("found_of_50", ""), hnsw.get("found_of_50", "") if hnsw else "")
    if up:
        pct_written = 100 * up["add_bytes"] / max(1, up["index_bytes"])
        row("add one document (ingest)", f"{up['add_s']} s", "",
            verdict(up["add_s"], 2, "s") if at_100k else "")
        row("bytes written by the add", f"{mb(up['add_bytes'])} = {pct_written:.1f} %", "",
            verdict(pct_written, 2, "%") if at_100k else "")
        row("delete one document (remove)", f"{up['delete_s']} s", "", verdict(up["delete_s"], 1, "s") if at_100k else "")
        row("bytes written by the delete", mb(up["delete_bytes"]))
        row("added document then found", up["answerable"])
    for key in ("error_flat", "error_hnsw", "error_update", "error_build"):
        if key in res:
            row(key, res[key])
    widths = [max(len(r[i]) for r in rows + [("figure", "flat", "hnsw", "")]) for i in range(3)]
    print(f"\n## {label} chunks\n")
    print(f"| {'figure'.ljust(widths[0])} | {'flat'.ljust(widths[1])} | {'hnsw'.ljust(widths[2])} | target |")
    print(f"|{'-' * (widths[0] + 2)}|{'-' * (widths[1] + 2)}|{'-' * (widths[2] + 2)}|---|")
    for r in rows:
        print(f"| {r[0].ljust(widths[0])} | {r[1].ljust(widths[1])} | {r[2].ljust(widths[2])} | {r[3]} |")
    sys.stdout.flush()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="10k,100k,1M", help="comma-separated: 10k, 100k, 1M")
    ap.add_argument("--hnsw-m", type=int, default=32)
    ap.add_argument("--hnsw-limit-min", type=float, default=20,
                    help="an HNSW build estimated longer than this is extrapolated, not run")
    ap.add_argument("--no-update-at", default="", help="sizes where the update step is skipped, e.g. 1M")
    ap.add_argument("--keep", action="store_true", help="keep the built knowledge bases in build/bench_scale/")
    ap.add_argument("--step", nargs="*", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.step:
        name, rest = args.step[0], args.step[1:]
        if name == "prepare":
            out = prepare_base()
        elif name == "build":
            out = step_build(int(rest[0]), rest[1], int(rest[2]), Path(rest[3]), Path(rest[4]))
        elif name == "query":
            out = step_query(rest[0], int(rest[1]), Path(rest[2]), Path(rest[3]))
        elif name == "update":
            out = step_update(Path(rest[0]))
        else:
            out = step_threshold(int(rest[0]), int(rest[1]))
        print(json.dumps(out, ensure_ascii=False))
        return

    import logging  # noqa: PLC0415

    logging.basicConfig(level=logging.WARNING)
    labels = [s.strip() for s in args.sizes.split(",") if s.strip()]
    unknown = [s for s in labels if s not in SIZES]
    if unknown:
        ap.error(f"unknown size {unknown}; choose from {', '.join(SIZES)}")
    print(machine())
    print(f"questions: {len(questions())} (seed set and CMRC trial); filters cycled: {FILTERS}")
    t0 = time.perf_counter()
    cache = Path(run_step("prepare")["cache"])
    with open(cache, "rb") as f:
        base = pickle.load(f)
    print(f"real sample: {len(base['real_chunks'])} chunks of {len(base['real_docs'])} documents with real vectors "
          f"({base['model']['identity']}); sentence pool {len(base['pool'])}; jieba splits "
          f"{base['split_chars_per_s']:,.0f} characters/s (the build below reuses those words instead)")
    del base
    sys.stdout.flush()
    hnsw_rate_n = 0
    hnsw_rate = None  # seconds of HNSW construction per chunk, measured at the largest size below 1M
    results = {}
    for label in sorted(labels, key=SIZES.get):
        n = SIZES[label]
        res = results[label] = {}
        kb, kb_h = CACHE / f"kb-{label}-flat", CACHE / f"kb-{label}-hnsw"
        dense_out = CACHE / f"dense-{label}.json"
        dense_out.unlink(missing_ok=True)
        need = 14 * n / 1_000_000 * 1024  # MB: ~10x the 100k build's peak at 1M
        if "build" in results.get("100k", {}):
            need = results["100k"]["build"]["build_peak_rss_mb"] * n / 100_000
        if available_mb() < need * 1.2:
            res["error_build"] = f"not run: the build needs ~{need:,.0f} MB, {available_mb():,.0f} MB available"
            print_table(label, n, res)
            continue
        res["build"] = run_step("build", str(n), "flat", str(args.hnsw_m), str(kb), str(cache))
        if "error" in res["build"]:
            res["error_build"] = res.pop("build")["error"]
            print_table(label, n, res)
            continue
        res["flat"] = run_step("query", "flat", str(args.hnsw_m), str(kb), str(dense_out))
        if label not in args.no_update_at.split(","):
            res["update"] = run_step("update", str(kb))
        estimate = None if hnsw_rate is None else hnsw_rate * n * math.log(n) / math.log(hnsw_rate_n)
        if estimate is not None and estimate + res["build"]["build_s"] > args.hnsw_limit_min * 60:
            res["hnsw_note"] = f"not built: est. {(estimate + res['build']['build_s']) / 60:.0f} min"
            print(f"{label}: HNSW not built — the construction rate measured at {hnsw_rate_n:,} chunks "
                  f"({hnsw_rate * 1e3:.2f} ms a chunk) extrapolates (n log n) to {estimate / 60:.0f} min "
                  f"on top of the {res['build']['build_s'] / 60:.0f} min the rest of the build takes, "
                  f"over the {args.hnsw_limit_min} min limit")
        else:
            if not args.keep:
                shutil.rmtree(kb, ignore_errors=True)  # disk: one knowledge base at a time
            res["hnsw_build"] = run_step("build", str(n), "hnsw", str(args.hnsw_m), str(kb_h), str(cache))
            if "error" not in res["hnsw_build"]:
                res["hnsw"] = run_step("query", "hnsw", str(args.hnsw_m), str(kb_h), str(dense_out))
                extra = res["hnsw_build"]["build_s"] - res["build"]["build_s"]
                hnsw_rate, hnsw_rate_n = max(extra, 0.0) / n, n
            else:
                res["error_hnsw"] = res.pop("hnsw_build")["error"]
        for key in ("flat", "hnsw", "update"):
            if "error" in res.get(key, {}):
                res[f"error_{key}"] = res.pop(key)["error"]
        if not args.keep:
            shutil.rmtree(kb, ignore_errors=True)
            shutil.rmtree(kb_h, ignore_errors=True)
        print_table(label, n, res)
        (CACHE / "results.json").write_text(json.dumps(results, ensure_ascii=False, indent=1), "utf-8")

    thr = run_step("threshold", str(args.hnsw_m), "128")
    print("\n## Where HNSW pays off: the dense leg alone (faiss, 50 neighbours, random unit vectors)\n")
    print("| chunks | flat p50 / p95 | flat, 1 OpenMP thread | hnsw p50 / p95 | hnsw build |")
    print("|---|---|---|---|---|")
    points = [(r["n"], r["flat_ms"][0], r["hnsw_ms"][0]) for r in thr.get("rows", [])]
    for r in thr.get("rows", []):
        print(f"| {r['n']:,} | {r['flat_ms'][0]} / {r['flat_ms'][1]} ms | {r['flat1_ms'][0]} / {r['flat1_ms'][1]} ms "
              f"| {r['hnsw_ms'][0]} / {r['hnsw_ms'][1]} ms | {r['hnsw_build_s']} s |")
    for label, res in results.items():
        if "dense_ms" in res.get("flat", {}) and "dense_ms" in res.get("hnsw", {}):
            points.append((SIZES[label], res["flat"]["dense_ms"][0], res["hnsw"]["dense_ms"][0]))
            print(f"| {SIZES[label]:,} (knowledge base above) | {res['flat']['dense_ms'][0]} / "
                  f"{res['flat']['dense_ms'][1]} ms | | {res['hnsw']['dense_ms'][0]} / {res['hnsw']['dense_ms'][1]} ms | |")
    points.sort()
    cross = next((n for n, f, h in points if h < f and all(h2 < f2 for n2, f2, h2 in points if n2 >= n)), None)
    print(f"\nHNSW is faster than flat on the dense leg from about {cross:,} chunks on (median); below that flat "
          "is as fast and exact." if cross else "\nHNSW never beat flat on the dense leg at the sizes measured.")
    one = [(r["n"], r["flat1_ms"][0], r["hnsw_ms"][0]) for r in thr.get("rows", [])]
    cross1 = next((n for n, f, h in one if h < f and all(h2 < f2 for n2, f2, h2 in one if n2 >= n)), None)
    if cross1:
        print(f"With flat search held to one OpenMP thread, HNSW is faster from about {cross1:,} chunks on.")
    (CACHE / "results.json").write_text(json.dumps({**results, "threshold": thr}, ensure_ascii=False, indent=1), "utf-8")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s; figures in {CACHE / 'results.json'}")


if __name__ == "__main__":
    main()
