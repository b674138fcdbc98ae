"""Cases 9-12 and 20: request bodies, request ids, OPTIONS, the key matrix, and the final grep
for the keys in everything the run collected."""
from __future__ import annotations

import base64
import json
from collections import Counter

from .harness import Ctx, Seen, Tally, error_code, error_shape_ok

ASK, SEARCH, CHAT, DOCS = "/api/v1/ask", "/api/v1/search", "/api/v1/chat", "/api/v1/documents"
JSON = "application/json"
Q = "2025年市场主体目标是多少？"
BAD = {400, 422}


def _js(obj) -> bytes:
    return json.dumps(obj, ensure_ascii=False).encode()


def _ask(**fields) -> bytes:
    return _js({"question": Q, **fields})


def bad_bodies() -> list[tuple[str, str, bytes, str, set[int]]]:
    """(label, path, body, content type, acceptable statuses)."""
    depth = 100_000
    deep = b'{"question": "x", "filters": {"regions": ' + b"[" * depth + b"]" * depth + b"}}"
    return [
        ("truncated JSON", ASK, b'{"question": ', JSON, {400}),
        ("not JSON", ASK, b"question=hello", JSON, {400}),
        ("empty body", ASK, b"", JSON, BAD),
        ("a JSON array", ASK, b"[]", JSON, {422}),
        ("a JSON string", ASK, b'"hello"', JSON, {422}),
        ("JSON null", ASK, b"null", JSON, {422}),
        ("a JSON number", ASK, b"42", JSON, {422}),
        ("question missing", ASK, _js({}), JSON, {422}),
        ("question a number", ASK, _js({"question": 123}), JSON, {422}),
        ("question a list", ASK, _js({"question": ["a"]}), JSON, {422}),
        ("question an object", ASK, _js({"question": {"a": 1}}), JSON, {422}),
        ("question null", ASK, _js({"question": None}), JSON, {422}),
        ("question true", ASK, _js({"question": True}), JSON, {422}),
        ("history a string", ASK, _ask(history="上一个问题"), JSON, {422}),
        ("history of numbers", ASK, _ask(history=[1, 2]), JSON, {422}),
        ("history with null", ASK, _ask(history=[None]), JSON, {422}),
        ("history an object", ASK, _ask(history={"a": 1}), JSON, {422}),
        ("history of 21 items", ASK, _ask(history=["上一个问题"] * 21), JSON, {422}),
        ("top_k a word", ASK, _ask(top_k="five"), JSON, {422}),
        ("top_k 0", ASK, _ask(top_k=0), JSON, {422}),
        ("top_k -1", ASK, _ask(top_k=-1), JSON, {422}),
        ("top_k 2.5", ASK, _ask(top_k=2.5), JSON, {422}),
        ("top_k 10**30", ASK, _ask(top_k=10**30), JSON, {422}),
        ("top_k 1e400", ASK, f'{{"question": "{Q}", "top_k": 1e400}}'.encode(), JSON, {422}),
        ("top_k 10**5000", ASK, f'{{"question": "{Q}", "top_k": 1{"0" * 5000}}}'.encode(), JSON, BAD),
        ("filters a string", ASK, _ask(filters="湖南"), JSON, {422}),
        ("filters.regions a string", ASK, _ask(filters={"regions": "湖南"}), JSON, {422}),
        ("filters.date_from 2021/01/01", ASK, _ask(filters={"date_from": "2021/01/01"}), JSON, {422}),
        ("filters.chunk_kinds unknown", ASK, _ask(filters={"chunk_kinds": ["image"]}), JSON, {422}),
        ("filters nested 100,000 deep", ASK, deep, JSON, BAD),
        ("question of 10,001 chars", ASK, _js({"question": "问" * 10_001}), JSON, {422}),
        ("question of 501 chars", ASK, _js({"question": "问" * 501}), JSON, {422}),
        ("NUL inside the question", ASK, _js({"question": "2025年\u0000市场主体目标是多少？"}), JSON, {200, 422}),
        ("raw NUL byte in the JSON", ASK, b'{"question": "a\x00b"}', JSON, BAD),
        ("invalid UTF-8", ASK, b'{"question": "\xff\xfe\xfd"}', JSON, BAD),
        ("whitespace-only question", ASK, _js({"question": " \t\n\u3000 "}), JSON, {422}),
        ("empty question", ASK, _js({"question": ""}), JSON, {422}),
        ("JSON sent as text/plain", ASK, _ask(), "text/plain", {200, 415, 422}),
        ("unknown field user", ASK, _ask(user="张三"), JSON, {200}),
        ("unknown fields user, session", ASK, _ask(user={"id": 7}, session="s-1"), JSON, {200}),
        ("search: unknown field user", SEARCH, _js({"query": Q, "user": "张三"}), JSON, {200}),
        ("search: unknown mode", SEARCH, _js({"query": Q, "mode": "magic"}), JSON, {422}),
        ("search: top_k 101", SEARCH, _js({"query": Q, "top_k": 101}), JSON, {422}),
        ("search: query a number", SEARCH, _js({"query": 5}), JSON, {422}),
        ("chat: question a number", CHAT, _js({"question": 1}), JSON, {422}),
        ("chat: whitespace-only question", CHAT, _js({"question": "   "}), JSON, {422}),
        ("chat: unknown field user", CHAT, _ask(user="张三"), JSON, {200}),
    ]


