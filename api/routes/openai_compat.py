"""OpenAI-compatible chat, under /v1 (beside /api/v1), for tools that speak OpenAI's protocol:

    POST /v1/chat/completions   the question answered, streamed (`"stream": true`) or not
    GET  /v1/models             the caller's knowledge bases, each a model `qa-<name>` (today one: qa-default)
    GET  /v1/models/{model}

Keys, the rate limit, the body limit and request ids are the /api/v1 ones (the `Guard` covers /v1/).

Messages: the last `user` message is the question and the user messages before it are the history
(the newest that fit `max_history` and `max_history_chars`); system, developer, assistant and tool
messages are not searched. Other request fields (temperature, max_tokens, n, tools…) are accepted
and ignored: the answer is extractive, or, with a model configured (QA_LLM_BASE_URL), the generated
answer of qa/generate.py, sent sentence by sentence as each passes the check against its passages;
when none passes, the extractive answer with the model's note. `"generate": false` (extra_body in the
openai client) keeps it extractive.

The reply is OpenAI's `ChatCompletion` / `ChatCompletionChunk` (the `openai` package's own types)
whose `content` is the answer with its sources written out (`content_parts`, the one place the text
is made), plus extra fields a client may read: `citations` (as /api/v1/ask gives them), `status`,
`confidence`, `rewritten_question` (in a stream, on the chunk with `finish_reason`). `usage` counts
characters, not tokens: nothing here has a tokenizer.

Errors are in OpenAI's shape, `{"error": {"message", "type", "param", "code"}}`, since OpenAI clients
read that: `code` and `message` are the service's own stable code and Chinese message (the shape the
rest of the API gives, plus `type` and `param`), `type` is OpenAI's kind (invalid_request_error,
authentication_error, permission_error, rate_limit_error, server_error), and a bad body is 400, not 422.
"""
from __future__ import annotations

import inspect
import json
import logging
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.routing import APIRoute
from openai.types import CompletionUsage, Model
from openai.types.chat import ChatCompletion, ChatCompletionChunk, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice
from openai.types.chat.chat_completion_chunk import Choice as ChunkChoice
from openai.types.chat.chat_completion_chunk import ChoiceDelta
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from qa.errors import InvalidArgument, QAError
from qa.generate import GeneratedSentence, Generation, Generator, unavailable
from qa.service import Answered
from qa.settings import Settings
from qa.types import Answer, Citation

from .. import errors
from ..deps import Reader, Runtime, RuntimeDep, ServiceDep
from ..generation import GeneratorDep, wants_generation
from ..schemas import CitationOut, GeneratedOut

log = logging.getLogger(__name__)

PREFIX = "/v1"
OWNER = "qa"


# ----- errors, in OpenAI's shape -----

class ModelNotFound(QAError):
    status = 404
    code = "model_not_found"  # OpenAI's own code for it


_TYPES = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
_KEPT_HEADERS = ("retry-after", "www-authenticate", "allow")


def reshaped(response: JSONResponse) -> JSONResponse:
    """One of the service's error responses said in OpenAI's shape: same status (422 becomes OpenAI's
    400), code, message and headers; the first bad field, if any, as `param`."""
    body = json.loads(response.body)["error"]
    status = 400 if response.status_code == 422 else response.status_code
    kind = "server_error" if status >= 500 else _TYPES.get(status, "invalid_request_error")
    details = body.get("details") or [{}]
    headers = {k: v for k, v in response.headers.items() if k.lower() in _KEPT_HEADERS}
    return JSONResponse({"error": {"message": body["message"], "type": kind, "param": details[0].get("field"),
                                   "code": body["code"]}}, status_code=status, headers=headers)


def error_response(e: QAError) -> JSONResponse:
    """For the `Guard`: a refusal under /v1/ (key, rate limit, body size) in OpenAI's shape."""
    return reshaped(errors.error_response(e))


async def _handled(request: Request, exc: Exception) -> JSONResponse:
    """What the app's own exception handler makes of `exc` (so messages are written in one place)."""
    handlers = request.app.exception_handlers
    handler = next(handlers[t] for t in type(exc).__mro__ if t in handlers)
    response = handler(request, exc)
    return await response if inspect.isawaitable(response) else response


class _OpenAIRoute(APIRoute):
    """Errors raised while a /v1 route runs (a bad body, an unknown model, a service not ready, an
    unforeseen failure) leave in OpenAI's shape, written by the app's own handlers."""

    def get_route_handler(self):
        handle = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handle(request)
            except (QAError, RequestValidationError, StarletteHTTPException) as e:
                return reshaped(await _handled(request, e))
            except Exception as e:  # noqa: BLE001 - the app's one handler for the unforeseen logs it and writes the 500
                return reshaped(await _handled(request, e))

        return route


