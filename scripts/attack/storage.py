"""Cases 14-17 and 19: the index under stress. Each starts servers of its own over a private copy
of an index, breaks something (the server, the files, the disk) and looks at what is served after."""
from __future__ import annotations

import errno
import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import httpx

from . import server as srvmod
from .harness import Ctx, Tally, error_code, mb
from .server import Server, copy_index, live_folder, version_names
from .uploads import MARKER_ANSWER, MARKER_ID, MARKER_QUESTION

ROOT = srvmod.ROOT
ASK, DOCS = "/api/v1/ask", "/api/v1/documents"
Q001 = ("截至2020年底湖南全省实有市场主体多少户", "488.84")  # eval/seed_questions.jsonl q001
PLAN = "湖南省十四五市场监管规划"  # where q001 is answered from


def _start(ctx: Ctx, name: str, index_dir: Path, ready: bool = True, **env: str) -> Server:
    server = srvmod.start(name, index_dir, ctx.tmp, {"QA_API_KEYS": ctx.keys.setting, **env}, ready=ready)
    ctx.servers.append(server)
    return server


def _ask(ctx: Ctx, server: Server, question: str) -> str:
    r = ctx.call(server, "POST", ASK, ctx.keys.reader, json={"question": question}, timeout=60)
    return r.json().get("answer", "") if r.status_code == 200 else f"<{r.status_code} {error_code(r)}>"


def _documents(ctx: Ctx, server: Server) -> set[str]:
    r = ctx.call(server, "GET", DOCS, ctx.keys.reader)
    return {d["doc_id"] for d in r.json()["documents"]} if r.status_code == 200 else set()


def _manifest_docs(folder: Path) -> set[str]:
    return {d["doc_id"] for d in json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["documents"]}


def _settle(ctx: Ctx, server: Server, limit: float) -> tuple[httpx.Response | None, float]:
    """Poll /readyz until it is 200 or a 503 that is no longer "loading" (or `limit` passes, or the
    loading thread died with a traceback and nothing changed for 5 s)."""
    t0 = time.monotonic()
    r, died_at = None, None
    while time.monotonic() - t0 < limit:
        try:
            r = httpx.get(server.url + "/readyz", timeout=5)
            ctx.record("GET", "/readyz", r.status_code, dict(r.headers), r.text)
        except httpx.TransportError:
            r = None
        loading = r is None or (r.status_code == 503 and "正在加载" in r.text)
        if not loading:
            break
        if "Traceback" in server.log_text():
            died_at = died_at or time.monotonic()
            if time.monotonic() - died_at > 5:
                break
        time.sleep(0.5)
    return r, time.monotonic() - t0


def _message(r: httpx.Response | None) -> str:
    try:
        return r.json()["error"]["message"]
    except (AttributeError, ValueError, KeyError, TypeError):
        return "" if r is None else r.text[:200]


# ----- 14 -----

def _big_text(n: int = 700) -> str:
    rng = random.Random(14)
    return "关于2035年度全市企业抽查情况的报告\n" + "".join(
        f"第{i}项：{rng.choice(('长沙', '株洲', '湘潭', '衡阳'))}片区在第{rng.randint(1, 4)}季度抽查企业"
        f"{rng.randint(10, 999)}家，发现问题{rng.randint(1, 99)}处，已整改{rng.randint(1, 99)}处。\n" for i in range(n))


