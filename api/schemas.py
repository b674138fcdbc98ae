"""The API's request and response bodies. Pydantic lives here, at the HTTP edge only; the
library's dataclasses are converted on the way out (`from_*`)."""
from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from qa.index import DocumentInfo
from qa.originals import content_type
from qa.types import Answer, Filters, Hit

DATE = r"^(\d{4}-\d{2}-\d{2})?$"
# Static caps against absurd bodies; the configured limits (QA_MAX_QUESTION_CHARS, QA_MAX_HISTORY)
# are checked by the service, with the same message the CLI gives, and stated in the OpenAPI
# document by `app.openapi_with_limits`.
_TEXT_CAP = 10_000
_LIST_CAP = 100
# A question must contain something besides white space. Stated for the OpenAPI document only: the
# service checks it, with its own message ("问题不能为空"). White space as Python's `str.strip` sees
# it, which also counts the separators \x1c-\x1f and \x85 that a JSON Schema `\s` does not.
_NOT_BLANK = {"pattern": r"[^\s\x1c-\x1f\x85]"}


class FiltersIn(BaseModel):
    """Restrict retrieval; every field left empty matches everything."""

    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{"regions": ["湖南"], "date_from": "2021-01-01"}]})

    doc_ids: list[str] = Field(default_factory=list, max_length=_LIST_CAP, description="只在这些文档中检索")
    regions: list[str] = Field(default_factory=list, max_length=_LIST_CAP, description="地区，如 湖南、贵州")
    kinds: list[str] = Field(default_factory=list, max_length=_LIST_CAP, description="文档类型：规划、新闻、工作报告…")
    chunk_kinds: list[Literal["text", "table_row", "table"]] = Field(default_factory=list, description="片段类型")
    date_from: str = Field("", pattern=DATE, description="发布日期不早于 YYYY-MM-DD")
    date_to: str = Field("", pattern=DATE, description="发布日期不晚于 YYYY-MM-DD")

    def to_filters(self) -> Filters | None:
        f = Filters(tuple(self.doc_ids), tuple(self.regions), tuple(self.kinds), tuple(self.chunk_kinds),
                    self.date_from, self.date_to)
        return f or None


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [
        {"question": "2025年市场主体目标是多少？"},
        {"question": "那2020年呢？", "history": ["2025年市场主体目标是多少？"]},
    ]})

    question: str = Field(max_length=_TEXT_CAP, description="问题", json_schema_extra=_NOT_BLANK)
    history: list[Annotated[str, Field(json_schema_extra=_NOT_BLANK)]] = Field(default_factory=list, max_length=_LIST_CAP,
                               description="本次对话之前的问题，按先后顺序（用于理解“那2020年呢？”这样的追问）")
    filters: FiltersIn | None = None
    top_k: int = Field(5, ge=1, le=20, description="引用片段数")
    conversation_id: str | None = Field(None, max_length=64, description=(
        "继续这个对话（问答记录开启时，上次回答返回的 conversation_id）：追问的历史取自服务器保存的该对话，"
        "history 被忽略；不给出时新建一个对话。他人的或不存在的对话返回 404"))
    use_history: bool = Field(True, description="false：不结合对话历史，按原问题回答（网页的“按原问题提问”）")
    generate: bool | None = Field(None, description=(
        "是否附加生成式回答（见 AnswerOut.generated）：true 生成，false 不生成；不填时，服务配置了生成模型"
        "（QA_LLM_BASE_URL）即生成。只对找到答案（status 为 found）的问题生成"))


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [
        {"query": "湖南查扣非法口罩多少只", "top_k": 5},
        {"query": "市场主体", "filters": {"regions": ["贵州"]}, "mode": "bm25"},
    ]})

    query: str = Field(max_length=_TEXT_CAP, description="检索语句", json_schema_extra=_NOT_BLANK)
    top_k: int = Field(5, ge=1, le=100)
    filters: FiltersIn | None = None
    mode: Literal["hybrid", "dense", "bm25"] = Field("hybrid", description="hybrid = 向量与 BM25 融合")


