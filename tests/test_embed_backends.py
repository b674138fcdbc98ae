"""Embedding backends: the ONNX and OpenVINO variants `python -m qa.model_export` writes load from
the model folder alone, embed like torch, and are part of the model identity an index checks."""
from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from conftest import CORPUS, PLAN, make_settings

from qa import settings as settings_module
from qa.embed import Embedder, model_identity
from qa.errors import IndexMismatch, ModelMismatch, ModelNotFound
from qa.model_export import ONNX_INT8, STAMP, export_model, is_current
from qa.settings import Settings

# (backend, file, least cosine to torch fp32 on real chunks): fp32 variants run the same graph
# with other kernels; int8 weights move vectors a little (0.9956 measured on CMRC passages).
VARIANTS = [("onnx", None, 0.9999), ("openvino", None, 0.9999), ("onnx", ONNX_INT8, 0.99)]


@pytest.fixture(scope="module")
def exported(model_dir):
    """The variants (a no-op when `make setup` already exported them)."""
    return export_model(model_dir)


@pytest.fixture(scope="module")
def texts(corpus_chunks):
    chunks = [c.search_text for doc in corpus_chunks.values() for c in doc]
    return chunks[::max(1, len(chunks) // 40)][:40]


@pytest.mark.parametrize(("backend", "file", "least"), VARIANTS)
def test_each_variant_loads_from_local_files_and_embeds_like_torch(exported, embedder, texts, monkeypatch,
                                                                   backend, file, least):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may be fetched
    variant = Embedder(str(exported), backend=backend, file=file)
    assert (variant.dim, variant.query_prompt, variant.passage_prompt) == (
        embedder.dim, embedder.query_prompt, embedder.passage_prompt)
    passages = variant.encode_passages(texts)
    assert passages.dtype == np.float32 and passages.shape == (len(texts), embedder.dim)
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(passages * embedder.encode_passages(texts), axis=1)) >= least
    question = "截至2020年底湖南全省实有市场主体多少户"
    assert float(variant.encode_queries([question])[0] @ embedder.encode_queries([question])[0]) >= least


def test_backend_and_file_are_part_of_the_identity(exported):
    names = {model_identity(str(exported), b, f) for b, f, _ in VARIANTS} | {model_identity(str(exported))}
    assert len(names) == 4
    # torch keeps the bare folder name, so indexes built before backends existed still load
    assert model_identity(str(exported)) == exported.name
    assert model_identity(str(exported), "onnx") == model_identity(str(exported), "onnx", "onnx/model.onnx")


def test_an_index_built_with_one_variant_is_refused_by_another(exported, tmp_path):
    from qa.service import Service

    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(CORPUS / f"{PLAN}.txt", docs)
    index_dir = tmp_path / "index"
    int8 = Service(make_settings(index_dir, exported, embed_backend="onnx", embed_file=ONNX_INT8))
    int8.ingest([docs])
    assert int8.index.manifest["model"]["identity"] == f"{exported.name}@onnx:{ONNX_INT8}"
    assert int8.search("湖南全省实有市场主体", k=3)

    for other in ({}, {"embed_backend": "onnx"}, {"embed_backend": "openvino"}):
        with pytest.raises(IndexMismatch, match="model_qint8_avx2"):
            Service(make_settings(index_dir, exported, **other)).search("湖南全省实有市场主体", k=3)


def test_a_query_variant_must_embed_like_the_passage_variant(exported):
    # OpenVINO fp32 runs the same fp32 graph: accepted for queries beside ONNX fp32 passages ...
    both = Embedder(str(exported), backend="onnx", query_backend="openvino")
    assert both.identity.endswith("onnx/model.onnx") and both.query_identity.endswith("openvino_model.xml")
    assert both.encode_queries(["申请公租房需要哪些材料"]).shape == (1, both.dim)
    # ... int8 queries against fp32 passages would be another vector space: refused at load.
    with pytest.raises(ModelMismatch, match="model_qint8_avx2"):
        Embedder(str(exported), backend="onnx", query_backend="onnx", query_file=ONNX_INT8)


def test_a_missing_variant_file_says_how_to_export_it(exported):
    with pytest.raises(ModelNotFound, match="qa.model_export"):
        Embedder(str(exported), backend="onnx", file="onnx/nothing.onnx")


def test_an_uncalibrated_variant_warns_and_a_calibrated_one_sets_min_dense(exported, caplog, monkeypatch):
    with caplog.at_level(logging.WARNING, logger="qa.settings"):
        Settings(embed_model=str(exported))
        openvino = model_identity(str(exported), "openvino")
        monkeypatch.setitem(settings_module.MIN_DENSE_CALIBRATED, openvino, 0.9)
        assert Settings(embed_model=str(exported), embed_backend="openvino").min_dense == 0.9
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="qa.settings"):
        settings = Settings(embed_model=str(exported), embed_backend="onnx")
    assert "min_dense" in caplog.text and "onnx/model.onnx" in caplog.text
    assert settings.min_dense == Settings(embed_model=str(exported)).min_dense
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="qa.settings"):
        assert Settings(embed_model=str(exported), embed_backend="onnx", min_dense=0.9).min_dense == 0.9
    assert not caplog.records  # set by hand: the operator's own calibration


def test_export_is_idempotent_and_redone_when_the_stamp_is_stale(exported, tmp_path):
    files = [exported / STAMP, *(exported / "onnx").iterdir(), *(exported / "openvino").iterdir()]
    before = {f: f.stat().st_mtime_ns for f in files}
    assert is_current(exported)
    export_model(exported)
    assert {f: f.stat().st_mtime_ns for f in files if f.name != STAMP} == {
        f: t for f, t in before.items() if f.name != STAMP}

    # A folder whose stamp names another export version is not current (nothing copied: links).
    other = tmp_path / "model"
    other.mkdir()
    for name in ("model.safetensors", "onnx", "openvino"):
        (other / name).symlink_to(exported / name)
    stamp = json.loads((exported / STAMP).read_text(encoding="utf-8"))
    (other / STAMP).write_text(json.dumps({**stamp, "export_version": -1}), encoding="utf-8")
    assert not is_current(other)
    (other / STAMP).write_text(json.dumps(stamp), encoding="utf-8")
    assert is_current(other)
