"""Evaluation reports: report.json (everything), report.md (to read), report.html (to look at).

The HTML page is self-contained — inline CSS and SVG, no scripts from a CDN — because
the intranet is offline.
"""
from __future__ import annotations

import html
import json
from pathlib import Path

HEADLINE = ("hit@1", "hit@5", "mrr@10", "ndcg@10", "answer_accuracy", "answer_exact", "answer_f1",
            "answer_rouge_l", "refusal_recall", "wrong_answer_rate")
TABLE = HEADLINE + ("hit@3", "hit@10", "recall@10", "refusal_precision", "overall_accuracy",
                    "ece", "latency_p50_ms", "latency_p95_ms", "feedback_accuracy")
_COLORS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2")


def fmt(v) -> str:
    if v is None:
        return "–"
    return f"{v:.3f}" if isinstance(v, float) and v <= 1.0 else str(v)


def write_all(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, ensure_ascii=False, indent=1))
    (out / "report.md").write_text(markdown(report))
    (out / "report.html").write_text(page(report))


def metric_rows(report: dict) -> list[tuple[str, list]]:
    configs = report["configs"]
    keys = [k for k in TABLE if any(k in c["metrics"] for c in configs.values())]
    return [(k, [configs[m]["metrics"].get(k) for m in configs]) for k in keys]


def _failures(report: dict, mode: str) -> list[dict]:
    return [o for o in report["configs"][mode]["outcomes"] if not o["correct"]]


def markdown(report: dict) -> str:
    configs = list(report["configs"])
    lines = [f"# 评测报告：{report['set']}", "",
             f"- 知识库：{report['corpus']}（{report['index']['documents']} 篇文档，{report['index']['chunks']} 个片段）",
             f"- 模型：{report['index']['model']}；k = {report['k']}；生成于 {report['created_at']}", ""]
    if report.get("problems"):
        lines += ["## 未能读取的行", ""] + [f"- {p['message']}" for p in report["problems"]] + [""]
    lines += ["## 指标", "", "| 指标 | " + " | ".join(configs) + " |", "|---|" + "---|" * len(configs)]
    lines += [f"| {k} | " + " | ".join(fmt(v) for v in vals) + " |" for k, vals in metric_rows(report)]
    main = configs[-1]
    by_type = report["configs"][main]["metrics"].get("accuracy_by_type", {})
    if by_type:
        lines += ["", f"## 各题型正确率（{main}）", "", "| 题型 | 正确率 |", "|---|---|"]
        lines += [f"| {t} | {fmt(v)} |" for t, v in by_type.items()]
    by_extractor = report["configs"][main]["metrics"].get("by_extractor", {})
    if by_extractor:
        lines += ["", f"## 各类答案片段（{main}：哪种抽取给出了答案）", "",
                  "| 片段类型 | 回答数 | 正确率 | 精确匹配 | 字符 F1 |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {v['answers']} | {fmt(v['accuracy'])} | {fmt(v['exact'])} | {fmt(v['f1'])} |"
                  for name, v in by_extractor.items()]
    lines += _calibration_md(report["configs"][main]["metrics"], main)
    lines += _feedback_md(report, main)
    fails = _failures(report, main)
    lines += ["", f"## 答错的问题（{main}，{len(fails)} 题）", "",
              "| id | 问题 | 期望 | 返回 | 检索命中名次 | 首条引用 |", "|---|---|---|---|---|---|"]
    for o in fails:
        top = o["top"][0]["doc_id"] + "：" + o["top"][0]["text"][:40] if o["top"] else "–"
        expected = "（应拒答）" if o["unanswerable"] else " / ".join(o["expected"][:2])
        returned = o["answer"] if o["found"] else f"（拒答）{o['answer'][:30]}"
        cells = [o["id"], o["question"], expected, returned, str(o["hit_rank"] or "–"), top]
        lines.append("| " + " | ".join(c.replace("|", "\\|").replace("\n", " ") for c in cells) + " |")
    return "\n".join(lines) + "\n"


