"""Cases 1-8: the edge. What a caller without a key can make the server read, hold or compute,
and what a valid but heavy request costs. All on the shared main server."""
from __future__ import annotations

import itertools
import time
import uuid
from collections import Counter

import httpx

from .harness import Ctx, Tally, error_code, error_shape_ok, mb
from .server import (
    Peak,
    Sampler,
    Server,
    bytes_under,
    cpu_seconds,
    open_bytes_under,
    rss,
)
from .wire import Push, chunked, filler, head, multipart, push

MB = 1024 * 1024
ASK, DOCS = "/api/v1/ask", "/api/v1/documents"
MAX_UPLOAD = 2 * MB  # QA_MAX_UPLOAD_BYTES of the main server (set in attack.py)
# Bodies in --quick: past what loopback socket buffers absorb (a few MB each way), so a server that
# answers without reading the body is still seen to answer before the end.
QUICK_BODY = 16 * MB

# Place names, for questions whose rewriting and region matching have plenty to chew on.
PLACES = ("湖南省", "长沙市", "株洲市", "湘潭市", "衡阳市", "邵阳市", "岳阳市", "常德市", "张家界市", "益阳市",
          "郴州市", "永州市", "怀化市", "娄底市", "湘西州", "贵州省", "贵阳市", "遵义市", "六盘水市", "安顺市",
          "毕节市", "铜仁市", "黔东南州", "黔南州", "河北省", "石家庄市", "唐山市", "江苏省", "南京市", "苏州市",
          "无锡市", "常州市", "徐州市", "浏阳市", "醴陵市", "韶山市", "耒阳市", "汨罗市", "津市市", "沅江市")


def long_question(i: int, n: int = 500, ending: str = "的市场主体、注册资本和企业数量分别是多少？") -> str:
    """A valid question of exactly `n` characters, dense with place names and years."""
    parts, j = [], i
    while sum(map(len, parts)) < n:
        parts.append(f"{PLACES[j % len(PLACES)]}、{PLACES[(j * 7 + 3) % len(PLACES)]}{2015 + j % 11}年")
        j += 1
    return "".join(parts)[: n - len(ending)] + ending


def _record_push(ctx: Ctx, method: str, path: str, p: Push) -> None:
    if p.reply is not None:
        ctx.record(method, path, p.status, p.reply.headers, p.reply.body.decode("utf-8", "replace"))


def _shape(p: Push) -> bool:
    return p.reply is not None and error_shape_ok(httpx.Response(p.status, content=p.reply.body))


class HealthProbe(Sampler):
    """/healthz on fresh connections every 0.2 s while the block runs (at least once): the worst latency."""

    def __init__(self, ctx: Ctx, server: Server):
        self.ctx, self.server = ctx, server
        self.latencies: list[float] = []
        self.errors = 0
        # the first probe at once: a send refused early is over in milliseconds
        super().__init__(self._probe, 0.2)

    def _probe(self) -> None:
        t0 = time.perf_counter()
        try:
            r = httpx.get(self.server.url + "/healthz", timeout=5)
            self.ctx.record("GET", "/healthz", r.status_code, dict(r.headers), r.text)
            self.errors += r.status_code != 200
        except httpx.HTTPError:
            self.errors += 1
        self.latencies.append((time.perf_counter() - t0) * 1000)

    @property
    def worst_ms(self) -> float:
        return max(self.latencies, default=float("inf"))


def header_flood(ctx: Ctx, t: Tally) -> None:
    """1. A huge request header, sent in pieces, while /healthz is asked on another connection."""
    srv, planned = ctx.main, ctx.scale(100 * MB, QUICK_BODY)
    first = b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Flood: "
    with HealthProbe(ctx, srv) as probe, Peak(lambda: rss(srv.pid)) as mem:
        p = push(srv.port, first, itertools.chain(filler(planned), [b"\r\n\r\n"]), planned,
                 limit=ctx.scale(90, 20), wait_early=0)
    _record_push(ctx, "GET", "/healthz", p)
    refused = not p.timed_out and ((p.reply is not None and 400 <= p.status < 500) or (p.reply is None and p.closed))
    t.check(refused, f"a {mb(planned)} header was not refused")
    t.check(probe.worst_ms <= 2000 and probe.errors == 0,
            f"/healthz slow or failing meanwhile ({probe.errors} errors)")
    said = p.reply.body.decode("utf-8", "replace")[:60] if p.reply else ""
    t.note(f"{mb(planned)} header: {p.describe()} {said!r}; /healthz meanwhile: {len(probe.latencies)} probes, "
           f"worst {probe.worst_ms:.0f} ms; server RSS +{mb(mem.growth)}")


