"""POST /dify/retrieval: Dify's external knowledge API (https://docs.dify.ai, "External Knowledge API").

In Dify, 外部知识库 API 的 Endpoint is `http://<host>:8000/api/v1/dify`: Dify appends `/retrieval`.
`knowledge_id` names the knowledge base (`QA_KB_NAME`, "default"). The protocol is Dify's, not ours:

- the key comes as `Authorization: Bearer <key>` (`X-API-Key` works too), any reader or admin key,
  checked by the `Guard` like every key of the API (throttled, rate-limited), whose refusals under
  this path take Dify's shape (`error_response`);
- errors are `{"error_code", "error_msg"}`: Dify's 1001 (malformed Authorization header), 1002
  (wrong key), 2001 (no such knowledge base); other refusals get their HTTP status × 10;
- `score` is the calibrated relevance of `qa.relevance` (the probability that the passage holds
  the answer), so `score_threshold` means the same on every question;
- `metadata_condition` filters documents on their metadata before retrieval (`METADATA`).
"""
from __future__ import annotations

import inspect
import json
import logging
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Literal, get_args

from fastapi import APIRouter, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from qa import relevance
from qa.errors import QAError
from qa.index import DocumentInfo
from qa.regions import within
from qa.respond import location
from qa.textnorm import normalize
from qa.types import Filters, Hit

from ..deps import Reader, RuntimeDep, ServiceDep
from ..errors import MalformedAuthorization, MissingKey, RateLimited, Unauthorized
from ..schemas import _NOT_BLANK

log = logging.getLogger(__name__)

# Dify defines 1001, 1002 and 2001 (each under HTTP 403 or 404, as its documentation lists them); the
# other refusals keep their HTTP status and get an error_code of ours, that status × 10.
INVALID = 4000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


class DifyError(QAError):
    """An error with Dify's `error_code`."""

    def __init__(self, status: int, error_code: int, message: str):
        super().__init__(message)
        self.status, self.error_code, self.code = status, error_code, f"dify_{error_code}"


def error_response(e: QAError) -> JSONResponse:
    """Any refusal of this route, in Dify's shape `{"error_code", "error_msg"}`; also the `Guard`'s
    renderer for this path (wrong keys, rate limits, bodies over the limit)."""
    headers = {"Retry-After": str(e.retry_after)} if isinstance(e, RateLimited) else None
    if isinstance(e, DifyError):
        status, code = e.status, e.error_code
    elif isinstance(e, (MissingKey, MalformedAuthorization)):
        status, code = 403, 1001
    elif isinstance(e, Unauthorized):
        status, code = 403, 1002
    else:  # the service's own refusals (an empty or over-long query: 422 there) are bad requests here
        status = 400 if e.status == 422 else e.status
        code = INVALID if status == 400 else status * 10
    return JSONResponse({"error_code": code, "error_msg": e.message}, status_code=status, headers=headers)