def _calibration_md(m: dict, mode: str) -> list[str]:
    """The reliability table: per confidence bin, how many answers and how often they were right."""
    bins = m.get("reliability")
    if not bins:
        return []
    lines = ["", f"## 置信度校准（{mode}，已给出的答案）", "",
             f"期望校准误差（ECE）：{fmt(m.get('ece'))}。每一档：答案数、平均置信度、实际正确率（两者越接近越好）。", "",
             "| 置信度区间 | 答案数 | 平均置信度 | 实际正确率 |", "|---|---|---|---|"]
    lines += [f"| {b['lo']:.1f}–{b['hi']:.1f} | {b['count']} | {fmt(b['confidence'])} | {fmt(b['accuracy'])} |"
              for b in bins]
    return lines


def _feedback_md(report: dict, mode: str) -> list[str]:
    """The cases added from the gap report (问答分析): by the date they were added, and over earlier runs."""
    fb = report["configs"][mode]["metrics"].get("feedback")
    lines = []
    if fb:
        lines += ["", f"## 来自反馈的用例（{mode}）", "",
                  f"共 {fb['cases']} 题（其中知识库未覆盖 {fb['unanswerable']} 题），答对 {fb['correct']} 题，"
                  f"正确率 {fmt(fb['accuracy'])}。", "", "| 加入日期 | 用例数 | 答对 | 正确率 |", "|---|---|---|---|"]
        lines += [f"| {d['added']} | {d['cases']} | {d['correct']} | {fmt(d['accuracy'])} |" for d in fb["by_added"]]
    if report.get("history"):
        lines += ["", "## 历次评测（本知识库）", "", "| 运行 | 时间 | 题数 | 总正确率 | 反馈用例 | 反馈用例正确率 |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {h['run']} | {h['created_at']} | {h['questions']} | {fmt(h['overall_accuracy'])} | "
                  f"{h['feedback_cases']} | {fmt(h['feedback_accuracy'])} |" for h in report["history"]]
    return lines


def _feedback_html(report: dict, mode: str) -> str:
    e = html.escape
    fb = report["configs"][mode]["metrics"].get("feedback")
    out = ""
    if fb:
        rows = "".join(f'<tr><td>{e(d["added"])}</td><td class="num">{d["cases"]}</td><td class="num">{d["correct"]}</td>'
                       f'<td class="num">{fmt(d["accuracy"])}</td></tr>' for d in fb["by_added"])
        out += (f'<h2>来自反馈的用例（{e(mode)}）</h2><p>共 <b>{fb["cases"]}</b> 题（其中知识库未覆盖 {fb["unanswerable"]} 题），'
                f'答对 {fb["correct"]} 题，正确率 <b>{fmt(fb["accuracy"])}</b>。</p><table style="width:auto"><tr>'
                f'<th>加入日期</th><th>用例数</th><th>答对</th><th>正确率</th></tr>{rows}</table>')
    if report.get("history"):
        rows = "".join(f'<tr><td>{e(h["run"])}</td><td>{e(h["created_at"])}</td><td class="num">{h["questions"]}</td>'
                       f'<td class="num">{fmt(h["overall_accuracy"])}</td><td class="num">{h["feedback_cases"]}</td>'
                       f'<td class="num">{fmt(h["feedback_accuracy"])}</td></tr>' for h in report["history"])
        out += ('<h2>历次评测（本知识库）</h2><table style="width:auto"><tr><th>运行</th><th>时间</th><th>题数</th>'
                f'<th>总正确率</th><th>反馈用例</th><th>反馈用例正确率</th></tr>{rows}</table>')
    return out


# ---------------------------------------------------------------- HTML with inline SVG


