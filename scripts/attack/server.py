"""`qa serve` on a free loopback port over a private copy of an index, and what /proc says of the
running server: resident memory, CPU time, child processes, the temporary files it holds open.

Every server gets its own session (process group), so stopping it also takes down an ingest child
it spawned, even one orphaned by a kill -9 of the server.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Self

import httpx

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INDEX = ROOT / "index" / "default"
_TICK = os.sysconf("SC_CLK_TCK")


class ServerFailed(RuntimeError):
    """The server exited or never answered; the message carries its log's tail."""


@dataclass
class Server:
    name: str
    url: str
    proc: subprocess.Popen
    index_dir: Path
    log: Path
    tmpdir: Path  # its TMPDIR: where multipart parsing spools uploads

    @property
    def pid(self) -> int:
        return self.proc.pid

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace") if self.log.exists() else ""


def base_index(tmp: Path, given: Path | None) -> Path:
    """The index every server copies (never written): `given`, else index/default, else one built
    here from corpus/ with `qa ingest`."""
    for folder in (given, DEFAULT_INDEX):
        if folder is not None and (folder / "CURRENT").exists():
            return folder
    if given is not None:
        raise ServerFailed(f"{given} holds no index (no CURRENT)")
    dest = tmp / "base-index"
    print(f"no index at {DEFAULT_INDEX}: building one from corpus/ in {dest}", flush=True)
    subprocess.run([sys.executable, "-m", "qa.cli", "ingest", str(ROOT / "corpus"), "--index", str(dest), "--json"],
                   cwd=ROOT, check=True, stdout=subprocess.DEVNULL, timeout=900)
    return dest


def copy_index(src: Path, dest: Path) -> Path:
    """A private copy (CURRENT symlink kept as a link); the lock file is the copy's own."""
    shutil.copytree(src, dest, symlinks=True, ignore=shutil.ignore_patterns(".writer.lock"))
    return dest


def live_folder(index_dir: Path) -> Path:
    return index_dir / "versions" / Path(os.readlink(index_dir / "CURRENT")).name


def version_names(index_dir: Path) -> set[str]:
    versions = index_dir / "versions"
    return {p.name for p in versions.iterdir()} if versions.is_dir() else set()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name: str, index_dir: Path, run_dir: Path, env: dict[str, str], ready: bool = True,
          limit: float = 180) -> Server:
    """Start `qa serve`; return once /readyz is 200 (`ready`) or once /healthz answers (not `ready`:
    for indexes that are not meant to load)."""
    port = _free_port()
    tmpdir = run_dir / f"{name}-tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    log = run_dir / f"{name}.log"
    environ = {**os.environ, "QA_INDEX_DIR": str(index_dir), "QA_ALLOW_ANONYMOUS_READ": "false",
               "QA_CORS_ORIGINS": "", "TMPDIR": str(tmpdir), "OMP_WAIT_POLICY": "passive",
               "PYTHONUNBUFFERED": "1", **env}
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "qa.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
                                cwd=ROOT, env=environ, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(name, f"http://127.0.0.1:{port}", proc, index_dir, log, tmpdir)
    probe = "/readyz" if ready else "/healthz"
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerFailed(f"{name}: exited with {proc.returncode}: {_tail(server)}")
        try:
            if httpx.get(server.url + probe, timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    stop(server)
    raise ServerFailed(f"{name}: {probe} not 200 within {limit:.0f} s: {_tail(server)}")


def _tail(server: Server, lines: int = 6) -> str:
    return " | ".join(server.log_text().strip().splitlines()[-lines:])


def stop(server: Server, grace: float = 90) -> None:
    """Graceful stop (SIGINT: uvicorn lets a running ingest finish), then SIGKILL to the whole
    process group, which takes down any child left behind."""
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGINT)
        try:
            server.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(server.pid, signal.SIGKILL)  # the group we created: its id is the server's pid
    except ProcessLookupError:
        pass
    server.proc.wait()


# ----- what /proc says -----

def _status_kb(pid: int, field: str) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return 0


def rss(pid: int) -> int:
    return _status_kb(pid, "VmRSS")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of the process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def descendants(pid: int) -> list[int]:
    """Every process below `pid` (ingest children, multiprocessing's helpers)."""
    parent: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
    found, frontier = [], [pid]
    while frontier:
        p = frontier.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        found += kids
        frontier += kids
    return found


def tree_rss(pid: int) -> int:
    return rss(pid) + sum(rss(c) for c in descendants(pid))


def open_bytes_under(pid: int, folder: Path) -> int:
    """Bytes in the files `pid` holds open under `folder`, deleted ones included: where Starlette
    spools a multipart upload (an unlinked temporary file, invisible to `ls`)."""
    total, prefix = 0, str(folder)
    fds = Path(f"/proc/{pid}/fd")
    try:
        entries = list(fds.iterdir())
    except (FileNotFoundError, PermissionError):
        return 0
    for fd in entries:
        try:
            if os.readlink(fd).startswith(prefix):
                total += os.stat(fd).st_size
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total


def bytes_under(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) if folder.exists() else 0


class Sampler:
    """Calls `tick()` in a thread while the block runs: at once, then every `every` seconds."""

    def __init__(self, tick: Callable[[], None], every: float):
        self.tick, self.every = tick, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        self.tick()
        while not self._stop.wait(self.every):
            self.tick()

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


class Peak(Sampler):
    """Samples `measure()` every `every` seconds while the block runs; `peak` is the largest value
    seen (the first sample is taken before the block starts, the last after it)."""

    def __init__(self, measure: Callable[[], float], every: float = 0.1):
        self.measure = measure
        self.first = self.peak = measure()
        super().__init__(self._sample, every)

    def _sample(self) -> None:
        self.peak = max(self.peak, self.measure())

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        self._sample()

    @property
    def growth(self) -> float:
        return self.peak - self.first