class _DifyRoute(APIRoute):
    """Every failure of this route leaves in Dify's error shape, whichever layer raised it."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def dify_handler(request: Request):
            try:
                return await handler(request)
            except RequestValidationError as e:
                return error_response(DifyError(400, INVALID, await _validation_message(request, e)))
            except QAError as e:
                return error_response(e)

        return dify_handler


async def _validation_message(request: Request, e: RequestValidationError) -> str:
    """The message the API gives any invalid body (api/errors.py words it, in Chinese, in one place)."""
    response = request.app.exception_handlers[RequestValidationError](request, e)
    response = await response if inspect.isawaitable(response) else response
    return json.loads(response.body)["error"]["message"]


router = APIRouter(tags=["Dify 外部知识库"], route_class=_DifyRoute)


# ----------------------------------------------------------------- the protocol's bodies

# Dify's comparison operators (its `SupportedComparisonOperator`), plus ASCII spellings of ≠ ≥ ≤.
Operator = Literal["contains", "not contains", "start with", "end with", "is", "is not", "in", "not in", "empty",
                   "not empty", "=", "≠", ">", "<", "≥", "≤", "before", "after", "!=", ">=", "<="]


class DifyRetrievalSetting(BaseModel):
    model_config = ConfigDict(extra="ignore")

    top_k: int = Field(ge=1, le=100, description="最多返回的片段数")
    score_threshold: float = Field(0.0, ge=0, le=1, description="相关度下限（0–1）：score 低于它的片段不返回；"
                                                                "Dify 中未启用分数阈值时为 0.0")


# The document metadata a condition may name (`METADATA` says how each compares).
MetadataName = Literal["doc_id", "title", "source", "kind", "region", "date"]


class DifyCondition(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # Checked by `_check`, so an unknown name is refused with a message that names it; the schema lists them.
    name: str | list[str] = Field(json_schema_extra={"anyOf": [
        {"type": "string", "enum": list(get_args(MetadataName))},
        {"type": "array", "items": {"type": "string", "enum": list(get_args(MetadataName))}}]}, description="元数据字段：doc_id、title、source、kind、region、date；"
                                              "为数组时（Dify 旧版文档的写法）任一字段满足即可")
    comparison_operator: Operator
    value: str | int | float | list[str | int | float] | None = Field(
        None, description="比较值；empty、not empty 时省略；in、not in 为字符串数组；date 为 YYYY-MM-DD 或 Unix 时间戳（秒）")


class DifyMetadataCondition(BaseModel):
    model_config = ConfigDict(extra="ignore")

    logical_operator: Literal["and", "or"] | None = Field("and", description="条件之间的关系，默认 and")
    conditions: list[DifyCondition] | None = Field(None, max_length=100)


class DifyRetrievalRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [
        {"knowledge_id": "default", "query": "2025年市场主体目标是多少？",
         "retrieval_setting": {"top_k": 2, "score_threshold": 0.5}},
        {"knowledge_id": "default", "query": "市场主体",
         "retrieval_setting": {"top_k": 5, "score_threshold": 0.0},
         "metadata_condition": {"logical_operator": "and", "conditions": [
             {"name": "region", "comparison_operator": "is", "value": "湖南"},
             {"name": "date", "comparison_operator": "after", "value": "2021-01-01"}]}},
    ]})

    knowledge_id: str = Field(max_length=200, description="知识库名称（QA_KB_NAME，默认 default），即 Dify 中填写的“外部知识库 ID”")
    query: str = Field(max_length=10_000, description="检索语句", json_schema_extra=_NOT_BLANK)
    retrieval_setting: DifyRetrievalSetting
    metadata_condition: DifyMetadataCondition | None = Field(None, description="按文档元数据筛选（检索之前）")


class DifyRecord(BaseModel):
    content: str = Field(description="片段正文")
    score: float = Field(description="校准后的相关度（0–1）：该片段含有答案的估计概率")
    title: str = Field(description="文档标题")
    metadata: dict[str, Any] = Field(description="doc_id、chunk_id、section、source、date、region、kind、chunk_kind、"
                                                 "page、location、rank，以及原始分数 fused_score、dense_score、bm25_score")


class DifyRetrievalOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"records": [{
        "content": "表1 主要指标｜指标名称: 新设经营主体(万户)｜2025年: 1.1｜2026年: 1.2", "score": 0.7945,
        "title": "青禾县2026年市场监管工作要点",
        "metadata": {"doc_id": "青禾县2026年市场监管工作要点", "chunk_id": "e9123f818d347a83",
                     "section": "一、主要目标 > 表1 主要指标",
                     "source": "青禾县市场监督管理局", "date": "2026-02-10", "region": "青禾县", "kind": "通知",
                     "chunk_kind": "table_row", "page": 0, "location": "", "rank": 1,
                     "fused_score": 2.181036, "dense_score": 0.892499, "bm25_score": 1.946679}}]}]})

    records: list[DifyRecord]


class DifyErrorOut(BaseModel):
    error_code: int = Field(examples=[1002])
    error_msg: str = Field(examples=["API 密钥无效"])


_ERR = {"model": DifyErrorOut}
DIFY_ERRORS = {
    400: {**_ERR, "description": "请求不合法（error_code 4000）：不是 JSON、缺少字段、检索语句为空，或不支持的元数据字段与运算符"},
    403: {**_ERR, "description": "1001：Authorization 请求头格式不对（应为 Bearer <密钥>）或缺失；1002：密钥无效"},
    404: {**_ERR, "description": "2001：没有这个知识库（knowledge_id）"},
    413: {**_ERR, "description": "请求体过大（error_code 4130）"},
    429: {**_ERR, "description": "请求过于频繁（error_code 4290）"},
    503: {**_ERR, "description": "服务未就绪（error_code 5030）"},
}


# ----------------------------------------------------------------- metadata conditions

# The document metadata a condition may name, and how its value compares.
METADATA = {"doc_id": "text", "title": "text", "source": "text", "kind": "text", "region": "region", "date": "date"}
_TEXT_OPS = {"contains", "not contains", "start with", "end with", "is", "is not", "in", "not in", "empty", "not empty"}
_DATE_OPS = {"before", "after", "=", "≠", ">", "<", "≥", "≤", "is", "is not", "empty", "not empty"}
_ASCII = {"!=": "≠", ">=": "≥", "<=": "≤"}


def _bad(message: str) -> DifyError:
    return DifyError(400, INVALID, message)


def _date_value(value: object, name: str) -> str:
    """A date condition's value as YYYY-MM-DD: a date (or date-time) string, or a Unix timestamp in
    seconds (what Dify's own time metadata holds)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            return datetime.fromtimestamp(value, tz=UTC).strftime("%Y-%m-%d")
        except (OverflowError, OSError, ValueError):
            raise _bad(f"元数据条件 {name} 的值 {value!r} 不是有效的时间戳") from None
    if isinstance(value, str) and _DATE.match(value.strip()):
        return value.strip()[:10]
    raise _bad(f"元数据条件 {name} 的值 {value!r} 不是日期：应为 YYYY-MM-DD 或 Unix 时间戳（秒）")


def _texts(value: object, name: str, op: str) -> list[str]:
    values = value if isinstance(value, list) else [value]
    if not values or any(v is None or isinstance(v, bool) for v in values):
        raise _bad(f"元数据条件 {name} {op} 缺少比较值 value")
    if op not in ("in", "not in") and len(values) > 1:
        raise _bad(f"元数据条件 {name} {op} 的值应为单个字符串，收到 {len(values)} 个")
    return [normalize(str(v)).strip().lower() for v in values]


def _check(cond: DifyCondition) -> tuple[list[str], str, Any]:
    """The condition's fields, operator and prepared value; an unsupported one is refused (400), never
    ignored: results that silently ignore a filter look filtered."""
    names = cond.name if isinstance(cond.name, list) else [cond.name]
    op = _ASCII.get(cond.comparison_operator, cond.comparison_operator)
    if not names:
        raise _bad("元数据条件缺少字段名 name")
    for name in names:
        kind = METADATA.get(name)
        if kind is None:
            raise _bad(f"不支持的元数据字段 {name!r}：可用 {'、'.join(METADATA)}")
        allowed = _DATE_OPS if kind == "date" else _TEXT_OPS
        if op not in allowed:
            raise _bad(f"元数据字段 {name} 不支持运算符 {op!r}：可用 {'、'.join(sorted(allowed))}")
    if len({METADATA[n] == "date" for n in names}) > 1:
        raise _bad("一个条件中的字段不能既有 date 又有文字字段")
    if op in ("empty", "not empty"):
        return names, op, None
    if METADATA[names[0]] == "date":
        return names, op, _date_value(cond.value, names[0])
    return names, op, _texts(cond.value, names[0], op)


def _holds(doc: DocumentInfo, name: str, op: str, value: Any) -> bool:
    raw = getattr(doc, name) or ""
    if op == "empty":
        return not raw.strip()
    if op == "not empty":
        return bool(raw.strip())
    if METADATA[name] == "date":  # an undated document satisfies only `empty`
        if not raw:
            return False
        return {"before": raw < value, "<": raw < value, "after": raw > value, ">": raw > value,
                "=": raw == value, "is": raw == value, "≠": raw != value, "is not": raw != value,
                "≥": raw >= value, "≤": raw <= value}[op]
    text = normalize(raw).strip().lower()
    if op == "start with":
        return text.startswith(value[0])
    if op == "end with":
        return text.endswith(value[0])
    negated = op in ("not contains", "is not", "not in")
    if METADATA[name] == "region":  # 湖南 takes in 株洲 and 醴陵, as the search's region filter does
        hit = any(place in text for v in value for place in within(v))
    elif op in ("contains", "not contains"):
        hit = value[0] in text
    else:
        hit = text in value
    return hit != negated


def allowed_documents(condition: DifyMetadataCondition | None, docs: dict[str, DocumentInfo]) -> set[str] | None:
    """The documents that meet `condition`, or None when it filters nothing."""
    if condition is None or not condition.conditions:
        return None
    checked = [_check(c) for c in condition.conditions]
    combine = any if condition.logical_operator == "or" else all
    return {doc_id for doc_id, doc in docs.items()
            if combine(any(_holds(doc, n, op, value) for n in names) for names, op, value in checked)}


# ----------------------------------------------------------------- the route


def _rounded(score: float | None) -> float | None:
    return None if score is None else round(score, 6)


def _records(hits: Iterable[Hit], scores: Iterable[float], docs: dict[str, DocumentInfo],
             threshold: float) -> list[DifyRecord]:
    out = []
    for rank, (h, score) in enumerate(zip(hits, scores), start=1):
        if score < threshold:
            break  # scores never rise down the ranking (`qa.relevance.monotone`)
        c, info = h.chunk, docs.get(h.chunk.doc_id)
        out.append(DifyRecord(content=c.text, score=score, title=info.title if info else c.doc_id, metadata={
            "doc_id": c.doc_id, "chunk_id": c.chunk_id, "section": c.section,
            "source": info.source if info else "", "date": info.date if info else "", "region": c.region,
            "kind": info.kind if info else "", "chunk_kind": c.kind, "page": c.page,
            "location": location(c, info.fmt if info else ""), "rank": rank,
            "fused_score": round(h.score, 6), "dense_score": _rounded(h.dense_score),
            "bm25_score": _rounded(h.bm25_score)}))
    return out


@router.post("/dify/retrieval", summary="Dify 外部知识库检索", response_model=DifyRetrievalOut, responses=DIFY_ERRORS)
def retrieval(body: DifyRetrievalRequest, who: Reader, rt: RuntimeDep, svc: ServiceDep) -> DifyRetrievalOut:
    """Dify 的外部知识库 API：在 Dify 的“外部知识库 API”中填写 Endpoint `http://<主机>:8000/api/v1/dify`
    （Dify 会在其后加 `/retrieval`）和 API Key（本服务的 reader 或 admin 密钥），“外部知识库 ID”填知识库名称 `default`。

    `score` 是校准后的相关度：该片段含有答案的估计概率（在 CMRC 2018 与本服务的种子问题上拟合），
    同一阈值对每个问题含义相同；片段按相关度从高到低排列，低于 `score_threshold` 的不返回。
    `metadata_condition` 在检索之前按文档元数据筛选：字段 doc_id、title、source、kind、region、date；
    不支持的字段或运算符返回 400，不会被静默忽略。错误为 `{"error_code", "error_msg"}`：
    1001 Authorization 请求头格式不对、1002 密钥无效、2001 知识库不存在。
    """
    kb = rt.settings.kb_name
    if body.knowledge_id != kb:
        raise DifyError(404, 2001, f"知识库 {body.knowledge_id!r} 不存在：本服务的知识库为 {kb!r}")
    index = svc.index  # one version for the whole request
    allowed = allowed_documents(body.metadata_condition, index.docs)
    if allowed is not None and not allowed:
        return DifyRetrievalOut(records=[])
    filters = Filters(doc_ids=tuple(sorted(allowed))) if allowed is not None and len(allowed) < len(index.docs) else None
    setting = body.retrieval_setting
    hits = svc.search(body.query, k=setting.top_k, filters=filters)
    return DifyRetrievalOut(records=_records(hits, relevance.scores(hits), index.docs, setting.score_threshold))