class CitationOut(BaseModel):
    rank: int
    chunk_id: str
    doc_id: str
    title: str
    source: str
    date: str
    region: str
    section: str = Field(description="章节路径，如“第二章 总体思路 > 三、总体目标 > 专栏1 …”")
    kind: str = Field(description="text | table_row | table")
    text: str
    highlight: list[tuple[int, int]] = Field(description="text 中支撑答案的 [起, 止) 区间")
    doc_offsets: tuple[int, int] = Field(description="该片段在原文（GET /documents/{id} 的 raw_text）中的 [起, 止)")
    score: float
    page: int = Field(0, description="片段起始所在的页码（从 1 起；电子表格为第几个工作表）；0 表示格式无页码或未知")
    location: str = Field("", description="给人看的位置：“第3页”，电子表格的行为“工作表“指标”第12行”"
                                          "（.csv 为“第12行”），整张工作表为“工作表“指标””；无页码的格式为空")
    ocr_confidence: float = Field(0, description="片段所在扫描页的 OCR 平均置信度（0–1，跨页时取最低）；"
                                                 "0 表示不是 OCR 识别的文字。低于 QA_OCR_MIN_CONFIDENCE 时界面标注“识别置信度低”")


class GeneratedSentenceOut(BaseModel):
    text: str = Field(description="通过核对的一句话，出处以 [编号] 标注")
    citations: list[int] = Field(description="这句话引用的片段编号（即 citations 中的 rank）")


