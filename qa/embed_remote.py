"""Embeddings from an OpenAI-compatible `/v1/embeddings` server (`QA_EMBED_URL`).

TEI, vLLM, Xinference and Ollama serve this route, so a bulk load can run on a bureau's GPU server.
The text goes out with the model's prompt already in front ("passage: …"), exactly as the local
model is given it; rows are L2-normalised here, since whether a server normalises depends on the
server and the model's config. Timeout and retries (with backoff) are the `openai` SDK's.
"""
from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import numpy as np

from .errors import EmbeddingEndpointUnavailable, InvalidArgument

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}


def endpoint_base(url: str) -> str:
    """The SDK's base URL (…/v1) from what a user may paste: the host, …/v1, or …/v1/embeddings.
    Credentials and query strings are dropped (a key goes in QA_EMBED_API_KEY), the port is explicit,
    so one endpoint has one spelling in the model identity."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:  # a port that is not a number
        port = -1
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or port == -1:
        raise InvalidArgument(f"QA_EMBED_URL 不是 http(s) 地址：{_shown(url)}（例：http://gpu-server:8080/v1）")
    path = parts.path.rstrip("/").removesuffix("/embeddings") or "/v1"
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return urlunsplit((parts.scheme, f"{host}:{port or _DEFAULT_PORTS[parts.scheme]}", path, "", ""))


def remote_identity(url: str, served_model: str) -> str:
    """The model identity of an index embedded through an endpoint: the served model and where it ran.
    Another endpoint may serve other weights or another pooling under the same name, so it is refused."""
    return f"url:{served_model}@{endpoint_base(url)}"


def _shown(url: str) -> str:
    """`url` for a message: without user, password and query (they may carry a key)."""
    parts = urlsplit(url.strip())
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


class RemoteEmbeddings:
    """Called like the local variants: (texts, prompt, progress) -> L2-normalised float32 rows."""

    def __init__(self, url: str, served_model: str, api_key: str = "", batch_size: int = 32,
                 timeout: float = 60.0, max_retries: int = 2):
        from openai import OpenAI  # noqa: PLC0415 - only when an endpoint is configured

        self.base, self.served_model, self.batch_size = endpoint_base(url), served_model, batch_size
        self.where = f"{self.base}/embeddings"
        # Servers without authentication (TEI, vLLM by default, Ollama) ignore the header; the SDK
        # insists on some key, and must not pick up OPENAI_API_KEY meant for another service.
        self._client = OpenAI(base_url=self.base, api_key=api_key or "unused", timeout=timeout,
                              max_retries=max_retries)
        self.dim: int | None = None

    def __call__(self, texts: list[str], prompt: str = "", progress: bool = False) -> np.ndarray:
        from tqdm import tqdm  # noqa: PLC0415

        out = []
        for start in tqdm(range(0, len(texts), self.batch_size), disable=not progress, desc="Batches"):
            out.append(self._batch([prompt + t for t in texts[start:start + self.batch_size]]))
        rows = np.concatenate(out) if out else np.zeros((0, self.dim or 0), dtype=np.float32)
        return rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)

    def dimension(self) -> int:
        if self.dim is None:
            self._batch(["passage: 维度探测"])
        return self.dim

    def _batch(self, batch: list[str]) -> np.ndarray:
        import openai  # noqa: PLC0415

        try:
            # "float" stated: the SDK would ask for base64, which not every server speaks.
            response = self._client.embeddings.create(model=self.served_model, input=batch, encoding_format="float")
        except openai.APIStatusError as e:
            raise self._unavailable(f"返回 HTTP {e.status_code}") from e
        except openai.APITimeoutError as e:
            raise self._unavailable("请求超时") from e
        except openai.APIConnectionError as e:
            raise self._unavailable("无法连接") from e
        except (openai.APIError, ValueError) as e:  # a body that is not the embeddings JSON
            raise self._unavailable(f"返回的内容无法解析（{type(e).__name__}）") from e
        data = getattr(response, "data", None)  # a body that is not JSON comes back as its text
        if not isinstance(data, list):
            raise self._unavailable("返回的内容无法解析（不是 embeddings 接口的 JSON）")
        if len(data) != len(batch):
            raise self._unavailable(f"为 {len(batch)} 段文本返回了 {len(data)} 个向量")
        try:
            rows = np.array([d.embedding for d in sorted(data, key=lambda d: d.index)], dtype=np.float32)
        except (AttributeError, TypeError, ValueError) as e:
            raise self._unavailable(f"返回的向量格式不对（{type(e).__name__}）") from e
        if rows.ndim != 2 or not rows.shape[1] or not np.all(np.isfinite(rows)):
            raise self._unavailable(f"返回的向量形状为 {rows.shape} 或含非数值")
        if self.dim is None:
            self.dim = int(rows.shape[1])
            log.info("embedding endpoint %s (%s): dimension %d", self.where, self.served_model, self.dim)
        elif rows.shape[1] != self.dim:
            raise self._unavailable(f"向量维度从 {self.dim} 变成了 {rows.shape[1]}")
        return rows

    def _unavailable(self, what: str) -> EmbeddingEndpointUnavailable:
        return EmbeddingEndpointUnavailable(
            f"嵌入服务 {self.where}（模型 {self.served_model}）{what}；请检查 QA_EMBED_URL、QA_EMBED_URL_MODEL "
            "和该服务是否在运行。")
