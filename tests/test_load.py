"""qa.load: files on disk -> RawDocuments, on real text in every encoding and format we accept."""
from __future__ import annotations

import io
import json
import signal
import threading
import zipfile
from pathlib import Path

import docx
import pypdf
import pytest

from qa.errors import DocumentLoadError, EmptyDocument, UndecodableDocument, UnsupportedFormat
from qa.load import SUPPORTED, LoadLimits, find_files, load_file, load_files

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
DATA = Path(__file__).parent / "data" / "load"
CMRC = ROOT.parent / "shared" / "bench" / "cmrc2018_dev" / "contexts.jsonl"  # ../shared beside the checkout

# Real text from the shipped corpus: simplified, and a traditional-script page.
SIMPLIFIED = (CORPUS / "湖南省十四五市场监管规划.txt").read_text(encoding="utf-8")[:3000]
TRADITIONAL = "國家市場監督管理總局主管。中國消費者協會主辦。維護消費者合法權益，引導消費者合理消費。"


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A minimal hand-written PDF with Chinese text and no embedded font (none is installed).

    A Type0 font with Identity-H makes each glyph code the character's Unicode code point,
    and a ToUnicode map lets readers turn the codes back into text.
    """
    chars = sorted({ch for page in pages for line in page for ch in line})
    pairs = [f"<{ord(c):04X}> <{ord(c):04X}>" for c in chars]
    blocks = "\n".join(f"{len(pairs[i:i + 100])} beginbfchar\n" + "\n".join(pairs[i:i + 100]) + "\nendbfchar"
                       for i in range(0, len(pairs), 100))
    cmap = ("/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            "/CMapName /Adobe-Identity-UCS def\n/CMapType 2 def\n"
            f"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n{blocks}\n"
            "endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend\n").encode()

    def stream(body: bytes) -> bytes:
        return b"<< /Length %d >>\nstream\n" % len(body) + body + b"\nendstream"

    kids = " ".join(f"{8 + 2 * i} 0 R" for i in range(len(pages)))
    info = f"<< /Title <FEFF{title.encode('utf-16-be').hex()}> >>" if title else "<< >>"
    objects = {
        1: b"<< /Type /Catalog /Pages 2 0 R >>",
        2: f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode(),
        3: b"<< /Type /Font /Subtype /Type0 /BaseFont /STSong-Light /Encoding /Identity-H"
           b" /DescendantFonts [4 0 R] /ToUnicode 6 0 R >>",
        4: b"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /STSong-Light /DW 1000 /FontDescriptor 5 0 R"
           b" /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>",
        5: b"<< /Type /FontDescriptor /FontName /STSong-Light /Flags 4 /FontBBox [0 -200 1000 900]"
           b" /ItalicAngle 0 /Ascent 880 /Descent -120 /CapHeight 880 /StemV 80 >>",
        6: stream(cmap),
        7: info.encode(),
    }
    for i, page in enumerate(pages):
        shows = "\n".join(f"<{''.join(f'{ord(c):04X}' for c in line)}> Tj T*" for line in page)
        objects[8 + 2 * i] = (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents {9 + 2 * i} 0 R"
                              " /Resources << /Font << /F1 3 0 R >> >> >>").encode()
        objects[9 + 2 * i] = stream(f"BT /F1 12 Tf 14 TL 72 770 Td\n{shows}\nET".encode())
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number in sorted(objects):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + objects[number] + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 7 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def blank_pdf(user_password: str | None = None) -> bytes:
    writer = pypdf.PdfWriter()
    writer.add_blank_page(595, 842)
    if user_password is not None:
        writer.encrypt(user_password=user_password, owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def only(docs):
    assert len(docs) == 1
    return docs[0]


# --- plain text and encodings -------------------------------------------------------

def test_utf8_text_file_loads_unchanged_with_stem_as_doc_id(tmp_path):
    text = "  第一章 总则\n\n第一条 为了规范市场秩序，制定本办法。\n"
    doc = only(load_file(write(tmp_path / "湖南省市场监管办法.txt", text)))
    assert (doc.doc_id, doc.text, doc.fmt, dict(doc.fields)) == ("湖南省市场监管办法", text, "txt", {})
    assert doc.path == str(tmp_path / "湖南省市场监管办法.txt")


def test_utf8_bom_is_stripped(tmp_path):
    doc = only(load_file(write(tmp_path / "a.txt", b"\xef\xbb\xbf" + "市场监管".encode())))
    assert doc.text == "市场监管"


def test_gb18030_text_file_decodes(tmp_path):
    doc = only(load_file(write(tmp_path / "规划.txt", SIMPLIFIED.encode("gb18030"))))
    assert doc.text == SIMPLIFIED


def test_big5_text_file_decodes(tmp_path):
    doc = only(load_file(write(tmp_path / "消協.txt", TRADITIONAL.encode("big5"))))
    assert doc.text == TRADITIONAL


def test_traditional_text_in_gb18030_is_not_mistaken_for_big5(tmp_path):
    doc = only(load_file(write(tmp_path / "a.txt", TRADITIONAL.encode("gb18030"))))
    assert doc.text == TRADITIONAL


@pytest.mark.parametrize("text", ["市场监管", "省局", "湖南省市场监督管理局", "第一条 总则"])
def test_short_gb18030_text_decodes(tmp_path, text):
    # charset-normalizer alone calls these cp949 or utf_8. (A lone "省" or "通知" is not
    # here: its GB bytes are also valid UTF-8, and strict UTF-8 is tried first.)
    assert only(load_file(write(tmp_path / "a.txt", text.encode("gb18030")))).text == text


@pytest.mark.parametrize("text", ["市場監管", "省", "國家市場監督管理總局", "第一條 總則"])
def test_short_big5_text_decodes(tmp_path, text):
    assert only(load_file(write(tmp_path / "a.txt", text.encode("big5")))).text == text


def test_gb18030_text_with_japanese_kana_decodes(tmp_path):
    text = "《超时空要塞》为东京ムービー的剧场用中编动画作品。"
    assert only(load_file(write(tmp_path / "a.txt", text.encode("gb18030")))).text == text


def test_encoding_detection_accuracy_on_cmrc_sentences(tmp_path):
    # each CMRC sentence of 8+ characters in the first 300 contexts, as its own GB18030
    # file and (where Big5 has its characters) its own Big5 file; pinned so a regression
    # shows. (Over all 848 contexts one of 9,858 is misread: 名字一般写作おりょう或お-{龙}-,
    # more kana than common hanzi, taken for Big5.)
    texts = [json.loads(line)["text"] for line in CMRC.read_text(encoding="utf-8").splitlines()[:300]]
    sentences = [s for text in texts for s in text.split("。") if len(s) >= 8]
    expected = {}
    for encoding in ("gb18030", "big5"):
        for i, sentence in enumerate(sentences):
            try:
                write(tmp_path / f"{encoding}-{i:05d}.txt", sentence.encode(encoding))
                expected[tmp_path / f"{encoding}-{i:05d}.txt"] = sentence
            except UnicodeEncodeError:
                pass  # simplified characters that Big5 lacks
    docs, problems = load_files([tmp_path])
    wrong = [expected[Path(d.path)] for d in docs if d.text != expected[Path(d.path)]]
    assert problems == [] and len(docs) == 3451 + 59
    assert wrong == []


def test_one_corrupt_byte_does_not_lose_a_gb18030_file(tmp_path):
    data = SIMPLIFIED.encode("gb18030")
    doc = only(load_file(write(tmp_path / "a.txt", data[:600] + b"\x80" + data[600:])))
    assert doc.text.startswith(SIMPLIFIED[:200]) and doc.text.endswith(SIMPLIFIED[-200:])


def test_crlf_and_cr_line_endings_become_newlines(tmp_path):
    doc = only(load_file(write(tmp_path / "a.txt", "第一行\r\n第二行\r第三行\n".encode("gb18030"))))
    assert doc.text == "第一行\n第二行\n第三行\n"


def test_utf16_file_with_bom_decodes(tmp_path):
    doc = only(load_file(write(tmp_path / "a.txt", "市场监管规划".encode("utf-16"))))
    assert doc.text == "市场监管规划"


def test_binary_file_is_rejected_with_clear_error(tmp_path):
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x10" + bytes(range(256))
    with pytest.raises(UndecodableDocument, match="不是文本文件（包含二进制内容）"):
        load_file(write(tmp_path / "图片.txt", png))


def test_control_characters_without_nul_are_rejected_as_binary(tmp_path):
    with pytest.raises(UndecodableDocument, match="二进制"):
        load_file(write(tmp_path / "a.txt", bytes(range(1, 32)) * 20 + "正文".encode()))


def test_undecodable_bytes_are_rejected_naming_the_encodings_tried(tmp_path):
    with pytest.raises(UndecodableDocument, match="无法识别文件编码（尝试了 UTF-8、GB18030、Big5）"):
        load_file(write(tmp_path / "a.txt", bytes(range(0x80, 0x100)) * 3))


def test_empty_file_is_rejected(tmp_path):
    with pytest.raises(EmptyDocument, match="文件为空") as caught:
        load_file(write(tmp_path / "空.txt", b""))
    assert caught.value.code == "empty_document"


def test_whitespace_only_file_is_rejected_as_empty(tmp_path):
    with pytest.raises(EmptyDocument, match="文件为空"):
        load_file(write(tmp_path / "a.md", "\ufeff \n\u3000\n".encode()))


def test_unsupported_file_type_is_rejected_listing_supported_ones(tmp_path):
    with pytest.raises(UnsupportedFormat, match=r"不支持的文件类型 \.pptx，支持：\.txt、\.md") as caught:
        load_file(write(tmp_path / "汇报.pptx", b"PK\x03\x04"))
    assert caught.value.code == "unsupported_format" and caught.value.status == 415


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(DocumentLoadError, match="文件不存在") as caught:
        load_file(tmp_path / "不存在.txt")
    assert caught.value.code == "file_not_found"


# --- Markdown and HTML --------------------------------------------------------------

def test_markdown_first_heading_becomes_title_and_text_is_kept(tmp_path):
    text = "前言\n\n# 湖南省“十四五”市场监管规划\n\n## 第一章 发展基础\n\n# 附件\n"
    doc = only(load_file(write(tmp_path / "规划.md", text)))
    assert (doc.text, doc.fmt, doc.fields["title"]) == (text, "md", "湖南省“十四五”市场监管规划")


def test_markdown_heading_inside_code_fence_is_not_the_title(tmp_path):
    doc = only(load_file(write(tmp_path / "a.md", "```bash\n# 安装\n```\n\n# 使用说明\n")))
    assert doc.fields["title"] == "使用说明"


def test_html_main_text_extracted_without_navigation():
    doc = only(load_file(DATA / "市场监管局质量提升通知.html"))
    assert doc.fmt == "html" and doc.doc_id == "市场监管局质量提升通知"
    assert "各市州市场监督管理局：\n为深入贯彻落实党中央" in doc.text  # paragraph breaks kept
    assert "三、工作要求。各市州局于2021年12月10日前" in doc.text
    for chrome in ("政务公开", "办事服务", "当前位置", "请输入关键词", "版权所有", "相关链接", "统计代码"):
        assert chrome not in doc.text


def test_html_title_date_and_source_come_from_page_metadata():
    doc = only(load_file(DATA / "市场监管局质量提升通知.html"))
    assert doc.fields["title"] == "湖南省市场监督管理局关于开展2021年质量提升行动的通知"
    assert doc.fields["date"] == "2021-03-16"
    assert doc.fields["source"] == "湖南省市场监督管理局"


def test_html_table_rows_become_lines_of_space_separated_cells():
    doc = only(load_file(DATA / "市场监管局质量提升通知.html"))
    assert "\n指标 2020年 2021年目标\n产品质量合格率 93.5% 94%\n质量投诉处理率 95% 98%\n" in doc.text
    assert "|" not in doc.text


def test_html_declared_gb2312_charset_is_respected(tmp_path):
    page = (DATA / "市场监管局质量提升通知.html").read_text(encoding="utf-8").replace("utf-8", "gb2312")
    doc = only(load_file(write(tmp_path / "通知.htm", page.encode("gb18030"))))
    assert doc.fmt == "html" and "为深入贯彻落实党中央、国务院" in doc.text


def test_html_without_declared_charset_is_detected(tmp_path):
    page = (DATA / "市场监管局质量提升通知.html").read_text(encoding="utf-8").replace('<meta charset="utf-8">', "")
    doc = only(load_file(write(tmp_path / "通知.html", page.encode("gb18030"))))
    assert "为深入贯彻落实党中央、国务院" in doc.text


def test_html_falls_back_to_visible_text_when_extractor_finds_nothing(tmp_path):
    page = ("<html><head><title>联系我们</title><script>var x = 1;</script></head><body><footer>"
            "<p>地址：长沙市岳麓区</p><p>电话：0731-88888888</p></footer></body></html>")
    doc = only(load_file(write(tmp_path / "联系我们.html", page)))
    assert doc.text == "地址：长沙市岳麓区\n电话：0731-88888888"


def test_html_with_no_text_is_rejected_as_empty(tmp_path):
    with pytest.raises(EmptyDocument, match="网页中没有可提取的文字"):
        load_file(write(tmp_path / "a.html", "<html><head><title>空</title></head><body><img src=a.png></body></html>"))


# --- Word and PDF -------------------------------------------------------------------

def test_docx_paragraphs_become_lines_and_core_title_is_kept(tmp_path):
    document = docx.Document()
    document.core_properties.title = "市场监管工作要点"
    document.add_heading("2021年市场监管工作要点", level=1)
    document.add_paragraph("一、优化营商环境。")
    document.add_paragraph("二、强化质量监管。")
    document.save(tmp_path / "工作要点.docx")
    doc = only(load_file(tmp_path / "工作要点.docx"))
    assert doc.text == "2021年市场监管工作要点\n一、优化营商环境。\n二、强化质量监管。"
    assert (doc.fmt, doc.fields["title"]) == ("docx", "市场监管工作要点")


def test_docx_table_rows_become_lines(tmp_path):
    document = docx.Document()
    document.add_paragraph("专栏1 主要指标")
    table = document.add_table(rows=4, cols=3)
    rows = [["指标名称", "2020年", "2025年"], ["全省市场主体数（万户）", "488.84", "650"],
            ["企业开办时间（天）", "", "≤2"], ["说明：数据来源于省统计局", "", ""]]
    for row, values in zip(table.rows, rows):
        for cell, value in zip(row.cells, values):
            cell.text = value
    table.cell(3, 0).merge(table.cell(3, 2))  # one cell spanning the row: written once
    table.cell(1, 0).paragraphs[0].add_run().add_break()  # a line break inside a cell stays on its row
    document.add_paragraph("以上指标为预期性指标。")
    document.save(tmp_path / "指标.docx")
    doc = only(load_file(tmp_path / "指标.docx"))
    assert doc.text.split("\n") == ["专栏1 主要指标", "指标名称 2020年 2025年", "全省市场主体数（万户） 488.84 650",
                                    "企业开办时间（天）  ≤2", "说明：数据来源于省统计局", "以上指标为预期性指标。"]


def test_file_that_is_not_a_docx_is_rejected(tmp_path):
    with pytest.raises(DocumentLoadError, match="不是有效的 Word 文档") as caught:
        load_file(write(tmp_path / "a.docx", "这其实是文本".encode()))
    assert caught.value.code == "invalid_docx"


def test_pdf_text_extracted(tmp_path):
    pages = [["湖南省“十四五”市场监管规划", "第一章 发展基础"], ["到2025年，全省市场主体达到650万户。"]]
    doc = only(load_file(write(tmp_path / "规划.pdf", make_pdf(pages, title="湖南省十四五市场监管规划"))))
    assert doc.fmt == "pdf" and doc.fields["title"] == "湖南省十四五市场监管规划"
    lines = [line for line in doc.text.replace("\f", "\n").split("\n") if line]
    assert lines == ["湖南省“十四五”市场监管规划", "第一章 发展基础", "到2025年，全省市场主体达到650万户。"]
    assert doc.text.count("\f") == 1  # between the pages (qa/chunk.py counts them)


def test_pdf_without_text_is_reported_as_probably_scanned(tmp_path):
    with pytest.raises(EmptyDocument, match=r"PDF 中没有可提取的文字（可能是扫描件）"):
        load_file(write(tmp_path / "扫描件.pdf", blank_pdf()))


def test_encrypted_pdf_is_rejected(tmp_path):
    with pytest.raises(DocumentLoadError, match="PDF 已加密") as caught:
        load_file(write(tmp_path / "加密.pdf", blank_pdf(user_password="secret")))
    assert caught.value.code == "encrypted_pdf"


def test_pdf_encrypted_with_empty_user_password_still_loads(tmp_path):
    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(make_pdf([["仅限阅读的公告"]]))))
    writer.encrypt(user_password="", owner_password="owner", algorithm="RC4-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    assert only(load_file(write(tmp_path / "公告.pdf", buffer.getvalue()))).text.strip() == "仅限阅读的公告"


def test_damaged_pdf_is_rejected(tmp_path):
    with pytest.raises(DocumentLoadError, match="无法解析 PDF 文件") as caught:
        load_file(write(tmp_path / "坏.pdf", b"%PDF-1.4\n1 0 obj\n<< /Type /Catalog >>\n"))
    assert caught.value.code == "invalid_pdf"


# --- JSONL --------------------------------------------------------------------------

def test_jsonl_gives_one_document_per_line_with_other_fields_as_strings(tmp_path):
    lines = [{"id": "hn-2021-01", "text": "第一行\r\n正文", "title": "通知", "date": "2021-03-16", "year": 2021},
             {"id": 7, "text": "第二篇", "region": "湖南", "tags": ["规划", "质量"], "note": None}]
    path = write(tmp_path / "公告.jsonl", "\n".join(json.dumps(x, ensure_ascii=False) for x in lines) + "\n\n")
    first, second = load_file(path)
    assert (first.doc_id, first.text, first.fmt) == ("hn-2021-01", "第一行\n正文", "jsonl")
    assert dict(first.fields) == {"title": "通知", "date": "2021-03-16", "year": "2021"}
    assert (second.doc_id, dict(second.fields)) == ("7", {"region": "湖南", "tags": '["规划", "质量"]'})


def test_jsonl_bad_line_reported_with_line_number(tmp_path):
    lines = ['{"id": "a", "text": "第一篇"}', '{"id": "b", "text": "缺右括号"', '{"id": "c", "title": "无正文"}',
             '{"id": "d", "text": "  "}', '{"text": "没有编号"}', '{"id": "a", "text": "重复编号"}',
             '["不是对象"]', '{"id": "e", "text": "第二篇"}']
    docs, problems = load_files([write(tmp_path / "公告.jsonl", "\n".join(lines))])
    assert [d.doc_id for d in docs] == ["a", "e"]
    assert [(p.code, p.message.split("：")[0]) for p in problems] == [
        ("invalid_json", "第 2 行"), ("missing_text", "第 3 行"), ("empty_text", "第 4 行"),
        ("missing_id", "第 5 行"), ("duplicate_id", "第 6 行"), ("invalid_json", "第 7 行")]
    assert "与第 1 行重复" in problems[4].message and '缺少 "text" 字段' in problems[1].message
    assert all(p.path == str(tmp_path / "公告.jsonl") for p in problems)


def test_load_file_rejects_jsonl_with_a_bad_line(tmp_path):
    path = write(tmp_path / "a.jsonl", '{"id": "a", "text": "正文"}\n{"id": "b"}\n{"id": "c"}\n')
    with pytest.raises(DocumentLoadError, match="第 2 行：缺少 \"text\" 字段（另有 1 处问题）"):
        load_file(path)


def test_cmrc_contexts_all_load():
    docs, problems = load_files([CMRC])
    assert problems == [] and len(docs) == 848
    assert docs[0].doc_id == "DEV_0" and docs[0].fields["title"] == "战国无双3"
    assert docs[0].text.startswith("《战国无双3》")
    assert set(docs[0].fields) == {"title"}


def _first_text_chunks(path: Path) -> dict:
    from qa.chunk import chunk_document
    from qa.service import prepare

    docs, problems = load_files([path])
    assert problems == []
    return {d.doc_id: (doc, next(c for c in chunk_document(doc) if c.kind == "text"))
            for d in docs for doc in [prepare(d)]}


def test_jsonl_title_glued_to_the_text_is_kept_out_of_the_first_chunk(tmp_path):
    records = [  # the title on its own line, glued by a space, said again, and as a sentence's subject
        ("own", "星海公园", "星海公园\n\n星海公园是一座位于海滨的城市公园。", "星海公园是一座"),
        ("glued", "某区召开消费维权工作会议", "某区召开消费维权工作会议 3月15日，某区召开消费维权工作会议。", "3月15日"),
        ("again", "星海公园", "星海公园 星海公园是一座位于海滨的城市公园。", "星海公园是一座"),
        ("subject", "银杏树", "银杏树 （学名：Ginkgo biloba），是银杏科的落叶乔木。", "银杏树 （学名"),
    ]
    path = write(tmp_path / "contexts.jsonl", "\n".join(
        json.dumps({"context_id": i, "title": t, "text": x}, ensure_ascii=False) for i, t, x, _ in records))
    first = _first_text_chunks(path)
    for doc_id, title, text, opening in records:
        doc, chunk = first[doc_id]
        assert doc.title == title and chunk.text.startswith(opening), (doc_id, chunk.text)
        assert text[chunk.raw_start:chunk.raw_end] == chunk.text  # "查看原文" highlights the same span


@pytest.mark.skipif(not CMRC.exists(), reason="CMRC 2018 contexts not present (../shared/bench)")
def test_cmrc_titles_that_open_their_first_sentence_stay_in_it():
    # "尤金袋鼠（…）是袋鼠科…", "假苹婆 （学名：…），为…": the title is the subject, not a headline
    first = _first_text_chunks(CMRC)
    assert len(first) == 848
    assert all(chunk.start == 0 for _, chunk in first.values())


# --- sidecars, batches, folders -----------------------------------------------------

def test_shipped_corpus_loads():
    files = sorted(f for f in CORPUS.iterdir() if not f.name.endswith(".meta.json"))
    docs, problems = load_files([CORPUS])
    assert problems == [] and len(files) == 5
    assert [d.doc_id for d in docs] == [f.stem for f in files]
    for doc, file in zip(docs, files):
        assert doc.text == file.read_text(encoding="utf-8")
        sidecar = file.with_name(file.stem + ".meta.json")
        if sidecar.exists():
            assert dict(doc.fields) == json.loads(sidecar.read_text(encoding="utf-8"))


def test_sidecar_overrides_fields(tmp_path):
    document = docx.Document()
    document.core_properties.title = "文档1"
    document.add_paragraph("正文")
    document.save(tmp_path / "湖南省十四五市场监管规划.docx")
    meta = {"title": "湖南省“十四五”市场监管规划", "region": "湖南", "kind": "规划", "date": "2021-09-30"}
    write(tmp_path / "湖南省十四五市场监管规划.meta.json", json.dumps(meta, ensure_ascii=False))
    doc = only(load_file(tmp_path / "湖南省十四五市场监管规划.docx"))
    assert dict(doc.fields) == meta


def test_sidecar_gives_jsonl_defaults_that_lines_override(tmp_path):
    write(tmp_path / "新闻.meta.json", '{"region": "湖南", "kind": "新闻"}')
    path = write(tmp_path / "新闻.jsonl", '{"id": "a", "text": "正文", "region": "贵州"}\n')
    assert dict(only(load_file(path)).fields) == {"region": "贵州", "kind": "新闻"}


@pytest.mark.parametrize("sidecar", ['{"title": "未闭合"', '["规划"]'])
def test_malformed_sidecar_is_a_problem_not_a_crash(tmp_path, sidecar):
    write(tmp_path / "规划.txt", "正文")
    write(tmp_path / "规划.meta.json", sidecar)
    write(tmp_path / "报告.txt", "另一篇")
    docs, problems = load_files([tmp_path])
    assert [d.doc_id for d in docs] == ["报告"]
    assert [(p.path, p.code) for p in problems] == [(str(tmp_path / "规划.txt"), "invalid_sidecar")]
    assert "规划.meta.json" in problems[0].message


def test_bad_file_does_not_stop_the_batch(tmp_path):
    good = write(tmp_path / "a" / "好.txt", "正文")
    write(tmp_path / "a" / "空.txt", b"")
    write(tmp_path / "a" / "坏.pdf", b"not a pdf at all")
    unsupported = write(tmp_path / "汇报.pptx", b"PK\x03\x04")
    docs, problems = load_files([tmp_path / "a", unsupported, tmp_path / "不存在.md"])
    assert [d.path for d in docs] == [str(good)]
    assert sorted(p.code for p in problems) == ["empty_document", "file_not_found", "invalid_pdf",
                                                "unsupported_format"]
    assert all(not p.message.startswith(str(tmp_path)) for p in problems)  # the path is its own field


def test_same_doc_id_from_two_files_is_reported_not_overwritten(tmp_path):
    first = write(tmp_path / "2020" / "工作报告.txt", "2020年报告")
    write(tmp_path / "2021" / "工作报告.md", "2021年报告")
    docs, problems = load_files([tmp_path])
    assert [d.path for d in docs] == [str(first)]
    assert [p.code for p in problems] == ["duplicate_id"] and str(first) in problems[0].message


def test_find_files_recurses_sorted_and_skips_hidden_sidecars_and_unsupported(tmp_path):
    for name in ["b.txt", "a/c.md", "a/c.meta.json", ".git/x.txt", "a/.hidden.txt", "~$d.docx", "e.pptx", "f.PDF"]:
        write(tmp_path / name, "x")
    assert find_files([tmp_path]) == [tmp_path / "a/c.md", tmp_path / "b.txt", tmp_path / "f.PDF"]


def test_find_files_keeps_explicit_files_even_unsupported_and_lists_each_once(tmp_path):
    pptx, txt = write(tmp_path / "e.pptx", "x"), write(tmp_path / "b.txt", "x")
    assert find_files([pptx, tmp_path, txt]) == [pptx, txt]


def test_supported_types_are_the_documented_ones():
    assert SUPPORTED == (".txt", ".md", ".html", ".htm", ".docx", ".pdf", ".jsonl", ".doc", ".wps", ".ofd",
                         ".xlsx", ".xls", ".et", ".csv", ".png", ".jpg", ".jpeg", ".tif", ".tiff")


# --- what one file may cost ---------------------------------------------------------

def docx_bomb(path: Path, inflated_mb: int) -> Path:
    """A valid .docx whose document.xml is `inflated_mb` MB of one repeated paragraph: a few
    hundred KB on disk. Written in pieces, so the test never holds the inflated text."""
    document = docx.Document()
    document.add_paragraph("市场监管规划")
    buffer = io.BytesIO()
    document.save(buffer)
    source = zipfile.ZipFile(buffer)
    para = "<w:p><w:r><w:t>市场监管规划第一章发展基础</w:t></w:r></w:p>".encode() * 1000
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for member in source.infolist():
            data = source.read(member)
            if member.filename != "word/document.xml":
                out.writestr(member, data)
                continue
            head, tail = data.split(b"<w:body>")
            with out.open("word/document.xml", "w", force_zip64=True) as xml:
                xml.write(head + b"<w:body>")
                for _ in range(inflated_mb * 1024 * 1024 // len(para)):
                    xml.write(para)
                xml.write(tail)
    return path


def test_docx_inflating_past_the_limit_is_a_problem_and_the_batch_goes_on(tmp_path):
    bomb = docx_bomb(tmp_path / "炸弹.docx", 60)
    good = write(tmp_path / "好.txt", "正文")
    assert bomb.stat().st_size < 1024 * 1024  # 60 MB of XML in a few hundred KB
    docs, problems = load_files([bomb, good])  # the default limit, 50 MB
    assert [d.path for d in docs] == [str(good)]
    assert [(p.path, p.code) for p in problems] == [(str(bomb), "document_too_large")]
    assert "Word 文档过大：解压后共 6" in problems[0].message and "超过 50 MB 的上限" in problems[0].message


def test_docx_with_a_zip_bomb_compression_ratio_is_refused_below_the_size_limit(tmp_path):
    bomb = docx_bomb(tmp_path / "炸弹.docx", 8)
    with pytest.raises(DocumentLoadError, match="word/document.xml 由 .* 字节解压为 8.0 MB，压缩比异常") as caught:
        load_file(bomb)
    assert caught.value.code == "document_too_large"


def test_document_with_more_characters_than_the_limit_is_a_problem(tmp_path):
    limits = LoadLimits(max_document_chars=1000)
    long, short = write(tmp_path / "长.txt", "市场监管" * 300), write(tmp_path / "短.txt", "市场监管" * 250)
    docs, problems = load_files([long, short], limits)
    assert [d.doc_id for d in docs] == ["短"]
    assert [(p.path, p.code) for p in problems] == [(str(long), "document_too_large")]
    assert "文档文字有 1,200 字，超过 1,000 字的上限" in problems[0].message


def test_jsonl_line_with_more_characters_than_the_limit_is_a_problem_of_that_line(tmp_path):
    lines = [{"id": "a", "text": "短"}, {"id": "b", "text": "长" * 20}, {"id": "c", "text": "短"}]
    path = write(tmp_path / "a.jsonl", "\n".join(json.dumps(x, ensure_ascii=False) for x in lines))
    docs, problems = load_files([path], LoadLimits(max_document_chars=10))
    assert [d.doc_id for d in docs] == ["a", "c"]
    assert [(p.code, p.message) for p in problems] == [
        ("document_too_large", "第 2 行：编号“b”的文档文字有 20 字，超过 10 字的上限；请拆分后再导入")]


def test_file_whose_parse_outlasts_the_time_limit_is_a_problem_and_the_batch_goes_on(tmp_path):
    # 6,000 pages that pypdf reads one by one (seconds of work) against a limit of 0.2 s
    slow = write(tmp_path / "长.pdf", make_pdf([[f"第{i}页 湖南省市场监督管理局关于开展质量提升行动的通知"] for i in range(6000)]))
    good = write(tmp_path / "好.txt", "正文")
    docs, problems = load_files([slow, good], LoadLimits(max_seconds_per_file=0.2))
    assert [d.path for d in docs] == [str(good)]
    assert [(p.path, p.code, p.message) for p in problems] == [(str(slow), "parse_timeout", "解析超时（超过 0.2 秒），已跳过")]
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL and signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)


def test_time_limit_is_not_set_outside_the_main_thread(tmp_path):
    # signals reach only the main thread: a load in another thread runs to the end instead of failing
    slow = write(tmp_path / "长.pdf", make_pdf([[f"第{i}页 通知"] for i in range(200)]))
    result = []
    worker = threading.Thread(target=lambda: result.append(load_files([slow], LoadLimits(max_seconds_per_file=0.001))))
    worker.start()
    worker.join()
    docs, problems = result[0]
    assert problems == [] and "第199页" in docs[0].text


def test_jsonl_bad_lines_are_reported_by_number_and_good_lines_kept(tmp_path):
    good = [json.dumps({"id": f"d{i}", "text": f"第{i}篇正文"}, ensure_ascii=False).encode() for i in range(4)]
    data = b"\n".join([good[0], b"\x00\x00\x00", good[1], b'{"id": "x", "text": "\x01\x02"}', good[2],
                       "{\"id\": \"y\", \"text\": \"坏\"}".encode("gb18030"), b"{oops", b'"a string"',
                       b'{"id": "z"}', good[3]]) + b"\n"
    docs, problems = load_files([write(tmp_path / "上传.jsonl", data)])
    assert [d.doc_id for d in docs] == ["d0", "d1", "d2", "d3"] and docs[3].text == "第3篇正文"
    assert [(p.code, p.message.split("：")[0]) for p in problems] == [
        ("invalid_line", "第 2 行"), ("invalid_line", "第 4 行"), ("invalid_line", "第 6 行"),
        ("invalid_json", "第 7 行"), ("invalid_json", "第 8 行"), ("missing_text", "第 9 行")]
    assert problems[0].message == "第 2 行：包含二进制内容或控制字符（如 NUL 字节），已跳过"
    assert problems[2].message == "第 6 行：不是 UTF-8 编码的文字，已跳过"


def test_jsonl_in_gb18030_with_a_nul_line_keeps_its_good_lines(tmp_path):
    lines = [json.dumps({"id": f"d{i}", "text": f"湖南省市场监督管理局第{i}号通知"}, ensure_ascii=False) for i in range(3)]
    data = lines[0].encode("gb18030") + b"\n\x00\n" + "\n".join(lines[1:]).encode("gb18030")
    docs, problems = load_files([write(tmp_path / "a.jsonl", data)])
    assert [d.text for d in docs] == [f"湖南省市场监督管理局第{i}号通知" for i in range(3)]
    assert [p.message for p in problems] == ["第 2 行：包含二进制内容或控制字符（如 NUL 字节），已跳过"]


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("text", [SIMPLIFIED, "市场监管规划", TRADITIONAL], ids=["corpus", "short", "traditional"])
def test_utf16_file_without_bom_decodes(tmp_path, encoding, text):
    # the first has ASCII (NUL bytes at odd or even places), the others none at all
    assert only(load_file(write(tmp_path / "a.txt", text.encode(encoding)))).text == text


def test_utf16_jsonl_without_bom_decodes(tmp_path):
    line = json.dumps({"id": "a", "text": "市场监管规划"}, ensure_ascii=False)
    assert only(load_file(write(tmp_path / "a.jsonl", (line + "\n").encode("utf-16-le")))).text == "市场监管规划"


def test_docx_with_a_damaged_compressed_part_is_a_problem_not_a_crash(tmp_path):
    document = docx.Document()
    document.add_paragraph("市场监管规划" * 50)
    document.save(tmp_path / "a.docx")
    data = bytearray((tmp_path / "a.docx").read_bytes())
    part = zipfile.ZipFile(tmp_path / "a.docx").getinfo("word/document.xml")
    start = part.header_offset + 30 + len(part.filename.encode()) + len(part.extra)  # the part's deflate stream
    data[start:start + 16] = b"\xff" * 16
    damaged = write(tmp_path / "坏.docx", bytes(data))
    docs, problems = load_files([damaged, write(tmp_path / "好.txt", "正文")])
    assert [d.doc_id for d in docs] == ["好"]
    assert [(p.path, p.code) for p in problems] == [(str(damaged), "invalid_docx")]


def test_pdf_whose_title_is_not_text_still_loads(tmp_path):
    data = make_pdf([["仅限阅读的公告"]]).replace(b"7 0 obj\n<< >>", b"7 0 obj\n<< /Title 5 >>")
    doc = only(load_file(write(tmp_path / "公告.pdf", data)))
    assert doc.text.strip() == "仅限阅读的公告" and "title" not in doc.fields