def bodies(ctx: Ctx, t: Tally) -> None:
    """9. Bad bodies: no 5xx, every error in the envelope; extra fields accepted, wrong types 422."""
    statuses = Counter()
    for label, path, content, ctype, want in bad_bodies():
        r = ctx.call(ctx.main, "POST", path, ctx.keys.reader, content=content,
                     headers={"Content-Type": ctype}, timeout=60)
        statuses[r.status_code] += 1
        shaped = r.status_code < 400 or error_shape_ok(r)
        t.check(r.status_code in want and shaped,
                f"{label}: {r.status_code} {error_code(r)}{'' if shaped else ' (not the error envelope)'}, "
                f"want {'/'.join(map(str, sorted(want)))}")
    t.note(f"{sum(statuses.values())} bodies: statuses {dict(sorted(statuses.items()))}")


_PARSER_400 = "Invalid HTTP request received."


def _from_parser(seen: Seen) -> bool:
    """A 400 written by uvicorn's HTTP parser, even with its body cut short."""
    body = seen.body.strip()
    plain = seen.headers.get("content-type", "").startswith("text/plain")
    return _PARSER_400[:12] in body or (plain and _PARSER_400.startswith(body))


def request_ids(ctx: Ctx, t: Tally) -> None:
    """10. Every answer carries X-Request-ID; a sensible one sent is echoed."""
    srv = ctx.main
    probes = [("GET", "/healthz", None, {}), ("POST", ASK, None, {"json": {"question": Q}}),
              ("POST", ASK, ctx.keys.reader, {"content": b"{", "headers": {"Content-Type": JSON}}),
              ("GET", "/api/v1/no-such-route", ctx.keys.reader, {}),
              ("POST", ASK, ctx.keys.reader, {"content": b"x" * (2 * 1024 * 1024), "headers": {"Content-Type": JSON}})]
    for i, (method, path, key, kw) in enumerate(probes, 1):
        rid = f"atk-rid-{i}"
        headers = {**kw.pop("headers", {}), "X-Request-ID": rid}
        r = ctx.call(srv, method, path, key, headers=headers, **kw)
        t.check(r.headers.get("x-request-id") == rid,
                f"{method} {path} ({r.status_code}) echoed {r.headers.get('x-request-id')!r}, not {rid!r}")
    answered = [s for s in ctx.seen if s.status is not None]
    # uvicorn answers a request its HTTP parser rejects (case 1's huge header) itself, before any
    # app code runs: no middleware can add a header there. Listed, not counted. It has no
    # Content-Length and its body is a separate write the closing reset can discard, so an empty
    # text/plain 400 counts too; the app's own 400s are JSON, never text/plain.
    parser = [s for s in answered if s.status == 400 and _from_parser(s)]
    missing = [s for s in answered if "x-request-id" not in s.headers and s not in parser]
    example = f", e.g. case {missing[0].case} {missing[0].method} {missing[0].path} {missing[0].status}" if missing else ""
    t.check(not missing, f"{len(missing)} answers without X-Request-ID{example}")
    t.note(f"{len(answered)} answers collected so far (raw-socket ones included), {len(missing)} without "
           f"X-Request-ID; not counted: {len(parser)} 400s from uvicorn's parser (cases "
           f"{sorted({s.case for s in parser})}), sent before the app runs")


