"""Load test of POST /api/v1/ask: concurrent clients on loopback, once alone and once while an ingest runs.

    python scripts/load_test.py                                  # both phases, 8 clients, 60 s each
    python scripts/load_test.py --no-ingest --clients 4 --duration 30
    python scripts/load_test.py --url http://127.0.0.1:8000 --key READER --admin-key ADMIN

Each client is a thread with its own keep-alive `httpx.Client` that sends the next seed question
(eval/seed_questions.jsonl, follow-ups with their history) as soon as the last answer arrives; a
request's latency is its wall time, body included. Per phase it prints throughput, p50/p95/p99/max
latency and errors (non-200 or exceptions, by status and error code); in the ingest phase, CMRC 2018
contexts are uploaded as a JSONL file in rounds (fresh ids each round, so every round embeds) for the
whole run. The target is zero errors and p95 under 200 ms at 8 clients on two cores.

Without --url the script starts `qa serve` on a free port over a copy of index/default in a temporary
folder (the shipped index is never touched) with the rate limit off, and stops it at the end.
Figures are printed, never asserted: this is a benchmark, not a test.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parent.parent
INDEX = ROOT / "index" / "default"
QUESTIONS = ROOT / "eval" / "seed_questions.jsonl"
CMRC = ROOT.parent / "shared" / "bench" / "cmrc2018_dev" / "contexts.jsonl"
ASK, DOCS = "/api/v1/ask", "/api/v1/documents"
con = Console()


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def start_server(tmp: Path, reader: str, admin: str, workers: int) -> tuple[subprocess.Popen, str]:
    """`qa serve` over a copy of the default index, on a free loopback port; returns once /readyz is 200."""
    if not (INDEX / "CURRENT").exists():
        sys.exit(f"no index at {INDEX}: run `make run` or `qa ingest corpus` first")
    shutil.copytree(INDEX, tmp / "index", symlinks=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "QA_INDEX_DIR": str(tmp / "index"), "QA_API_KEYS": f"admin:{admin},reader:{reader}",
           "QA_RATE_LIMIT_PER_MINUTE": "0", "QA_ALLOW_ANONYMOUS_READ": "false"}
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - the server writes to it until it stops
    cmd = [sys.executable, "-m", "qa.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers)]
    # A session of its own: Ctrl-C reaches only this script, which then stops the server once, gracefully.
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url, t0 = f"http://127.0.0.1:{port}", time.perf_counter()
    while time.perf_counter() - t0 < 180 and proc.poll() is None and not _problems(tmp / "server.log"):
        try:
            if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                con.print(f"server ready on {url} in {time.perf_counter() - t0:.1f} s")
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    stop_server(proc)
    lines = _problems(tmp / "server.log") or (tmp / "server.log").read_text(errors="replace").splitlines()[-20:]
    sys.exit("the server did not get ready; its log says:\n" + "\n".join(lines))


def _problems(log: Path) -> list[str]:
    """The warning, error and traceback lines of the server's log."""
    return [line for line in log.read_text(encoding="utf-8", errors="replace").splitlines()
            if any(w in line for w in (" WARNING ", " ERROR ", " CRITICAL ", "Traceback"))]


def stop_server(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown; the lifespan waits for a running ingest
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def warm_up(url: str, key: str, questions: list[dict], n: int) -> dict:
    """Ask until `n` answers in a row are 200, each on a new connection so that every worker gets some:
    first-call costs stay out of the figures, and a worker still loading (/readyz answered for one) is waited for.
    Returns the last answer's server-side `timings_ms`."""
    ok, deadline = 0, time.perf_counter() + 120
    while ok < n:
        q = questions[ok % len(questions)]
        r = httpx.post(f"{url}{ASK}", json={"question": q["question"]}, headers={"X-API-Key": key}, timeout=60)
        if r.status_code in (401, 403) or (r.status_code != 200 and time.perf_counter() > deadline):
            sys.exit(f"warm-up failed: {r.status_code} {_error_code(r)}")
        ok = ok + 1 if r.status_code == 200 else 0
        if not ok:
            time.sleep(0.5)
    return r.json()["timings_ms"]


def client_loop(url: str, key: str, questions: list[dict], offset: int, deadline: float, out: list) -> None:
    """Ask questions back to back until `deadline`; append (start, latency_s, outcome) per request."""
    with httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=30) as http:
        i = offset
        while (start := time.perf_counter()) < deadline:
            q = questions[i % len(questions)]
            i += 1
            try:
                r = http.post(ASK, json={"question": q["question"], "history": q.get("history", [])})
                outcome = "ok" if r.status_code == 200 else f"{r.status_code} {_error_code(r)}"
            except httpx.HTTPError as e:
                outcome = type(e).__name__
            out.append((start, time.perf_counter() - start, outcome))