def kill_during_ingest(ctx: Ctx, t: Tally) -> None:
    """14. kill -9 of the server while its upload is being embedded: the child goes too, CURRENT stays,
    and after a restart the job reads failed (interrupted) and the index serves."""
    index = copy_index(ctx.base_index, ctx.tmp / "kill9-index")
    before = os.readlink(index / "CURRENT")
    first = _start(ctx, "kill9", index)
    second = None
    try:
        offset = len(first.log_text())
        r = ctx.call(first, "POST", DOCS, ctx.keys.admin,
                     files={"files": ("atk-kill.txt", _big_text().encode(), "text/plain")})
        job_id = r.json()["job_id"]
        deadline = time.monotonic() + 90
        while "qa.embed" not in first.log_text()[offset:] and time.monotonic() < deadline:
            time.sleep(0.1)  # the ingest child logs when its model is loaded: embedding starts now
        embedding = "qa.embed" in first.log_text()[offset:]
        time.sleep(1)
        kids = srvmod.descendants(first.pid)
        os.kill(first.pid, signal.SIGKILL)
        first.proc.wait()
        deadline = time.monotonic() + 45
        while any(srvmod.alive(k) for k in kids) and time.monotonic() < deadline:
            time.sleep(0.2)
        survivors = [k for k in kids if srvmod.alive(k)]
        t.check(embedding, "the ingest child never reached embedding (killed anyway)")
        t.check(bool(kids) and not survivors,
                f"{len(survivors)} of {len(kids)} child processes outlived the server by 45 s")
        after = os.readlink(index / "CURRENT")
        t.check(after == before, f"CURRENT moved from {before} to {after} after the server died")
        srvmod.stop(first)  # whatever is left of its process group
        second = _start(ctx, "kill9-restarted", index)
        job = ctx.call(second, "GET", f"/api/v1/jobs/{job_id}", ctx.keys.admin).json()
        code = (job.get("error") or {}).get("code")
        t.check(job.get("status") == "failed" and code == "interrupted",
                f"after restart the job reads {job.get('status')} ({code})")
        answer = _ask(ctx, second, Q001[0])
        t.check(Q001[1] in answer, f"after restart the index answers {answer!r}")
        t.note(f"killed with {len(kids)} children; {len(survivors)} survived 45 s; CURRENT "
               f"{'unchanged' if after == before else 'moved'}; job after restart: {job.get('status')} ({code})")
    finally:
        for s in (first, second):
            if s is not None:
                srvmod.stop(s)


# ----- 15 -----

def _truncate(path: Path) -> None:
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size // 2)


def _garbage(path: Path) -> None:
    path.write_bytes(random.Random(15).randbytes(path.stat().st_size))


def _damage_sqlite(path: Path) -> None:
    with open(path, "r+b") as f:
        f.write(random.Random(16).randbytes(4096))  # the header page: "file is not a database"


def _segment(version: Path) -> Path:
    """The newest segment of a version folder (the files a damaged disk would hit first)."""
    name = json.loads((version / "manifest.json").read_text(encoding="utf-8"))["segments"][-1]["name"]
    return version / "segments" / name


CORRUPTIONS: dict[str, tuple[str, Callable[[Path], None]]] = {
    "truncated vectors.npy": ("vectors.npy", lambda v: _truncate(_segment(v) / "vectors.npy")),
    "garbage BM25 postings": ("post_tf.npy", lambda v: _garbage(_segment(v) / "lexical" / "post_tf.npy")),
    "missing lexical/": ("lexical/", lambda v: shutil.rmtree(_segment(v) / "lexical")),
    "damaged store.sqlite": ("store.sqlite", lambda v: _damage_sqlite(_segment(v) / "store.sqlite")),
}
QUICK_CORRUPTIONS = ("truncated vectors.npy",)


def corrupted_index(ctx: Ctx, t: Tally) -> None:
    """15. A damaged file in the live version: /readyz says what and how to recover, or a fallback
    version serves correct answers and the server says so."""
    source = ctx.after_main or ctx.base_index
    for label in (QUICK_CORRUPTIONS if ctx.quick else CORRUPTIONS):
        what, corrupt = CORRUPTIONS[label]
        slug = what.replace(".", "-").replace("/", "")
        index = copy_index(source, ctx.tmp / f"corrupt-{slug}-index")
        damaged = live_folder(index)
        versions = version_names(index)
        corrupt(damaged)
        server = _start(ctx, f"corrupt-{slug}", index, ready=False)
        try:
            r, took = _settle(ctx, server, 60)
            status, message = (r.status_code if r is not None else None), _message(r)
            if status == 200:
                served = r.json().get("index", {}).get("version")
                rebuilt = version_names(index) - versions
                said = any(damaged.name in line and (" WARNING " in line or " ERROR " in line)
                           for line in server.log_text().splitlines())
                answer = _ask(ctx, server, Q001[0])
                ok = not rebuilt and served != damaged.name and said and Q001[1] in answer
                t.check(ok, f"{label}: ready, serving {served} ({'rebuilt from corpus' if rebuilt else ''}"
                            f"{'the damaged version itself' if served == damaged.name else ''}"
                            f"{'' if said else '; no warning naming the damaged version'}); answer {answer[:30]!r}")
                t.note(f"{label}: 200 after {took:.0f} s, serving {served}")
            else:
                names = what.rstrip("/") in message or "损坏" in message
                advice = "qa index rollback" in message or "qa ingest --rebuild" in message
                loading = r is None or "正在加载" in message
                t.check(status == 503 and names and advice and not loading,
                        f"{label}: readyz {status} after {took:.0f} s: {message[:90]!r}")
                if status == 503 and not loading:
                    t.note(f"{label}: 503 after {took:.0f} s, names it and the way back: {message[:70]}…")
        finally:
            srvmod.stop(server)


