"""BM25 over jieba words, with Chinese stopwords and a domain user dictionary, kept per segment
and scored with global statistics (see `Lexical`). bm25s, whose splitter and stopwords do not fit
Chinese, remains the tests' oracle for the scores.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
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


# BM25 over segments (see qa/index.py): each segment keeps its chunks' words and their postings,
# and the scores are computed at query time from statistics over every live chunk of every
# segment (N, document frequency, average length). An update writes only its own segment and
# still ranks exactly as one index built from scratch would: bm25s bakes those statistics into
# the scores it stores, which is why it is not the store here (it stays the tests' oracle).
#
#   lexical/vocab.json                  the segment's words, in id order
#   lexical/split_ids.npy, split_indptr.npy
#                                       each chunk's words as `split` gave them (stopwords too), as ids:
#                                       what a merge or a rebuild reuses instead of splitting again
#   lexical/post_indptr.npy, post_rows.npy, post_tf.npy
#                                       per word, the chunks holding it (segment rows) and how often
#   lexical/doc_len.npy                 each chunk's length as BM25 counts it
#   lexical/head/                       the same files for the heading field alone: each chunk's
#                                       title and section path, the first line of its search text
#                                       (qa/chunk.py `add`), scored with statistics of its own so
#                                       that a heading match can count for more than a body match
_FILES = ("vocab.json", "split_ids.npy", "split_indptr.npy", "post_indptr.npy", "post_rows.npy",
          "post_tf.npy", "doc_len.npy")
K1, B = 1.5, 0.75  # bm25s's defaults ("lucene" variant), kept so rankings stay as they were


class Postings:
    """One segment's words and postings (arrays memory-mapped when loaded)."""

    def __init__(self, words: list[str], split_ids, split_indptr, indptr, rows, tf, doc_len,
                 head: Postings | None = None):
        self.words = words
        self.vocab = {w: i for i, w in enumerate(words)}
        self.split_ids, self.split_indptr = split_ids, split_indptr
        self.indptr, self.rows, self.tf, self.doc_len = indptr, rows, tf, doc_len
        self.head = head  # the heading field's postings (same rows), None for the heading field itself
        self.split_fresh = 0  # texts `build` had to split (the others came from `known`)

    def __len__(self) -> int:
        return len(self.doc_len)

    @classmethod
    def build(cls, texts: list[str], known: Callable[[str], list[str] | None] | None = None) -> Postings:
        """Postings of `texts`; `known(text)` gives a text's words when an earlier segment split it."""
        known = known or _knows_nothing
        splits, fresh = [], 0
        for text in texts:
            words = known(text)
            if words is None:
                words, fresh = split(text), fresh + 1
            splits.append(words)
        postings = cls.from_splits(splits)
        postings.head = cls.heads(texts)
        postings.split_fresh = fresh
        log.info("BM25 over %d chunks: %d split by jieba, %d words reused", len(texts), fresh, len(texts) - fresh)
        return postings

    @classmethod
    def heads(cls, texts: list[str]) -> Postings:
        """The heading field's postings: the first line of each search text, split once per distinct heading."""
        seen: dict[str, list[str]] = {}
        return cls.from_splits([seen[h] if h in seen else seen.setdefault(h, split(h))
                                for h in (t.split("\n", 1)[0] for t in texts)])

    @classmethod
    def from_splits(cls, splits: list[list[str]]) -> Postings:
        vocab: dict[str, int] = {}
        ids = np.fromiter((vocab.setdefault(w, len(vocab)) for words in splits for w in words), dtype=np.int32)
        lens = np.fromiter(map(len, splits), dtype=np.int64, count=len(splits))
        words = list(vocab)
        return cls._index(words, ids, np.concatenate([[0], np.cumsum(lens)]).astype(np.int64))

    @classmethod
    def _index(cls, words: list[str], ids: np.ndarray, split_indptr: np.ndarray) -> Postings:
        n = len(split_indptr) - 1
        lens = np.diff(split_indptr)
        stop = stopwords()
        is_stop = np.fromiter((w in stop for w in words), dtype=bool, count=len(words))
        doc = np.repeat(np.arange(n, dtype=np.int64), lens)
        keep = ~is_stop[ids] if len(ids) else np.zeros(0, dtype=bool)
        term, doc = ids[keep].astype(np.int64), doc[keep]
        # bm25s counts a text that splits into nothing as one empty word (its length is 1, not 0)
        doc_len = np.bincount(doc, minlength=n).astype(np.int32)
        doc_len[lens == 0] = 1
        pairs, tf = np.unique(term * max(n, 1) + doc, return_counts=True)
        per_word = np.bincount(pairs // max(n, 1), minlength=len(words)) if len(pairs) else np.zeros(len(words), np.int64)
        indptr = np.concatenate([[0], np.cumsum(per_word)]).astype(np.int64)
        return cls(words, ids, split_indptr, indptr, (pairs % max(n, 1)).astype(np.int32),
                   tf.astype(np.float32), doc_len)

    @classmethod
    def merge(cls, parts: list[tuple[Postings, np.ndarray]]) -> Postings:
        """One segment's postings from the kept rows (`keep`, a boolean mask) of several: words reused, nothing split."""
        vocab: dict[str, int] = {}
        ids, lens = [], []
        for postings, keep in parts:
            remap = np.fromiter((vocab.setdefault(w, len(vocab)) for w in postings.words), dtype=np.int32,
                                count=len(postings.words))
            starts, ends = postings.split_indptr[:-1][keep], postings.split_indptr[1:][keep]
            for s, e in zip(starts.tolist(), ends.tolist()):
                ids.append(remap[postings.split_ids[s:e]])
                lens.append(e - s)
        flat = np.concatenate(ids).astype(np.int32) if ids else np.zeros(0, dtype=np.int32)
        merged = cls._index(list(vocab), flat, np.concatenate([[0], np.cumsum(lens)]).astype(np.int64))
        if parts and all(p.head is not None for p, _ in parts):
            merged.head = cls.merge([(p.head, keep) for p, keep in parts])
        return merged

    def words_of(self, row: int) -> list[str]:
        s, e = int(self.split_indptr[row]), int(self.split_indptr[row + 1])
        return [self.words[i] for i in self.split_ids[s:e].tolist()]

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "vocab.json").write_text(json.dumps(self.words, ensure_ascii=False), encoding="utf-8")
        for name, arr in (("split_ids", self.split_ids), ("split_indptr", self.split_indptr),
                          ("post_indptr", self.indptr), ("post_rows", self.rows), ("post_tf", self.tf),
                          ("doc_len", self.doc_len)):
            np.save(folder / f"{name}.npy", np.asarray(arr))
        if self.head is not None:
            self.head.save(folder / "head")

    @classmethod
    def load(cls, folder: Path, texts: list[str] | None = None) -> Postings:
        """Saved postings; a segment written before the heading field (no head/) gets it from
        `texts`, its chunks' search texts, so it ranks as a rebuilt one would."""
        words = json.loads((folder / "vocab.json").read_text(encoding="utf-8"))
        arr = {n: np.load(folder / f"{n}.npy", mmap_mode="r", allow_pickle=False)
               for n in ("split_ids", "split_indptr", "post_indptr", "post_rows", "post_tf", "doc_len")}
        p = cls(words, arr["split_ids"], arr["split_indptr"], arr["post_indptr"], arr["post_rows"],
                arr["post_tf"], arr["doc_len"])
        if len(p.indptr) != len(words) + 1 or len(p.split_indptr) != len(p.doc_len) + 1 or len(p.rows) != len(p.tf):
            raise ValueError("lexical arrays do not fit together")
        if (folder / "head").is_dir():
            p.head = cls.load(folder / "head")
        elif texts is not None:
            p.head = cls.heads(texts)
        if p.head is not None and len(p.head) != len(p):
            raise ValueError(f"heading field has {len(p.head)} rows, the postings {len(p)}")
        return p


