"""POST /chat: `/ask` streamed as server-sent events, for the chat page.

    event: rewritten   {"question", "rewritten_question"}        as soon as the question is understood
    event: citations   {"found", "status", "citations", "others"}  the passages, before the answer text
    event: answer      {"found", "status", "answer", "answer_sentence", "confidence", "extractor"}
    event: done        the whole answer object, as /ask returns it (with answer_id, conversation_id)
    event: generated_sentence {"text", "citations"}             after done, when a generated answer was asked
                                                                  for: each sentence once it passed verification
    event: generated   the generated answer's summary (AnswerOut.generated)  last, when one was asked for
    event: error       {"code", "message"}                       instead of the rest, if answering fails

A bad request (empty question, too long a history…) is refused before the stream starts, with
the same JSON error and status as /ask.
"""
from __future__ import annotations

import json
import logging
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.responses import StreamingResponse
from fastapi.sse import format_sse_event

from qa.errors import QAError
from qa.generate import GeneratedSentence, Generator, unavailable
from qa.service import Answered, Rewritten
from qa.types import Answer

from ..deps import RecordsDep, Reader, Runtime, RuntimeDep, ServiceDep, ViewerDep
from ..generation import GeneratorDep, wants_generation
from ..recording import Recorder
from ..schemas import AnswerOut, AskRequest, GeneratedOut
from .responses import ASK_ERRORS

log = logging.getLogger(__name__)

router = APIRouter(tags=["问答"])


def _event(name: str, data: dict) -> bytes:
    return format_sse_event(event=name, data_str=json.dumps(data, ensure_ascii=False))


def _generated(answer: Answer, gen: Generator | None, recorder: Recorder) -> Iterator[bytes]:
    """The generated answer after `done`: its verified sentences as they come, then its summary."""
    generation = None
    try:
        for step in gen.stream(answer) if gen is not None else [unavailable()]:
            if isinstance(step, GeneratedSentence):
                yield _event("generated_sentence", {"text": step.text, "citations": list(step.citations)})
            else:
                generation = step
    except Exception:  # noqa: BLE001 - the answer is already on screen: a generation bug must not turn it into an error
        log.exception("generation failed")
        generation = unavailable("生成式回答出错，未能给出；请以上面的答案和出处为准。")
    shown = GeneratedOut.from_generation(generation).model_dump(mode="json")
    yield _event("generated", shown)
    recorder.add_generation(generation.trace(), shown)  # kept with the answer, so a reopened conversation shows it


def _events(steps: Iterator, rt: Runtime, recorder: Recorder, gen: Generator | None = None,
            generate: bool = False) -> Iterator[bytes]:
    try:
        for step in steps:
            if isinstance(step, Rewritten):
                yield _event("rewritten", {"question": step.question, "rewritten_question": step.rewritten_question})
            elif isinstance(step, Answered):
                out = AnswerOut.from_answer(step.answer).model_dump(mode="json")
                yield _event("citations", {k: out[k] for k in ("found", "status", "citations", "others")})
                yield _event("answer", {k: out[k] for k in ("found", "status", "answer", "answer_sentence", "confidence", "extractor")})
                rt.metrics.answered(out["found"])
                yield _event("done", recorder.save(out, step.answer))
                if generate and step.answer.status == "found":  # nothing grounded: nothing generated
                    yield from _generated(step.answer, gen, recorder)
    except QAError as e:
        yield _event("error", {"code": e.code, "message": e.message})
    except Exception:  # noqa: BLE001 - the 200 header is already sent: the client can only learn of it here
        log.exception("chat stream failed")
        yield _event("error", {"code": "internal_error", "message": "服务器内部错误，请稍后重试"})


# A plain StreamingResponse: FastAPI's EventSourceResponse marker expects the route itself to be a
# generator, and then a bad question could only be refused inside an already-started 200 stream.
@router.post("/chat", summary="问答（流式，SSE）", response_class=StreamingResponse, responses={
    200: {"description": "text/event-stream：rewritten、citations、answer、done 事件（出错时为 error）；"
                         "生成式回答在 done 之后：generated_sentence（逐句，已核对）和 generated",
          "content": {"text/event-stream": {}}}, **ASK_ERRORS})
def chat(body: AskRequest, who: Reader, svc: ServiceDep, rt: RuntimeDep, viewer: ViewerDep,
         records: RecordsDep, gen: GeneratorDep) -> StreamingResponse:
    """与 `/ask` 相同，但以服务器推送事件（SSE）流式返回：先给出改写后的问题和引用片段，再给出答案。

    `done` 事件中的回答带有 `answer_id` 和 `conversation_id`（问答记录开启时）。

    请求生成式回答时（见 `/ask` 的 `generate`），`done` 之后每通过核对一句即发出一个 `generated_sentence`
    事件 `{"text", "citations"}`，最后是 `generated` 事件（与 `/ask` 的 `generated` 相同）。"""
    recorder = Recorder.begin(records, viewer, svc, body)  # someone else's conversation: 404 before the stream
    steps = svc.answer_steps(body.question, recorder.history,
                             body.filters.to_filters() if body.filters else None, k=body.top_k)
    return StreamingResponse(_events(steps, rt, recorder, gen, wants_generation(body.generate, gen)),
                             media_type="text/event-stream", headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
