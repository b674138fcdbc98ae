"""`qa`: the command line. Each command is a few lines over `qa.service`.

Library errors are turned into a clean message and exit code in one place (`main`).
"""
from __future__ import annotations

import hashlib
import json
import logging
import sys
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Optional

import typer

from .errors import QAError
from .settings import PROJECT_ROOT, Settings
from .types import Filters

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False,
                  help="政务知识问答：对政府文件的知识库进行检索与问答。")

IndexOpt = Annotated[Optional[Path], typer.Option("--index", help="索引目录（默认 QA_INDEX_DIR 或 index/default）")]
ModelOpt = Annotated[Optional[str], typer.Option("--model", help="嵌入模型：本地文件夹或 sentence-transformers 名称")]
JsonOpt = Annotated[bool, typer.Option("--json", help="输出 JSON，供脚本使用")]
DocOpt = Annotated[Optional[list[str]], typer.Option(help="只在这些文档中检索")]
RegionOpt = Annotated[Optional[list[str]], typer.Option(help="只检索这些地区")]
KindOpt = Annotated[Optional[list[str]], typer.Option(help="文档类型：规划、新闻、会议报道…")]
DateFromOpt = Annotated[Optional[str], typer.Option(help="发布日期不早于 YYYY-MM-DD")]
DateToOpt = Annotated[Optional[str], typer.Option(help="发布日期不晚于 YYYY-MM-DD")]


def _settings(index: Path | None = None, model: str | None = None) -> Settings:
    overrides = {}
    if index is not None:
        overrides["index_dir"] = index
    if model is not None:
        overrides["embed_model"] = model
    return Settings(**overrides)


def _service(index: Path | None, model: str | None):
    from .service import Service  # noqa: PLC0415 - keeps `qa --help` fast

    return Service(_settings(index, model))


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


@app.command()
def ingest(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="文件或文件夹（默认 corpus/）")] = None,
    replace: Annotated[bool, typer.Option(help="索引只保留这些路径中的文档")] = False,
    rebuild: Annotated[bool, typer.Option(help="忽略现有索引，全部重新嵌入")] = False,
    index: IndexOpt = None, model: ModelOpt = None, as_json: JsonOpt = False,
):
    """把文档加入知识库（未变化的文档不会重新嵌入）。"""
    svc = _service(index, model)
    report = svc.ingest(paths or [svc.settings.corpus_dir], replace=replace, rebuild=rebuild,
                        progress=not as_json)
    if as_json:
        _print_json(asdict(report))
        return
    from rich.console import Console  # noqa: PLC0415

    con = Console()
    con.print(f"知识库：{report.documents} 篇文档，{report.chunks} 个片段；本次新增 {len(report.added)}，"
              f"更新 {len(report.updated)}，删除 {len(report.removed)}，未变 {len(report.unchanged)}；"
              f"嵌入 {report.embedded_chunks} 个片段，用时 {report.seconds:.1f} 秒。")
    for p in report.problems:
        con.print(f"[yellow]未导入[/] {p.path}：{p.message} ({p.code})")


@app.command()
def remove(doc_ids: list[str], index: IndexOpt = None, model: ModelOpt = None, as_json: JsonOpt = False):
    """从知识库删除文档（按文档编号，见 `qa docs`）。"""
    report = _service(index, model).remove(doc_ids)
    if as_json:
        _print_json(asdict(report))
    else:
        typer.echo(f"已删除 {len(report.removed)} 篇；知识库现有 {report.documents} 篇文档，{report.chunks} 个片段。")


def _filters(doc: list[str] | None, region: list[str] | None, kind: list[str] | None,
             date_from: str | None, date_to: str | None) -> Filters | None:
    f = Filters(doc_ids=tuple(doc or ()), regions=tuple(region or ()), kinds=tuple(kind or ()),
                date_from=date_from or "", date_to=date_to or "")
    return f or None