# ----- 16 -----

def dangling_current(ctx: Ctx, t: Tally) -> None:
    """16. CURRENT points at a missing folder: the previous version (with its uploaded document)
    is served, never a rebuild from corpus/."""
    source = ctx.after_main or ctx.base_index
    index = copy_index(source, ctx.tmp / "dangling-index")
    previous = live_folder(index)
    expected = _manifest_docs(previous)
    uploaded = sorted(expected - _manifest_docs(live_folder(ctx.base_index)))
    versions = version_names(index)
    (index / "CURRENT").unlink()
    os.symlink("versions/20991231T235959-deadbeef", index / "CURRENT")
    server = _start(ctx, "dangling", index, ready=False)
    try:
        r, took = _settle(ctx, server, 120)
        status = r.status_code if r is not None else None
        served = r.json().get("index", {}).get("version") if status == 200 else None
        rebuilt = sorted(version_names(index) - versions)
        t.check(status == 200, f"readyz {status} after {took:.0f} s: {_message(r)[:90]!r}")
        t.check(not rebuilt, f"rebuilt from corpus/ into {rebuilt}")
        if status == 200:
            t.check(served == previous.name, f"serves {served}, not the previous version {previous.name}")
            listed = _documents(ctx, server)
            t.check(listed == expected, f"lists {len(listed)} documents, the previous version has {len(expected)}; "
                                        f"missing {sorted(expected - listed)[:3]}")
            if MARKER_ID in expected:
                answer = _ask(ctx, server, MARKER_QUESTION)
                t.check(MARKER_ANSWER in answer, f"the uploaded document answers {answer!r}")
        t.note(f"previous version holds {len(expected)} documents, {len(uploaded)} of them uploaded "
               f"({MARKER_ID if MARKER_ID in uploaded else 'not the marker'}); "
               f"readyz {status} after {took:.0f} s, serving {served}")
    finally:
        srvmod.stop(server)


# ----- 17 -----

def _fill(folder: Path) -> int:
    """Write a filler file until the disk says no more (bounded by the disk's size)."""
    written = 0
    with open(folder / "filler", "wb", buffering=0) as f:
        for block in (1024 * 1024, 4096, 1):
            while True:
                try:
                    written += f.write(b"\0" * block)
                except OSError as e:
                    if e.errno != errno.ENOSPC:
                        raise
                    break
    return written


def disk_full(ctx: Ctx, t: Tally) -> None:
    """17. The index on a full disk: a delete is refused with 507 insufficient_storage, the live
    version intact."""
    if os.geteuid() != 0:
        t.note("not tried: mounting a tmpfs needs root")
        return
    mount = ctx.tmp / "tmpfs"
    mount.mkdir()
    size = srvmod.bytes_under(ctx.base_index) + 6 * 1024 * 1024
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                          check=False, capture_output=True, text=True)
    if done.returncode:
        t.note(f"not tried: mount -t tmpfs failed: {done.stderr.strip()[:80]}")
        return
    server = None
    try:
        index = copy_index(ctx.base_index, mount / "kb")
        server = _start(ctx, "diskfull", index)
        before = os.readlink(index / "CURRENT")
        victim = next(d for d in sorted(_documents(ctx, server)) if d != PLAN)
        filled = _fill(mount)
        r = ctx.call(server, "DELETE", f"{DOCS}/{victim}", ctx.keys.admin)
        t.check(r.status_code == 507 and error_code(r) == "insufficient_storage",
                f"delete on a full disk: {r.status_code} {error_code(r)}")
        after = os.readlink(index / "CURRENT")
        t.check(after == before, f"CURRENT moved to {after}")
        ready = httpx.get(server.url + "/readyz", timeout=10).status_code
        listed = victim in _documents(ctx, server)
        answer = _ask(ctx, server, Q001[0])
        t.check(ready == 200 and listed and Q001[1] in answer,
                f"live version after: readyz {ready}, {victim} listed {listed}, answer {answer[:30]!r}")
        leftovers = [p.name for p in (index / "versions").iterdir() if p.name.startswith(".tmp-")]
        t.note(f"tmpfs of {mb(size)} filled (+{mb(filled)}); delete of {victim}: {r.status_code} "
               f"{error_code(r)}; temporary folders left: {len(leftovers)}")
    finally:
        if server is not None:
            srvmod.stop(server)
        (mount / "filler").unlink(missing_ok=True)
        if subprocess.run(["umount", str(mount)], check=False, capture_output=True).returncode:
            subprocess.run(["umount", "-l", str(mount)], check=False, capture_output=True)


