"""Background ingest of uploaded files: stored under the index's own folder with generated names,
ingested one job at a time, each job's state kept as a JSON file so any worker process can report it.

    index/default/uploads/<job_id>/01-<uuid>.docx   the uploaded bytes (the client's name is never a path)
    index/default/jobs/<job_id>.json                status, stage, per-file results, the ingest report,
                                                    and the owner: the server process running the job

A job never outlives its server: the ingest process is killed with it (even by `kill -9`), and a
server starting on the index marks the jobs of owners that are gone as failed ("interrupted").

A job with a long scan (a PDF or TIFF of more pages than QA_OCR_MAX_PAGES) does not hold the ingest
queue while OCR reads it (~4 s a page: an hour for 500 pages): its pages are first read ahead, page
by page, in an OCR process of their own at a lower priority, the job reporting `progress`
{pages_done, pages_total}; the pages are kept in the index's OCR cache, and the job then joins the
ingest queue, whose reading finds them done. Other jobs go on meanwhile.
"""
from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import multiprocessing
import os
import re
import signal
import sys
import time
import unicodedata
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict
from pathlib import Path, PurePosixPath, PureWindowsPath

from qa.errors import QAError
from qa.formats import ocr
from qa.index import live_version_name
from qa.load import WARNING_CODES, LoadLimits, load_file
from qa.service import Service
from qa.settings import Settings
from qa.types import IngestReport

from .errors import JobNotFound

log = logging.getLogger(__name__)

_UNSAFE = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
_JOB_ID = re.compile(r"^[0-9a-f]{32}$")
_UNFINISHED = ("queued", "running")
_PR_SET_PDEATHSIG = 1


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def document_name(filename: str | None) -> str:
    """A document id from a client's file name: its last path component without the suffix,
    with separators and control characters replaced. It names the document; it is never a path."""
    name = PureWindowsPath(PurePosixPath(filename or "").name).name
    stem = name.rsplit(".", 1)[0] if "." in name.lstrip(".") else name
    stem = _UNSAFE.sub("_", unicodedata.normalize("NFC", stem)).strip(" ._")[:120]
    return stem or f"upload-{uuid.uuid4().hex[:8]}"


