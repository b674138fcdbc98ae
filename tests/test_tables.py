"""The flattened 专栏1 table of the Hunan plan is rebuilt row by row."""
from conftest import PLAN

from qa import tables

COLUMNS = ("类别", "指标名称", "2020年", "2025年", "属性")
# (类别, 指标名称, 2020年, 2025年, 属性) for all 20 rows, read off the published table.
EXPECTED_ROWS = [
    ("营商环境", "全省市场主体数(万户)", "488.84", "650", "预期性"),
    ("营商环境", "企业开办平均时间(天)", "2", "≤2", "预期性"),
    ("市场安全监管", "食品安全评价性抽检合格率(%)", "98", "≥98", "约束性"),
    ("市场安全监管", "食品及食用农产品抽检量(批次/千人)", "4", ">4", "约束性"),
    ("市场安全监管", "重点药品、医疗器械、化妆品生产环节抽检覆盖率(%)", "—", "100", "约束性"),
    ("市场安全监管", "万台特种设备死亡人数(人)", "0.29", "0.2", "约束性"),
    ("市场安全监管", "重点工业产品监督抽查批次数", "10000", ">11000", "约束性"),
    ("市场供给质量", "制造业质量竞争力指数(%)", "86.23", "90", "预期性"),
    ("市场供给质量", "制造业产品质量合格率(%)", "93.61", "95", "预期性"),
    ("市场供给质量", "消费品质量合格率(%)", "90.1", "93.5", "预期性"),
    ("市场供给质量", "培育湖南品牌产品(个)", "—", "800", "预期性"),
    ("消费环境", "消费投诉按期办结率(%)", "98.5", "99", "约束性"),
    ("消费环境", "举报按期核查率(%)", "93.5", "95", "约束性"),
    ("知识产权", "每万人口高价值发明专利拥有量(件)", "2.78", "6", "预期性"),
    ("知识产权", "知识产权质押登记担保金额(亿元)", "41.9", "60", "预期性"),
    ("知识产权", "知识产权保护社会满意度(%)", "80.86", "85", "预期性"),
    ("质量基础设施建设", "省级最高计量标准(个)", "245", "290", "预期性"),
    ("质量基础设施建设", "主导或参与制定国际、国家及行业标准(项)", "2000", "2400", "预期性"),
    ("质量基础设施建设", "通过体系认证证书保有量(个)", "32878", "35000", "预期性"),
    ("质量基础设施建设", "检验检测从业机构(个)", "2025", "2500", "预期性"),
]


def _table_rows(corpus_chunks):
    return [c for c in corpus_chunks[PLAN] if c.kind == "table_row"]


def test_every_row_of_zhuanlan1_is_its_own_record_with_all_columns(corpus_chunks):
    rows = _table_rows(corpus_chunks)
    assert len(rows) == 20
    for chunk, expected in zip(rows, EXPECTED_ROWS):
        title, *cells = chunk.text.split("｜")
        assert title == "专栏1 “十四五”市场监管工作主要指标"
        assert [cell.split(": ", 1)[0] for cell in cells] == list(COLUMNS)
        assert tuple(cell.split(": ", 1)[1] for cell in cells) == expected


def test_market_entity_row_reads_as_the_issue_describes(corpus_chunks):
    first = _table_rows(corpus_chunks)[0]
    assert first.text == ("专栏1 “十四五”市场监管工作主要指标｜类别: 营商环境｜指标名称: 全省市场主体数(万户)｜"
                          "2020年: 488.84｜2025年: 650｜属性: 预期性")
    assert first.section == "第二章 总体思路 > 三、总体目标 > 专栏1 “十四五”市场监管工作主要指标"


def test_row_offsets_point_at_the_row_in_the_original(corpus_chunks, corpus_documents):
    doc = corpus_documents[PLAN]
    first = _table_rows(corpus_chunks)[0]
    assert doc.raw_text[first.raw_start:first.raw_end] == "营商 1 全省市场主体数(万户) 488.84 650 预期性"


def test_whole_table_is_kept_as_one_chunk(corpus_chunks):
    whole = [c for c in corpus_chunks[PLAN] if c.kind == "table"]
    assert len(whole) == 1
    assert whole[0].text.startswith("专栏1")
    assert "20 检验检测从业机构(个) 2025 2500 预期性" in whole[0].text


def test_prose_box_is_not_mistaken_for_a_table(corpus_chunks):
    box2 = [c for c in corpus_chunks[PLAN] if "专栏2" in c.section]
    assert box2 and all(c.kind == "text" for c in box2)


def test_spilled_category_fragments_are_segmented_by_the_documents_own_words():
    context = "优化营商环境。构建完善市场安全监管体系。"
    frags = ["营商", "环境", "市场", "安全", "监管"]
    assert tables._segment_categories(frags, context) == ["营商环境"] * 2 + ["市场安全监管"] * 3


def test_table_with_a_blank_cell_aligns_the_remaining_cells_right():
    lines = [(0, 0, "类别 序号 指标名称 2020年 2025年 属性"),
             (0, 0, "甲 1 指标A(个) 1 2 预期性"),
             (0, 0, "2 指标B(个) \xa0 5 约束性")]
    table = tables.parse("专栏9 测试", lines, "甲")
    assert [dict(r.cells) for r in table.rows][1] == {
        "类别": "甲", "指标名称": "指标B(个)", "2020年": "—", "2025年": "5", "属性": "约束性"}


def test_lines_of_prose_are_not_a_table():
    lines = [(0, 0, "这是一段正文，说明了很多情况。"), (0, 0, "另一段正文。"), (0, 0, "第三段。")]
    assert tables.parse("专栏9", lines, "") is None