# ----- 19 -----

def _seed_questions() -> list[dict]:
    path = ROOT / "eval" / "seed_questions.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _swap_docs() -> bytes:
    rows = [{"id": f"atk-swap-{i:02d}", "title": f"园艺兴趣小组活动记录{i}",
             "text": f"园艺兴趣小组第{i}次活动记录：春季种植月季{30 + i}株、茉莉{50 + i}株，参加会员{12 + i}人，"
                     f"活动地点为社区花园第{i}号花坛。"} for i in range(1, 21)]
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()


def hot_swap(ctx: Ctx, t: Tally) -> None:
    """19. 8 clients asking seed questions for ~20 s while 20 documents are uploaded and one deleted:
    no errors, and answers to the (unrelated) seed questions unchanged."""
    index = copy_index(ctx.base_index, ctx.tmp / "hotswap-index")
    server = _start(ctx, "hotswap", index, QA_RATE_LIMIT_PER_MINUTE="0")
    questions = _seed_questions()
    try:
        with httpx.Client(base_url=server.url, headers={"X-API-Key": ctx.keys.reader}, timeout=60) as http:
            baseline = {q["id"]: http.post(ASK, json={"question": q["question"], "history": q.get("history", [])}
                                           ).json().get("answer") for q in questions}
        results: list[tuple[str, str]] = []  # (question id, outcome: "ok" | "changed" | error)
        examples: list[str] = []
        stop = threading.Event()

        def client(offset: int) -> None:
            with httpx.Client(base_url=server.url, headers={"X-API-Key": ctx.keys.reader}, timeout=60) as http:
                i = offset
                while not stop.is_set():
                    q = questions[i % len(questions)]
                    i += 1
                    try:
                        r = http.post(ASK, json={"question": q["question"], "history": q.get("history", [])})
                    except httpx.HTTPError as e:
                        results.append((q["id"], type(e).__name__))
                        continue
                    answer = r.json().get("answer") if r.status_code == 200 else None
                    outcome = "ok" if answer == baseline[q["id"]] else ("changed" if r.status_code == 200
                                                                         else f"{r.status_code} {error_code(r)}")
                    if outcome == "changed" and len(examples) < 3:
                        examples.append(f"{q['id']}: {baseline[q['id']]!r} -> {answer!r}")
                    results.append((q["id"], outcome))

        threads = [threading.Thread(target=client, args=(k * 13,), daemon=True) for k in range(8)]
        t0 = time.monotonic()
        for th in threads:
            th.start()
        time.sleep(2)
        up = ctx.call(server, "POST", DOCS, ctx.keys.admin, content=_swap_docs(),
                      headers={"Content-Type": "application/x-ndjson"})
        job = ctx.wait_job(server, up.json()["job_id"]) if up.status_code == 202 else {}
        gone = ctx.call(server, "DELETE", f"{DOCS}/atk-swap-07", ctx.keys.admin)
        swapped = time.monotonic() - t0
        while time.monotonic() - t0 < max(20, swapped + 3):
            time.sleep(0.5)
        stop.set()
        for th in threads:
            th.join(timeout=70)
        outcomes = Counter(o for _, o in results)
        errors = {o: n for o, n in outcomes.items() if o not in ("ok", "changed")}
        t.check(job.get("status") == "succeeded", f"upload of 20 documents: {up.status_code}, job {job.get('status')}")
        t.check(gone.status_code == 200, f"delete during the run: {gone.status_code} {error_code(gone)}")
        t.check(not errors, f"errors: {errors}")
        t.check(not outcomes["changed"], f"{outcomes['changed']} answers changed, e.g. {'; '.join(examples)}")
        t.note(f"{len(results)} answers in {time.monotonic() - t0:.0f} s from 8 clients; upload and delete done "
               f"at {swapped:.0f} s; {dict(outcomes)}")
    finally:
        srvmod.stop(server)