class IngestJobs:
    def __init__(self, index_dir: Path, service: Service, on_finish: Callable[[str], None] = lambda status: None):
        self.uploads = index_dir / "uploads"
        self.folder = index_dir / "jobs"
        self.service = service
        self.on_finish = on_finish
        self.index_dir = index_dir
        # Which process runs a job: a pid alone could be reused by another process after a restart.
        self.owner = {"pid": os.getpid(), "started": process_start(os.getpid())}
        self._mark_interrupted()
        # One writer at a time: `Service.ingest` also holds the index's writer lock, which keeps
        # other processes (workers, `qa ingest`) in line too.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")
        # The ingest process, started by the first job and kept, with its model loaded, for the next
        # ones: a one-page upload then costs its own embedding, not a model load.
        self._worker: ProcessPoolExecutor | None = None
        # Long scans are read ahead by OCR here, one at a time, beside the ingest queue (see above).
        self._ocr_lane = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ocr-ahead")
        self._ocr_worker: ProcessPoolExecutor | None = None
        self._closing = False

    def new_upload_dir(self) -> tuple[str, Path]:
        job_id = uuid.uuid4().hex
        folder = self.uploads / job_id
        folder.mkdir(parents=True)
        return job_id, folder

    def submit(self, job_id: str, files: list[tuple[str, Path, str]], rejected: Sequence[dict] = ()) -> dict:
        """Queue an ingest of `files`: (client's file name, stored path, document id). `rejected`
        lists the files of the same upload refused on receipt ({name, code, message}), for the record."""
        job = {"job_id": job_id, "status": "queued", "stage": "排队中", "created_at": now(),
               "started_at": None, "finished_at": None, "report": None, "error": None, "owner": self.owner,
               "files": [{"name": name, "stored": str(path), "doc_id": doc_id, "doc_ids": [], "status": "pending",
                          "error": None} for name, path, doc_id in files], "rejected": list(rejected)}
        long_scans = {str(path): pages for _, path, _ in files
                      if (pages := scan_pages(path)) > self.service.settings.ocr_max_pages}
        if long_scans:
            job["progress"] = {"pages_done": 0, "pages_total": sum(long_scans.values())}
            job["stage"] = "排队等待 OCR 识别扫描页"
        self._save(job)
        if long_scans:
            self._ocr_lane.submit(self._read_ahead, job, long_scans)
        else:
            self._executor.submit(self._run, job)
        log.info("ingest job %s queued: %d files (%d long scans read ahead)", job_id, len(files), len(long_scans))
        return job

    def get(self, job_id: str) -> dict:
        path = self.folder / f"{job_id}.json"
        if not _JOB_ID.match(job_id) or not path.exists():
            raise JobNotFound(f"没有导入任务 {job_id!r}")
        job = json.loads(path.read_text(encoding="utf-8"))
        if job.get("status") in _UNFINISHED and job.get("progress"):  # the OCR process's latest page
            try:
                job["progress"] = json.loads((self.folder / f"{job_id}.progress").read_text(encoding="utf-8"))
                # said in the stage too: a page that shows only the stage shows the pages
                job["stage"] = f"OCR 识别扫描页 {job['progress']['pages_done']}/{job['progress']['pages_total']}"
            except (OSError, ValueError, KeyError, TypeError):
                pass  # not started yet, or just finished: the job's own figure stands
        return job

    def shutdown(self) -> None:
        # A read-ahead may have an hour of pages left: it is stopped, not waited for (its job is then
        # marked interrupted by the next server, as any job whose server is gone).
        self._closing = True
        if (ocr_worker := self._ocr_worker) is not None:
            for process in list(getattr(ocr_worker, "_processes", {}).values()):  # no public way to stop a task
                process.kill()
            ocr_worker.shutdown(wait=False, cancel_futures=True)
        self._ocr_lane.shutdown(wait=True, cancel_futures=True)
        self._executor.shutdown(wait=True, cancel_futures=False)
        if self._worker is not None:
            self._worker.shutdown(wait=True)

    def _read_ahead(self, job: dict, long_scans: dict[str, int]) -> None:
        """OCR a job's long scans page by page into the OCR cache, then queue its ingest. A scan the
        read-ahead cannot read (too many pages even for QA_OCR_QUEUE_MAX_PAGES, damaged) is that file's
        error; the job's other files are ingested as usual."""
        try:
            self._read_scans(job, long_scans)
        except Exception:  # noqa: BLE001 - a background job has no caller: its ingest reads the scans itself
            log.exception("ingest job %s: reading its scans ahead failed", job["job_id"])
        if not self._closing:
            self._executor.submit(self._run, job)

    def _read_scans(self, job: dict, long_scans: dict[str, int]) -> None:
        job.update(status="running", stage="OCR 识别扫描页", started_at=now())
        self._save(job)
        progress = self.folder / f"{job['job_id']}.progress"
        done, total = 0, sum(long_scans.values())
        for stored, pages in long_scans.items():
            if self._closing:
                return
            if self._ocr_worker is None:
                self._ocr_worker = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                                       initializer=die_with_parent, initargs=(os.getpid(), 10))
            try:
                read, failed = self._ocr_worker.submit(read_ahead_in_child, self.service.settings, Path(stored),
                                                       progress, done, total - pages).result()
            except BrokenProcessPool:
                if self._closing:
                    return
                log.error("ingest job %s: the OCR process died; its ingest reads the scan itself", job["job_id"])
                self._ocr_worker, read, failed = None, pages, None
            if failed is not None:
                f = next(f for f in job["files"] if f["stored"] == stored)
                f.update(status="error", error={"code": failed[0], "message": _client_message(failed[1], f)})
            done, total = done + read, total - pages + read
            job["progress"] = {"pages_done": done, "pages_total": total}
            self._save(job)
        progress.unlink(missing_ok=True)
        job["stage"] = "扫描页已识别，排队导入"
        self._save(job)

    def _ingest_worker(self) -> ProcessPoolExecutor:
        """The ingest process. It is started from the job thread, which lives as long as the server
        (see `die_with_parent`); one that died is replaced by the next job."""
        if self._worker is None:
            self._worker = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"),
                                               initializer=die_with_parent, initargs=(os.getpid(),))
        return self._worker

    def _mark_interrupted(self) -> None:
        """Fail the unfinished jobs whose owner is gone (killed, crashed, restarted): they would say
        "running" forever. A job of another live worker is left alone. Linux only: elsewhere there is
        no /proc to tell a live owner from a dead one."""
        if self.owner["started"] is None or not self.folder.is_dir():
            return
        for path in self.folder.glob("*.json"):
            try:
                job = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # unreadable: `get` reports it as it is
            if (not isinstance(job, dict) or job.get("job_id") != path.stem or not _JOB_ID.match(path.stem)
                    or job.get("status") not in _UNFINISHED or _owner_alive(job.get("owner"))):
                continue
            # The ingest process died with its server, so the index is as the job found it, unless a
            # version was switched in just before the end (or by another writer since): then say so.
            unchanged = "base_version" not in job or job["base_version"] == live_version_name(self.index_dir)
            message = "服务在导入过程中停止，任务已中断；" + (
                "在线索引未改变，请重新上传" if unchanged else "此后在线索引有过更新，请在文档列表中核对本次的文档，必要时重新上传")
            for f in job.get("files", []):
                f["status"] = "error"
            job.update(status="failed", stage="已中断", finished_at=now(), error={"code": "interrupted", "message": message})
            self._save(job)
            self._forget_read_ahead(job)
            log.warning("ingest job %s was interrupted (its server, pid %s, is gone)", job["job_id"],
                        (job.get("owner") or {}).get("pid"))

    def _save(self, job: dict) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        # a name of its own: two workers starting together may both mark the same job
        tmp = self.folder / f".{job['job_id']}.{os.getpid()}.json.tmp"
        tmp.write_text(json.dumps(job, ensure_ascii=False, indent=2), encoding="utf-8")
        os.replace(tmp, self.folder / f"{job['job_id']}.json")

    def _run(self, job: dict) -> None:
        job.update(status="running", stage="读取文档、嵌入并建立新索引", started_at=now(),
                   base_version=live_version_name(self.index_dir))
        self._save(job)
        files = job["files"]
        files = [f for f in files if not f.get("error")]  # not a long scan the read-ahead could not read
        if not files:
            job.update(status="failed", stage="没有可导入的文档", finished_at=now(),
                       error={"code": "nothing_ingested", "message": "上传的文件都没能导入；在线索引未改变"})
            self._save(job)
            self.on_finish("failed")
            return
        paths = [Path(f["stored"]) for f in files]
        names = {f["stored"]: f["doc_id"] for f in files}
        file_names = {f["stored"]: f["name"] for f in files}  # the originals are kept under the client's names
        try:
            # In a process of its own: cleaning and chunking are pure Python, and in this process
            # they would hold the interpreter lock against every query for seconds at a time.
            outcome = self._ingest_worker().submit(ingest_in_child, self.service.settings, paths, names,
                                                   file_names).result()
            self._forget_read_ahead(job)  # the pages read ahead are in the index now (or will never be)
        except BrokenProcessPool:
            log.error("ingest job %s: the ingest process died; the next job starts a new one", job["job_id"])
            self._worker = None
            self._fail(job, "internal_error", "导入进程意外退出；在线索引未改变，请重新上传")
            return
        except Exception:  # noqa: BLE001 - a background job has no caller to raise to: record it and keep serving
            log.exception("ingest job %s failed", job["job_id"])
            self._fail(job, "internal_error", "导入时发生内部错误；在线索引未改变")
            return
        if isinstance(outcome, tuple):
            self._fail(job, *outcome)
            return
        report = outcome
        self.service.index  # noqa: B018 - load the new version now, not in the next question's time
        problems: dict[str, list] = {}
        for p in report.problems:
            problems.setdefault(p.path, []).append(p)
        outcome = {**{d: "added" for d in report.added}, **{d: "updated" for d in report.updated},
                   **{d: "unchanged" for d in report.unchanged}}
        claimed = {f["doc_id"] for f in files}
        for f in files:  # the files read ahead and failed keep their error (they are job["files"] too)
            mine = problems.get(f["stored"], [])
            if f["stored"].endswith(".jsonl"):  # a JSONL file holds many documents, named by its lines
                f["doc_ids"] = sorted(d for d in outcome if d not in claimed)
            elif f["doc_id"] in outcome:
                f["doc_ids"] = [f["doc_id"]]
            f["status"] = outcome.get(f["doc_ids"][0], "added") if f["doc_ids"] else "error"
            # A scan read with low confidence was imported: a warning beside it, not an error.
            warned = [p for p in mine if p.code in WARNING_CODES]
            mine = [p for p in mine if p.code not in WARNING_CODES]
            if warned:
                f["warning"] = {"code": warned[0].code, "message": _client_message(warned[0].message, f)}
            if mine:
                more = f"（另有 {len(mine) - 1} 处问题）" if len(mine) > 1 else ""
                f["error"] = {"code": mine[0].code, "message": _client_message(mine[0].message, f) + more}
        ok = any(f["doc_ids"] for f in files)
        report_out = {k: v for k, v in asdict(report).items() if k != "problems"}
        job.update(status="succeeded" if ok else "failed", stage="完成" if ok else "没有可导入的文档",
                   finished_at=now(), report=report_out)
        if not ok:
            job["error"] = {"code": "nothing_ingested", "message": "上传的文件都没能导入；在线索引未改变"}
        self._save(job)
        self.on_finish(job["status"])
        log.info("ingest job %s %s in %.1f s", job["job_id"], job["status"], report.seconds)

    def _fail(self, job: dict, code: str, message: str) -> None:
        for f in job["files"]:
            f["status"] = "error"
        job.update(status="failed", stage="失败", finished_at=now(), error={"code": code, "message": message})
        self._save(job)
        self._forget_read_ahead(job)
        self.on_finish("failed")

    def _forget_read_ahead(self, job: dict) -> None:
        """Drop the pages OCR read ahead for a job's long scans (`progress`) once the job is over,
        however it ended: they are in the index by then, or never will be."""
        if not job.get("progress"):
            return
        cache = Path(LoadLimits.from_settings(self.service.settings).ocr_cache)
        for f in job.get("files", []):
            try:
                ocr.forget(cache, Path(f["stored"]).read_bytes())
            except (KeyError, TypeError, OSError):
                continue  # no stored file left to name its pages: nothing of it to find