def _error_code(r: httpx.Response) -> str:
    try:
        return r.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "-"


def ingest_loop(url: str, admin: str, tmp: Path, contexts: int, stop: threading.Event, rounds: list) -> None:
    """Upload `contexts` CMRC contexts per round until `stop` is set; the last round is awaited to its end."""
    rows = _jsonl(CMRC)[:contexts]
    with httpx.Client(base_url=url, headers={"X-API-Key": admin}, timeout=60) as http:
        n = 0
        while not stop.is_set():
            n += 1
            path = tmp / f"cmrc-round{n}.jsonl"
            docs = ({"id": f"r{n}-{c['context_id']}", "title": c["title"], "text": c["text"]} for c in rows)
            path.write_text("".join(json.dumps(d, ensure_ascii=False) + "\n" for d in docs), encoding="utf-8")
            t0 = time.perf_counter()
            try:
                status, report = _ingest_round(http, path)
            except httpx.TransportError as e:  # the server went away (Ctrl-C): say so and stop
                status, report = type(e).__name__, None
            rounds.append((t0, time.perf_counter(), status, report))
            if report is None:
                return


def _ingest_round(http: httpx.Client, path: Path) -> tuple[str, dict | None]:
    """Upload one JSONL file and wait for its job: (job status, ingest report)."""
    with open(path, "rb") as f:
        r = http.post(DOCS, files={"files": (path.name, f, "application/x-ndjson")})
    if r.status_code != 202:
        return f"upload {r.status_code} {_error_code(r)}", None
    job_id = r.json()["job_id"]
    while (job := http.get(f"/api/v1/jobs/{job_id}").json())["status"] in ("queued", "running"):
        time.sleep(0.5)
    return job["status"], job.get("report")


