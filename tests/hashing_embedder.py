"""`HashingEmbedder`: a deterministic TEST DOUBLE of `qa.embed.Embedder`, not a model.

Allowed only in tests of the store, fusion, ingest planning, crash safety and bookkeeping: they
assert what is written, kept, re-used, counted or refused (chunk ids, versions, documents, files,
how many chunks were embedded), never how well a passage is found. The real model costs seconds
per document on two cores and adds nothing to such an assertion. Anything that claims retrieval or
answer quality uses the real model (`embedder`, `corpus_service` in conftest.py).

Each vector is the text's character 1-, 2- and 3-grams hashed (crc32, seeded) into signed buckets
and L2-normalised: the same text gives the same vector in any process, and texts sharing words are
closer than texts sharing none, so dense search over it still orders results sensibly.
"""
from __future__ import annotations

import zlib

import numpy as np


class HashingEmbedder:
    """Has what `qa.service.Service` reads of an embedder: `encode_passages`, `encode_queries`,
    `name`, `identity`, `query_identity`, `dim` and the two prompts (recorded in the manifest;
    the vectors ignore them). Settings from `conftest.double_settings` name it as the model, so an
    index it builds says so and is refused by the real model."""

    NAME = "hashing-embedder-test-double"

    def __init__(self, dim: int = 384, seed: int = 0):
        self.name = self.identity = self.query_identity = self.NAME
        self.backend, self.file = "torch", None
        self.dim, self._seed = dim, seed
        self.query_prompt, self.passage_prompt = "query: ", "passage: "
        self.passages_encoded = 0  # texts given to encode_passages, for tests that count re-embedding

    def _vector(self, text: str) -> np.ndarray:
        buckets, signs = [], []
        for n in (1, 2, 3):
            for i in range(len(text) - n + 1):
                h = zlib.crc32(text[i:i + n].encode(), self._seed)
                buckets.append(h % self.dim)
                signs.append(1.0 if h & 0x80000000 else -1.0)
        v = np.zeros(self.dim, dtype=np.float32)
        np.add.at(v, np.asarray(buckets, dtype=np.int64), np.asarray(signs, dtype=np.float32))
        norm = float(np.linalg.norm(v))
        if norm == 0.0:  # empty text: a fixed unit vector, as a model also gives some vector
            v[0], norm = 1.0, 1.0
        return v / norm

    def _encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, text in enumerate(texts):
            out[i] = self._vector(text)
        return out

    def encode_passages(self, texts: list[str], progress: bool = False) -> np.ndarray:
        self.passages_encoded += len(texts)
        return self._encode(texts)

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode(texts)