def _reliability(m: dict) -> str:
    """Reliability diagram: observed accuracy per confidence bin against the diagonal of perfect
    calibration; a bar's label is its answer count."""
    bins = m.get("reliability") or []
    size, left, bottom = 300, 40, 40
    parts = [f'<svg viewBox="0 0 {size + left + 20} {size + bottom + 20}" role="img" aria-label="置信度校准图">',
             '<g transform="translate(0,10)">',  # room above for the top bar's count and the axis' "1"
             f'<rect x="{left}" y="0" width="{size}" height="{size}" fill="none" stroke="#ccc"/>',
             f'<line x1="{left}" y1="{size}" x2="{left + size}" y2="0" stroke="#999" stroke-dasharray="4 3"/>']
    for b in bins:
        if not b["count"]:
            continue
        x, w = left + b["lo"] * size, (b["hi"] - b["lo"]) * size
        h = b["accuracy"] * size
        parts.append(f'<rect x="{x + 1:.1f}" y="{size - h:.1f}" width="{w - 2:.1f}" height="{h:.1f}" fill="{_COLORS[0]}" '
                     f'opacity="0.8"><title>{b["lo"]:.1f}–{b["hi"]:.1f}：{b["count"]} 个答案，平均置信度 '
                     f'{b["confidence"]:.3f}，实际正确率 {b["accuracy"]:.3f}</title></rect>')
        parts.append(f'<circle cx="{left + b["confidence"] * size:.1f}" cy="{size - b["accuracy"] * size:.1f}" r="3" '
                     f'fill="{_COLORS[3]}"/>')
        parts.append(f'<text x="{x + w / 2:.1f}" y="{max(size - h - 3, 10):.1f}" class="val" text-anchor="middle">{b["count"]}</text>')
    for t in (0, 0.5, 1):
        parts.append(f'<text x="{left + t * size:.1f}" y="{size + 14}" class="val" text-anchor="middle">{t:g}</text>')
        parts.append(f'<text x="{left - 4}" y="{size - t * size + 4:.1f}" class="val" text-anchor="end">{t:g}</text>')
    parts.append(f'<text x="{left + size / 2}" y="{size + 32}" class="lbl" text-anchor="middle">置信度（点：档内平均）</text>')
    return "".join(parts) + "</g></svg>"


def _calibration_html(m: dict, mode: str) -> str:
    bins = m.get("reliability")
    if not bins:
        return ""
    e = html.escape
    rows = "".join(f'<tr><td>{b["lo"]:.1f}–{b["hi"]:.1f}</td><td class="num">{b["count"]}</td>'
                   f'<td class="num">{fmt(b["confidence"])}</td><td class="num">{fmt(b["accuracy"])}</td></tr>'
                   for b in bins)
    return (f'<h2>置信度校准（{e(mode)}，已给出的答案）</h2>'
            f'<p>期望校准误差（ECE）：<b>{fmt(m.get("ece"))}</b>。柱高为每档实际正确率，虚线为完美校准。</p>'
            f'{_reliability(m)}<table style="width:auto"><tr><th>置信度区间</th><th>答案数</th><th>平均置信度</th>'
            f'<th>实际正确率</th></tr>{rows}</table>')


def _bars(report: dict) -> str:
    """Grouped horizontal bars: one group per headline metric, one bar per configuration."""
    configs = list(report["configs"])
    keys = [k for k in HEADLINE if any(report["configs"][m]["metrics"].get(k) is not None for m in configs)]
    bar_h, gap, label_w, width = 14, 10, 150, 560
    group_h = bar_h * len(configs) + gap
    height = group_h * len(keys) + 30
    parts = [f'<svg viewBox="0 0 {label_w + width + 60} {height}" role="img" aria-label="指标对比">']
    for gi, k in enumerate(keys):
        y0 = gi * group_h
        parts.append(f'<text x="0" y="{y0 + group_h / 2}" class="lbl">{html.escape(k)}</text>')
        for ci, m in enumerate(configs):
            v = report["configs"][m]["metrics"].get(k) or 0.0
            y = y0 + ci * bar_h
            parts.append(f'<rect x="{label_w}" y="{y}" width="{max(v, 0) * width:.1f}" height="{bar_h - 2}" '
                         f'fill="{_COLORS[ci % len(_COLORS)]}"><title>{m} {k} = {v:.3f}</title></rect>')
            parts.append(f'<text x="{label_w + v * width + 4:.1f}" y="{y + bar_h - 4}" class="val">{v:.3f}</text>')
    legend_y = height - 10
    for ci, m in enumerate(configs):
        x = label_w + ci * 120
        parts.append(f'<rect x="{x}" y="{legend_y - 10}" width="12" height="12" fill="{_COLORS[ci % len(_COLORS)]}"/>'
                     f'<text x="{x + 16}" y="{legend_y}" class="lbl">{html.escape(m)}</text>')
    return "".join(parts) + "</svg>"


