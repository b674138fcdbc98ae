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
from typing import Annotated, Literal, Optional

import typer

from .errors import IndexNotFound, InvalidArgument, QAError
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


def _queryable(index: Path | None, model: str | None):
    """A service to ask. The shipped knowledge base — the default index over the default corpus/ —
    is built on first use, so a newcomer's first `qa search` or `qa ask` answers; any other index
    that does not exist stays an error saying how to build it."""
    svc = _service(index, model)
    s, default = svc.settings, Settings.model_fields
    try:
        svc.index  # noqa: B018 - loads it, or says it is missing
    except IndexNotFound:
        if s.index_dir != default["index_dir"].default or s.corpus_dir != default["corpus_dir"].default:
            raise
        typer.echo(f"首次使用：正在从 {s.corpus_dir} 构建知识库索引……", err=True)
        svc.ingest([s.corpus_dir], progress=False)
    return svc


def _print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, ensure_ascii=False, indent=2) + "\n")


@app.command()
def ingest(
    paths: Annotated[Optional[list[Path]], typer.Argument(help="文件或文件夹（默认 corpus/）")] = None,
    replace: Annotated[bool, typer.Option(help="索引只保留这些路径中的文档")] = False,
    rebuild: Annotated[bool, typer.Option(help="知识库中已有的全部文档（含上传的）连同这些路径，重新切分并重新嵌入（换模型后用）")] = False,
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

    from rich.markup import escape  # noqa: PLC0415

    con = Console(soft_wrap=True)  # one line per file, whatever the terminal's width: a script can grep it
    con.print(f"知识库：{report.documents} 篇文档，{report.chunks} 个片段；本次新增 {len(report.added)}，"
              f"更新 {len(report.updated)}，删除 {len(report.removed)}，未变 {len(report.unchanged)}；"
              f"嵌入 {report.embedded_chunks} 个片段，用时 {report.seconds:.1f} 秒。")
    from .load import WARNING_CODES  # noqa: PLC0415

    skipped = [p for p in report.problems if p.code not in WARNING_CODES]  # the others were imported
    if skipped:  # every file left out, each with its reason; the good files were imported all the same
        files = len({p.path for p in skipped})
        con.print(f"[yellow]跳过 {files} 个文件[/]（其余文件已照常导入）：")
        for p in skipped:
            con.print(f"  [yellow]未导入[/] {escape(p.path)}：{escape(p.message)}（{p.code}）")
    for p in report.problems:
        if p.code in WARNING_CODES:  # e.g. a scan read with low OCR confidence
            con.print(f"[yellow]请核对[/] {escape(p.path)}：{escape(p.message)}（{p.code}）")


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
    svc = _queryable(index, model)
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
    svc = _queryable(index, model)
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
        where = f" · {c.location}" if c.location else ""  # 第3页, 工作表“指标”第12行
        con.print(Text(f"[{c.rank}] {c.title}（{c.region or '-'}，{c.date or '日期不详'}）{c.section}{where}", style="cyan"))
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
    diff: Annotated[Optional[tuple[Path, Path]], typer.Option(help="比较两次评测（report.json 或其目录）：A B")] = None,
    kb: Annotated[Optional[str], typer.Option("--kb", help="评测该知识库自己的评测集（问答分析中加入的用例）")] = None,
    limit: Annotated[Optional[int], typer.Option(help="只评测前 N 题")] = None,
    index: IndexOpt = None, model: ModelOpt = None, as_json: JsonOpt = False,
):
    """评测检索与问答：写出 report.json、report.md、report.html。"""
    from . import evaluate, report  # noqa: PLC0415

    if diff:
        _eval_diff(*diff, as_json=as_json)
        return
    settings = _settings(index, model)
    runs = None
    if kb is not None:
        from . import evalsets  # noqa: PLC0415

        if eval_file is not None:
            raise typer.BadParameter("--kb 评测该知识库自己的评测集，不再另给评测集文件")
        eval_file, runs = evalsets.set_path(settings, kb), evalsets.runs_dir(settings, kb)
        if not eval_file.exists():
            raise evalsets.NoEvalSet(f"知识库 {kb} 还没有评测集（{eval_file}）：在问答分析中把问题“加入评测集”后再评测")
    if eval_file is None:
        raise typer.BadParameter("需要评测集文件，或 --kb 知识库名称（或用 --diff A B 比较两次评测）")
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
        "settings": settings.public(),  # secrets masked: reports are shared
        "problems": [asdict(p) for p in problems], "configs": configs,
    }
    if runs is not None:  # a knowledge base's runs are kept together: each report shows the earlier ones
        result["kb"] = kb
        result["history"] = evalsets.history(runs)
        out = out or runs / time.strftime("%Y%m%d-%H%M%S")
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
    fb = configs[modes[-1]]["metrics"].get("feedback")
    if fb:
        con.print(f"来自反馈的用例：{fb['cases']} 题，答对 {fb['correct']} 题（正确率 {report.fmt(fb['accuracy'])}）")
    con.print(f"报告：{out}/report.html")