def _percentile(sorted_ms: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return sorted_ms[min(len(sorted_ms) - 1, int(p / 100 * len(sorted_ms)))] if sorted_ms else float("nan")


def run_phase(name: str, args, url: str, key: str, questions: list[dict], tmp: Path) -> None:
    results: list[tuple[float, float, str]] = []
    t0 = time.perf_counter()
    deadline = t0 + args.duration
    clients = [threading.Thread(target=client_loop, args=(url, key, questions, i * 7, deadline, results),
                                daemon=True) for i in range(args.clients)]
    stop, rounds = threading.Event(), []
    ingest = (threading.Thread(target=ingest_loop, args=(url, args.admin_key, tmp, args.contexts, stop, rounds),
                               daemon=True) if name == "with ingest" else None)
    for t in ([ingest] if ingest else []) + clients:
        t.start()
    for t in clients:
        t.join()
    elapsed = time.perf_counter() - t0
    stop.set()
    if ingest:
        con.print("waiting for the last ingest round to finish…")
        ingest.join()

    ms = sorted(lat * 1000 for _, lat, _ in results)
    errors = Counter(o for _, _, o in results if o != "ok")
    table = Table(title=f"/ask — {name}: {args.clients} clients, {elapsed:.1f} s; "
                        f"load average after: {os.getloadavg()[0]:.1f}")
    for col in ("requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "errors"):
        table.add_column(col, justify="right")
    table.add_row(str(len(ms)), f"{len(ms) / elapsed:.1f}", *(f"{_percentile(ms, p):.0f}" for p in (50, 95, 99)),
                  f"{ms[-1]:.0f}" if ms else "-", str(sum(errors.values())))
    con.print(table)
    for outcome, n in errors.most_common():
        con.print(f"  error {outcome}: {n}")
    if ingest:
        t = Table(title="ingest rounds (s from the start of the run; docs added, chunks embedded)")
        for col in ("round", "start s", "end s", "took s", "status", "docs", "chunks"):
            t.add_column(col, justify="right")
        for i, (start, end, status, report) in enumerate(rounds, 1):
            t.add_row(str(i), f"{start - t0:.1f}", f"{end - t0:.1f}", f"{end - start:.1f}", status,
                      str(len(report["added"])) if report else "-", str(report["embedded_chunks"]) if report else "-")
        con.print(t)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--duration", type=float, default=60, help="seconds per phase")
    which = p.add_mutually_exclusive_group()  # default: both phases, the one without an ingest first
    which.add_argument("--with-ingest", dest="ingest", action="store_const", const=True,
                       help="only the phase with an ingest in parallel")
    which.add_argument("--no-ingest", dest="ingest", action="store_const", const=False,
                       help="only the phase without an ingest")
    p.add_argument("--contexts", type=int, default=200, help="CMRC contexts uploaded per ingest round")
    p.add_argument("--workers", type=int, default=1, help="`qa serve --workers` (each loads its own model)")
    p.add_argument("--url", help="an already running server (its rate limit is then yours to turn off)")
    p.add_argument("--key", default="load-reader", help="reader key")
    p.add_argument("--admin-key", default="load-admin", help="admin key (for the ingest phase)")
    args = p.parse_args()
    phases = {None: ["without ingest", "with ingest"], True: ["with ingest"],
              False: ["without ingest"]}[args.ingest]
    questions = _jsonl(QUESTIONS)
    if "with ingest" in phases and not CMRC.exists():
        sys.exit(f"the ingest phase uploads CMRC 2018 contexts from {CMRC}, which is missing; try --no-ingest")

    con.print(f"machine: {os.cpu_count()} CPUs ({len(os.sched_getaffinity(0))} usable), "
              f"python {sys.version.split()[0]}, load average {os.getloadavg()[0]:.1f} "
              "(other busy processes skew the figures)")
    con.print(f"settings: {args.clients} clients, {args.duration:.0f} s per phase, phases: {', '.join(phases)}, "
              f"{args.workers if not args.url else '?'} server worker(s), "
              f"{len(questions)} seed questions, {args.contexts} CMRC contexts per ingest round")
    with tempfile.TemporaryDirectory(prefix="qa-load-") as tmp_name:
        tmp, proc = Path(tmp_name), None
        try:
            if args.url:
                url = args.url.rstrip("/")
                con.print(f"target: {url} (an external server: its rate limit may turn load into 429s)")
            else:
                proc, url = start_server(tmp, args.key, args.admin_key, args.workers)
                own = ", ".join(f"{k}={v}" for k, v in os.environ.items() if k.startswith("QA_") and "KEY" not in k)
                con.print("target: a server started here on a copy of index/default; "
                          "QA_RATE_LIMIT_PER_MINUTE=0 (the per-key limit would turn load into 429s); "
                          f"passed on from the environment: {own or 'nothing'}")
            timings = warm_up(url, args.key, questions, 5 * args.workers)
            con.print(f"warm-up done; one answer's server-side timings (ms): {timings}")
            for name in phases:
                run_phase(name, args, url, args.key, questions, tmp)
        except KeyboardInterrupt:
            con.print("interrupted")
            raise SystemExit(130) from None
        finally:
            if proc is not None:
                stop_server(proc)
                problems = _problems(tmp / "server.log")
                con.print(f"server stopped; {len(problems)} warning/error lines in its log")
                for line in problems[:20]:
                    con.print(f"  {line}", markup=False, highlight=False)


if __name__ == "__main__":
    main()
