"""Generated answers from an OpenAI-compatible chat model, each sentence verified before it is shown.

Only a found answer is elaborated: the model gets its top `llm_passages` citations, numbered as on
screen (`qa.prompt`), and its completion is streamed, cut into sentences (。！？ and line breaks, a
citation right after the stop staying with its sentence) and each sentence checked by `qa.verify`
before it is handed on. The first sentence that fails ends the generation: what was already sent
stays (it passed, and a stream cannot take it back), the failing sentence and everything after it
are withheld, and the note says so. A model that invents one figure is not trusted with the next.
A timeout, an HTTP error or a stream that cannot be parsed ends it the same way, with its own note;
nothing here raises to the caller, so the extractive answer always stands.

/ask and /chat both stream from the model, so they show the same sentences for the same output.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from .prompt import build_messages, passage_text
from .settings import Settings
from .types import Answer
from .verify import CITATION, Check, canonical_citations, check_sentence

log = logging.getLogger(__name__)

Status = Literal["verified", "withheld", "error"]

FALLBACK = "请以上面的答案和出处为准。"
NOTES = {
    "withheld_all": "生成的回答与所引片段核对不符，未予显示；" + FALLBACK,
    "withheld_rest": "生成的回答中有一句与所引片段核对不符，该句及其后的内容已隐去；" + FALLBACK,
    "off": "本服务未配置生成模型（QA_LLM_BASE_URL），只给出知识库原文中的答案。",
    "empty": "生成模型没有给出回答；" + FALLBACK,
}


@dataclass(frozen=True)
class GeneratedSentence:
    """A sentence that passed verification, with the passage numbers it cites ([1][2] → (1, 2))."""

    text: str
    citations: tuple[int, ...]


@dataclass(frozen=True)
class Generation:
    """What generation produced for one answer.

    `text`: the verified text shown ("" when nothing passed); `verified`: the whole output was shown;
    `status`: verified | withheld (a sentence failed the check) | error (no model, timeout, HTTP
    error, unparsable stream); `note`: Chinese, shown when something was withheld or failed; `raw`:
    the model's output as received; `problems`: why the check failed (these may name a fabricated
    figure: kept for the record, never shown).
    """

    text: str
    sentences: tuple[GeneratedSentence, ...]
    verified: bool
    status: Status
    note: str
    raw: str
    problems: tuple[str, ...] = ()
    rejected: str = ""  # the sentence that failed the check
    model: str = ""
    passages: tuple[int, ...] = ()  # the citation ranks the model was given
    seconds: float = 0.0

    def trace(self) -> dict:
        """JSON-able record of the generation: the raw output and the verification result."""
        return {"model": self.model, "passages": list(self.passages), "raw": self.raw, "status": self.status,
                "verified": self.verified, "text": self.text,
                "sentences": [{"text": s.text, "citations": list(s.citations)} for s in self.sentences],
                "rejected": self.rejected, "problems": list(self.problems), "note": self.note,
                "seconds": round(self.seconds, 3)}


def unavailable(note: str = NOTES["off"]) -> Generation:
    return Generation("", (), False, "error", note, "")


# ----- cutting the stream into sentences -----

_STOP = re.compile(r"[。！？!?\n]")
_CLOSERS = "”’」』）)"
# Citation markers after a sentence's stop belong to it ("…120万户。[1]").
_TRAILING_CITES = re.compile(rf"(?:[ \t]*{CITATION.pattern})*")
# What the rest of the buffer may still turn into a trailing citation: wait for more before cutting.
_MAYBE_CITE = re.compile(r"[ \t]*(?:[\[［【][来源资料片段\d\s,，、\-–~～]*)?")
_MARKUP = re.compile(r"\*\*|__")


@dataclass
class SentenceCutter:
    """Cuts streamed text into sentences as they complete; a paragraph break starts the next one with "\\n"."""

    buffer: str = ""
    _break: bool = field(default=False, repr=False)
    _started: bool = field(default=False, repr=False)  # a blank line before the first sentence is no break

    def feed(self, text: str, final: bool = False) -> list[str]:
        self.buffer += text
        out = []
        while m := _STOP.search(self.buffer):
            end = m.end()
            while end < len(self.buffer) and self.buffer[end] in _CLOSERS:
                end += 1
            end = _TRAILING_CITES.match(self.buffer, end).end()
            if not final and _MAYBE_CITE.fullmatch(self.buffer, end):
                break  # the stop may still be followed by its citation
            out.extend(self._emit(self.buffer[:end]))
            self.buffer = self.buffer[end:]
        if final and self.buffer:
            out.extend(self._emit(self.buffer))
            self.buffer = ""
        return out

    def _emit(self, piece: str) -> list[str]:
        text = _MARKUP.sub("", piece).strip()
        if not text:
            self._break = self._started and (self._break or "\n" in piece)
            return []
        text = ("\n" if self._break else "") + text
        self._break, self._started = "\n" in piece[len(piece.rstrip()):], True
        return [text]


@dataclass
class ThoughtFilter:
    """Drops the reasoning a model writes before its answer in the text itself, `<think>…</think>`
    (DeepSeek-R1 or Qwen3 through Ollama; vLLM's reasoning parser sends it apart, and it is ignored):
    thoughts are not the answer, and their guesses would fail the check."""

    pending: str = ""
    state: Literal["start", "thinking", "answer"] = "start"

    def feed(self, text: str) -> str:
        if self.state == "answer":
            return text
        self.pending += text
        head = self.pending.lstrip()
        if self.state == "start":
            if "<think>".startswith(head):
                return ""  # may still become the opening tag
            if not head.startswith("<think>"):
                self.state, out, self.pending = "answer", self.pending, ""
                return out
            self.state = "thinking"
        end = self.pending.find("</think>")
        if end < 0:
            return ""
        self.state, out, self.pending = "answer", self.pending[end + len("</think>"):].lstrip(), ""
        return out


# ----- the model -----

class Generator:
    """The configured model, called through the official `openai` client (timeout and retries are its)."""

    def __init__(self, settings: Settings):
        from openai import OpenAI  # noqa: PLC0415 - only when a model is configured

        self.settings = settings
        self.base = llm_base(settings.llm_base_url)
        self.timeout = settings.llm_timeout
        # A server without authentication (vLLM by default, Ollama) ignores the key; the client insists
        # on one, and must not pick up OPENAI_API_KEY meant for another service.
        self._client = OpenAI(base_url=self.base, api_key=settings.llm_api_key.get_secret_value() or "unused",
                              timeout=settings.llm_timeout, max_retries=settings.llm_retries)
        self._model = settings.llm_model.strip()

    def model(self) -> str:
        """The served model's name: the configured one, or the first the server lists."""
        if not self._model:
            models = [m.id for m in self._client.models.list()]
            if not models:
                raise ValueError("the server lists no model")
            self._model = models[0]
            log.info("generation model: %s (the first of %d listed)", self._model, len(models))
        return self._model

    def generate(self, answer: Answer) -> Generation:
        """`stream` to its end: the Generation alone (for /ask)."""
        result = None
        for step in self.stream(answer):
            result = step
        return result

    def stream(self, answer: Answer) -> Iterator[GeneratedSentence | Generation]:
        """Each verified sentence as it completes, then the Generation. Nothing is asked of the model for
        an answer that is not found (`status` unsure or not_found): nothing grounded to elaborate."""
        if answer.status != "found" or not answer.citations:
            yield unavailable("没有找到有依据的答案，未生成回答。")
            return
        given = answer.citations[: self.settings.llm_passages]
        passages = {c.rank: passage_text(c) for c in given}
        messages = build_messages(answer.rewritten_question or answer.question, given)
        run = _Run(tuple(passages), time.monotonic())
        import httpx  # noqa: PLC0415
        import openai  # noqa: PLC0415

        try:
            run.model = self.model()
            stream = self._client.chat.completions.create(
                model=run.model, messages=messages, stream=True, temperature=0,
                max_tokens=self.settings.llm_max_tokens)
            with stream:
                deadline = time.monotonic() + self.timeout  # the whole stream, besides each read
                cutter, thoughts, finish = SentenceCutter(), ThoughtFilter(), None
                for chunk in stream:
                    delta, finish = _delta(chunk)
                    run.raw += delta
                    for sentence in cutter.feed(thoughts.feed(delta)):
                        yield (step := run.check(sentence, passages))
                        if isinstance(step, Generation):
                            return
                    if finish:
                        break
                    if time.monotonic() > deadline:
                        yield run.failed(f"生成式回答超时（超过 {self.timeout:g} 秒）")
                        return
            if finish == "length":  # cut off by the token limit: the unfinished sentence is dropped
                cutter.buffer = ""
            for sentence in cutter.feed("", final=True):
                yield (step := run.check(sentence, passages))
                if isinstance(step, Generation):
                    return
        except (openai.APITimeoutError, httpx.TimeoutException):  # a read timing out mid-stream is unwrapped
            yield run.failed(f"生成式回答超时（超过 {self.timeout:g} 秒）")
            return
        except openai.APIStatusError as e:
            yield run.failed(f"生成模型服务返回错误（HTTP {e.status_code}）")
            return
        except openai.APIConnectionError:
            yield run.failed("无法连接生成模型服务")
            return
        except (openai.OpenAIError, httpx.HTTPError, ValueError) as e:  # a body or stream that is not the API's
            log.warning("generation stream unreadable: %s", type(e).__name__)
            yield run.failed("生成模型服务返回的内容无法解析")
            return
        yield run.done()


def llm_base(url: str) -> str:
    """The client's base URL (…/v1) from what a user may paste: the host, …/v1 or …/v1/chat/completions.
    User and password are dropped: the key goes in QA_LLM_API_KEY, sent as a bearer token."""
    parts = urlsplit(url.strip())
    path = parts.path.rstrip("/").removesuffix("/chat/completions").rstrip("/") or "/v1"
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], path, "", ""))


