"""Dense embeddings through sentence-transformers, with each model's own query/passage prompts.

`encode_queries` / `encode_passages` return L2-normalised float32 rows.
"""
from __future__ import annotations

import json
import logging
import os
import queue
import threading
import weakref
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .errors import EmbeddingDeviceUnavailable, ModelMismatch, ModelNotFound

log = logging.getLogger(__name__)

# Prompts of well-known retrieval models that do not ship them in their config.
_KNOWN_PROMPTS = (
    ("e5", "query: ", "passage: "),
    ("bge-small-zh", "为这个句子生成表示以用于检索相关文章：", ""),
    ("bge-base-zh", "为这个句子生成表示以用于检索相关文章：", ""),
    ("bge-large-zh", "为这个句子生成表示以用于检索相关文章：", ""),
)


def _is_local(model: str) -> bool:
    """A folder on disk, or meant to be one; anything else is a hub name like "BAAI/bge-small-zh-v1.5"."""
    return model.startswith((".", "/", "~")) or Path(model).expanduser().exists()


# Runtimes besides torch, and the file each loads from the model folder unless told otherwise
# (`python -m qa.model_export` writes them; see that module for why not through optimum).
BACKENDS = ("torch", "onnx", "openvino")
DEFAULT_FILES = {"onnx": "onnx/model.onnx", "openvino": "openvino/openvino_model.xml"}
# The default (README, "Embedding backends"): the fastest variant within 0.5 point of torch fp32 on
# CMRC dense hit@5 with no loss on the seed set. OpenVINO fp32 gives torch's vectors (cosine ≥ 0.9999)
# at 2.1× the passages per CPU-second and a third of the CPU per query; ONNX int8 is faster still
# but fails the pinned quality gate.
DEFAULT_BACKEND = "openvino"
DEVICES = ("cpu", "cuda", "auto")


def _name(model: str) -> str:
    path = Path(model).expanduser()
    return path.name if path.exists() else model


def served_model(model: str, url_model: str = "") -> str:
    """The model name sent to an embedding endpoint: QA_EMBED_URL_MODEL, else QA_EMBED_MODEL's name."""
    return url_model or _name(model)


def model_identity(model: str, backend: str = DEFAULT_BACKEND, file: str | None = None,
                   url: str = "", url_model: str = "") -> str:
    """A stable name for the model an index was built with (the folder name for local folders).

    Another runtime or weight file gives other vectors (int8 weights, other kernels and summation
    orders), so backend and file are part of it: an index is only searched with the variant that
    built it. torch keeps the bare name, so indexes built before backends existed stay valid.
    The device (`QA_EMBED_DEVICE`) is not part of it: torch on a GPU runs the same weights.
    Through an endpoint (`url`), the served model and the endpoint are the identity instead.
    """
    if url:
        from .embed_remote import remote_identity  # noqa: PLC0415

        return remote_identity(url, served_model(model, url_model))
    name = _name(model)
    return name if backend == "torch" else f"{name}@{backend}:{file or DEFAULT_FILES[backend]}"


def torch_device(device: str) -> str:
    """The torch device for QA_EMBED_DEVICE: "cuda" only where torch sees a GPU (else a clear error),
    "auto" the GPU when there is one."""
    if device not in DEVICES:
        raise EmbeddingDeviceUnavailable(f"未知的嵌入设备：{device!r}（可选 {'、'.join(DEVICES)}）")
    if device == "cpu":
        return "cpu"
    import torch  # noqa: PLC0415

    if torch.cuda.is_available():
        return "cuda"
    if device == "auto":
        return "cpu"
    raise EmbeddingDeviceUnavailable(
        f"QA_EMBED_DEVICE=cuda，但 torch 看不到 GPU（torch {torch.__version__}，"
        f"{'CUDA ' + torch.version.cuda if torch.version.cuda else '这是不带 CUDA 的 CPU 版本'}）。"
        "请安装 CUDA 版 torch 并检查显卡驱动（nvidia-smi），或改设 QA_EMBED_DEVICE=cpu / auto。")


class _Pending:
    def __init__(self, text: str):
        self.text = text
        self.vector: np.ndarray | None = None
        self.error: BaseException | None = None
        self.done = threading.Event()


