"""BM25 over jieba tokens (bm25s), with Chinese stopwords and a domain user dictionary.

bm25s's default splitter (`\\w\\w+`) turns a Chinese sentence into one token and
its default stopwords are English, so both are replaced here.
"""
from __future__ import annotations

import hashlib
import json
import math
import logging
import re
from collections.abc import Callable
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

_DATA = resources.files("qa") / "data"
# Numerals and question words carry meaning here ("十四五", "第三章", "哪一年"):
# keep them even though general-purpose stopword lists drop them.
_KEEP = set("一二三四五六七八九十百千万亿零两")
_EXTRA_STOP = {"多少", "是多少", "哪些", "什么", "怎么", "如何", "请问", "吗", "呢", "了", "的", "是"}
_JUNK = re.compile(r"^[\s\W_]+$")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    import stopwordsiso  # noqa: PLC0415

    words = {w for w in stopwordsiso.stopwords("zh") if w not in _KEEP}
    return frozenset(words | _EXTRA_STOP)


@lru_cache(maxsize=1)
def _jieba():
    import jieba  # noqa: PLC0415

    jieba.setLogLevel(logging.WARNING)
    tok = jieba.Tokenizer()  # our own instance: the user dictionary never leaks into jieba's global one
    with resources.as_file(_DATA / "userdict.txt") as path:
        tok.load_userdict(str(path))
    return tok


def split(text: str) -> list[str]:
    """Tokens of an already-normalised text: jieba words, lower-cased, punctuation dropped."""
    return [w.lower() for w in _jieba().cut(text) if not _JUNK.match(w)]


def fingerprint() -> str:
    """Identifies the tokenisation, so an index built with another dictionary is rebuilt."""
    h = hashlib.sha256((_DATA / "userdict.txt").read_bytes())
    h.update("\n".join(sorted(stopwords())).encode())
    return h.hexdigest()[:16]


# Each chunk's words as `split` gave them, saved beside the bm25s arrays so an update splits only
# new chunks (jieba was 87 % of an update). Words as ids into a vocabulary: 100k chunks' words as
# Python strings would cost a gigabyte, as ids they are two numpy arrays read only by an update.
_SPLIT_VOCAB, _SPLIT_IDS, _SPLIT_INDPTR = "split_vocab.json", "split_ids.npy", "split_indptr.npy"


def _knows_nothing(text: str) -> None:
    return None


class Lexical:
    """A bm25s index plus the tokenizer vocabulary that maps query words onto it."""

    def __init__(self, retriever, tokenizer, splits: list[list[str]] | None = None):
        self.retriever = retriever
        self.tokenizer = tokenizer
        self.splits = splits  # each indexed text's words, kept from `build` until `save`
        self.split_fresh = 0  # texts `build` had to split (the others came from `known`)

    @staticmethod
    def _tokenizer(splitter=split):
        from bm25s.tokenization import Tokenizer  # noqa: PLC0415

        return Tokenizer(lower=False, splitter=splitter, stopwords=sorted(stopwords()))

    @classmethod
    def build(cls, texts: list[str], known: Callable[[str], list[str] | None] | None = None) -> "Lexical":
        """BM25 over `texts`; `known(text)` gives a text's words when an earlier version split it.
        The vocabulary and scores are those of splitting every text afresh: same words, same order."""
        import bm25s  # noqa: PLC0415

        known = known or _knows_nothing
        splits: list[list[str]] = []
        fresh = 0

        def splitter(text: str) -> list[str]:
            nonlocal fresh
            words = known(text)
            if words is None:
                words, fresh = split(text), fresh + 1
            splits.append(words)
            return words

        tokenizer = cls._tokenizer(splitter)
        tokens = tokenizer.tokenize(texts, return_as="tuple", show_progress=False)
        tokenizer.splitter = split  # queries are split afresh
        retriever = bm25s.BM25()
        retriever.index(tokens, show_progress=False)
        lex = cls(retriever, tokenizer, splits if len(splits) == len(texts) else None)
        lex.split_fresh = fresh
        log.info("BM25 over %d chunks: %d split by jieba, %d words reused", len(texts), fresh, len(texts) - fresh)
        return lex

    def save(self, folder: Path) -> None:
        self.retriever.save(str(folder), show_progress=False)
        self.tokenizer.save_vocab(str(folder))
        if self.splits is not None:
            vocab: dict[str, int] = {}
            ids = [vocab.setdefault(w, len(vocab)) for words in self.splits for w in words]
            indptr = np.cumsum([0, *map(len, self.splits)], dtype=np.int64)
            np.save(folder / _SPLIT_IDS, np.array(ids, dtype=np.int32))
            np.save(folder / _SPLIT_INDPTR, indptr)
            (folder / _SPLIT_VOCAB).write_text(json.dumps(list(vocab), ensure_ascii=False), encoding="utf-8")
            self.splits = None  # saved: no need to hold every word of the index in memory

    @staticmethod
    def stored_splits(folder: Path, texts: list[str]) -> Callable[[str], list[str] | None]:
        """A lookup of the saved words of `texts` (the saved index's texts, in row order); one that
        knows nothing for an index saved before words were kept, or whose words do not fit."""
        try:
            vocab = json.loads((folder / _SPLIT_VOCAB).read_text(encoding="utf-8"))
            ids = np.load(folder / _SPLIT_IDS, allow_pickle=False)
            indptr = np.load(folder / _SPLIT_INDPTR, allow_pickle=False)
        except (OSError, ValueError):
            return _knows_nothing
        if len(indptr) != len(texts) + 1 or (len(ids) and int(ids.max()) >= len(vocab)):
            return _knows_nothing
        row = {t: i for i, t in enumerate(texts)}

        def lookup(text: str) -> list[str] | None:
            i = row.get(text)
            return None if i is None else [vocab[j] for j in ids[indptr[i]:indptr[i + 1]].tolist()]

        return lookup

    @classmethod
    def load(cls, folder: Path) -> "Lexical":
        import bm25s  # noqa: PLC0415

        retriever = bm25s.BM25.load(str(folder), show_progress=False)
        tokenizer = cls._tokenizer()
        tokenizer.load_vocab(str(folder))
        return cls(retriever, tokenizer)

    def idf(self, word: str) -> float:
        """BM25's inverse document frequency of a word over the indexed chunks (unseen words: the highest)."""
        n = self.retriever.scores["num_docs"]
        tid = self.tokenizer.word_to_id.get(word)
        indptr = self.retriever.scores["indptr"]
        df = int(indptr[tid + 1] - indptr[tid]) if tid is not None and tid + 1 < len(indptr) else 0
        return math.log(1.0 + (n - df + 0.5) / (df + 0.5))

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers and BM25 scores of the best `k` chunks with a positive score."""
        n = self.retriever.scores["num_docs"]
        ids = self.tokenizer.tokenize([query], update_vocab=False, return_as="ids", show_progress=False)
        if not ids or not [t for t in ids[0] if t != self.tokenizer.word_to_id.get("")]:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        rows, scores = self.retriever.retrieve(
            ids, k=min(k, n), show_progress=False, weight_mask=mask, n_threads=1
        )
        rows, scores = rows[0], scores[0]
        keep = scores > 0
        return rows[keep].astype(np.int64), scores[keep].astype(np.float32)
