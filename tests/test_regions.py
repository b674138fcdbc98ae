"""Administrative hierarchy from the gazetteer cpca ships: filters and region checks know that
株洲 lies in 湖南, and words that are no place are not taken for one."""
from __future__ import annotations

import pytest

from qa import regions
from qa.rewrite import regions as question_regions
from qa.types import Filters


@pytest.mark.parametrize("name,short", [
    ("湖南省", "湖南"), ("株洲市", "株洲"), ("广西壮族自治区", "广西"), ("新疆维吾尔自治区", "新疆"),
    ("恩施土家族苗族自治州", "恩施"), ("延边朝鲜族自治州", "延边"), ("东区", "东区"),
])
def test_names_lose_their_suffix_as_everywhere_else(name, short):
    assert regions.short(name) == short


def test_places_know_what_they_lie_in_and_what_lies_in_them():
    assert {"株洲", "长沙", "醴陵"} <= regions.within("湖南")
    assert "醴陵" in regions.within("株洲") and "长沙" not in regions.within("株洲")
    assert {"福建", "莆田"} == regions.around("莆田")
    assert regions.covers("湖南", "株洲") and regions.covers("莆田", "福建")
    assert not regions.covers("湖南", "贵州") and not regions.covers("株洲", "长沙")


@pytest.mark.parametrize("question,expected", [
    ("这些东西怎么处理", []), ("城市更新有哪些举措", []), ("车辆上路前要做什么", []),
    ("株洲的营商环境如何", ["株洲"]), ("湖南省市场主体有多少", ["湖南"]), ("莆田2021年的抽检结果", ["莆田"]),
])
def test_only_real_divisions_are_read_as_a_question_s_region(question, expected):
    assert question_regions(question) == expected


def test_a_province_filter_keeps_the_documents_of_its_cities(corpus_service):
    zhuzhou = [d for d, info in corpus_service.index.docs.items() if info.region == "株洲"]
    assert zhuzhou  # the shipped corpus has a document of the city
    hits = corpus_service.search("市场监管工作", k=50, filters=Filters(regions=("湖南",)))
    assert any(h.chunk.doc_id in zhuzhou for h in hits)
    assert all(h.chunk.region and regions.covers("湖南", h.chunk.region.split("、")[-1])
               or "湖南" in h.chunk.region for h in hits)
