"""POST /chat: `/ask` streamed as server-sent events, for the chat page.

    event: rewritten   {"question", "rewritten_question"}        as soon as the question is understood
    event: citations   {"found", "status", "citations", "others"}  the passages, before the answer text
    event: answer      {"found", "status", "answer", "answer_sentence", "confidence", "extractor"}
    event: done        the whole answer object, as /ask returns it
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
from qa.service import Answered, Rewritten

from ..deps import Reader, Runtime, RuntimeDep, ServiceDep
from ..schemas import AnswerOut, AskRequest
from .responses import READ_ERRORS

log = logging.getLogger(__name__)

router = APIRouter(tags=["问答"])


def _event(name: str, data: dict) -> bytes:
    return format_sse_event(event=name, data_str=json.dumps(data, ensure_ascii=False))


def _events(steps: Iterator, rt: Runtime) -> Iterator[bytes]:
    try:
        for step in steps:
            if isinstance(step, Rewritten):
                yield _event("rewritten", {"question": step.question, "rewritten_question": step.rewritten_question})
            elif isinstance(step, Answered):
                out = AnswerOut.from_answer(step.answer).model_dump(mode="json")
                yield _event("citations", {k: out[k] for k in ("found", "status", "citations", "others")})
                yield _event("answer", {k: out[k] for k in ("found", "status", "answer", "answer_sentence", "confidence", "extractor")})
                rt.metrics.answered(out["found"])
                yield _event("done", out)
    except QAError as e:
        yield _event("error", {"code": e.code, "message": e.message})
    except Exception:  # noqa: BLE001 - the 200 header is already sent: the client can only learn of it here
        log.exception("chat stream failed")
        yield _event("error", {"code": "internal_error", "message": "服务器内部错误，请稍后重试"})


# A plain StreamingResponse: FastAPI's EventSourceResponse marker expects the route itself to be a
# generator, and then a bad question could only be refused inside an already-started 200 stream.
@router.post("/chat", summary="问答（流式，SSE）", response_class=StreamingResponse, responses={
    200: {"description": "text/event-stream：rewritten、citations、answer、done 事件（出错时为 error）",
          "content": {"text/event-stream": {}}}, **READ_ERRORS})
def chat(body: AskRequest, who: Reader, svc: ServiceDep, rt: RuntimeDep) -> StreamingResponse:
    """与 `/ask` 相同，但以服务器推送事件（SSE）流式返回：先给出改写后的问题和引用片段，再给出答案。"""
    steps = svc.answer_steps(body.question, body.history,
                             body.filters.to_filters() if body.filters else None, k=body.top_k)
    return StreamingResponse(_events(steps, rt), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
