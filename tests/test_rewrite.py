"""Follow-ups: rewritten only when they need the earlier turn; a question or keyword that stands on
its own is asked as it is. Literal cases, no model."""
from __future__ import annotations

import pytest

from qa.rewrite import rewrite

PREV = ["2025年市场主体目标是多少"]


@pytest.mark.parametrize("history,question,expected", [
    # needs the earlier turn
    (PREV, "那2020年呢？", "2020年市场主体目标是多少"),
    (PREV, "2020年呢", "2020年市场主体目标是多少"),
    (["湖南全省市场主体总量达到多少"], "贵州呢？", "贵州全省市场主体总量达到多少"),
    (["株洲2020年申请专利多少件"], "其中发明专利申请多少件？", "株洲2020年申请专利多少件，其中发明专利申请多少件"),
    (["株洲2020年申请专利多少件"], "完成率呢？", "株洲2020年申请专利多少件，完成率"),
    (["去年查办了多少起案件"], "多少家？", "去年查办了多少起案件，多少家"),
    (["省局2023年抽检食品多少批次"], "那合格率呢？", "省局2023年抽检食品多少批次，合格率"),
    # stands on its own
    (PREV, "市场主体", "市场主体"),
    (PREV, "口罩", "口罩"),
    (PREV, "食品安全", "食品安全"),
    (PREV, "营商环境改革措施", "营商环境改革措施"),
    (PREV, "湖南省市场监管局局长是谁", "湖南省市场监管局局长是谁"),
    (PREV, "质量强省建设有哪些举措？", "质量强省建设有哪些举措？"),
    ([], "那2020年呢？", "那2020年呢？"),
])
def test_a_follow_up_is_rewritten_only_when_it_needs_the_earlier_turn(history, question, expected):
    assert rewrite(question, history) == expected