def _chunked_ask(ctx: Ctx, t: Tally, key: str | None, want: set[int]) -> None:
    srv, planned = ctx.main, ctx.scale(50 * MB, QUICK_BODY)
    headers = {"Content-Type": "application/json", "Transfer-Encoding": "chunked",
               **({"X-API-Key": key} if key else {})}
    body = itertools.chain([b'{"question": "'], filler(planned - 14))
    with Peak(lambda: rss(srv.pid)) as mem:
        p = push(srv.port, head("POST", ASK, headers), chunked(body), planned, limit=ctx.scale(120, 30))
    _record_push(ctx, "POST", ASK, p)
    t.check(p.status in want, f"status {p.status}, want {sorted(want)}")
    t.check(p.early, "the whole body was taken in before an answer")
    t.check(p.reply is None or _shape(p), "error body not in the {error: {code, message}} shape")
    t.check(mem.growth < 50 * MB, f"server RSS grew {mb(mem.growth)} (limit 50 MB)")
    t.note(f"chunked {mb(planned)} to /ask: {p.describe()}; server RSS +{mb(mem.growth)}")


def chunked_ask_without_key(ctx: Ctx, t: Tally) -> None:
    """2. A chunked body (no Content-Length) to /ask with no key."""
    _chunked_ask(ctx, t, None, {401, 413})


def chunked_ask_with_reader_key(ctx: Ctx, t: Tally) -> None:
    """3. The same with a valid reader key: only the size limit can stop it."""
    _chunked_ask(ctx, t, ctx.keys.reader, {413})


def _paths_under(folder) -> set[str]:
    return {str(p) for p in folder.rglob("*")} if folder.exists() else set()


def _streamed_upload(ctx: Ctx, key: str | None, planned: int) -> tuple[Push, Peak, Peak]:
    """A multipart upload of one `planned`-byte file, chunked (so no Content-Length to refuse early);
    measures the server's RSS and what it spools (open temporary files and uploads/)."""
    srv = ctx.main
    boundary = "atk" + uuid.uuid4().hex
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Transfer-Encoding": "chunked",
               **({"X-API-Key": key} if key else {})}
    uploads = srv.index_dir / "uploads"
    spooled = Peak(lambda: open_bytes_under(srv.pid, srv.tmpdir) + bytes_under(uploads))
    with spooled, Peak(lambda: rss(srv.pid)) as mem:
        body = chunked(multipart(boundary, "big.txt", filler(planned, "政".encode())))
        p = push(srv.port, head("POST", DOCS, headers), body, planned, limit=ctx.scale(180, 30))
    _record_push(ctx, "POST", DOCS, p)
    return p, spooled, mem


def upload_without_key(ctx: Ctx, t: Tally) -> None:
    """4. A big multipart upload with no key: 401 before the body is read, nothing spooled."""
    planned = ctx.scale(200 * MB, QUICK_BODY)
    p, spooled, mem = _streamed_upload(ctx, None, planned)
    t.check(p.status == 401, f"status {p.status}, want 401")
    t.check(p.early, "the whole upload was taken in before an answer")
    t.check(spooled.growth < 2 * MB, f"spooled {mb(spooled.growth)} to temporary files/uploads")
    t.check(mem.growth < 50 * MB, f"server RSS grew {mb(mem.growth)}")
    t.note(f"{mb(planned)} upload without key: {p.describe()}; spooled peak {mb(spooled.growth)}; "
           f"RSS +{mb(mem.growth)}")


