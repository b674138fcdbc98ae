"""Embedding backends: the ONNX and OpenVINO variants `python -m qa.model_export` writes load from
the model folder alone, embed like torch, and are part of the model identity an index checks;
QA_EMBED_DEVICE asks torch for a GPU only where one is."""
from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest
from conftest import CORPUS, PLAN, make_settings

from qa import settings as settings_module
from qa.embed import DEFAULT_BACKEND, Embedder, model_identity
from qa.errors import EmbeddingDeviceUnavailable, IndexMismatch, ModelMismatch, ModelNotFound
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
def torch_embedder(exported):
    """torch fp32 through sentence-transformers: the reference every variant is measured against."""
    return Embedder(str(exported), backend="torch")


@pytest.fixture(scope="module")
def texts(corpus_chunks):
    chunks = [c.search_text for doc in corpus_chunks.values() for c in doc]
    return chunks[::max(1, len(chunks) // 40)][:40]


@pytest.mark.parametrize(("backend", "file", "least"), VARIANTS)
def test_each_variant_loads_from_local_files_and_embeds_like_torch(exported, torch_embedder, texts, monkeypatch,
                                                                   backend, file, least):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # nothing may be fetched
    variant = Embedder(str(exported), backend=backend, file=file)
    reference = torch_embedder
    assert (variant.dim, variant.query_prompt, variant.passage_prompt) == (
        reference.dim, reference.query_prompt, reference.passage_prompt)
    passages = variant.encode_passages(texts)
    assert passages.dtype == np.float32 and passages.shape == (len(texts), reference.dim)
    np.testing.assert_allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    assert np.min(np.sum(passages * reference.encode_passages(texts), axis=1)) >= least
    question = "截至2020年底湖南全省实有市场主体多少户"
    assert float(variant.encode_queries([question])[0] @ reference.encode_queries([question])[0]) >= least


def test_the_default_variant_is_openvino_fp32_with_torchs_calibration(embedder):
    assert DEFAULT_BACKEND == Settings.model_fields["embed_backend"].default == "openvino"
    assert embedder.identity == Settings().embed_identity == "multilingual-e5-small@openvino:openvino/openvino_model.xml"
    # the same min_dense as torch: the seed set's refusals do not shift with the switch
    assert Settings().min_dense == Settings(embed_backend="torch").min_dense == 0.905


def test_backend_and_file_are_part_of_the_identity(exported):
    names = {model_identity(str(exported), b, f) for b, f, _ in VARIANTS} | {model_identity(str(exported), "torch")}
    assert len(names) == 4
    # torch keeps the bare folder name, so indexes built before backends existed still load
    assert model_identity(str(exported), "torch") == exported.name
    assert model_identity(str(exported), "onnx") == model_identity(str(exported), "onnx", "onnx/model.onnx")
    assert model_identity(str(exported)) == model_identity(str(exported), "openvino")


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

    for other in ({}, {"embed_backend": "torch"}, {"embed_backend": "onnx"}, {"embed_backend": "openvino"}):
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
        Settings(embed_model=str(exported), embed_backend="torch")
        openvino = model_identity(str(exported), "openvino")
        monkeypatch.setitem(settings_module.MIN_DENSE_CALIBRATED, openvino, 0.9)
        assert Settings(embed_model=str(exported), embed_backend="openvino").min_dense == 0.9
    assert not caplog.records
    with caplog.at_level(logging.WARNING, logger="qa.settings"):
        settings = Settings(embed_model=str(exported), embed_backend="onnx")
    assert "min_dense" in caplog.text and "onnx/model.onnx" in caplog.text
    assert settings.min_dense == Settings.model_fields["min_dense"].default  # left as it was, said so
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


def test_an_index_built_with_the_old_torch_default_is_used_as_is_by_the_openvino_default(exported, tmp_path, caplog):
    """An upgrade keeps the index: OpenVINO gives torch's vectors (checked on a sample of the stored
    chunks), so the old index answers and takes new documents without `--rebuild`. int8 weights
    give other vectors and are refused (test_an_index_built_with_one_variant_is_refused_by_another)."""
    import logging

    from qa.service import Service

    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(CORPUS / f"{PLAN}.txt", docs)
    index_dir = tmp_path / "index"
    Service(make_settings(index_dir, exported, embed_backend="torch")).ingest([docs])
    upgraded = Service(make_settings(index_dir, exported))
    with caplog.at_level(logging.INFO, logger="qa.service"):
        assert upgraded.ask("2025年市场主体目标是多少").answer == "650万户"
    assert "the same vectors, used as is" in caplog.text
    shutil.copy(CORPUS / "贵州省市场监管暨知识产权工作会议.txt", docs)
    report = upgraded.ingest([docs])
    assert report.added == ("贵州省市场监管暨知识产权工作会议",) and report.embedded_chunks > 0
    assert upgraded.index.manifest["model"]["identity"] == exported.name  # as it was built


def test_cuda_without_a_gpu_is_a_clear_error_not_a_crash(exported):
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU torch can use")
    with pytest.raises(EmbeddingDeviceUnavailable, match="QA_EMBED_DEVICE=cuda") as e:
        Embedder(str(exported), backend="torch", device="cuda")
    assert e.value.status == 503 and e.value.code == "embedding_device_unavailable"
    # the exported variants run on the CPU: cuda there is a setting that cannot do what it says
    with pytest.raises(EmbeddingDeviceUnavailable, match="QA_EMBED_BACKEND=torch"):
        Embedder(str(exported), device="cuda")
    # auto takes the GPU only where there is one
    assert Embedder(str(exported), backend="torch", device="auto").encode_queries(["公租房"]).shape == (1, 384)


def test_the_runtimes_tokenize_exactly_as_transformers_does(model_dir):
    """ONNX and OpenVINO read tokenizer.json through `tokenizers` (no transformers import at start):
    the same ids and masks as transformers' AutoTokenizer, batch by batch."""
    import json

    import numpy as np
    from conftest import PROJECT_ROOT
    from transformers import AutoTokenizer

    from qa.embed import _Tokens

    contexts = PROJECT_ROOT.parent / "shared" / "bench" / "cmrc2018_trial" / "contexts.jsonl"
    texts = ["passage: " + json.loads(line)["text"] for line in contexts.open(encoding="utf-8")][:96]
    texts += ["query: 2025年市场主体目标是多少", "query: ", "passage: ＡＢＣ　全角 😀 \u200b x" * 300]
    mine = _Tokens(model_dir, 512)
    theirs = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    for i in range(0, len(texts), 16):
        batch = texts[i:i + 16]
        ids, mask = mine(batch)
        want = theirs(batch, padding=True, truncation=True, max_length=512, return_tensors="np")
        assert np.array_equal(ids, want["input_ids"]) and np.array_equal(mask, want["attention_mask"])
