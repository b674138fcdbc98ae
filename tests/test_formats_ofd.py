"""OFD (qa/formats/ofd.py): files built by tests/ofd_builder.py and a public sample written by a
commercial OFD producer (tests/data/README), read in reading order page by page, ingested beside the
corpus and answered; encrypted, broken and zip-bomb packages are each one file's Chinese error."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from conftest import copy_index
from ofd_builder import TEMPLATE_TEXT, Page, build_ofd

from qa import load
from qa.errors import DocumentLoadError
from qa.formats import ofd
from qa.service import Service

SAMPLE = Path(__file__).parent / "data" / "ofd" / "ofdrw-n.ofd"
TITLE = "关于宠物医院专项检查情况的通报"
# long enough to wrap over three lines of the page: the reader must join them again
PARAGRAPH = ("为规范宠物诊疗行为，市局于2026年3月至9月组织开展了宠物医院专项检查，重点检查执业许可、"
             "兽药使用、医疗废弃物处置和收费公示等情况，检查结果已反馈各区县市场监督管理局。")
FACT = "2026年前三季度，全市共检查宠物医院312家，同比增长9%。"


def notice() -> bytes:
    return build_ofd([
        Page().heading(TITLE).paragraph("发布日期：2026-10-08").paragraph("各区县市场监督管理局：")
        .paragraph(PARAGRAPH).paragraph(FACT).row("项目", "检查数", "整改数").row("宠物医院", "312家", "41家"),
        Page().paragraph("对发现问题的41家宠物医院，已责令限期整改，整改情况将于2026年12月底前通报。")
        .paragraph("联系电话：0731-88886666。"),
    ], title=TITLE)


def read(data: bytes, limits: load.LoadLimits | None = None) -> tuple[str, dict[str, str]]:
    return ofd.read(Path("通报.ofd"), data, limits or load.LoadLimits())


def test_pages_are_separated_by_form_feeds_and_read_top_to_bottom():
    text, fields = read(notice())  # the builder writes each page's lines bottom first
    first, second = text.split("\f")
    lines = first.split("\n")
    assert lines[:4] == [TEMPLATE_TEXT, TITLE, "发布日期：2026-10-08", "各区县市场监督管理局："]
    assert fields == {"title": TITLE}
    assert second.startswith(TEMPLATE_TEXT + "\n对发现问题的41家宠物医院") and second.endswith("— 2 —")


def test_wrapped_lines_of_a_paragraph_are_joined_and_paragraphs_kept_apart():
    lines = read(notice())[0].split("\f")[0].split("\n")
    assert PARAGRAPH in lines and FACT in lines  # a paragraph is one line again, without stray spaces


def test_table_cells_on_one_baseline_become_one_row():
    lines = read(notice())[0].split("\n")
    assert "项目 检查数 整改数" in lines and "宠物医院 312家 41家" in lines


def test_public_sample_from_another_producer_reads_in_order():
    text, _ = ofd.read(SAMPLE, SAMPLE.read_bytes())
    first, second = text.split("\f")
    assert first.startswith("测试符路桥区卫生局文件\n路卫发〔2011〕76号\n关于同意张阿三同志辞职的批复\n区中医院：")
    assert "张阿三，男，1978年2月出生，籍贯江西新建，2001年9月参加工作，本科学历，主治医师，系区中医院职工。" in first.split("\n")
    assert "2011年3月10日印发" in second


def test_ofd_is_a_supported_type_through_load():
    [doc] = load.load_file(SAMPLE)
    assert doc.fmt == "ofd" and doc.text.count("\f") == 1


def test_encrypted_package_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name in zipfile.ZipFile(io.BytesIO(notice())).namelist():
            z.writestr(name, b"\x8f\x01encrypted bytes")
        z.writestr("Encryptions.xml", "<ofd:Encryptions xmlns:ofd='http://www.ofdspec.org/2016'/>")
    with pytest.raises(DocumentLoadError) as caught:
        read(buffer.getvalue())
    assert caught.value.code == "encrypted_ofd" and "加密" in caught.value.reason


def test_zip_bomb_is_refused_before_unzipping():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("OFD.xml", "<ofd:OFD xmlns:ofd='http://www.ofdspec.org/2016'/>")
        z.writestr("Doc_0/Pages/Page_0/Content.xml", b" " * (20 * 1024 * 1024))
    with pytest.raises(DocumentLoadError) as caught:
        read(buffer.getvalue())
    assert caught.value.code == "document_too_large" and "压缩炸弹" in caught.value.reason
    with pytest.raises(DocumentLoadError) as caught:
        read(notice(), load.LoadLimits(max_inflated_bytes=1000))
    assert caught.value.code == "document_too_large" and "上限" in caught.value.reason


@pytest.mark.parametrize("data, why", [
    (b"%PDF-1.4 not an ofd", "不是 zip"),
    (b"PK\x03\x04" + b"\x00" * 60, "不是 zip"),  # a zip's first bytes and nothing after
])
def test_file_that_is_not_a_zip_is_refused(data, why):
    with pytest.raises(DocumentLoadError) as caught:
        read(data)
    assert caught.value.code == "invalid_ofd" and why in caught.value.reason


def test_package_without_ofd_xml_or_with_broken_xml_is_refused():
    for files, why in (({"Doc_0/Document.xml": "<x/>"}, "没有 OFD.xml"),
                       ({"OFD.xml": "<ofd:OFD><unclosed>"}, "不是合法的 XML")):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as z:
            for name, content in files.items():
                z.writestr(name, content)
        with pytest.raises(DocumentLoadError) as caught:
            read(buffer.getvalue())
        assert caught.value.code == "invalid_ofd" and why in caught.value.reason


def test_xml_entities_are_not_expanded():
    laughs = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "哈哈哈哈哈哈哈哈"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">]>'
              '<ofd:OFD xmlns:ofd="http://www.ofdspec.org/2016"><ofd:DocBody><ofd:DocInfo><ofd:Title>&b;</ofd:Title>'
              "</ofd:DocInfo></ofd:DocBody></ofd:OFD>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr("OFD.xml", laughs)
    text, fields = read(buffer.getvalue())
    assert text == "" and "哈" not in fields.get("title", "")


def test_scanned_ofd_without_text_is_an_empty_document_error(tmp_path):
    path = tmp_path / "扫描件.ofd"
    path.write_bytes(build_ofd([Page(), Page()], footer=False))
    with pytest.raises(DocumentLoadError) as caught:
        load.load_file(path)
    assert caught.value.code == "empty_document" and "OFD 中没有可提取的文字" in caught.value.reason


def test_ofd_is_ingested_and_answers_a_question_only_it_answers(tmp_path, corpus_service, embedder):
    settings = corpus_service.settings.model_copy(update={"index_dir": copy_index(corpus_service, tmp_path / "kb")})
    svc = Service(settings, embedder=embedder)
    path = tmp_path / "宠物医院专项检查通报.ofd"
    path.write_bytes(notice())
    report = svc.ingest([path, SAMPLE])
    assert report.problems == ()
    answer = svc.ask("2026年前三季度全市共检查宠物医院多少家？")
    assert answer.found and answer.answer == "312家"
    assert answer.citations[0].doc_id == "宠物医院专项检查通报" and answer.citations[0].page == 1
    # the public sample, written by another producer: its passage is found and cited by page, and the
    # date is the one whose clause says what was asked (not the birth date beside it)
    answer = svc.ask("张阿三什么时候参加工作？")
    top = answer.citations[0]
    assert top.doc_id == "ofdrw-n" and top.page == 1 and "2001年9月参加工作" in top.text
    assert answer.found and answer.answer == "2001年9月"


def test_hostile_numbers_neither_crash_nor_fill_the_memory():
    page = ('<?xml version="1.0"?><ofd:Page xmlns:ofd="http://www.ofdspec.org/2016"><ofd:Content><ofd:Layer>'
            '<ofd:TextObject Boundary="nan 1e999 10 10" CTM="inf 0 0 1 0 0" Size="-inf">'
            '<ofd:TextCode X="NaN" Y="1e400" DeltaX="g 1000000000 1 g 1e999 2 g nan 3">通知正文</ofd:TextCode>'
            "</ofd:TextObject></ofd:Layer></ofd:Content></ofd:Page>")
    data = build_ofd([Page().paragraph("占位")], footer=False)
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(buffer, "w") as z:
        for name in src.namelist():
            z.writestr(name, page if name.endswith("Page_0/Content.xml") else src.read(name))
    assert read(buffer.getvalue())[0] == "通知正文"
