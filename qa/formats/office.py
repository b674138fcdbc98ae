""".doc (Word 97-2003) and .wps (Kingsoft WPS 文字, in practice the same OLE Word binary): converted
to .docx by LibreOffice headless, then read by the .docx reader, so tables, headings and the title
come out exactly as they do for a .docx.

LibreOffice was measured against antiword and catdoc on the same files (README, "Formats"): all
three keep the body text; those two take milliseconds to LibreOffice's 3-4 s, but antiword refuses
short documents and pads table cells into |…| columns, and catdoc has no title, no table rows and
garbles RTF saved as .doc. Through LibreOffice a .doc reads line for line as the same .docx would.

Each conversion runs in its own temporary folder with its own LibreOffice profile (two profiles
shared by concurrent conversions lock each other out) in a new process group, killed whole when
it overruns `convert_timeout`: soffice forks soffice.bin, and killing only the parent would leave
the worker running. A hung or crashing conversion is one file's error, never a stuck job.
"""
from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from qa.errors import DocumentLoadError

if TYPE_CHECKING:
    from qa.load import LoadLimits

log = logging.getLogger(__name__)

DEFAULT_SOFFICE = "soffice"
DEFAULT_TIMEOUT = 60.0
_OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # the compound-file signature of Word 97-2003 and WPS
_ZIP = b"PK\x03\x04"
_INSTALL = "请安装 LibreOffice（Debian/Ubuntu：apt-get install libreoffice-writer-nogui，或运行 scripts/install_converters.sh）"


def read(path: Path, data: bytes, limits: LoadLimits | None = None) -> tuple[str, dict[str, str]]:
    # imported here: qa.load imports this module to register it
    from qa.load import LoadLimits, _check_inflated, _read_docx

    limits = limits or LoadLimits()
    if data.startswith(_ZIP):  # a .docx saved under an old name (WPS does this): no conversion needed
        _check_inflated(path, data, limits.max_inflated_bytes)
        return _read_docx(path, data)
    docx = convert_to_docx(path, data, soffice=limits.soffice, timeout=limits.convert_timeout)
    _check_inflated(path, docx, limits.max_inflated_bytes)
    return _read_docx(path, docx)


def convert_to_docx(path: Path, data: bytes, soffice: str = DEFAULT_SOFFICE, timeout: float = DEFAULT_TIMEOUT) -> bytes:
    """`data` (a .doc/.wps/.rtf) as .docx bytes, by `soffice --convert-to docx`; DocumentLoadError if
    LibreOffice is missing, fails, produces nothing, or runs past `timeout` seconds."""
    suffix = _input_suffix(path, data)
    executable = shutil.which(soffice)
    if executable is None:
        raise DocumentLoadError(str(path), f"无法读取 .doc/.wps 文件：找不到 LibreOffice 程序“{soffice}”（QA_SOFFICE）；{_INSTALL}",
                                code="converter_missing")
    with tempfile.TemporaryDirectory(prefix="qa-convert-") as tmp:
        folder = Path(tmp)
        source = folder / f"input{suffix}"  # a plain ASCII name: the original may be anything
        source.write_bytes(data)
        out = folder / "out"
        command = [executable, f"-env:UserInstallation={(folder / 'profile').as_uri()}", "--headless", "--invisible",
                   "--nologo", "--norestore", "--nolockcheck", "--nodefault",
                   "--convert-to", "docx:MS Word 2007 XML", "--outdir", str(out), str(source)]
        # HOME and TMPDIR inside the folder: nothing of a conversion outlives it
        env = {**os.environ, "HOME": tmp, "TMPDIR": tmp, "SAL_USE_VCLPLUGIN": "svp"}
        started = time.perf_counter()
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, cwd=tmp, env=env, start_new_session=True)
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise DocumentLoadError(str(path), f"转换超时：LibreOffice 转换此文件超过 {timeout:g} 秒，已停止并跳过"
                                    "（QA_CONVERT_TIMEOUT）", code="convert_timeout") from None
        finally:  # also on an interrupt (the per-file parse time limit): no LibreOffice left behind
            _kill_group(process)
        result = out / "input.docx"
        if process.returncode != 0 or not result.is_file() or result.stat().st_size == 0:
            lines = output.decode("utf-8", "replace").splitlines()  # less the noise (javaldx warnings)
            said = " ".join(line.strip() for line in lines if "rror" in line)[-200:]
            detail = f"退出码 {process.returncode}" + (f"，{said}" if said else "")
            raise DocumentLoadError(str(path), f"转换失败：LibreOffice 无法读取此文件（可能已损坏、加密或不是 "
                                    f"Word/WPS 文档；{detail}）", code="convert_failed")
        log.debug("%s: converted to .docx by LibreOffice in %.1f s", path, time.perf_counter() - started)
        return result.read_bytes()


def _input_suffix(path: Path, data: bytes) -> str:
    """The name LibreOffice gets: its type detection trusts the suffix first, and ".wps" means
    Microsoft Works to it, while Kingsoft's .wps is a Word binary. Content decides."""
    head = data[:512].lstrip(b"\xef\xbb\xbf \t\r\n")
    if data.startswith(_OLE):
        return ".doc"
    if head.startswith(b"{\\rtf"):  # Word and WPS both save RTF under .doc
        return ".rtf"
    if head[:1] == b"<":  # "Web page" or Word 2003 XML saved as .doc
        return ".xml" if head.startswith(b"<?xml") and b"<w:wordDocument" in data[:4096] else ".html"
    raise DocumentLoadError(str(path), "不是有效的 Word 97-2003（.doc）或 WPS 文字（.wps）文件："
                            "内容既不是 Word 二进制格式，也不是 RTF 或网页", code="invalid_doc")


def _kill_group(process: subprocess.Popen) -> None:
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass  # already gone
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        log.warning("LibreOffice process %d did not exit after SIGKILL", process.pid)
    if process.stdout is not None:
        process.stdout.close()