router = APIRouter(tags=["OpenAI 兼容接口"], route_class=_OpenAIRoute)


class OpenAIErrorBody(BaseModel):
    message: str = Field(examples=["没有模型 gpt-4o：可用的模型为 qa-default"])
    type: str = Field(examples=["invalid_request_error"], description="OpenAI 的错误类别：invalid_request_error、"
                      "authentication_error、permission_error、rate_limit_error、server_error")
    param: str | None = Field(None, examples=["messages"], description="出错的请求字段（如有）")
    code: str = Field(examples=["model_not_found"], description="本服务的错误码，与 /api/v1 相同（另有 model_not_found）")


class OpenAIErrorOut(BaseModel):
    error: OpenAIErrorBody


_ERR = {"model": OpenAIErrorOut}
ERRORS = {
    400: {**_ERR, "description": "请求不合法（非 JSON、没有用户消息、问题为空或过长…）"},
    401: {**_ERR, "description": "缺少或无效的 API 密钥"},
    413: {**_ERR, "description": "请求体过大"},
    429: {**_ERR, "description": "请求过于频繁"},
    503: {**_ERR, "description": "服务未就绪（索引或模型未加载）"},
    # Stated so FastAPI does not list the 422 these routes never give (a bad body is OpenAI's 400).
    "4XX": {**_ERR, "description": "其他请求错误，同为 OpenAI 的错误格式；参数不合法为 400（不是 422）"},
}
MODEL_ERRORS = {**ERRORS, 404: {**_ERR, "description": "没有这个模型（知识库）"}}


# ----- models: the knowledge bases -----

def model_ids(settings: Settings) -> list[str]:
    """Every knowledge base the caller may ask, as a model id (today the one, `qa-<QA_KB_NAME>`)."""
    return [f"qa-{settings.kb_name}"]


def check_model(settings: Settings, model: str) -> str:
    ids = model_ids(settings)
    if model not in ids:
        raise ModelNotFound(f"没有模型 {model}：可用的模型为 {'、'.join(ids)}")
    return model


def _created(rt: Runtime) -> int:
    """When the live index was built (Unix seconds): the model's `created`; 0 while it is loading."""
    if not rt.ready:
        return 0
    stamp = rt.service.index.manifest.get("created_at") or ""
    try:
        return int(datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S%z").timestamp())
    except ValueError:
        return 0


class ModelList(BaseModel):
    """As OpenAI lists its models."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"object": "list", "data": [
        {"id": "qa-default", "object": "model", "created": 1763000000, "owned_by": OWNER}]}]})

    object: Literal["list"] = "list"
    data: list[Model]


@router.get("/models", summary="模型列表（知识库）", response_model=ModelList, response_model_exclude_none=True,
            responses=ERRORS)
def list_models(who: Reader, rt: RuntimeDep) -> ModelList:
    """调用者可以提问的知识库，每个作为一个“模型”列出，`id` 为 `qa-<知识库名>`（目前只有 `qa-default`，
    名称见设置 `QA_KB_NAME`）。`created` 为在线索引的创建时间。"""
    created = _created(rt)
    return ModelList(data=[Model(id=m, object="model", created=created, owned_by=OWNER) for m in model_ids(rt.settings)])


@router.get("/models/{model}", summary="模型（知识库）详情", response_model=Model, response_model_exclude_none=True,
            responses=MODEL_ERRORS)
def get_model(model: str, who: Reader, rt: RuntimeDep) -> Model:
    """一个知识库（模型）；没有这个模型时为 404（`code` 为 model_not_found）。"""
    return Model(id=check_model(rt.settings, model), object="model", created=_created(rt), owned_by=OWNER)


# ----- the request -----

class ContentPart(BaseModel):
    """A part of a message's content; only `text` parts are read (images and audio are ignored)."""

    model_config = ConfigDict(extra="ignore")

    type: str
    text: str | None = None


class MessageIn(BaseModel):
    model_config = ConfigDict(extra="ignore")

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    @property
    def text(self) -> str:
        if isinstance(self.content, list):
            return "\n".join(p.text for p in self.content if p.type == "text" and p.text)
        return self.content or ""


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="ignore")

    include_usage: bool = Field(False, description="流的最后多发一个 choices 为空、带 usage 的数据块")


