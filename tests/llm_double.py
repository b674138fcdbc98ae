"""A TEST DOUBLE of an OpenAI-compatible chat model server, written for the tests (no LLM runs here).

It serves, on a free loopback port, the two routes `qa` calls: `GET /v1/models` and
`POST /v1/chat/completions` (streamed as server-sent events when the request says `"stream": true`,
one JSON completion otherwise). What it answers is scripted by the test, not generated:

    double = LLMDouble().start()          # double.url == "http://127.0.0.1:<port>/v1"
    double.script = Script.reply("2025年全省市场主体目标为650万户[1]。")
    double.on("口罩", Script.fail(500))   # a question containing 口罩 gets this one instead
    ...
    double.requests                        # the JSON bodies received, oldest first (`headers`: theirs)
    double.stop()

Scripts: `reply(text)` streams `text` in small pieces; `slow(seconds)` answers only after `seconds`
(past a client's timeout); `fail(status)` answers an HTTP error; `malformed_stream(text)` streams `text`,
then a line that is not JSON. A script is chosen by the first `on(keyword, …)` whose keyword occurs in the
question, else `script`. `hold()` keeps every completion waiting until `release()`.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL = "double-qwen"
PIECE = 4  # characters per streamed delta: sentences arrive split across deltas, as from a real model


@dataclass(frozen=True)
class Script:
    text: str = ""
    status: int = 200
    delay: float = 0.0  # seconds before anything is sent
    malformed: bool = False

    @classmethod
    def reply(cls, text: str) -> Script:
        return cls(text)

    @classmethod
    def slow(cls, seconds: float, text: str = "迟到的回答[1]。") -> Script:
        return cls(text, delay=seconds)

    @classmethod
    def fail(cls, status: int = 500) -> Script:
        return cls(status=status)

    @classmethod
    def malformed_stream(cls, text: str = "") -> Script:
        return cls(text, malformed=True)


@dataclass
class LLMDouble:
    script: Script = field(default_factory=lambda: Script.reply("资料中没有相关内容。"))
    requests: list[dict] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)  # of each request above, names in lower case
    _keyed: list[tuple[str, Script]] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _stopping: threading.Event = field(default_factory=threading.Event)
    _gate: threading.Event | None = None

    def start(self) -> LLMDouble:
        double = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet: pytest shows failures, not access lines
                pass

            def do_GET(self) -> None:
                if self.path.rstrip("/") == "/v1/models":
                    self._json(200, {"object": "list", "data": [
                        {"id": MODEL, "object": "model", "created": 0, "owned_by": "tests"}]})
                else:
                    self._json(404, {"error": {"message": "not found", "type": "not_found"}})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._json(404, {"error": {"message": "not found", "type": "not_found"}})
                    return
                double.requests.append(body)
                double.headers.append({k.lower(): v for k, v in self.headers.items()})
                script = double.pick(body)
                if script.delay and double._stopping.wait(script.delay):
                    return
                if (gate := double._gate) is not None:
                    gate.wait()
                    if double._stopping.is_set():
                        return
                try:
                    if script.status != 200:
                        self._json(script.status, {"error": {"message": "scripted failure", "type": "server_error"}})
                    elif body.get("stream"):
                        self._stream(script)
                    else:
                        self._json(200, completion(script.text))
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (its timeout): expected
                    pass

            def _json(self, status: int, obj: dict) -> None:
                data = json.dumps(obj, ensure_ascii=False).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _stream(self, script: Script) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                for i in range(0, len(script.text), PIECE):
                    self._event(chunk({"content": script.text[i:i + PIECE]}))
                if script.malformed:
                    self.wfile.write('data: {"id": "x", "choices": [{"delta": {"content": "未完\n\n'.encode())
                    self.wfile.flush()
                    return
                self._event(chunk({}, finish="stop"))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()

            def _event(self, obj: dict) -> None:
                self.wfile.write(f"data: {json.dumps(obj, ensure_ascii=False)}\n\n".encode())
                self.wfile.flush()

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="llm-double", daemon=True).start()
        return self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def on(self, keyword: str, script: Script) -> None:
        """Answer `script` to any request whose last user message contains `keyword`."""
        self._keyed.insert(0, (keyword, script))

    def reset(self, script: Script | None = None) -> None:
        self._keyed.clear()
        self.requests.clear()
        self.headers.clear()
        if script is not None:
            self.script = script

    def pick(self, body: dict) -> Script:
        users = [m.get("content") or "" for m in body.get("messages", []) if m.get("role") == "user"]
        last = users[-1] if users else ""
        question = last.rpartition("问题：")[2] if "问题：" in last else last  # the question, not the passages
        return next((s for k, s in self._keyed if k in question), self.script)

    def hold(self) -> None:
        """Hold every completion until `release()`: what the page shows before the model answers."""
        self._gate = threading.Event()

    def release(self) -> None:
        if self._gate is not None:
            self._gate.set()
        self._gate = None

    def stop(self) -> None:
        self._stopping.set()  # releases handlers sleeping in a slow script
        self.release()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


def chunk(delta: dict, finish: str | None = None) -> dict:
    return {"id": "chatcmpl-double", "object": "chat.completion.chunk", "created": int(time.time()), "model": MODEL,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def completion(text: str) -> dict:
    return {"id": "chatcmpl-double", "object": "chat.completion", "created": int(time.time()), "model": MODEL,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}}