def upload_over_limit(ctx: Ctx, t: Tally) -> None:
    """5. An admin upload of one file over QA_MAX_UPLOAD_BYTES: 413, and nothing left in uploads/."""
    planned = ctx.scale(50 * MB, QUICK_BODY)
    uploads = ctx.main.index_dir / "uploads"
    before = _paths_under(uploads)
    p, spooled, mem = _streamed_upload(ctx, ctx.keys.admin, planned)
    time.sleep(0.5)
    left = _paths_under(uploads) - before
    t.check(p.status == 413, f"status {p.status}, want 413")
    t.check(_shape(p), "error body not in the {error: {code, message}} shape")
    t.check(not left, f"left under uploads/: {sorted(left)[:3]}")
    t.note(f"{mb(planned)} file, limit {mb(MAX_UPLOAD)}: {p.describe()}; spooled peak {mb(spooled.growth)}; "
           f"RSS +{mb(mem.growth)}")


def wrong_keys(ctx: Ctx, t: Tally) -> None:
    """6. 100 wrong keys from one address: failed attempts are throttled (429s appear)."""
    srv, statuses = ctx.main, []
    for i in range(100):
        statuses.append(ctx.call(srv, "GET", "/api/v1/me", f"wrong-key-{i:03d}", timeout=10).status_code)
    first = statuses.index(429) + 1 if 429 in statuses else None
    t.check(first is not None, "no 429 in 100 wrong keys")
    t.check(set(statuses) <= {401, 429}, f"statuses other than 401/429: {Counter(statuses)}")
    after = ctx.call(srv, "GET", "/api/v1/me", ctx.keys.reader, timeout=10)
    t.note(f"statuses {dict(Counter(statuses))}, first 429 at attempt {first}; "
           f"the valid reader key from the same address right after: {after.status_code}")


def heavy_history(ctx: Ctx, t: Tally) -> None:
    """7. Heavy histories full of place names: 20 items of 500 characters (the brief's), and the
    heaviest the default limits allow (20 items, 4,000 characters in all): each answered (200 or a
    clean 422) within 5 s of server CPU."""
    srv = ctx.main
    for label, history in (("20 x 500 chars", [long_question(i) for i in range(20)]),
                           ("20 x 200 chars", [long_question(i, 200) for i in range(20)])):
        body = {"question": "2025年全省市场主体目标是多少？", "history": history}
        cpu0, t0 = cpu_seconds(srv.pid), time.perf_counter()
        r = ctx.call(srv, "POST", ASK, ctx.keys.reader, json=body, timeout=120)
        cpu, wall = cpu_seconds(srv.pid) - cpu0, time.perf_counter() - t0
        clean = r.status_code == 200 or (r.status_code == 422 and error_shape_ok(r))
        t.check(clean, f"{label}: status {r.status_code} {error_code(r)}")
        t.check(cpu < 5, f"{label}: {cpu:.1f} s of server CPU (limit 5 s)")
        said = r.json().get("answer") if r.status_code == 200 else r.json().get("error", {}).get("message", "")
        t.note(f"{label}: {r.status_code}, {cpu:.2f} s server CPU, {wall * 1000:.0f} ms wall ({str(said)[:40]})")


def short_follow_up(ctx: Ctx, t: Tally) -> None:
    """8. A 7-character follow-up after a long history that is valid under the default limits
    (8 turns, 3,900 characters; QA_MAX_HISTORY_CHARS is 4,000) is not refused as too long."""
    history = [long_question(i, 490) for i in range(7)] + [long_question(7, 470, "，2025年全省市场主体目标是多少？")]
    r = ctx.call(ctx.main, "POST", ASK, ctx.keys.reader, json={"question": "那2020年呢？", "history": history},
                 timeout=120)
    t.check(r.status_code == 200, f"status {r.status_code} {error_code(r)}: {r.text[:120]}")
    if r.status_code == 200:
        a = r.json()
        t.note(f"200; rewritten to {len(a['rewritten_question'])} chars; answer {a['answer'][:40]!r}")