class ChatRequest(BaseModel):
    """OpenAI's chat completion request; fields not listed (temperature, max_tokens, n, tools…) are ignored."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [
        {"model": "qa-default", "messages": [{"role": "user", "content": "2025年市场主体目标是多少？"}]},
        {"model": "qa-default", "stream": True, "messages": [
            {"role": "system", "content": "你是政务知识助手"},
            {"role": "user", "content": "2025年市场主体目标是多少？"},
            {"role": "assistant", "content": "1.2万户"},
            {"role": "user", "content": "那2020年呢？"}]},
    ]})

    model: str = Field(description="知识库，见 GET /v1/models（如 qa-default）")
    messages: list[MessageIn] = Field(description="对话消息：最后一条 user 消息为问题，之前的 user 消息为对话历史"
                                                  "（用于理解“那2020年呢？”这样的追问）；其他角色的消息不参与检索")
    stream: bool | None = Field(False, description="true 时以服务器推送事件（SSE）流式返回 chat.completion.chunk")
    stream_options: StreamOptions | None = None
    generate: bool | None = Field(None, description="是否用生成模型写答案（需服务配置了 QA_LLM_BASE_URL）：不填时配置了即生成；"
                                                    "false 只给抽取式答案。openai 客户端经 extra_body 传入")


@dataclass(frozen=True)
class Conversation:
    """What the messages ask: the question, and the earlier questions that a follow-up leans on."""

    question: str
    history: tuple[str, ...]


def conversation(messages: Sequence[MessageIn], settings: Settings) -> Conversation:
    """The last user message is the question (checked by the service as /api/v1/ask checks it).
    The user messages before it are the history, newest first while they fit the service's limits
    (`max_history` turns, `max_history_chars` in all, each a valid question): a client sends the
    whole conversation every time, and only the last turns shape a follow-up, so older ones are
    dropped rather than refused."""
    asked = [m.text for m in messages if m.role == "user"]
    if not asked:
        raise InvalidArgument("messages 中没有用户（user）消息：最后一条用户消息即为问题")
    history: list[str] = []
    total = 0
    for text in reversed(asked[:-1]):
        text = text.strip()
        if not text:
            continue
        if (len(history) >= settings.max_history or len(text) > settings.max_question_chars
                or total + len(text) > settings.max_history_chars):
            break
        history.insert(0, text)
        total += len(text)
    return Conversation(asked[-1], tuple(history))


# ----- the reply -----

def _source(c: Citation) -> str:
    """[1] 《标题》 章节（第3页，2021-08-18）"""
    where = "，".join(x for x in (c.location, c.date) if x)
    return f"[{c.rank}] 《{c.title}》" + (f" {c.section}" if c.section else "") + (f"（{where}）" if where else "")


def content_parts(answer: Answer, generation: Generation | None = None) -> list[str]:
    """The reply's text, in the pieces a stream sends; `content` is their concatenation. The one place
    it is composed.

    Generated (some sentence passed the check): those sentences with their [n], the note if the rest
    was withheld, and the sources they cite. Otherwise extractive, plus the model's note when one was
    asked and gave nothing: found: the answer, the sentence it was taken from, and its source.
    unsure: the service's "未能确定答案，以下片段最相关：" and each nearest passage's best sentence under
    its source. not_found: the service's honest "没有找到", nothing more. Sources are numbered by
    their `rank` in `citations`."""
    if generation is not None and generation.sentences:
        ranks = {n for s in generation.sentences for n in s.citations}
        cited = [c for c in answer.citations if c.rank in ranks]
        return [s.text for s in generation.sentences] + [f"\n\n（{generation.note}）"] * bool(generation.note) \
            + ["\n\n来源：\n" + "\n".join(_source(c) for c in cited)] * bool(cited)
    noted = generation is not None and generation.note
    return _extractive(answer) + ([f"\n\n（{generation.note}）"] if noted else [])


def _extractive(answer: Answer) -> list[str]:
    marked = [c for c in answer.citations if c.highlight]
    if answer.status == "found":
        parts = [answer.answer]
        if answer.answer_sentence and answer.answer_sentence != answer.answer:
            parts.append(f"\n\n依据：{answer.answer_sentence}")
        if marked:
            parts.append("\n\n来源：\n" + "\n".join(_source(c) for c in marked))
        return parts
    if answer.status == "unsure":
        lines = [f"{_source(c)}\n    “{c.text[c.highlight[0][0]:c.highlight[0][1]].strip()}”" for c in marked]
        return [answer.answer, *(f"\n\n{line}" if i == 0 else f"\n{line}" for i, line in enumerate(lines))]
    return [answer.answer]


def _extra(answer: Answer, generation: Generation | None) -> dict:
    """The fields OpenAI's types lack, for clients that want the structured answer."""
    return {"citations": [CitationOut.model_validate(asdict(c)) for c in answer.citations],
            "status": answer.status, "confidence": answer.confidence,
            "rewritten_question": answer.rewritten_question,
            **({"generated": GeneratedOut.from_generation(generation)} if generation is not None else {})}