def _eval_diff(a_path: Path, b_path: Path, as_json: bool) -> None:
    """`qa eval --diff A B`: headline metrics A → B, the cases newly right and newly wrong."""
    from . import evaluate  # noqa: PLC0415

    def load(p: Path) -> dict:
        p = p / "report.json" if p.is_dir() else p
        try:
            return json.loads(p.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InvalidArgument(f"读不了评测报告 {p}：{e}") from e

    result = evaluate.compare(load(a_path), load(b_path))
    if as_json:
        _print_json(result)
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    from .report import HEADLINE, fmt  # noqa: PLC0415

    con = Console(soft_wrap=True)
    for mode, c in result["configs"].items():
        table = Table(title=f"{mode}：{result['a']['created_at']} → {result['b']['created_at']}")
        for col in ("指标", "A", "B", "变化"):
            table.add_column(col, justify="left" if col == "指标" else "right")
        for key in [k for k in (*HEADLINE, "overall_accuracy", "feedback_accuracy", "questions") if k in c["metrics"]]:
            m = c["metrics"][key]
            delta = "–" if m["delta"] is None else f"{m['delta']:+.4g}"
            table.add_row(key, fmt(m["before"]), fmt(m["after"]), delta)
        con.print(table)
        for title, cases in (("新答对", c["newly_right"]), ("新答错", c["newly_wrong"]), ("新增用例", c["added"]),
                             ("移除用例", c["removed"])):
            if cases:
                con.print(f"{title}（{len(cases)} 题）：")
                for o in cases:
                    tag = f" [反馈 {o['added']}]" if o["source"] == "feedback" else ""
                    con.print(f"  {o['id']}{tag} {o['question']}  → {o['answer'] or '（拒答）'}", markup=False)
    typer.echo(f"{len(result['changes'])} 题结果有变化。")


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
    # h11 rather than httptools: it refuses a request head past `max_header_bytes` as it arrives,
    # where httptools buffers any size (a 100 MB header held the event loop for a minute).
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port, workers=workers,
                log_config=logging_config(), timeout_graceful_shutdown=30, http="h11",
                h11_max_incomplete_event_size=settings.max_header_bytes,
                proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips)


key_app = typer.Typer(no_args_is_help=True, help="管理 API 密钥。")
app.add_typer(key_app, name="key")


@key_app.command("new")
def key_new(
    role: Annotated[Literal["reader", "admin"], typer.Option(help="reader 可问答、检索；admin 还可上传、删除文档")] = "reader",
    keys_file: Annotated[Optional[Path], typer.Option("--file", help="把“角色:密钥”追加到这个密钥文件（新建时权限 0600）")] = None,
):
    """生成一个随机 API 密钥：只在标准输出显示这一次。"""
    import secrets  # noqa: PLC0415

    key = secrets.token_urlsafe(32)  # its alphabet has no ",", ":" or "#", which the keys formats use
    if keys_file is not None:
        _append_key(keys_file, role, key)  # written first: a key that failed to save is never shown
    typer.echo(key)  # stdout holds the key alone, so a script can capture it
    if keys_file is not None:
        where = keys_file.absolute()
        typer.echo(f"已把 {role} 密钥追加到 {where}。设置 QA_API_KEYS_FILE={where} 后重启 qa serve 生效。", err=True)
    else:
        typer.echo(f"以上是新的 {role} 密钥，只显示这一次，请妥善保存。启用：QA_API_KEYS={role}:<密钥> qa serve，"
                   "或用 --file 写入密钥文件。", err=True)