class GeneratedOut(BaseModel):
    """A generated answer (`qa.generate.Generation`), as shown: only sentences that passed verification."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "text": "根据《青禾县2026年市场监管工作要点》，全县2026年新设经营主体目标为1.2万户[1]。",
        "sentences": [{"text": "根据《青禾县2026年市场监管工作要点》，全县2026年新设经营主体目标为1.2万户[1]。", "citations": [1]}],
        "verified": True, "status": "verified", "note": "", "model": "qwen2.5-7b-instruct",
    }, {
        "text": "", "sentences": [], "verified": False, "status": "withheld", "model": "qwen2.5-7b-instruct",
        "note": "生成的回答与所引片段核对不符，未予显示；请以上面的答案和出处为准。",
    }]})

    text: str = Field(description="通过核对、可以显示的生成文本（[n] 为 citations 中 rank 为 n 的片段）；没有时为空")
    sentences: list[GeneratedSentenceOut]
    verified: bool = Field(description="true：模型的回答全部通过核对并给出")
    status: Literal["verified", "withheld", "error"] = Field(description=(
        "verified：全部通过核对；withheld：有一句中的数字、日期或名称在所引片段中找不到（或引用了未提供的片段），"
        "该句及其后的内容未予显示；error：未配置模型、超时、模型服务出错或返回内容无法解析"))
    note: str = Field(description="未全部给出时的中文说明（不含未通过核对的内容）")
    model: str = Field("", description="生成所用的模型名称")

    @classmethod
    def from_generation(cls, g) -> GeneratedOut:
        return cls(text=g.text, sentences=[GeneratedSentenceOut(text=s.text, citations=list(s.citations))
                                           for s in g.sentences],
                   verified=g.verified, status=g.status, note=g.note, model=g.model)


class AnswerOut(BaseModel):
    """The answer object, as `qa ask --json` prints it."""

    model_config = ConfigDict(json_schema_extra={"examples": [{
        "question": "2025年市场主体目标是多少？", "rewritten_question": "2025年市场主体目标是多少？", "found": True,
        "answer": "650万户", "answer_sentence": "指标名称: 全省市场主体数(万户)｜2020年: 488.84｜2025年: 650",
        "confidence": 0.93, "citations": [], "others": [], "timings_ms": {"rewrite": 0.1, "retrieve": 30.2, "answer": 4.0},
        "extractor": "table_cell", "status": "found",
    }, {
        "question": "营业执照办下来平均要等多久", "rewritten_question": "营业执照办下来平均要等多久",
        "found": False, "answer": "未能确定答案，以下片段最相关：", "answer_sentence": "", "confidence": 0.62,
        "citations": [], "others": [], "timings_ms": {"rewrite": 0.1, "retrieve": 28.7, "answer": 3.9},
        "extractor": "", "status": "unsure",
    }]})

    question: str
    rewritten_question: str = Field(description="结合对话历史改写后的问题（即实际检索的问题）")
    found: bool = Field(description="false 表示知识库中没有找到答案；此时 citations 列出最接近的片段")
    answer: str
    answer_sentence: str
    confidence: float
    citations: list[CitationOut]
    others: list[CitationOut] = Field(description="其他文档中相关的片段")
    timings_ms: dict[str, float]
    extractor: str = Field("", description="答案片段的类型：number、table_cell、date、name、slot、list、block、"
                                           "sentence；未找到答案时为空")
    status: Literal["found", "unsure", "not_found"] = Field(
        "not_found", description="found：给出了答案（found 为 true）；unsure：未能确定答案，但最接近的片段很相关，"
                                 "answer 为“未能确定答案，以下片段最相关：”，citations 中每个片段的 highlight 标出其中与问题最相关的一句；"
                                 "not_found：知识库中没有找到，citations 仅列出最接近的片段（无高亮）")
    answer_id: str | None = Field(None, description="这次回答的编号：GET /answers/{answer_id} 查看它是怎样得出的，"
                                                    "PUT /answers/{answer_id}/feedback 评价它；问答记录关闭时为 null")
    conversation_id: str | None = Field(None, description="所在对话的编号，追问时放在请求的 conversation_id 中；"
                                                          "问答记录关闭、或匿名调用未带 X-Client-ID 时为 null")
    generated: GeneratedOut | None = Field(None, description=(
        "生成式回答（请求了 generate 且找到了答案时）：模型依据前几个出处片段写的简短回答，其中每个数字、日期和"
        "引用的名称都已与所引片段核对；未生成时为 null。/chat 在 done 之后以 generated_sentence 和 generated 事件给出"))

    reason: str = Field("", description="给出或拒答的依据：ok（给出了答案）；拒答时为原因：unsure（把握不足）、unsupported（片段不支持）、"
                                        "coverage（问题的要点在片段中覆盖不足）、distant（片段与问题相距较远）、region（地区不符）、"
                                        "year（年份不符）、empty（没有检索到片段）")

    @classmethod
    def from_answer(cls, a: Answer) -> AnswerOut:
        return cls.model_validate(asdict(a))


class HitOut(BaseModel):
    """A retrieved chunk with every score that ranked it, as `qa search --json` prints it."""

    rank: int
    score: float = Field(description="融合分（倒数排名融合）")
    dense_rank: int | None
    dense_score: float | None = Field(description="向量余弦相似度")
    bm25_rank: int | None
    bm25_score: float | None
    rerank_score: float | None = None
    title: str
    date: str
    source: str
    chunk_id: str
    doc_id: str
    ordinal: int
    kind: str
    section: str
    text: str
    search_text: str
    start: int
    end: int
    raw_start: int
    raw_end: int
    region: str
    page: int = Field(0, description="片段起始所在的页码（电子表格为第几个工作表）；0 表示未知")
    row: int = Field(0, description="电子表格中该行的行号；其他片段为 0")

    @classmethod
    def from_hit(cls, h: Hit, docs: dict[str, DocumentInfo]) -> HitOut:
        info = docs.get(h.chunk.doc_id)
        return cls(rank=h.rank, score=h.score, dense_rank=h.dense_rank, dense_score=h.dense_score,
                   bm25_rank=h.bm25_rank, bm25_score=h.bm25_score, rerank_score=h.rerank_score,
                   title=info.title if info else "", date=info.date if info else "",
                   source=info.source if info else "", **asdict(h.chunk))


class SearchOut(BaseModel):
    query: str
    mode: str
    hits: list[HitOut]


class OriginalOut(BaseModel):
    name: str = Field(description="原件的文件名（上传时的文件名）")
    content_type: str = Field(description="下载时的 Content-Type")
    sha256: str


class DocumentOut(BaseModel):
    doc_id: str
    title: str
    date: str
    source: str
    region: str
    kind: str
    fmt: str
    chunks: int
    original: OriginalOut | None = Field(None, description="保存的原件，可用 GET /documents/{doc_id}/original 下载；"
                                                            "没有保存原件时（JSONL 导入的、或在保存原件之前导入的文档）为 null")

    @classmethod
    def from_info(cls, d: DocumentInfo) -> DocumentOut:
        original = None
        if d.original_sha256:
            original = OriginalOut(name=d.original_name, content_type=content_type(d.original_name),
                                   sha256=d.original_sha256)
        return cls(doc_id=d.doc_id, title=d.title, date=d.date, source=d.source, region=d.region,
                   kind=d.kind, fmt=d.fmt, chunks=d.chunks, original=original)


class IndexOut(BaseModel):
    version: str | None
    created_at: str | None
    documents: int
    chunks: int
    model: str
    dim: int | None
    warning: str | None = Field(None, description="在线版本因 CURRENT 失效被自动切换到较早的完好版本时的说明")


class DocumentListOut(BaseModel):
    documents: list[DocumentOut]
    index: IndexOut
    upload_types: list[str] = Field(default_factory=list, description="可上传的文件类型（后缀），如 .docx；"
                                                                      "其他类型的文件在上传时被逐个拒绝")


class ChunkSpanOut(BaseModel):
    chunk_id: str
    ordinal: int
    kind: str
    section: str
    raw_start: int = Field(description="在 raw_text 中的起点")
    raw_end: int
    start: int = Field(0, description="在 text（清洗后的正文）中的起点")
    end: int = 0
    page: int = Field(0, description="所在页码（从 1 起）；未知时为 0")
    row: int = Field(0, description="电子表格中该行的行号；其他片段为 0")
    cells: list[tuple[str, str]] = Field(default_factory=list, description="电子表格一行（kind=table_row）的 [列名, 值]，"
                                                                           "供查看器以表格显示；其他片段为空")
    ocr_confidence: float = Field(0, description="所在扫描页的 OCR 平均置信度；0 表示不是 OCR 识别的文字")
    ocr_low: bool = Field(False, description="OCR 置信度低于 QA_OCR_MIN_CONFIDENCE：识别出的文字可能有误")


class DocumentDetailOut(DocumentOut):
    raw_text: str = Field(description="文档原文（文件中的文字，未经清洗）")
    text: str = Field("", description="清洗后的正文（去掉网页导航、拼音注音等；片段与答案都出自它）")
    chunk_spans: list[ChunkSpanOut]


class RemovedOut(BaseModel):
    removed: list[str]
    documents: int
    chunks: int


class JobFileOut(BaseModel):
    name: str = Field(description="上传时的文件名")
    doc_ids: list[str] = Field(description="由该文件导入的文档编号")
    status: Literal["pending", "added", "updated", "unchanged", "error"]
    error: dict | None = Field(None, description="未能导入时的原因 {code, message}（如 empty_document、encrypted_pdf、"
                                                 "invalid_docx），message 为中文并写明文件名")
    warning: dict | None = Field(None, description="已导入但需核对时的提示 {code, message}（如 ocr_low_confidence："
                                                   "扫描件识别置信度偏低）")


class RejectedFileOut(BaseModel):
    name: str = Field(description="上传时的文件名")
    code: str = Field(description="unsupported_format（不支持的文件类型）")
    message: str = Field(description="中文原因，写明文件名")


class JobOut(BaseModel):
    job_id: str
    status: Literal["queued", "running", "succeeded", "failed"]
    stage: str = Field(description="进度：排队中、读取文档、嵌入与建索引、完成…")
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    files: list[JobFileOut] = Field(description="接收的文件，各自的导入结果（导入完成后）")
    rejected: list[RejectedFileOut] = Field(default_factory=list, description="上传时即被拒绝、没有导入的文件及原因；"
                                                                              "同一批中的其他文件照常导入")
    report: dict | None = Field(None, description="导入结果：文档数、片段数、新增、更新、嵌入片段数、用时")
    error: dict | None = Field(None, description="整个任务失败时的原因；此时在线索引保持不变")
    progress: dict | None = Field(None, description="长扫描件逐页 OCR 的进度 {pages_done, pages_total}（扫描页超过 "
                                                    "QA_OCR_MAX_PAGES 的 PDF/TIFF 先在独立进程中逐页识别，不占用导入队列）；其他任务为 null")


class MeOut(BaseModel):
    role: Literal["reader", "admin"]
    key_id: str | None = Field(description="密钥的哈希前缀（日志中以此指代密钥）；匿名读取时为 null")
    generation: bool = Field(False, description="是否配置了生成模型：为 true 时可以请求生成式回答（ask/chat 的 generate），"
                                                "网页显示“生成式回答”开关")


class HealthOut(BaseModel):
    status: str


class AuthStateOut(BaseModel):
    keys_configured: bool = Field(description="是否配置了任何 API 密钥")
    anonymous_read: bool = Field(description="是否允许不带密钥读取（QA_ALLOW_ANONYMOUS_READ）")


class ReadyOut(BaseModel):
    status: str
    index: IndexOut | None = None
    auth: AuthStateOut | None = Field(None, description="两者皆否时，所有请求都会被拒绝：管理员可用 qa key new 创建密钥")


class ErrorBody(BaseModel):
    code: str = Field(examples=["invalid_argument"])
    message: str = Field(examples=["问题不能为空"])


class ErrorOut(BaseModel):
    error: ErrorBody
