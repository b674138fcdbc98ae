"""Chunking the shipped corpus: whole sentences, section paths, offsets, stable ids."""
import re

import pytest

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


def test_regional_sections_carry_their_region(corpus_chunks, corpus_documents):
    title = corpus_documents[TRADITIONAL].title  # the headline's section names all three
    regions = {c.section.split(":")[0]: c.region for c in corpus_chunks[TRADITIONAL] if c.section not in ("", title)}
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


def test_a_title_ending_in_an_exclamation_mark_ends_no_sentence():
    text = "他在《加油！》节目中首次公开演唱。专辑反响很好。"
    spans = [text[s.start:s.end] for s in split_sentences(text, 0, len(text))]
    assert spans == ["他在《加油！》节目中首次公开演唱。", "专辑反响很好。"]


def test_long_sentences_are_packed_to_the_target():
    text = "".join(f"第{i}句话有一些内容。" for i in range(100))
    sentences = split_sentences(text, 0, len(text))
    spans = pack(sentences, target=100, max_chars=120, overlap=1)
    assert all(b - a <= 120 for a, b in spans)
    assert spans[0][0] == 0 and spans[-1][1] == len(text)
    assert all(re.fullmatch(r"(第\d+句话有一些内容。)+", text[a:b]) for a, b in spans)


# ----- the opening headline: a heading, never the start of a sentence -----

NOTICE = "关于开展2024年食品安全监督抽检工作的通知"
MEETING = "某市市场监管局召开食品安全工作会议"
LONG_HEADLINE = "关于进一步加强和规范全市网络交易平台经营者落实主体责任有关工作的通知"  # too long for a heading
# (raw text, stated title or None, expected title, expected start of the first chunk's text)
HEADLINES = [
    # glued on the same line, no stated title: the headline becomes the title
    pytest.param(f"{NOTICE} 各区市场监管局：为做好本年度抽检工作，现将有关事项通知如下。\n一、抽检范围\n覆盖全部食品类别。",
     None, NOTICE, "各区市场监管局：为做好", id="glued-notice-no-title"),
    pytest.param(f"{MEETING}　3月5日，全市食品安全工作会议召开。会议部署了下一阶段重点任务。", None, MEETING, "3月5日，全市", id="glued-by-ideographic-space"),
    # glued, the stated title the same after normalisation (traditional script in the text)
    pytest.param("某市市場監管局召開食品安全工作會議 近日，會議在市政府召開。", MEETING, MEETING, "近日，會議", id="glued-traditional-stated-title"),
    # glued, a page title with the site's name after the headline
    pytest.param(f"{NOTICE} 市直各单位：现将有关事项通知如下。", f"{NOTICE}_某市人民政府网", f"{NOTICE}_某市人民政府网",
     "市直各单位：", id="glued-page-title-with-site"),
    # on its own line, too long to be taken for a heading
    pytest.param(f"{LONG_HEADLINE}\n各县（市、区）市场监管局：现将有关事项通知如下。", None, LONG_HEADLINE, "各县（市、区）", id="own-line-too-long-for-a-heading"),
    # the title said again as the first sentence's subject
    pytest.param("星海公园 星海公园是一座位于海滨的城市公园，建于1909年。", "星海公园", "星海公园", "星海公园是一座", id="title-repeated-on-its-line"),
    pytest.param("星海公园\n\n星海公园是一座位于海滨的城市公园，建于1909年。", "星海公园", "星海公园", "星海公园是一座", id="title-repeated-own-line"),
    # not headlines: the opening words are the subject of the first sentence
    pytest.param("银杏树 （学名：Ginkgo biloba），是银杏科银杏属的落叶乔木。", "银杏树", "银杏树", "银杏树 （学名", id="subject-then-bracket"),
    pytest.param("2007年亚洲足球联赛 是第26届亚洲冠军联赛，在3月7日展开小组赛。", "2007年亚洲足球联赛", "2007年亚洲足球联赛",
     "2007年亚洲足球联赛 是第26届", id="subject-then-verb"),
    pytest.param("会议指出，要抓好落实 近日，各地陆续召开部署会议。", None, "文件名", "会议指出，要抓好落实 近日", id="sentence-with-a-space"),
    pytest.param("本办法自发布之日起施行。", None, "文件名", "本办法自发布之日起施行。", id="one-sentence"),
    # without a stated title, a subject with a stray space before its verb stays in its sentence
    pytest.param("全市市场监管系统 为进一步优化营商环境，开展了专项行动。", None, "文件名", "全市市场监管系统 为进一步",
                 id="untitled-subject-then-purpose"),
    pytest.param("某区市场监督管理局 3月5日召开了专项工作部署会议。", None, "文件名", "某区市场监督管理局 3月5日",
                 id="untitled-subject-then-date"),
]


def _prepared(raw_text: str, title: str | None):
    from qa.service import prepare
    from qa.types import RawDocument

    doc = prepare(RawDocument("文件名", raw_text, "文件名.txt", "txt", {"title": title} if title else {}))
    return doc, chunk_document(doc)


@pytest.mark.parametrize(("raw_text", "stated", "title", "opening"), HEADLINES)
def test_opening_headline_is_the_title_and_no_chunk_starts_with_it(raw_text, stated, title, opening):
    doc, chunks = _prepared(raw_text, stated)
    assert doc.title == title
    first = next(c for c in chunks if c.kind == "text")
    assert first.text.startswith(opening), first.text


@pytest.mark.parametrize(("raw_text", "stated", "title", "opening"), HEADLINES)
def test_chunks_after_a_headline_still_map_to_the_original(raw_text, stated, title, opening):
    doc, chunks = _prepared(raw_text, stated)
    for c in chunks:
        assert doc.text[c.start:c.end] == c.text
        assert doc.raw_text[c.raw_start:c.raw_end] == c.text  # nothing here for cleaning to delete


def test_headline_after_web_chrome_is_split_off_and_offsets_point_into_the_page():
    raw = f"分享\n打印本页\n{NOTICE} 各区市场监管局：为做好本年度抽检工作，现将有关事项通知如下。"
    doc, chunks = _prepared(raw, None)
    assert doc.title == NOTICE
    assert chunks[0].text.startswith("各区市场监管局：")
    assert raw[chunks[0].raw_start:chunks[0].raw_end] == chunks[0].text
    assert chunks[0].raw_start == raw.index("各区市场监管局")


def test_split_off_headline_stays_searchable_in_the_chunks_head():
    _, chunks = _prepared(f"{MEETING} 3月5日，全市食品安全工作会议召开。", None)
    assert chunks[0].section == MEETING and not chunks[0].text.startswith(MEETING)
    assert chunks[0].search_text.startswith(f"{MEETING}|{MEETING}\n3月5日")  # title | section, normalised


def test_headline_naming_the_issued_document_is_a_heading(corpus_chunks, corpus_documents):
    doc = corpus_documents[PLAN]
    first_line = doc.text.split("\n", 1)[0]
    assert "关于印发" in first_line and doc.title in first_line  # the line find_title read the title from
    assert not any(c.text.startswith(first_line[:10]) for c in corpus_chunks[PLAN])
