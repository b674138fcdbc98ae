"""The messages a generated answer is asked with: a Chinese instruction, then the numbered passages.

A passage is numbered with its citation's rank, the number its card shows on screen, so "[2]" in
the generated text is the second card. What the model is shown of a passage (`passage_text`) is
also what `qa.verify` checks its sentences against: a figure the model saw is a figure it may use.
"""
from __future__ import annotations

from collections.abc import Sequence

from .types import Citation

SYSTEM_PROMPT = (
    "你是政务知识问答助手。请只根据用户给出的编号资料片段回答问题，不要使用资料以外的知识。\n"
    "要求：\n"
    "1. 只用简体中文作答，简洁明了，一般不超过三句话。\n"
    "2. 每句话末尾用方括号注明所依据片段的编号，如[1]或[1][2]；只能引用给出的编号。\n"
    "3. 数字、百分比、日期和文件名称必须与片段原文完全一致，不要换算单位、估算、合计或推算。\n"
    "4. 资料不足以回答时，直接说明资料中没有相关内容，不要编造。"
)


def passage_text(c: Citation) -> str:
    """One passage as the model reads it: its document, date, section and text."""
    head = f"《{c.title}》" if c.title else c.doc_id
    if c.date:
        head += f"（{c.date}）"
    lines = [f"来源：{head}"]
    if c.section and c.section != c.title:
        lines.append(f"章节：{c.section}")
    lines.append(c.text.strip())
    return "\n".join(lines)


def build_messages(question: str, passages: Sequence[Citation]) -> list[dict[str, str]]:
    """The chat messages for `question` over `passages`, each numbered [rank] as on screen."""
    blocks = "\n\n".join(f"[{c.rank}]\n{passage_text(c)}" for c in passages)
    user = f"资料片段：\n\n{blocks}\n\n问题：{question.strip()}\n\n请根据以上资料片段回答，并用[编号]注明出处。"
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