@app.command()
def search(
    query: str,
    k: Annotated[int, typer.Option("--k", "-k", help="返回片段数")] = 5,
    mode: Annotated[str, typer.Option(help="hybrid | dense | bm25")] = "hybrid",
    doc: DocOpt = None, region: RegionOpt = None, kind: KindOpt = None,
    date_from: DateFromOpt = None, date_to: DateToOpt = None,
    index: IndexOpt = None, model: ModelOpt = None, as_json: JsonOpt = False,
):
    """检索与问题最相关的片段（显示向量、BM25 与融合排名）。"""
    if mode not in ("hybrid", "dense", "bm25"):
        raise typer.BadParameter(f"mode 必须是 hybrid、dense 或 bm25，当前为 {mode!r}")
    svc = _service(index, model)
    hits = svc.search(query, k=k, filters=_filters(doc, region, kind, date_from, date_to), mode=mode)
    docs = svc.index.docs
    if as_json:
        _print_json([{
            "rank": h.rank, "score": h.score, "dense_rank": h.dense_rank, "dense_score": h.dense_score,
            "bm25_rank": h.bm25_rank, "bm25_score": h.bm25_score,
            "title": docs[h.chunk.doc_id].title, **asdict(h.chunk),
        } for h in hits])
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    con = Console()
    con.print(f"[bold]检索：{query}[/]（融合 = 向量与 BM25 名次的倒数排名融合）")
    for h in hits:
        c = h.chunk
        con.print(Text(f"#{h.rank}  融合 {h.score:.4f} · 向量第 {h.dense_rank or '-'} · BM25 第 {h.bm25_rank or '-'}"
                       f" · {c.kind} · {docs[c.doc_id].title}（{c.region or '-'}）", style="cyan"))
        if c.section:
            con.print(Text(f"    {c.section}", style="dim"))
        flat = " ".join(c.text.split())
        con.print(Text(f"    {flat[:200]}{'…' if len(flat) > 200 else ''}"))
    if not hits:
        typer.echo("没有找到相关片段。")


@app.command()
def ask(
    question: str,
    history: Annotated[Optional[list[str]], typer.Option("--history", "-H", help="上一问（可重复，按先后顺序）")] = None,
    k: Annotated[int, typer.Option("--k", "-k", help="引用片段数")] = 5,
    doc: DocOpt = None, region: RegionOpt = None, kind: KindOpt = None,
    date_from: DateFromOpt = None, date_to: DateToOpt = None,
    index: IndexOpt = None, model: ModelOpt = None, as_json: JsonOpt = False,
):
    """回答问题：给出简短答案和出处片段；知识库没有答案时如实说明。"""
    svc = _service(index, model)
    ans = svc.ask(question, history=history or [], k=k, filters=_filters(doc, region, kind, date_from, date_to))
    if as_json:
        _print_json(asdict(ans))
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.text import Text  # noqa: PLC0415

    con = Console()
    if ans.rewritten_question != ans.question:
        con.print(f"[dim]理解为：{ans.rewritten_question}[/]")
    con.print(Text(ans.answer, style="bold green" if ans.found else "bold yellow"))
    for c in ans.citations[:3] if ans.found else ans.citations:
        body = Text(c.text)
        for a, b in c.highlight:
            body.stylize("bold reverse", a, b)
        con.print(Text(f"[{c.rank}] {c.title}（{c.region or '-'}，{c.date or '日期不详'}）{c.section}", style="cyan"))
        con.print(body)
    for c in ans.others:
        con.print(Text(f"另见：{c.title}（{c.region or '-'}）{c.text[:80]}…", style="dim"))
    con.print(f"[dim]置信度 {ans.confidence:.2f} · 耗时 {sum(ans.timings_ms.values()):.0f} ms[/]")


