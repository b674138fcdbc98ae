"""Raw HTTP/1.1 over a socket, for what a polite client will not send: a 100 MB header, a chunked
body with no end in sight, a multipart upload streamed without a Content-Length.

`push` sends a request piece by piece and stops the moment the server answers or hangs up, so a
server that refuses early is never made to swallow the rest; it also gives up after a time limit.
"""
from __future__ import annotations

import io
import select
import socket
import time
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

PIECE = 64 * 1024


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True)
class Push:
    """How a send went: `sent` of `planned` bytes after the head; `early` when the server answered
    or hung up before the last byte was sent."""

    planned: int
    sent: int
    reply: Reply | None
    closed: bool
    early: bool
    timed_out: bool
    seconds: float
    raw_head: str = field(default="", repr=False)

    @property
    def status(self) -> int | None:
        return self.reply.status if self.reply else None

    def describe(self) -> str:
        outcome = f"answered {self.status}" if self.reply else ("closed without an answer" if self.closed else "no answer")
        when = "before the end" if self.early else "after all of it"
        if self.timed_out:
            when = f"still sending at the {self.seconds:.0f} s limit"
        return f"{outcome} {when} ({_mb(self.sent)} of {_mb(self.planned)} sent, {self.seconds:.1f} s)"


def _mb(n: int) -> str:
    return f"{n / (1024 * 1024):.1f} MB"


def filler(total: int, unit: bytes = b"a") -> Iterator[bytes]:
    block = (unit * (PIECE // len(unit) + 1))[:PIECE]
    for _ in range(total // PIECE):
        yield block
    if total % PIECE:
        yield block[: total % PIECE]


def chunked(pieces: Iterable[bytes]) -> Iterator[bytes]:
    """Transfer-Encoding: chunked framing, the terminating chunk included."""
    for p in pieces:
        yield b"%x\r\n" % len(p) + p + b"\r\n"
    yield b"0\r\n\r\n"


def multipart(boundary: str, filename: str, pieces: Iterable[bytes], field_name: str = "files") -> Iterator[bytes]:
    yield (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field_name}\"; filename=\"{filename}\"\r\n"
           "Content-Type: text/plain\r\n\r\n").encode()
    yield from pieces
    yield f"\r\n--{boundary}--\r\n".encode()


def head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close",
             *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def push(port: int, first: bytes, pieces: Iterable[bytes], planned: int, limit: float,
         wait_early: float = 0.5, wait_reply: float = 30) -> Push:
    """Send `first` (request line and headers), then `pieces`, watching for an answer between pieces.

    A server that decides on the headers alone has `wait_early` seconds to answer before any of the
    rest goes out; after the last piece it has `wait_reply` seconds. Everything stops at `limit`."""
    t0 = time.monotonic()
    sent, closed, early, timed_out = 0, False, False, False
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(first)
        readable, _, _ = select.select([s], [], [], wait_early)
        it, pending = iter(pieces), b""
        if readable:
            early = True
        else:
            s.setblocking(False)
            while True:
                if time.monotonic() - t0 > limit:
                    timed_out = True
                    break
                if not pending:
                    pending = next(it, b"")
                    if not pending:
                        break  # all sent
                readable, writable, _ = select.select([s], [s], [], 1.0)
                if readable:
                    early = True
                    break
                if writable:
                    try:
                        n = s.send(pending[:PIECE])
                    except BlockingIOError:
                        continue
                    except (BrokenPipeError, ConnectionResetError):
                        closed = early = True
                        break
                    pending = pending[n:]
                    sent += n
            s.setblocking(True)
        reply, eof = _read_reply(s, wait_reply if not timed_out else 2)
        closed = closed or (reply is None and eof)
    finally:
        s.close()
    return Push(planned, sent, reply, closed, early, timed_out, time.monotonic() - t0)


def _read_reply(s: socket.socket, wait: float) -> tuple[Reply | None, bool]:
    """The status, headers and body (by Content-Length) of one answer; (None, eof?) when none came."""
    s.settimeout(wait)
    buf, deadline = b"", time.monotonic() + wait
    try:
        while b"\r\n\r\n" not in buf and time.monotonic() < deadline:
            got = s.recv(65536)
            if not got:
                return None, True
            buf += got
    except (ConnectionResetError, BrokenPipeError):
        return None, True
    except TimeoutError:
        return None, False
    if b"\r\n\r\n" not in buf:
        return None, False
    top, _, body = buf.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        return None, False
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    want = int(headers.get("content-length", "0") or 0)
    try:
        while len(body) < want and time.monotonic() < deadline:
            got = s.recv(65536)
            if not got:
                break
            body += got
    except (ConnectionResetError, TimeoutError):
        pass
    return Reply(status, headers, body), False


def zip_bomb(inflated: int) -> bytes:
    """A .docx-shaped zip whose document.xml inflates to `inflated` bytes (deflate: ~1000:1),
    built in memory. The sizes it states are true: this is a bomb, not a broken archive."""
    out = io.BytesIO()
    ns = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
        z.writestr("[Content_Types].xml",
                   '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                   'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.'
                   'relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName='
                   '"/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.'
                   'document.main+xml"/></Types>')
        z.writestr("_rels/.rels",
                   '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/'
                   'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
                   'officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>')
        opening = f'<?xml version="1.0" encoding="UTF-8"?><w:document {ns}><w:body><w:p><w:r><w:t>'.encode()
        closing = b"</w:t></w:r></w:p></w:body></w:document>"
        with z.open("word/document.xml", "w", force_zip64=True) as part:
            part.write(opening)
            for block in filler(inflated - len(opening) - len(closing), b"A"):
                part.write(block)
            part.write(closing)
    return out.getvalue()