def _histogram(report: dict) -> str:
    """Latency histogram of every configuration's questions, overlaid."""
    configs = list(report["configs"])
    values = {m: [o["latency_ms"] for o in report["configs"][m]["outcomes"]] for m in configs}
    top = max((max(v) for v in values.values() if v), default=1.0)
    nbins, w, h, left = 24, 600, 160, 40
    step = top / nbins or 1.0
    counts = {m: [0] * nbins for m in configs}
    for m, vs in values.items():
        for v in vs:
            counts[m][min(nbins - 1, int(v / step))] += 1
    peak = max((max(c) for c in counts.values()), default=1) or 1
    parts = [f'<svg viewBox="0 0 {w + left + 20} {h + 40}" role="img" aria-label="延迟分布">']
    bw = w / nbins
    for ci, m in enumerate(configs):
        for i, c in enumerate(counts[m]):
            bh = c / peak * h
            parts.append(f'<rect x="{left + i * bw + ci * bw / len(configs):.1f}" y="{h - bh:.1f}" '
                         f'width="{bw / len(configs) - 1:.1f}" height="{bh:.1f}" fill="{_COLORS[ci % len(_COLORS)]}">'
                         f'<title>{m}: {c} 题，{i * step:.0f}–{(i + 1) * step:.0f} ms</title></rect>')
    for i in range(0, nbins + 1, 6):
        parts.append(f'<text x="{left + i * bw:.1f}" y="{h + 16}" class="val">{i * step:.0f}</text>')
    parts.append(f'<text x="{left + w / 2}" y="{h + 34}" class="lbl">毫秒（每题问答耗时）</text>')
    return "".join(parts) + "</svg>"


_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em auto;max-width:1100px;color:#222}
h1{font-size:1.5em}h2{font-size:1.2em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;width:100%;font-size:.9em}th,td{border:1px solid #ddd;padding:4px 6px;vertical-align:top}
th{background:#f4f6f8;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.lbl{font-size:12px;fill:#333}.val{font-size:10px;fill:#555}.meta{color:#666}
.bad{color:#b00}.ok{color:#070}.cite{color:#555;font-size:.85em}
"""


def page(report: dict) -> str:
    e = html.escape
    configs = list(report["configs"])
    main = configs[-1]
    rows = "".join(f"<tr><th>{e(k)}</th>" + "".join(f'<td class="num">{fmt(v)}</td>' for v in vals) + "</tr>"
                   for k, vals in metric_rows(report))
    fails = []
    for o in _failures(report, main):
        expected = "（应拒答）" if o["unanswerable"] else " / ".join(o["expected"][:3])
        returned = e(o["answer"]) if o["found"] else '<span class="meta">（拒答）</span>'
        cites = "".join(f'<div class="cite">[{i + 1}] {e(c["doc_id"])}（{e(c["region"] or "-")}，{e(c["kind"])}）'
                        f'{e(c["text"][:120])}</div>' for i, c in enumerate(o["top"]))
        asked = e(o["question"]) + (f'<div class="meta">历史：{e(" → ".join(o["history"]))}<br>'
                                    f'改写：{e(o["rewritten"])}</div>' if o["history"] else "")
        fails.append(f'<tr><td>{e(o["id"])}</td><td>{asked}</td><td>{e(o["type"])}</td><td>{e(expected)}</td>'
                     f'<td class="bad">{returned}</td><td class="num">{o["hit_rank"] or "–"}</td><td>{cites}</td></tr>')
    problems = "".join(f"<li>{e(p['message'])}</li>" for p in report.get("problems", []))
    idx = report["index"]
    return f"""<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<title>评测报告 · {e(report['set'])}</title><style>{_CSS}</style></head><body>
<h1>评测报告：{e(Path(report['set']).name)}</h1>
<p class="meta">知识库 {e(report['corpus'])}（{idx['documents']} 篇文档，{idx['chunks']} 个片段）· 模型 {e(idx['model'])}
· k = {report['k']} · {e(report['created_at'])}</p>
{f'<h2>未能读取的行</h2><ul>{problems}</ul>' if problems else ''}
<h2>指标对比</h2>{_bars(report)}
<table><tr><th>指标</th>{''.join(f'<th>{e(m)}</th>' for m in configs)}</tr>{rows}</table>
<h2>延迟分布</h2>{_histogram(report)}
{_calibration_html(report["configs"][main]["metrics"], main)}
{_feedback_html(report, main)}
<h2>答错的问题（{e(main)}，{len(fails)} 题）</h2>
<table><tr><th>id</th><th>问题</th><th>题型</th><th>期望</th><th>返回</th><th>命中名次</th><th>前几条引用</th></tr>
{''.join(fails)}</table></body></html>"""