@app.command(name="eval")
def eval_(
    eval_file: Annotated[Optional[Path], typer.Argument(help="评测集 JSONL")] = None,
    corpus: Annotated[Optional[Path], typer.Option(help="知识库文档（默认 corpus/ 与默认索引）")] = None,
    retriever: Annotated[str, typer.Option(help="hybrid | dense | bm25 | reranked（需 QA_RERANK_MODEL）")] = "hybrid",
    k: Annotated[int, typer.Option("--k", help="检索评测的截断名次")] = 10,
    out: Annotated[Optional[Path], typer.Option(help="报告目录（默认 eval/runs/<时间>-<评测集>）")] = None,
    compare: Annotated[bool, typer.Option(help="bm25、dense、hybrid 并排比较")] = False,
    diff: Annotated[Optional[tuple[Path, Path]], typer.Option(help="比较两份 report.json：A B")] = None,
    limit: Annotated[Optional[int], typer.Option(help="只评测前 N 题")] = None,
    index: IndexOpt = None, model: ModelOpt = None, as_json: JsonOpt = False,
):
    """评测检索与问答：写出 report.json、report.md、report.html。"""
    from . import evaluate, report  # noqa: PLC0415

    if diff:
        a, b = (json.loads(Path(p).read_text()) for p in diff)
        changes = evaluate.diff(a, b)
        if as_json:
            _print_json(changes)
        else:
            for c in changes:
                typer.echo(f"[{c['config']}] {c['id']} {c['change']}: {c['question']}  "
                           f"{c['before']['answer'] or '（拒答）'} → {c['after']['answer'] or '（拒答）'}  "
                           f"命中名次 {c['before']['hit_rank']} → {c['after']['hit_rank']}")
            typer.echo(f"{len(changes)} 题结果有变化。")
        return
    if eval_file is None:
        raise typer.BadParameter("需要评测集文件（或用 --diff A B 比较两份报告）")
    settings = _settings(index, model)
    modes = ["bm25", "dense", "hybrid"] + (["reranked"] if settings.rerank_model else []) if compare else [retriever]
    if any(m not in ("hybrid", "dense", "bm25", "reranked") for m in modes):
        raise typer.BadParameter(f"retriever 必须是 hybrid、dense、bm25 或 reranked，当前为 {retriever!r}")
    if corpus is not None and index is None:
        # Each evaluated corpus gets its own index, built once and reused.
        tag = hashlib.sha1(str(corpus.resolve()).encode()).hexdigest()[:8]
        settings = settings.model_copy(update={"index_dir": PROJECT_ROOT / "index" / f"eval-{corpus.stem}-{tag}"})
    from .service import Service  # noqa: PLC0415

    svc = Service(settings)
    if corpus is not None:
        svc.ingest([corpus], replace=True, progress=not as_json)
    items, problems = evaluate.load_eval_set(eval_file)
    items = items[:limit] if limit else items
    configs = evaluate.evaluate_set(svc, items, modes, k=k, progress=not as_json)
    created = time.strftime("%Y-%m-%dT%H:%M:%S")
    result = {
        "set": str(eval_file), "corpus": str(corpus or settings.corpus_dir), "k": k, "created_at": created,
        "index": {"documents": len(svc.index.docs), "chunks": len(svc.index.chunks),
                  "model": svc.index.manifest["model"]["identity"], "version": svc.index.manifest.get("version")},
        "settings": json.loads(settings.model_dump_json()),
        "problems": [asdict(p) for p in problems], "configs": configs,
    }
    out = out or PROJECT_ROOT / "eval" / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{eval_file.stem}"
    report.write_all(result, out)
    if as_json:
        _print_json({"out": str(out), "metrics": {m: c["metrics"] for m, c in configs.items()},
                     "problems": result["problems"]})
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=f"评测：{eval_file.name}（{len(items)} 题）")
    table.add_column("指标")
    for m in modes:
        table.add_column(m, justify="right")
    for key, values in report.metric_rows(result):
        table.add_row(key, *(report.fmt(v) for v in values))
    con = Console()
    con.print(table)
    for p in problems:
        con.print(f"[yellow]跳过[/] {p.message}")
    con.print(f"报告：{out}/report.html")


@app.command()
def docs(index: IndexOpt = None, model: ModelOpt = None, as_json: JsonOpt = False):
    """列出知识库中的文档及其元数据和片段数。"""
    infos = _service(index, model).documents()
    if as_json:
        _print_json([asdict(d) for d in infos])
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=f"知识库文档（{len(infos)} 篇）")
    for col in ("文档编号", "标题", "日期", "来源", "地区", "类型", "片段"):
        table.add_column(col, overflow="fold")
    for d in infos:
        table.add_row(d.doc_id, d.title, d.date or "-", d.source or "-", d.region or "-", d.kind, str(d.chunks))
    Console().print(table)


@app.command()
def serve(
    host: Annotated[Optional[str], typer.Option(help="监听地址（默认 QA_HOST 或 127.0.0.1）")] = None,
    port: Annotated[Optional[int], typer.Option(help="端口（默认 QA_PORT 或 8000）")] = None,
    workers: Annotated[int, typer.Option(min=1, help="工作进程数（每个进程各自加载模型）")] = 1,
    index: IndexOpt = None, model: ModelOpt = None,
):
    """启动 HTTP API 和网页问答；没有索引时先用 corpus/ 构建。"""
    import os  # noqa: PLC0415

    import uvicorn  # noqa: PLC0415

    from api.app import logging_config  # noqa: PLC0415
    from api.auth import KeyRing  # noqa: PLC0415

    # Workers build their own app from the environment: the options are passed on through it.
    if index is not None:
        os.environ["QA_INDEX_DIR"] = str(index)
    if model is not None:
        os.environ["QA_EMBED_MODEL"] = model
    settings = Settings()
    KeyRing.from_settings(settings)  # a malformed key setting is reported here, before any worker starts
    host, port = host or settings.host, port or settings.port
    typer.echo(f"网页问答：http://{host}:{port}/    接口文档：http://{host}:{port}/docs")
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_config=logging_config(), timeout_graceful_shutdown=30)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    for noisy in ("jieba", "sentence_transformers", "httpx", "faiss"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        app()
    except QAError as e:
        typer.secho(f"错误（{e.code}）：{e.message}", fg=typer.colors.RED, err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