def _generating(answer: Answer, gen: Generator | None, wanted: bool) -> Iterator[GeneratedSentence | Generation]:
    """The generation's steps when one is wanted and the answer is grounded; none otherwise. A bug in
    generation ends it as a model failure does (as /api/v1/chat does): the answer is already due."""
    if not (wanted and answer.status == "found"):  # nothing grounded: nothing generated
        return
    sent: list[GeneratedSentence] = []
    try:
        for step in gen.stream(answer) if gen is not None else [unavailable()]:
            if isinstance(step, GeneratedSentence):
                sent.append(step)
            yield step
    except Exception:  # noqa: BLE001 - the extractive answer stands, with a note, as for a failing model
        log.exception("generation failed")
        text = "".join(g.text for g in sent)
        note = "生成式回答出错，" + ("其余内容未能给出" if sent else "未能给出") + "；请以出处原文为准。"
        yield Generation(text, tuple(sent), False, "error", note, text)


def _usage(asked: Conversation, content: str) -> CompletionUsage:
    prompt = len(asked.question) + sum(map(len, asked.history))
    return CompletionUsage(prompt_tokens=prompt, completion_tokens=len(content), total_tokens=prompt + len(content))


_STATUS = "found：给出了答案；unsure：未能确定答案，content 列出最相关的片段；not_found：知识库中没有找到"
_CITATIONS = "引用片段，与 /api/v1/ask 的 citations 相同；content 中的 [n] 即其 rank"


class CompletionOut(ChatCompletion):
    """OpenAI's `ChatCompletion`, with the answer's structured sources beside `choices`."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": "chatcmpl-5f0c…", "object": "chat.completion", "created": 1763000000, "model": "qa-default",
        "system_fingerprint": "v-20261201T230910", "choices": [{"index": 0, "finish_reason": "stop", "message": {
            "role": "assistant", "content": "1.2万户\n\n依据：表1 主要指标｜指标名称: 新设经营主体(万户)｜2026年: 1.2\n\n来源：\n"
                                            "[1] 《青禾县2026年市场监管工作要点》 一、主要目标（2026-02-10）"}}],
        "usage": {"prompt_tokens": 15, "completion_tokens": 120, "total_tokens": 135},
        "citations": [], "status": "found", "confidence": 0.99, "rewritten_question": "2026年新设经营主体目标是多少？"}]})

    citations: list[CitationOut] = Field(description=_CITATIONS)
    status: Literal["found", "unsure", "not_found"] = Field(description=_STATUS)
    confidence: float = Field(description="答案的置信度（0–1）")
    rewritten_question: str = Field(description="结合对话历史改写后的问题（即实际检索的问题）")
    generated: GeneratedOut | None = Field(None, description="生成式回答（与 /api/v1/ask 的 generated 相同）；未生成时不出现")


class ChunkOut(ChatCompletionChunk):
    """OpenAI's `ChatCompletionChunk`; the chunk with `finish_reason` also carries the structured answer."""

    citations: list[CitationOut] | None = Field(None, description=_CITATIONS + "（仅最后一个数据块）")
    status: Literal["found", "unsure", "not_found"] | None = Field(None, description=_STATUS)
    confidence: float | None = None
    rewritten_question: str | None = None
    generated: GeneratedOut | None = None


@router.post("/chat/completions", summary="OpenAI 兼容的问答（可流式）", response_model=CompletionOut,
             response_model_exclude_unset=True, responses={
                 200: {"description": "application/json：chat.completion；`stream` 为 true 时为 text/event-stream："
                                      "逐个 `data: {chat.completion.chunk}`，最后 `data: [DONE]`",
                       "content": {"text/event-stream": {}}},
                 **MODEL_ERRORS})
