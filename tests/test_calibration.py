"""The calibrated confidence: ECE and reliability bins on literal numbers, the logistic fit against
hand-computed probabilities, the calibration file, the "unsure" rule, and `qa eval` reporting it."""
import json
import logging
import math
import subprocess
import sys

import pytest
from conftest import PROJECT_ROOT

from qa import answer as answering
from qa import calibration
from qa.calibration import Calibrator

SEED = PROJECT_ROOT / "eval" / "seed_questions.jsonl"


@pytest.mark.parametrize("conf,correct,expected", [
    # Each bin is |accuracy − mean confidence| weighted by its share of the answers.
    ([0.05, 0.15, 0.95, 0.95], [False, False, True, False], 0.25 * 0.05 + 0.25 * 0.15 + 0.5 * 0.45),
    ([0.25, 0.25, 0.25, 0.25], [True, False, False, False], 0.0),  # right as often as it says
    ([1.0, 1.0], [True, True], 0.0),  # 1.0 falls in the last bin, not past it
    ([0.0, 0.0], [True, True], 1.0),
    ([0.9] * 10, [True] * 5 + [False] * 5, 0.4),  # overconfident
    ([], [], None),
])
def test_expected_calibration_error(conf, correct, expected):
    got = calibration.ece(conf, correct)
    assert got == (None if expected is None else pytest.approx(expected, abs=1e-4))


def test_reliability_bins_count_mean_confidence_and_accuracy():
    bins = calibration.reliability([0.05, 0.15, 0.95, 0.95, 1.0], [False, True, True, False, True], bins=10)
    assert len(bins) == 10 and [b["count"] for b in bins] == [1, 1, 0, 0, 0, 0, 0, 0, 0, 3]
    assert bins[0] == {"lo": 0.0, "hi": 0.1, "count": 1, "confidence": 0.05, "accuracy": 0.0}
    assert bins[2]["confidence"] is None and bins[2]["accuracy"] is None  # empty bins are still listed
    assert bins[9]["confidence"] == pytest.approx((0.95 + 0.95 + 1.0) / 3, abs=1e-4)
    assert bins[9]["accuracy"] == pytest.approx(2 / 3, abs=1e-4)


def _row(coverage, kind="number", **extra):
    return {"coverage": coverage, "score": 1.0, "margin": 0.5, "alone": 0.0, "dense": 0.9, "rank": 0.0,
            "support": 1.0, "slot": 0.0, "length": 1.0, "kind=" + kind: 1.0, **extra}


def test_fit_recovers_the_observed_frequency_of_each_group():
    # Two groups, right 1 in 4 and 3 in 4 times: an unpenalised logistic fit on the one feature that
    # tells them apart gives exactly those frequencies back.
    rows = [_row(0.2)] * 4 + [_row(0.8)] * 4
    labels = [True, False, False, False, True, True, True, False]
    model = calibration.fit(rows, labels, l2=1e-6)
    assert model.probability(_row(0.2)) == pytest.approx(0.25, abs=1e-3)
    assert model.probability(_row(0.8)) == pytest.approx(0.75, abs=1e-3)


def test_sample_weights_count_a_row_that_many_times():
    rows = [_row(0.2), _row(0.2)]
    assert calibration.fit(rows, [True, False], [3.0, 1.0], l2=1e-6).probability(_row(0.2)) == \
        pytest.approx(0.75, abs=1e-3)


@pytest.mark.parametrize("feats,z", [
    # Weights 2, -1, 1 on coverage, dense and kind=number (means 0.5, 0.9, 0.4; scales 0.1, 0.05, 0.5).
    # Another kind than number counts as kind=number = 0, i.e. (0 − 0.4) / 0.5 = −0.8.
    ({"coverage": 0.5}, -0.8),  # dense missing (no dense leg): it sits at its mean
    ({"coverage": 0.7}, 2.0 * (0.7 - 0.5) / 0.1 - 0.8),
    ({"coverage": 0.5, "kind=number": 1.0}, 1.0 * (1 - 0.4) / 0.5),
    ({"coverage": 0.5, "kind=brand_new": 1.0}, -0.8),  # a kind the fit never saw: no weight of its own
    ({"coverage": 0.5, "dense": 0.95}, -1.0 * (0.95 - 0.9) / 0.05 - 0.8),
])
def test_probability_is_the_logistic_of_the_standardised_features(feats, z):
    model = Calibrator(("coverage", "dense", "kind=number"), (0.5, 0.9, 0.4), (0.1, 0.05, 0.5), (2.0, -1.0, 1.0),
                       0.0, 0.5)
    assert model.probability(feats) == pytest.approx(1 / (1 + math.exp(-z)))