class QueryBatcher:
    """Queries asked at the same time are embedded in one forward pass.

    One thread runs the model; callers queue their text and wait. While a batch is being encoded
    the next callers queue up, and are taken together: on two cores eight queries in one pass cost
    about 10 ms each, against 25 ms one by one. A lone query goes straight through (a batch of one).
    """

    def __init__(self, encode: Callable[[list[str]], np.ndarray], max_batch: int = 32):
        self._encode = encode
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._starting = threading.Lock()

    def __call__(self, text: str) -> np.ndarray:
        if self._thread is None:
            with self._starting:
                if self._thread is None:
                    # The thread holds the batcher weakly: an embedder nobody uses any more (a test's,
                    # a reloaded service's) is freed with its model, and the thread ends.
                    self._thread = threading.Thread(target=_serve, args=(weakref.ref(self), self._queue,
                                                                          self._max_batch),
                                                    name="query-embedder", daemon=True)
                    self._thread.start()
        pending = _Pending(text)
        self._queue.put(pending)
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        return pending.vector



def _query_encoder(embedder, variant: str) -> Callable[[list[str]], np.ndarray]:
    """The batcher's encode function, holding its embedder weakly: no reference cycle, so an
    embedder nobody holds is freed at once, where it was dropped, not by a later garbage collection."""
    ref = weakref.ref(embedder)

    def encode(texts: list[str]) -> np.ndarray:
        emb = ref()
        if emb is None:
            raise RuntimeError("the embedder was closed")
        return emb._encode(texts, emb.query_prompt, False, getattr(emb, variant))

    return encode


def _serve(ref: weakref.ref, pending: queue.SimpleQueue, max_batch: int) -> None:
    """The query thread of a `QueryBatcher` (`ref`): embeds what is queued, batch by batch, until
    the batcher is gone."""
    while True:
        try:
            batch = [pending.get(timeout=1.0)]
        except queue.Empty:
            if ref() is None:
                return
            continue
        while len(batch) < max_batch:
            try:
                batch.append(pending.get_nowait())
            except queue.Empty:
                break
        batcher = ref()
        try:
            if batcher is None:
                raise RuntimeError("the query embedder was closed")
            rows = batcher._encode([p.text for p in batch])
        except Exception as e:  # noqa: BLE001 - handed to every caller of the batch, who raises it
            for p in batch:
                p.error = e
                p.done.set()
            continue
        finally:
            del batcher
        for p, row in zip(batch, rows, strict=True):
            p.vector = row
            p.done.set()