def _append_key(path: Path, role: str, key: str) -> None:
    """Appends `role:key` to a keys file, creating it (and its folder) readable by its owner only."""
    import os  # noqa: PLC0415

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        existing = path.read_bytes() if path.exists() else b""
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        with os.fdopen(fd, "a", encoding="utf-8") as f:
            f.write(("\n" if existing and not existing.endswith(b"\n") else "") + f"{role}:{key}\n")
        mode = path.stat().st_mode & 0o777
    except OSError as e:
        raise InvalidArgument(f"无法写入密钥文件 {path}：{e.strerror or e}") from None
    if mode & 0o007:  # readable by the service's group is a deployment's choice; by everyone is not
        typer.secho(f"注意：{path} 的权限为 {mode:o}，任何用户都能读取其中的密钥；建议 chmod o-rwx {path}",
                    fg=typer.colors.YELLOW, err=True)


# ----- the index on disk: versions, rollback, backup, restore, deleted documents -----

IndexDirOpt = Annotated[Optional[Path], typer.Option("--index", "--index-dir",
                                                     help="索引目录（默认 QA_INDEX_DIR 或 index/default）")]
index_app = typer.Typer(no_args_is_help=True, help="索引版本：查看、回退。")
app.add_typer(index_app, name="index")


@index_app.command("status")
def index_status(index: IndexDirOpt = None, as_json: JsonOpt = False):
    """列出磁盘上的索引版本：创建时间、文档数、片段数、是否完好（逐个文件校验）、哪个在线。"""
    from .index import versions  # noqa: PLC0415

    settings = _settings(index)
    rows = versions(settings.index_dir)
    if as_json:
        _print_json([asdict(v) for v in rows])
        return
    if not rows:
        typer.echo(f"{settings.index_dir} 中没有索引版本；请先运行 `qa ingest`。")
        return
    from rich.console import Console  # noqa: PLC0415
    from rich.table import Table  # noqa: PLC0415

    table = Table(title=f"索引版本（{settings.index_dir}）")
    for col in ("版本", "创建时间", "文档", "片段", "状态"):
        table.add_column(col, overflow="fold")
    for v in rows:
        state = ("[red]损坏：" + v.problem + "[/]") if v.problem else "完好"
        table.add_row(v.name + ("  ← 在线" if v.live else ""), v.created_at, str(v.documents), str(v.chunks), state)
    Console().print(table)


@index_app.command("rollback")
def index_rollback(index: IndexDirOpt = None, as_json: JsonOpt = False):
    """切换回上一个完好的版本（先校验；在写入锁下原子切换）。运行中的服务在下一个请求时载入它。"""
    from .index import rollback, versions  # noqa: PLC0415

    settings = _settings(index)
    was, now = rollback(settings.index_dir)
    live = next(v for v in versions(settings.index_dir) if v.name == now)
    if as_json:
        _print_json({"previous": was, "live": asdict(live)})
        return
    typer.echo(f"已回退：在线版本 {was or '（无）'} → {now}（{live.documents} 篇文档，{live.chunks} 个片段，"
               f"创建于 {live.created_at}）。")


@index_app.command("prune-originals")
def index_prune_originals(index: IndexDirOpt = None, as_json: JsonOpt = False):
    """删除不再被任何索引版本或回收站条目引用的原件（originals/；删除文档时原件保留，以便恢复）。"""
    from .originals import prune  # noqa: PLC0415

    count, size = prune(_settings(index).index_dir)
    if as_json:
        _print_json({"removed": count, "bytes": size})
        return
    typer.echo(f"已删除 {count} 个不再被引用的原件，释放 {size / 1024 / 1024:.1f} MB。")


