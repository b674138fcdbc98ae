"""Cases 13 and 18: hostile and broken uploads, and a stale temporary folder cleared by the next write.
On the shared main server (admin key)."""
from __future__ import annotations

import json
import os
import random
import time

from .harness import Ctx, Tally, error_code, mb
from .server import Peak, tree_rss
from .wire import zip_bomb

DOCS = "/api/v1/documents"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
MB = 1024 * 1024

# The document case 18 uploads; case 16 looks for it again in a version the server must fall back to.
MARKER_ID = "atk-marker"
MARKER_TEXT = ("关于2031年度水文站巡检情况的通报\n发布日期：2031-03-15\n"
               "2031年，全市共巡检水文站417座，发现并督促整改隐患26处。\n")
MARKER_QUESTION = "2031年全市共巡检水文站多少座？"
MARKER_ANSWER = "417"

UTF16_TEXT = "关于2032年度气象站维护情况的通报\n2032年，全市共维护气象站358座，更换传感器64套。\n"


def _jsonl_with_a_nul_line() -> bytes:
    docs = [{"id": f"atk-jsonl-{i}", "title": f"攻击测试文档{i}",
             "text": f"第{i}号测试文档：2033年全市共新建口袋公园{100 + i}个，种植乔木{2000 + i}株。"} for i in range(1, 5)]
    lines = [json.dumps(d, ensure_ascii=False).encode() for d in docs]
    return b"\n".join(lines[:2] + [b"\x00" * 64] + lines[2:]) + b"\n"


def _upload(ctx: Ctx, files: list[tuple[str, bytes, str]]):
    return ctx.call(ctx.main, "POST", DOCS, ctx.keys.admin, timeout=120,
                    files=[("files", (name, data, ctype)) for name, data, ctype in files])


def _file(job: dict, name: str) -> dict:
    return next((f for f in job.get("files", []) if f.get("name") == name), {})


def bad_uploads(ctx: Ctx, t: Tally) -> None:
    """13. A JSONL with a NUL line, UTF-16LE without BOM, an empty file, a binary file, a zip bomb,
    and a good file beside an unsupported one."""
    batch = [("atk-nul.jsonl", _jsonl_with_a_nul_line(), "application/x-ndjson"),
             ("atk-utf16.txt", UTF16_TEXT.encode("utf-16-le"), "text/plain"),
             ("atk-empty.txt", b"", "text/plain"),
             ("atk-binary.txt", random.Random(14).randbytes(4096), "text/plain")]
    r = _upload(ctx, batch)
    if r.status_code == 202:
        jobs = {name: r.json()["job_id"] for name, _, _ in batch}
        t.note("the four broken files went in one upload")
    else:  # refused as a batch (cleanly, one hopes): each file on its own then
        t.note(f"the batch was refused ({r.status_code} {error_code(r)}): uploading each file alone")
        jobs = {}
        for one in batch:
            r1 = _upload(ctx, [one])
            t.check(r1.status_code in (202, 400, 413, 415, 422), f"{one[0]} alone: {r1.status_code} {error_code(r1)}")
            if r1.status_code == 202:
                jobs[one[0]] = r1.json()["job_id"]
    # The ingest child's own size (a Python with torch and the model) is the yardstick for the bomb's.
    with Peak(lambda: tree_rss(ctx.main.pid), every=0.2) as normal:
        finished = {job_id: ctx.wait_job(ctx.main, job_id) for job_id in set(jobs.values())}
    for job in finished.values():
        t.check(job.get("status") in ("succeeded", "failed") and (job.get("error") or {}).get("code") != "internal_error",
                f"job {job.get('status')} {job.get('error')}")
    outcome = {name: _file(finished[job_id], name) for name, job_id in jobs.items()}

    nul = outcome.get("atk-nul.jsonl")
    if nul is not None:
        t.check(len(nul.get("doc_ids", [])) == 4,
                f"NUL-line JSONL: {len(nul.get('doc_ids', []))} of 4 good lines ingested")
        t.check(bool(nul.get("error")), "NUL-line JSONL: the bad line was not reported")
    utf16 = outcome.get("atk-utf16.txt")
    if utf16 is not None:
        readable = False
        if utf16.get("doc_ids"):
            doc = ctx.call(ctx.main, "GET", f"{DOCS}/{utf16['doc_ids'][0]}", ctx.keys.reader)
            readable = doc.status_code == 200 and "气象站358座" in doc.json().get("raw_text", "")
        t.check(utf16.get("status") == "added" and readable, f"UTF-16LE without BOM: {utf16.get('status')}, "
                f"text readable: {readable}, error {utf16.get('error')}")
    for name in ("atk-empty.txt", "atk-binary.txt"):
        if (f := outcome.get(name)) is not None:
            t.check(f.get("status") == "error" and bool(f.get("error")), f"{name}: {f.get('status')}, {f.get('error')}")
    t.note("files: " + "; ".join(f"{n}: {f.get('status')} {(f.get('error') or {}).get('code', '')}".strip()
                                 for n, f in outcome.items()))

    _good_beside_unsupported(ctx, t)
    _zip_bomb(ctx, t, normal.peak)