def die_with_parent(parent: int, niceness: int = 0) -> None:
    """First thing in the ingest process: have the kernel SIGKILL it when the server dies, however
    it dies, so no ingest switches the index in behind a dead or restarted server. (Strictly, when
    the thread that started it ends: the job thread, which lives as long as the server.) A killed
    ingest leaves at most a `.tmp-*` folder; the live index is untouched. `niceness`: the OCR
    read-ahead yields the CPU to queries and to the ingest of other jobs."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the server died before prctl took effect
        os._exit(1)
    if niceness:
        os.nice(niceness)


def scan_pages(path: Path) -> int:
    """How many pages a PDF or TIFF has (an upper bound on the pages OCR may read; 0 for other files
    and for damaged ones, which the ingest reports): cheap, read from the file's structure."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".pdf":
            import pypdfium2

            pdf = pypdfium2.PdfDocument(str(path))
            try:
                return len(pdf)
            finally:
                pdf.close()
        if suffix in (".tif", ".tiff"):
            from PIL import Image

            with Image.open(path) as image:
                return getattr(image, "n_frames", 1)
    except (OSError, ValueError, SyntaxError, RuntimeError) as exc:  # pdfium's PdfiumError is a RuntimeError
        log.info("%s: pages not counted (%s)", path.name, exc)
    return 0


