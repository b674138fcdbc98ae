"""Chunking the shipped corpus: whole sentences, section paths, offsets, stable ids."""
import re

from conftest import PLAN, TRADITIONAL

from qa.chunk import chunk_document, pack, split_sentences


def test_text_chunks_are_spans_of_the_cleaned_document(corpus_chunks, corpus_documents):
    for doc_id, chunks in corpus_chunks.items():
        doc = corpus_documents[doc_id]
        for c in chunks:
            if c.kind != "table_row":
                assert doc.text[c.start:c.end] == c.text
            assert doc.raw_span(c.start, c.end) == (c.raw_start, c.raw_end)
            assert 0 <= c.raw_start < c.raw_end <= len(doc.raw_text)


def test_text_chunks_stay_within_the_size_limit(corpus_chunks):
    sizes = [len(c.text) for cs in corpus_chunks.values() for c in cs if c.kind == "text"]
    assert max(sizes) <= 500
    assert sum(sizes) / len(sizes) > 200  # not shredded into fragments


def test_chunks_end_on_sentence_boundaries(corpus_chunks, corpus_documents):
    for doc_id, chunks in corpus_chunks.items():
        text = corpus_documents[doc_id].text
        for c in chunks:
            if c.kind == "text":
                # A sentence terminator, or the end of a line (a caption or heading-like line).
                at_line_end = c.end == len(text) or text[c.end] == "\n"
                assert c.text[-1] in "。！？；;!?…”’」』）)" or at_line_end, c.text[-30:]


def test_numbers_are_never_split_from_their_units(corpus_chunks, corpus_documents):
    for doc_id, chunks in corpus_chunks.items():
        text = corpus_documents[doc_id].text
        for c in chunks:
            if c.kind == "text":
                # A chunk never starts in the middle of a number or right before its unit.
                before = text[c.start - 1] if c.start else ""
                assert not (before.isdigit() and (c.text[0].isdigit() or c.text[0] in "万亿%个件家户")), c.text[:20]


def test_section_path_follows_the_heading_hierarchy(corpus_chunks):
    sections = {c.section for c in corpus_chunks[PLAN]}
    assert "第二章 总体思路 > 三、总体目标" in sections
    assert "第三章 主要任务 > 一、构建完善便捷市场准入体系 > 1.持续提升商事主体登记服务水平" in sections
    assert any(s.endswith("专栏3 “4812”食品安全放心工程") for s in sections)


def test_regional_sections_carry_their_region(corpus_chunks):
    regions = {c.section.split(":")[0]: c.region for c in corpus_chunks[TRADITIONAL] if c.section}
    assert regions == {"河北": "河北", "江蘇": "江苏", "湖南": "湖南"}


def test_neighbouring_chunks_overlap_by_a_sentence(corpus_chunks):
    chunks = [c for c in corpus_chunks[PLAN] if c.kind == "text"]
    overlaps = sum(1 for a, b in zip(chunks, chunks[1:]) if a.section == b.section and b.start < a.end)
    assert overlaps >= 5


def test_chunk_ids_are_stable_and_unique(corpus_documents, corpus_chunks):
    doc = corpus_documents[PLAN]
    again = chunk_document(doc)
    assert [c.chunk_id for c in again] == [c.chunk_id for c in corpus_chunks[PLAN]]
    ids = [c.chunk_id for cs in corpus_chunks.values() for c in cs]
    assert len(ids) == len(set(ids))


def test_quoted_sentence_is_not_split_inside_the_quotes():
    text = "他说：“今年目标已完成。明年继续努力！”会议结束。"
    spans = [text[s.start:s.end] for s in split_sentences(text, 0, len(text))]
    assert spans == ["他说：“今年目标已完成。明年继续努力！”", "会议结束。"]


def test_long_sentences_are_packed_to_the_target():
    text = "".join(f"第{i}句话有一些内容。" for i in range(100))
    sentences = split_sentences(text, 0, len(text))
    spans = pack(sentences, target=100, max_chars=120, overlap=1)
    assert all(b - a <= 120 for a, b in spans)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(re.fullmatch(r"(第\d+句话有一些内容。)+", text[a:b]) for a, b in spans)