def options(ctx: Ctx, t: Tally) -> None:
    """11. OPTIONS names every method a path takes."""
    for path, want in ((DOCS, {"GET", "POST"}), (f"{DOCS}/some-document", {"GET", "DELETE"})):
        r = ctx.call(ctx.main, "OPTIONS", path, ctx.keys.reader)
        allow = {m.strip().upper() for m in r.headers.get("allow", "").split(",") if m.strip()}
        t.check(r.status_code < 500 and want <= allow,
                f"OPTIONS {path}: {r.status_code}, Allow {r.headers.get('allow')!r}, want {'+'.join(sorted(want))}")


def key_matrix(ctx: Ctx, t: Tally) -> None:
    """12. No key, wrong key, key in the query string, reader on admin routes, Basic auth; admin works."""
    srv, k = ctx.main, ctx.keys
    basic = "Basic " + base64.b64encode(f"reader:{k.reader}".encode()).decode()
    probes = [
        ("no key", "GET", "/api/v1/me", None, {}, 401),
        ("wrong key", "GET", "/api/v1/me", "not-a-key", {}, 401),
        ("key in ?api_key=", "GET", f"/api/v1/me?api_key={k.reader}", None, {}, 401),
        ("reader uploads", "POST", DOCS, k.reader, {"files": {"files": ("a.txt", "一段文字。".encode(), "text/plain")}}, 403),
        ("reader deletes", "DELETE", f"{DOCS}/x", k.reader, {}, 403),
        ("Authorization: Basic", "GET", "/api/v1/me", None, {"headers": {"Authorization": basic}}, 401),
        ("reader reads", "GET", "/api/v1/me", k.reader, {}, 200),
        ("admin reads", "GET", "/api/v1/me", k.admin, {}, 200),
        ("admin lists documents", "GET", DOCS, k.admin, {}, 200),
    ]
    for label, method, path, key, kw, want in probes:
        r = ctx.call(srv, method, path, key, **kw)
        shaped = r.status_code < 400 or error_shape_ok(r)
        t.check(r.status_code == want and shaped, f"{label}: {r.status_code} {error_code(r)}, want {want}")
        if label == "admin reads" and r.status_code == 200:
            t.check(r.json().get("role") == "admin", f"admin key seen as {r.json().get('role')!r}")


def secrets_kept(ctx: Ctx, t: Tally) -> None:
    """20. The keys appear in no server log, no job file and no answer collected during the run."""
    texts = [(f"log of {s.name}", s.log_text()) for s in ctx.servers]
    jobs = [p for s in ctx.servers for p in sorted((s.index_dir / "jobs").glob("*.json"))
            if (s.index_dir / "jobs").is_dir()]
    texts += [(f"job file {p.name}", p.read_text(encoding="utf-8", errors="replace")) for p in jobs]
    texts += [(f"answer to {s.method} {s.path.split('?')[0]} (case {s.case})",
               s.body + "\n" + "\n".join(f"{k}: {v}" for k, v in s.headers.items())) for s in ctx.seen]
    for key, label in ((ctx.keys.admin, "admin key"), (ctx.keys.reader, "reader key")):
        hits = sorted({where for where, text in texts if key in text})
        t.check(not hits, f"{label} found in {len(hits)} places: {'; '.join(hits[:3])}")
    size = sum(len(text) for _, text in texts)
    t.note(f"searched {len(ctx.servers)} server logs, {len(jobs)} job files, {len(ctx.seen)} answers "
           f"({size / 1e6:.1f} M characters)")