def read_ahead_in_child(settings: Settings, path: Path, progress: Path, before: int,
                        after: int) -> tuple[int, tuple[str, str] | None]:
    """Runs in the OCR process: reads `path` as its ingest will, OCR'd pages kept in the OCR cache,
    writing {pages_done, pages_total} of the whole job to `progress` after each page (`before`: pages
    of the job's scans read before this one; `after`: pages of those still to read). Returns the pages
    read and, for a file that cannot be read, its (code, message)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    pages = [0]

    def report(done: int, total: int) -> None:
        pages[0] = total
        tmp = progress.with_suffix(".progress.tmp")
        tmp.write_text(json.dumps({"pages_done": before + done, "pages_total": before + total + after}), encoding="utf-8")
        os.replace(tmp, progress)

    limits = dataclasses.replace(LoadLimits.from_settings(settings), ocr_max_pages=settings.ocr_queue_max_pages,
                                 max_seconds_per_file=0, ocr_cache_write=True, on_ocr_page=report)
    try:
        load_file(path, limits)  # the text is read again by the ingest, from the cache
    except QAError as e:  # the limit that applied here is the queue's
        return pages[0], (e.code, getattr(e, "reason", e.message).replace("QA_OCR_MAX_PAGES", "QA_OCR_QUEUE_MAX_PAGES"))
    return pages[0], None


def process_start(pid: int) -> str | None:
    """When process `pid` started (field 22 of /proc/<pid>/stat, in clock ticks since boot); None
    if it is gone, a zombie, or there is no /proc."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    state, *fields = stat.rsplit(")", 1)[1].split()  # the name, in (…), may hold spaces and ")"
    return None if state in ("Z", "X") else fields[18]


def _owner_alive(owner: object) -> bool:
    """A job written before owners were recorded has no owner: its server is long gone."""
    if not isinstance(owner, dict) or not isinstance(owner.get("pid"), int):
        return False
    started = owner.get("started")
    return started is not None and process_start(owner["pid"]) == started


# The ingest process's own service, kept between jobs: its loaded model is the point of keeping
# the process (the one piece of state a process keeps, as the server keeps its service).
_child_service: Service | None = None


def ingest_in_child(settings: Settings, paths: list[Path], doc_ids: dict[str, str],
                    file_names: dict[str, str] | None = None) -> IngestReport | tuple[str, str]:
    """Runs in the ingest process: its own service (and model), half the threads, so queries keep
    a core. The new version is switched in on disk; the server notices `CURRENT` has moved.
    A library error comes back as (code, message): some error types do not survive pickling."""
    global _child_service  # noqa: PLW0603 - see above
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = settings.model_copy(update={"num_threads": max(1, settings.num_threads // 2)})
    if _child_service is None or _child_service.settings != settings:
        _child_service = Service(settings)
    try:
        return _child_service.ingest(paths, doc_ids=doc_ids, file_names=file_names)
    except QAError as e:
        return e.code, e.message


def _client_message(message: str, f: dict) -> str:
    """Problems name the stored path; the client knows the file by the name it sent."""
    return message.replace(f["stored"], f["name"])