@app.command()
def backup(dest: Annotated[Path, typer.Argument(help="备份文件（.tar）")], index: IndexDirOpt = None,
           as_json: JsonOpt = False):
    """把在线索引版本连同 uploads/、jobs/、trash/、originals/ 备份为一个 tar 文件（服务运行时也可以做）。"""
    from .backup import backup as make_backup  # noqa: PLC0415

    info = make_backup(_settings(index).index_dir, dest)
    if as_json:
        _print_json({**asdict(info), "path": str(info.path)})
        return
    typer.echo(f"已备份版本 {info.version}（{info.documents} 篇文档，{info.chunks} 个片段，{info.files} 个文件，"
               f"{info.bytes / 1024 / 1024:.1f} MB）到 {info.path}。")


@app.command()
def restore(src: Annotated[Path, typer.Argument(help="`qa backup` 写出的 tar 文件")], index: IndexDirOpt = None,
            model: ModelOpt = None, as_json: JsonOpt = False):
    """从备份恢复（逐个文件校验，作为新版本原子切换上线；被替下的文档放入回收站）。"""
    from .backup import restore as restore_backup  # noqa: PLC0415
    settings = _settings(index, model)
    identity = settings.embed_identity
    info = restore_backup(src, settings.index_dir, expect_model=identity,
                          keep_deleted_days=settings.deleted_retention_days)
    if as_json:
        _print_json(asdict(info))
        return
    typer.echo(f"已恢复备份中的版本 {info.restored_from}，现在在线的是 {info.version}"
               f"（{info.documents} 篇文档，{info.chunks} 个片段）。")
    if info.trash_id:
        typer.echo(f"恢复前在线、备份中没有（或内容不同）的文档已放入回收站：qa trash restore {info.trash_id}")


trash_app = typer.Typer(help="已删除的文档（保留 QA_DELETED_RETENTION_DAYS 天）：`qa trash` 列出，"
                             "`qa trash restore 编号` 放回。")
app.add_typer(trash_app, name="trash")


@trash_app.callback(invoke_without_command=True)
def trash_list(ctx: typer.Context, index: IndexDirOpt = None, as_json: JsonOpt = False):
    """列出回收站：删除的文档、更新前的旧内容。"""
    if ctx.invoked_subcommand is not None:
        return
    from . import trash  # noqa: PLC0415

    settings = _settings(index)
    entries = trash.entries(settings.index_dir)
    if as_json:
        _print_json([asdict(e) for e in entries])
        return
    if not entries:
        typer.echo("回收站是空的。")
        return
    for e in entries:
        docs = "；".join(f"{d}（{t}）" if t and t != d else d for d, t in zip(e.doc_ids, e.titles, strict=True))
        typer.echo(f"{e.trash_id}  {e.deleted_at}  {e.reason}  {docs}")
    typer.echo(f"共 {len(entries)} 条，保留 {settings.deleted_retention_days:g} 天；"
               "放回：qa trash restore 编号 [文档编号…]")


@trash_app.command("restore")
def trash_restore(
    trash_id: Annotated[str, typer.Argument(help="回收站条目编号（见 `qa trash`）")],
    doc_ids: Annotated[Optional[list[str]], typer.Argument(help="只放回这些文档（默认全部）")] = None,
    index: IndexDirOpt = None, model: ModelOpt = None, as_json: JsonOpt = False,
):
    """把回收站中的文档放回知识库（片段未变时不重新嵌入）。

    作为新版本写入；同编号的在线文档被替换，并放入回收站。"""
    report = _service(index, model).restore_deleted(trash_id, doc_ids or None)
    if as_json:
        _print_json(asdict(report))
        return
    typer.echo(f"已放回 {len(report.added) + len(report.updated)} 篇（新增 {len(report.added)}，"
               f"替换 {len(report.updated)}，未变 {len(report.unchanged)}；嵌入 {report.embedded_chunks} 个片段）；"
               f"知识库现有 {report.documents} 篇文档，{report.chunks} 个片段。")


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
