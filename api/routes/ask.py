"""POST /ask: a short answer with its cited passages (the same call as `qa ask --json`)."""
from __future__ import annotations

from fastapi import APIRouter

from qa.generate import unavailable

from ..deps import RecordsDep, Reader, RuntimeDep, ServiceDep, ViewerDep
from ..generation import GeneratorDep, wants_generation
from ..recording import Recorder
from ..schemas import AnswerOut, AskRequest, GeneratedOut
from .responses import ASK_ERRORS

router = APIRouter(tags=["问答"])


@router.post("/ask", summary="问答", response_model=AnswerOut, responses=ASK_ERRORS)
def ask(body: AskRequest, who: Reader, svc: ServiceDep, rt: RuntimeDep, viewer: ViewerDep,
        records: RecordsDep, gen: GeneratorDep) -> AnswerOut:
    """回答问题：给出简短答案和出处片段（含高亮区间与原文位置）。

    追问（“那2020年呢？”）请把之前的问题放在 `history` 中；改写后的问题见 `rewritten_question`。
    知识库中没有答案时 `found` 为 false，`answer` 说明没有找到，`citations` 列出最接近的片段。
    `status` 区分三种情况：`found`；`unsure`（未能确定答案，但最接近的片段很相关，每个片段高亮其中最相关的一句）；`not_found`。

    问答记录开启时（QA_RECORDS），回答带有 `answer_id` 和 `conversation_id`：追问时在请求中给出
    `conversation_id`，历史即取自服务器保存的该对话。

    配置了生成模型（QA_LLM_BASE_URL）时，找到答案的问题还附有 `generated`：模型依据前几个出处写的简短回答，
    每句中的数字、日期和引用的名称都已与所引片段核对，未通过核对的句子及其后的内容不给出（`note` 说明）。
    请求中 `"generate": false` 可不生成。
    """
    recorder = Recorder.begin(records, viewer, svc, body)
    answer, _ = svc.answer(body.question, recorder.history, body.filters.to_filters() if body.filters else None,
                           k=body.top_k)
    rt.metrics.answered(answer.found)
    out = AnswerOut.from_answer(answer)
    generation = None
    if wants_generation(body.generate, gen) and answer.status == "found":  # nothing grounded: nothing generated
        generation = gen.generate(answer) if gen is not None else unavailable()
        out.generated = GeneratedOut.from_generation(generation)
    return AnswerOut.model_validate(recorder.save(out.model_dump(mode="json"), answer,
                                                  generation.trace() if generation else None))
