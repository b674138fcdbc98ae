"""What every case shares: the `Case` record, the `Tally` a case keeps of its probes, the run's
context (keys, servers, every answer collected) and the plain-text table printed at the end."""
from __future__ import annotations

import json
import secrets
import textwrap
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import httpx

from .server import Server


@dataclass(frozen=True)
class Keys:
    """Fresh per run, long and distinctive, so a grep for them (case 20) finds only real leaks."""

    admin: str
    reader: str

    @classmethod
    def fresh(cls) -> Keys:
        return cls("atk-admin-" + secrets.token_hex(12), "atk-reader-" + secrets.token_hex(12))

    @property
    def setting(self) -> str:
        return f"admin:{self.admin},reader:{self.reader}"


@dataclass(frozen=True)
class Seen:
    """One answer the server gave during the run (cases 10 and 20 read them all)."""

    case: int
    method: str
    path: str
    status: int | None
    headers: dict[str, str]
    body: str


class Tally:
    """A case's probes: each `check` is one thing tried, held or failed; `note` adds a measurement.
    The evidence shows the notes and every failed check (held checks only count)."""

    def __init__(self) -> None:
        self.tried = 0
        self.held = 0
        self.lines: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        self.tried += 1
        if ok:
            self.held += 1
        else:
            self.lines.append(f"FAIL {what}")
        return ok

    def note(self, what: str) -> None:
        self.lines.append(what)


@dataclass
class Ctx:
    """The run: options, keys, the main server (shared by the cases that do not break it), and
    everything collected along the way."""

    quick: bool
    tmp: Path
    keys: Keys
    base_index: Path
    main: Server | None = None
    after_main: Path | None = None  # the main server's index once it has stopped (uploads included)
    servers: list[Server] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)
    case: int = 0  # the case running now, for `Seen.case`

    def scale(self, full: int, quick: int) -> int:
        return quick if self.quick else full

    def call(self, server: Server, method: str, path: str, key: str | None = None, *,
             headers: dict | None = None, timeout: float = 60, **kw) -> httpx.Response:
        """One request on a fresh connection, recorded; `key` goes in X-API-Key."""
        hdrs = {**({"X-API-Key": key} if key else {}), **(headers or {})}
        r = httpx.request(method, server.url + path, headers=hdrs, timeout=timeout, **kw)
        self.record(method, path, r.status_code, dict(r.headers), r.text)
        return r

    def record(self, method: str, path: str, status: int | None, headers: dict[str, str], body: str) -> None:
        self.seen.append(Seen(self.case, method, path, status, {k.lower(): v for k, v in headers.items()}, body))

    def wait_job(self, server: Server, job_id: str, limit: float = 900) -> dict:
        """Poll a job until it ends or `limit` seconds pass (then its last state, still running)."""
        deadline = time.monotonic() + limit
        while True:
            job = self.call(server, "GET", f"/api/v1/jobs/{job_id}", self.keys.admin, timeout=10).json()
            if job.get("status") not in ("queued", "running") or time.monotonic() > deadline:
                return job
            time.sleep(0.5)


@dataclass(frozen=True)
class Case:
    number: int
    name: str
    quick: bool  # part of --quick
    where: str  # "main": on the shared server; "own": starts its own servers; "post": after every server stopped
    run: Callable[[Ctx, Tally], None]


@dataclass(frozen=True)
class Result:
    number: int
    name: str
    tried: int
    held: int
    failed: int
    evidence: str
    seconds: float = 0.0

    @property
    def ran(self) -> bool:
        return self.tried > 0


def error_shape_ok(r: httpx.Response) -> bool:
    """{"error": {"code": str, "message": str}}, as every API error must be."""
    try:
        err = r.json()["error"]
        return isinstance(err["code"], str) and isinstance(err["message"], str) and bool(err["code"])
    except (ValueError, KeyError, TypeError):
        return False


def error_code(r: httpx.Response) -> str:
    try:
        return r.json()["error"]["code"]
    except (ValueError, KeyError, TypeError):
        return "-"


def mb(n: float) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def table(results: list[Result], width: int = 150) -> str:
    """Fixed-width plain text: one row per case, the evidence wrapped under its column."""
    head = f"{'#':>2}  {'case':<34} {'tried':>5} {'held':>5} {'failed':>6}  evidence"
    indent = len(head) - len("evidence")
    lines = [head, "-" * width]
    for r in results:
        wrapped = textwrap.wrap(r.evidence or "-", width - indent) or ["-"]
        lines.append(f"{r.number:>2}  {r.name[:34]:<34} {r.tried:>5} {r.held:>5} {r.failed:>6}  {wrapped[0]}")
        lines += [" " * indent + w for w in wrapped[1:]]
    return "\n".join(lines)


def summary(results: list[Result]) -> str:
    """Cases, not probes: a case holds when every one of its probes held.
    Worded "tried, held, failed" on purpose: CI reads "N passed, N failed" as a test runner's."""
    ran = [r for r in results if r.ran]
    failed = [r for r in ran if r.failed]
    skipped = [r for r in results if not r.ran]
    line = f"{len(ran)} tried, {len(ran) - len(failed)} held, {len(failed)} failed"
    if skipped:
        line += f" ({len(skipped)} not tried: {', '.join(str(r.number) for r in skipped)})"
    return line


def write_json(path: Path, results: list[Result]) -> None:
    path.write_text(json.dumps([asdict(r) for r in results], ensure_ascii=False, indent=2), encoding="utf-8")