def _knows_nothing(text: str) -> None:
    return None


class Lexical:
    """BM25 over the live rows of several segments' postings, with global statistics.

    `parts` pairs each segment's postings with `rows`: the global row of each of its rows, -1 for a
    deleted one. Scores follow bm25s's float32 arithmetic step by step, so a segmented index and one
    built from scratch over the same chunks give the same numbers (tests/test_segments.py)."""

    def __init__(self, parts: list[tuple[Postings, np.ndarray]], n_rows: int):
        self.parts = parts
        self.n = n_rows
        total = 0
        for postings, rows in parts:
            total += int(np.asarray(postings.doc_len, dtype=np.int64)[rows >= 0].sum())
        self.avg_len = total / n_rows if n_rows else 0.0
        self._terms: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # see `_term`
        # The heading field, scored over the same live rows with its own N, df and average length.
        heads = [(p.head, rows) for p, rows in parts]
        self.head = Lexical(heads, n_rows) if parts and all(h is not None for h, _ in heads) else None

    def _term(self, word: str) -> tuple[np.ndarray, np.ndarray]:
        """Global rows holding `word` and their BM25 scores for it (cached: a version never changes)."""
        hit = self._terms.get(word)
        if hit is not None:
            return hit
        rows_l, tf_l, len_l = [], [], []
        for postings, rows in self.parts:
            t = postings.vocab.get(word)
            if t is None:
                continue
            s, e = int(postings.indptr[t]), int(postings.indptr[t + 1])
            local = np.asarray(postings.rows[s:e])
            glob = rows[local]
            live = glob >= 0
            rows_l.append(glob[live])
            tf_l.append(np.asarray(postings.tf[s:e])[live])
            len_l.append(np.asarray(postings.doc_len)[local[live]])
        if not rows_l or not sum(map(len, rows_l)):
            hit = (np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32))
        else:
            glob, tf, dl = np.concatenate(rows_l), np.concatenate(tf_l), np.concatenate(len_l)
            # bm25s's arithmetic: idf stored as float32, the rest in float64, each score rounded to float32
            idf = np.float64(np.float32(math.log(1 + (self.n - len(glob) + 0.5) / (len(glob) + 0.5))))
            tf64 = tf.astype(np.float64)
            tfc = tf64 / (K1 * ((1 - B) + B * dl.astype(np.float64) / self.avg_len) + tf64)
            hit = (glob, (idf * tfc).astype(np.float32))
        if len(self._terms) < 50_000:
            self._terms[word] = hit
        return hit

    def idf(self, word: str) -> float:
        """BM25's inverse document frequency of a word over the indexed chunks (unseen words: the highest)."""
        df = len(self._term(word)[0])
        return math.log(1.0 + (self.n - df + 0.5) / (df + 0.5))

    def query_words(self, query: str) -> list[str]:
        stop = stopwords()
        return [w for w in split(query) if w not in stop]

    def scores(self, query: str, head_weight: float = 0.0) -> np.ndarray | None:
        """Every row's BM25 score for `query` (None when no query word is indexed), plus
        `head_weight` times its heading field's score."""
        words = self.query_words(query)
        terms = [t for t in map(self._term, words) if len(t[0])]
        if head_weight and self.head is not None:
            terms += [(rows, contrib * np.float32(head_weight)) for rows, contrib in map(self.head._term, words)
                      if len(rows)]
        if not terms:
            return None
        scores = np.zeros(self.n, dtype=np.float32)
        for rows, contrib in terms:  # a word asked twice counts twice, as in bm25s
            scores[rows] += contrib
        return scores

    def search(self, query: str, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Row numbers and BM25 scores of the best `k` chunks with a positive score."""
        scores = self.scores(query)
        if scores is None or k <= 0:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
        return self.top(scores, k, mask)

    @staticmethod
    def top(scores: np.ndarray, k: int, mask: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The best `k` rows of `scores` with a positive score (ties: lower row first)."""
        if mask is not None:
            scores = scores * mask
        hits = np.flatnonzero(scores > 0)
        if len(hits) > k:
            hits = hits[np.argpartition(-scores[hits], k - 1)[:k]]
        order = hits[np.lexsort((hits, -scores[hits]))]
        return order.astype(np.int64), scores[order]