def _good_beside_unsupported(ctx: Ctx, t: Tally) -> None:
    uploads = ctx.main.index_dir / "uploads"
    before = {str(p) for p in uploads.rglob("*")} if uploads.exists() else set()
    r = _upload(ctx, [("atk-good.txt", "2034年全市共建成充电桩5120个。".encode(), "text/plain"),
                      ("atk-odd.xyz", b"what is this", "application/octet-stream")])
    if r.status_code == 202:
        job = ctx.wait_job(ctx.main, r.json()["job_id"])
        good, odd = _file(job, "atk-good.txt"), _file(job, "atk-odd.xyz")
        # Refused on receipt (listed under `rejected`, never stored) or read and failed (status error).
        refused = next((x for x in job.get("rejected", []) if x.get("name") == "atk-odd.xyz"), None)
        odd_state = "rejected " + refused.get("code", "") if refused else odd.get("status")
        t.check(good.get("status") == "added" and (refused is not None or odd.get("status") == "error"),
                f".txt + .xyz accepted, then: good {good.get('status')}, unsupported {odd_state}")
        t.note(f".txt + .xyz: accepted; the good one imported ({good.get('status')}), the .xyz {odd_state}")
    else:
        left = ({str(p) for p in uploads.rglob("*")} if uploads.exists() else set()) - before
        t.check(r.status_code == 415 and not left, f".txt + .xyz: {r.status_code} {error_code(r)}, left {len(left)} files")
        t.note(f".txt + .xyz: the batch refused ({r.status_code} {error_code(r)}), nothing stored")


def _zip_bomb(ctx: Ctx, t: Tally, normal_peak: float) -> None:
    """Memory is judged against an ordinary upload's peak (server and ingest child together)."""
    inflated = 210 * MB
    bomb = zip_bomb(inflated)
    pid = ctx.main.pid
    with Peak(lambda: tree_rss(pid), every=0.2) as mem:
        t0 = time.monotonic()
        r = _upload(ctx, [("atk-bomb.docx", bomb, DOCX)])
        job = ctx.wait_job(ctx.main, r.json()["job_id"], limit=ctx.scale(180, 90)) if r.status_code == 202 else {}
        took = time.monotonic() - t0
    f = _file(job, "atk-bomb.docx")
    if r.status_code == 202:
        t.check(job.get("status") not in ("queued", "running"),
                f"zip bomb: job still {job.get('status')} after {took:.0f} s")
        t.check(f.get("status") == "error" and bool(f.get("error")), f"zip bomb: file {f.get('status')}")
    else:
        t.check(r.status_code in (413, 415, 422), f"zip bomb upload: {r.status_code} {error_code(r)}")
    extra = mem.peak - max(normal_peak, mem.first)
    t.check(extra < 300 * MB, f"zip bomb: server and ingest child peaked {mb(extra)} above an ordinary upload "
                              "(limit 300 MB)")
    t.note(f"zip bomb ({len(bomb) // 1024} KB inflating to {mb(inflated)}): upload {r.status_code}, job "
           f"{job.get('status')} in {took:.0f} s, file {(f.get('error') or {}).get('code')}; server and ingest "
           f"child peaked at {mb(mem.peak)} (an ordinary upload: {mb(normal_peak)})")


def stale_tmp_folder(ctx: Ctx, t: Tally) -> None:
    """18. A .tmp-* folder left in versions/ by a crash is gone after the next write."""
    srv = ctx.main
    stale = srv.index_dir / "versions" / ".tmp-20200101T000000-atkstale"
    stale.mkdir(parents=True)
    (stale / "vectors.npy").write_bytes(b"\0" * MB)
    past = time.time() - 600  # left by a crash ten minutes ago, before the server restarted
    os.utime(stale, (past, past))
    r = _upload(ctx, [(f"{MARKER_ID}.txt", MARKER_TEXT.encode(), "text/plain")])
    job = ctx.wait_job(srv, r.json()["job_id"]) if r.status_code == 202 else {}
    t.check(job.get("status") == "succeeded", f"the write (an upload): {r.status_code}, job {job.get('status')}")
    t.check(not stale.exists(), "the stale .tmp folder (10 minutes old) is still there after the write")
    answer = ctx.call(srv, "POST", "/api/v1/ask", ctx.keys.reader, json={"question": MARKER_QUESTION})
    said = answer.json().get("answer", "") if answer.status_code == 200 else error_code(answer)
    t.note(f"stale folder {'removed' if not stale.exists() else 'kept'}; the uploaded doc answers {said!r}")