def chat_completions(body: ChatRequest, who: Reader, svc: ServiceDep, rt: RuntimeDep, gen: GeneratorDep):
    """以 OpenAI 的 chat completions 协议问答，可直接用 `openai` 客户端（`base_url` 设为 `http://服务地址/v1`，
    `api_key` 为本服务的 API 密钥）。

    最后一条 user 消息为问题，之前的 user 消息为对话历史（追问“那2020年呢？”由此理解；超出
    `QA_MAX_HISTORY` 等限制时只保留最近的几条）；system、assistant 等消息不参与检索。
    回复的 `content` 为答案，后附“依据”（答案所在的原句）与“来源”（《文档标题》 章节（页码，日期））；
    知识库中没有答案时如实说明没有找到。结构化的引用片段在扩展字段 `citations` 中（与 /api/v1/ask 相同），
    另有 `status`、`confidence`、`rewritten_question`；流式返回时它们在带 `finish_reason` 的最后一个数据块中。
    服务配置了生成模型（QA_LLM_BASE_URL）时，`content` 为模型依据出处写的回答（逐句与所引片段核对，[n] 即
    citations 的 rank；未通过核对的部分不给出），一句也没有通过时仍为抽取式答案并附说明；`"generate": false`
    只给抽取式答案。temperature、max_tokens 等生成参数被忽略；`usage` 按字符计数。
    """
    check_model(rt.settings, body.model)
    asked = conversation(body.messages, rt.settings)
    fingerprint = svc.index.manifest.get("version")
    # Checked here, before any stream starts: a bad question is a 400, not an error inside a 200 stream.
    steps = svc.answer_steps(asked.question, asked.history)
    reply = _Reply(f"chatcmpl-{uuid.uuid4().hex}", int(time.time()), body.model, fingerprint)
    wanted = wants_generation(body.generate, gen)
    if body.stream:
        usage = bool(body.stream_options and body.stream_options.include_usage)
        return StreamingResponse(_stream(reply, steps, asked, usage, rt, gen, wanted), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
    answer = _answer(steps)
    rt.metrics.answered(answer.found)
    *_, generation = [None, *_generating(answer, gen, wanted)]  # the last step is the Generation
    content = "".join(content_parts(answer, generation))
    message = ChatCompletionMessage(role="assistant", content=content)
    return CompletionOut(**reply.head("chat.completion"), choices=[Choice(index=0, finish_reason="stop", message=message)],
                         usage=_usage(asked, content), **_extra(answer, generation))


@dataclass(frozen=True)
class _Reply:
    """What every chunk of one reply repeats."""

    id: str
    created: int
    model: str
    fingerprint: str | None

    def head(self, kind: str) -> dict:
        head = {"id": self.id, "object": kind, "created": self.created, "model": self.model}
        return head | ({"system_fingerprint": self.fingerprint} if self.fingerprint else {})


def _answer(steps: Iterator) -> Answer:
    return next(step.answer for step in steps if isinstance(step, Answered))


def _data(chunk: BaseModel | dict) -> bytes:
    body = chunk if isinstance(chunk, dict) else chunk.model_dump(mode="json", exclude_unset=True)
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()


def _stream(reply: _Reply, steps: Iterator, asked: Conversation, usage: bool, rt: Runtime,
            gen: Generator | None, wanted: bool) -> Iterator[bytes]:
    """As OpenAI streams: the role, the content in a few pieces (a generated answer sentence by
    sentence, each sent once it has passed the check), a last chunk with `finish_reason`
    (and the structured answer), optionally one with `usage`, then `[DONE]`. A failure once the 200 is
    sent can only be said inside the stream: as `data: {"error": …}`, which the openai client raises."""
    head = reply.head("chat.completion.chunk")

    def chunk(delta: ChoiceDelta, finish: str | None = None, **extra) -> ChunkOut:
        return ChunkOut(**head, choices=[ChunkChoice(index=0, delta=delta, finish_reason=finish)], **extra)

    try:
        yield _data(chunk(ChoiceDelta(role="assistant", content="")))
        answer = _answer(steps)
        rt.metrics.answered(answer.found)
        sent, generation = [], None
        for step in _generating(answer, gen, wanted):
            if isinstance(step, GeneratedSentence):
                sent.append(step.text)
                yield _data(chunk(ChoiceDelta(content=step.text)))
            else:
                generation = step
        parts = content_parts(answer, generation)
        for part in parts[len(sent):]:  # the sentences already sent lead `parts`
            yield _data(chunk(ChoiceDelta(content=part)))
        yield _data(chunk(ChoiceDelta(), "stop", **_extra(answer, generation)))
        if usage:
            yield _data(ChunkOut(**head, choices=[], usage=_usage(asked, "".join(parts))))
    except QAError as e:
        yield _data(json.loads(error_response(e).body))
        return
    except Exception:  # noqa: BLE001 - the 200 header is already sent: the client can only learn of it here
        log.exception("chat completion stream failed")
        yield _data({"error": {"message": "服务器内部错误，请稍后重试", "type": "server_error", "param": None,
                               "code": "internal_error"}})
        return
    yield b"data: [DONE]\n\n"
