"""POST /ask: a short answer with its cited passages (the same call as `qa ask --json`)."""
from __future__ import annotations

from fastapi import APIRouter

from ..deps import Reader, RuntimeDep, ServiceDep
from ..schemas import AnswerOut, AskRequest
from .responses import READ_ERRORS

router = APIRouter(tags=["问答"])


@router.post("/ask", summary="问答", response_model=AnswerOut, responses=READ_ERRORS)
def ask(body: AskRequest, who: Reader, svc: ServiceDep, rt: RuntimeDep) -> AnswerOut:
    """回答问题：给出简短答案和出处片段（含高亮区间与原文位置）。

    追问（“那2020年呢？”）请把之前的问题放在 `history` 中；改写后的问题见 `rewritten_question`。
    知识库中没有答案时 `found` 为 false，`answer` 说明没有找到，`citations` 列出最接近的片段。
    `status` 区分三种情况：`found`；`unsure`（未能确定答案，但最接近的片段很相关，每个片段高亮其中最相关的一句）；`not_found`。
    """
    answer, _ = svc.answer(body.question, body.history, body.filters.to_filters() if body.filters else None,
                           k=body.top_k)
    rt.metrics.answered(answer.found)
    return AnswerOut.from_answer(answer)