class _Tokens:
    """The model's tokenizer for the ONNX and OpenVINO runtimes: its `tokenizer.json` through the
    `tokenizers` library, which is what transformers' fast tokenizer runs (same ids, checked in
    tests/test_embed_backends.py) without importing transformers, ~3 s of every process's start.
    A folder without `tokenizer.json` goes through transformers' AutoTokenizer."""

    def __init__(self, path: Path, max_len: int):
        self.max_len = max_len
        self.fast = None
        if (path / "tokenizer.json").is_file():
            from tokenizers import Tokenizer  # noqa: PLC0415

            try:
                pad = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8")).get("pad_token")
            except (OSError, ValueError):
                pad = None
            pad = pad if isinstance(pad, str) else "<pad>"
            self.fast = Tokenizer.from_file(str(path / "tokenizer.json"))
            self.fast.enable_truncation(max_len)
            self.fast.enable_padding(pad_id=self.fast.token_to_id(pad) or 0, pad_token=pad)
        else:
            from transformers import AutoTokenizer  # noqa: PLC0415

            self.slow = AutoTokenizer.from_pretrained(str(path), local_files_only=True)

    def __call__(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids and attention mask of a batch, padded to its longest text."""
        if self.fast is not None:
            enc = self.fast.encode_batch(texts)
            return (np.array([e.ids for e in enc], dtype=np.int64),
                    np.array([e.attention_mask for e in enc], dtype=np.int64))
        enc = self.slow(texts, padding=True, truncation=True, max_length=self.max_len, return_tensors="np")
        return enc["input_ids"].astype(np.int64), enc["attention_mask"].astype(np.int64)


class _Torch:
    """sentence-transformers' own encode, on torch."""

    def __init__(self, st, batch_size: int):
        self.st, self.batch_size = st, batch_size

    def __call__(self, texts: list[str], prompt: str, progress: bool) -> np.ndarray:
        return self.st.encode(texts, prompt=prompt, batch_size=self.batch_size, normalize_embeddings=True,
                              convert_to_numpy=True, show_progress_bar=progress)


class _Native:
    """The same steps as sentence-transformers (prompt + text, tokenizer, longest first in batches,
    mean over every token, L2 norm) around an ONNX Runtime or OpenVINO forward pass."""

    def __init__(self, backend: str, file: Path, tokenizer, max_len: int, batch_size: int, threads: int):
        self.backend, self.tokenizer, self.max_len, self.batch_size = backend, tokenizer, max_len, batch_size
        if backend == "onnx":
            import onnxruntime as ort  # noqa: PLC0415 - only for this backend

            options = ort.SessionOptions()
            options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
            self._session = ort.InferenceSession(str(file), options, providers=["CPUExecutionProvider"])
        else:
            import openvino as ov  # noqa: PLC0415

            # fp32 stated: OpenVINO would pick bf16 on CPUs that have it, and so other vectors.
            self._compiled = ov.Core().compile_model(str(file), "CPU", {
                "INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "PERFORMANCE_HINT": "LATENCY"})

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        if self.backend == "onnx":
            return self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        request = self._compiled.create_infer_request()  # one per call: a request is not thread-safe
        request.infer({"input_ids": ids, "attention_mask": mask})
        return request.get_output_tensor(0).data.copy()

    def __call__(self, texts: list[str], prompt: str, progress: bool) -> np.ndarray:
        from tqdm import tqdm  # noqa: PLC0415

        texts = [prompt + t for t in texts]
        order = np.argsort([-len(t) for t in texts], kind="stable")
        out = None
        for start in tqdm(range(0, len(texts), self.batch_size), disable=not progress, desc="Batches"):
            rows = order[start:start + self.batch_size]
            ids, mask = self.tokenizer([texts[i] for i in rows])
            hidden = self._forward(ids, mask)
            weights = mask[..., None].astype(np.float32)
            pooled = (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
            if out is None:
                out = np.empty((len(texts), pooled.shape[1]), dtype=np.float32)
            out[rows] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out


# Probe texts a query variant must embed like the passage variant does (queries and passages
# must stay in one vector space).
# Written for the check, not taken from any document the project ships or is measured on.
_PROBES = ("query: 去年年底全市登记的个体工商户有多少户", "query: 申请公租房需要哪些材料",
           "passage: 截至年底，全市实有个体工商户12.6万户，同比增长7.5%。",
           "passage: 申请人应当提交身份证明、户籍证明、收入证明及住房情况证明。",
           "query: 残疾人两项补贴的发放标准是什么", "passage: 本办法自2021年1月1日起施行。")
QUERY_MIN_COSINE = 0.999


class Embedder:
    def __init__(
        self,
        model: str,
        query_prompt: str | None = None,
        passage_prompt: str | None = None,
        batch_size: int = 32,
        num_threads: int | None = None,
        backend: str = DEFAULT_BACKEND,
        file: str | None = None,
        query_backend: str | None = None,
        query_file: str | None = None,
        device: str = "cpu",
        url: str = "",
        url_model: str = "",
        api_key: str = "",
        url_timeout: float = 60.0,
    ):
        """`backend`/`file` embed passages (and queries, unless `query_backend`/`query_file` name
        a cheaper variant, accepted only if it embeds like the passage variant). `device` is torch's
        (cpu, cuda, auto). With `url` (an OpenAI-compatible embeddings endpoint) passages and queries
        are all embedded there, as `url_model`, and the local variants are not loaded."""
        for name in (backend, query_backend or backend):
            if name not in BACKENDS:
                raise ModelNotFound(f"未知的嵌入后端：{name!r}（可选 {'、'.join(BACKENDS)}）")
        threads = num_threads or len(os.sched_getaffinity(0))
        path = Path(model).expanduser()
        self.name, self.batch_size, self._threads = model, batch_size, threads
        self.backend, self.file = backend, (file or DEFAULT_FILES.get(backend))
        self.identity = model_identity(model, backend, file, url, url_model)
        self._st = None
        self._dim: int | None = None
        if url:
            self._init_remote(model, url, served_model(model, url_model), api_key, url_timeout,
                              query_prompt, passage_prompt)
            return
        # A GPU helps torch only; the exported variants run on the CPU.
        self._device = torch_device(device) if backend == "torch" or device == "cpu" else None
        if self._device is None:
            if device == "cuda":
                raise EmbeddingDeviceUnavailable(
                    f"QA_EMBED_DEVICE=cuda 只用于 torch 后端，当前 QA_EMBED_BACKEND={backend}；"
                    "请同时设 QA_EMBED_BACKEND=torch（用 GPU 建的索引在 CPU 上查询时，可设 QA_QUERY_BACKEND=openvino）。")
            self._device = "cpu"
        if _is_local(model) and not (path / "modules.json").exists() and not (path / "config.json").exists():
            raise ModelNotFound(
                f"找不到嵌入模型：{path}。请先运行 `make setup`（或 `python -m qa.model_build`）构建默认模型，"
                "或用 QA_EMBED_MODEL 指向一个 sentence-transformers 模型文件夹。"
            )
        self._passages = self._variant(backend, file)
        q_backend, q_file = query_backend or backend, query_file or (None if query_backend else file)
        same = (q_backend, q_file or DEFAULT_FILES.get(q_backend)) == (self.backend, self.file)
        self._query_encode = self._passages if same else self._variant(q_backend, q_file)
        self.query_identity = self.identity if same else model_identity(model, q_backend, q_file)
        if self._st is not None:
            self._dim = int(self._st.get_embedding_dimension())
            own = self._st.prompts or {}
        else:
            self._dim = int(json.loads((path / "1_Pooling" / "config.json").read_text())["embedding_dimension"])
            own = _own_prompts(path)
        self.query_prompt, self.passage_prompt = self._prompts(query_prompt, passage_prompt, own)
        if not same:
            self._check_query_variant()
        self._queries = QueryBatcher(_query_encoder(self, "_query_encode"))
        log.info("embedder %s (queries %s) on %s: dim %d, query prompt %r, passage prompt %r",
                 self.identity, self.query_identity, self._device, self.dim, self.query_prompt, self.passage_prompt)

    def _init_remote(self, model: str, url: str, served: str, api_key: str, timeout: float,
                     query_prompt: str | None, passage_prompt: str | None) -> None:
        from .embed_remote import RemoteEmbeddings  # noqa: PLC0415

        self._remote = RemoteEmbeddings(url, served, api_key, self.batch_size, timeout)
        self._passages = self._query_encode = self._remote
        self.query_identity, self._device = self.identity, None
        # The prompts the model is trained with, as for the local model: the local folder's own when
        # it is the served model, else the known ones for the served name ("query: " for e5).
        path = Path(model).expanduser()
        own = _own_prompts(path) if _is_local(model) and served == path.name else {}
        self.query_prompt, self.passage_prompt = self._prompts(query_prompt, passage_prompt, own)
        self._queries = QueryBatcher(_query_encoder(self, "_remote"))
        log.info("embedder %s: through %s, query prompt %r, passage prompt %r (dimension on first use)",
                 self.identity, self._remote.where, self.query_prompt, self.passage_prompt)

    @property
    def dim(self) -> int:
        """The vectors' dimension; through an endpoint, known from its first answer."""
        if self._dim is None:
            self._dim = self._remote.dimension()
        return self._dim

    @property
    def st(self):
        """The sentence-transformers model (loaded on first use when passages run on another backend)."""
        if self._st is None:
            self._load_st()
        return self._st

    def _load_st(self):
        import torch  # noqa: PLC0415 - heavy; only needed once a model is loaded
        from sentence_transformers import SentenceTransformer  # noqa: PLC0415

        # torch defaults to every core it sees; in a container that may exceed what we are given.
        torch.set_num_threads(self._threads)
        # oneDNN builds a kernel for every new input shape; each query has its own length,
        # which showed as 100 ms+ latency spikes. Plain MKL kernels are as fast here and steady.
        torch.backends.mkldnn.enabled = False
        # Queries on another variant load torch only for the start-up check, on the CPU.
        device = self._device if self.backend == "torch" else "cpu"
        if _is_local(self.name):
            self._st = SentenceTransformer(str(Path(self.name).expanduser()), device=device, local_files_only=True)
        else:
            # A hub name: fetched only because the user named it.
            log.info("loading hub model %s (needs network on first use)", self.name)
            self._st = SentenceTransformer(self.name, device=device)

    def _variant(self, backend: str, file: str | None):
        if backend == "torch":
            if self._st is None:
                self._load_st()
            return _Torch(self._st, self.batch_size)
        path = Path(self.name).expanduser()
        target = path / (file or DEFAULT_FILES[backend])
        if not _is_local(self.name):
            raise ModelNotFound(
                f"{backend} 后端需要本地模型文件夹里导出的文件，{self.name} 不是本地文件夹；"
                "请设 QA_EMBED_BACKEND=torch，或把模型下载到本地后运行 `python -m qa.model_export --dest 该文件夹`。")
        if not target.is_file():
            raise ModelNotFound(
                f"找不到 {backend} 版本的嵌入模型文件：{target}。请先运行 `make setup`"
                f"（或 `python -m qa.model_export`）导出，或检查 QA_EMBED_FILE / QA_QUERY_FILE"
                "（也可设 QA_EMBED_BACKEND=torch）。")
        pooling = json.loads((path / "1_Pooling" / "config.json").read_text(encoding="utf-8"))
        if pooling.get("pooling_mode", "mean") != "mean" and not pooling.get("pooling_mode_mean_tokens"):
            raise ModelNotFound(f"{backend} 后端只支持平均池化的模型，{path} 的池化方式为 {pooling}")
        return _Native(backend, target, self._tokenizer(path), self._max_len(path), self.batch_size, self._threads)

    def _tokenizer(self, path: Path):
        if not hasattr(self, "_tok"):
            self._tok = _Tokens(path, self._max_len(path))
        return self._tok

    @staticmethod
    def _max_len(path: Path) -> int:
        try:
            return int(json.loads((path / "sentence_bert_config.json").read_text())["max_seq_length"])
        except (OSError, ValueError, KeyError):
            return 512

    def _check_query_variant(self) -> None:
        """Refuse a query variant whose vectors are not the passage variant's."""
        a = self._passages(list(_PROBES), "", False)
        b = self._query_encode(list(_PROBES), "", False)
        cosine = float(np.min(np.sum(a * b, axis=1)))
        same_ranking = bool(np.array_equal(np.argsort(-(a @ a.T), axis=1), np.argsort(-(b @ a.T), axis=1)))
        if cosine < QUERY_MIN_COSINE or not same_ranking:
            raise ModelMismatch(
                f"查询用的嵌入版本 {self.query_identity} 与段落版本 {self.identity} 的向量不一致"
                f"（最小余弦 {cosine:.4f}，需 ≥ {QUERY_MIN_COSINE}，排序{'相同' if same_ranking else '不同'}）；"
                "请改用与段落相同的 QA_QUERY_BACKEND / QA_QUERY_FILE。")

    def _prompts(self, query: str | None, passage: str | None, own: dict) -> tuple[str, str]:
        known = next(((q, p) for key, q, p in _KNOWN_PROMPTS if key in self.identity.lower()), ("", ""))
        q = query if query is not None else own.get("query") or known[0]
        p = passage if passage is not None else own.get("passage") or own.get("document") or known[1]
        return q, p

    def _encode(self, texts: list[str], prompt: str, progress: bool, variant=None) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        rows = (variant or self._passages)(texts, prompt, progress)
        return np.ascontiguousarray(rows, dtype=np.float32)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        if len(texts) == 1:  # one query per request: batched with whatever other requests ask meanwhile
            return self._queries(texts[0])[None, :]
        return self._encode(texts, self.query_prompt, False, self._query_encode)

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        # Sorted by length before batching (sentence-transformers and _Native alike), so padding stays small.
        return self._encode(texts, self.passage_prompt, progress)


def _own_prompts(path: Path) -> dict:
    try:
        return json.loads((path / "config_sentence_transformers.json").read_text(encoding="utf-8")).get("prompts") or {}
    except (OSError, ValueError):
        return {}