def _delta(chunk) -> tuple[str, str | None]:
    """The text a stream chunk adds and its finish reason; a chunk of another shape adds nothing."""
    choices = getattr(chunk, "choices", None) or []
    if not choices:
        return "", None
    choice = choices[0]
    content = getattr(getattr(choice, "delta", None), "content", None)
    return (content if isinstance(content, str) else ""), getattr(choice, "finish_reason", None)


@dataclass
class _Run:
    """One generation in progress: what was shown so far, and the Generation it ends in."""

    passages: tuple[int, ...]
    started: float
    model: str = ""
    raw: str = ""
    shown: list[GeneratedSentence] = field(default_factory=list)

    def check(self, sentence: str, passages: dict[int, str]) -> GeneratedSentence | Generation:
        """The sentence, to be shown, if it passes; else the Generation that ends here."""
        check = check_sentence(sentence, passages)
        if not check.ok:
            return self.withheld(check)
        shown = GeneratedSentence(canonical_citations(check.sentence), check.citations)
        self.shown.append(shown)
        return shown

    def _result(self, verified: bool, status: Status, note: str, problems=(), rejected: str = "") -> Generation:
        return Generation("".join(s.text for s in self.shown), tuple(self.shown), verified, status, note, self.raw,
                          tuple(problems), rejected, self.model, self.passages, time.monotonic() - self.started)

    def withheld(self, check: Check) -> Generation:
        # How many, not which: the problems quote the generated text, kept only in the answer's trace.
        log.info("generated sentence withheld: %d problem(s)", len(check.problems))
        return self._result(False, "withheld", NOTES["withheld_rest" if self.shown else "withheld_all"],
                            check.problems, check.sentence)

    def failed(self, what: str) -> Generation:
        log.warning("generation failed: %s", what)
        rest = "，其余内容未能给出；" if self.shown else "，未能给出生成式回答；"
        return self._result(False, "error", what + rest + FALLBACK, (what,))

    def done(self) -> Generation:
        if not self.shown:
            return self._result(False, "error", NOTES["empty"], ("empty",))
        return self._result(True, "verified", "")