def test_only_kinds_seen_often_enough_get_a_weight():
    rows = [_row(0.5, "number")] * calibration.MIN_KIND + [_row(0.5, "rare")] * (calibration.MIN_KIND - 1)
    names = calibration.fit(rows, [True, False] * (len(rows) // 2) + [True] * (len(rows) % 2)).names
    assert "kind=number" in names and "kind=rare" not in names


def test_the_calibration_survives_its_json_file(tmp_path):
    model = calibration.fit([_row(0.2)] * 4 + [_row(0.8)] * 4, [True, False, False, False, True, True, True, False],
                            threshold=0.42, identity="e5", fitted_on=("trial",))
    path = tmp_path / "calibration.json"
    path.write_text(json.dumps(model.to_json()))
    loaded = calibration.load(path)
    assert loaded == model and loaded.threshold == 0.42 and loaded.identity == "e5"


@pytest.mark.parametrize("content", [
    None,  # missing
    "{not json",
    json.dumps({"version": 99, "model": "logistic"}),
    json.dumps({"version": 1, "model": "logistic", "threshold": 2.0, "intercept": 0, "features": {}}),
    json.dumps({"version": 1, "model": "logistic", "threshold": 0.5, "intercept": 0,
                "features": {"coverage": {"mean": 0.5, "scale": 0.0, "weight": 1.0}}}),
    json.dumps({"version": 1, "model": "logistic", "threshold": 0.5}),
])
def test_a_missing_or_invalid_calibration_falls_back_with_a_warning(tmp_path, caplog, content):
    path = tmp_path / "calibration.json"
    if content is not None:
        path.write_text(content)
    with caplog.at_level(logging.WARNING, logger="qa.calibration"):
        assert calibration.load(path) is None
    assert "calibrate_confidence.py" in caplog.text


def test_the_shipped_calibration_loads_and_names_what_it_was_fitted_on():
    model = calibration.load()
    assert model is not None, "qa/data/calibration.json is missing or invalid: run scripts/calibrate_confidence.py"
    assert 0 <= model.threshold < 1 and model.identity and "cmrc2018_trial" in model.fitted_on
    assert {"coverage", "dense", "margin"} <= set(model.names)


def _choose(svc, question, min_confidence):
    s = svc.settings
    hits = svc.search(question, k=s.answer_passages)
    params = answering.RefusalParams(s.min_coverage, s.weak_coverage, s.min_dense, min_confidence)
    return answering.choose(question, hits, svc.index.docs, params, idf=svc.idf)


def test_an_answer_below_the_confidence_threshold_is_withheld_as_unsure_with_its_candidate(corpus_service):
    question = "湖南省市场监管局局长是谁"
    sure = _choose(corpus_service, question, 0.0)
    assert sure.found and sure.reason == "ok" and 0 < sure.confidence < 1
    unsure = _choose(corpus_service, question, min(1.0, sure.confidence + 0.001))
    assert not unsure.found and unsure.reason == "unsure"
    assert unsure.candidate is not None and unsure.candidate.answer == sure.candidate.answer == "向曙光"
    assert unsure.confidence == sure.confidence and unsure.features == sure.features


def test_qa_eval_reports_the_calibration_error_and_the_reliability_diagram(corpus_service, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "qa.cli", "eval", str(SEED), "--limit", "12", "--out", str(tmp_path),
         "--index", str(corpus_service.settings.index_dir), "--model", corpus_service.settings.embed_model, "--json"],
        capture_output=True, text=True, timeout=600, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    metrics = json.loads((tmp_path / "report.json").read_text())["configs"]["hybrid"]["metrics"]
    bins = metrics["reliability"]
    assert len(bins) == 10 and sum(b["count"] for b in bins) == sum(
        o["found"] for o in json.loads((tmp_path / "report.json").read_text())["configs"]["hybrid"]["outcomes"])
    assert 0 <= metrics["ece"] <= 1
    md = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert "| ece |" in md and "期望校准误差（ECE）" in md and "| 置信度区间 | 答案数 | 平均置信度 | 实际正确率 |" in md
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert 'aria-label="置信度校准图"' in page and "期望校准误差（ECE）" in page
