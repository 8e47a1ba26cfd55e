"""Key numbers made per distinct word are the ones a pass over every text's keys makes."""

from __future__ import annotations

import random

import numpy as np
import pytest

from qabot.arabic import index_keys
from qabot.index import lexkeys
from qabot.index.lexkeys import KeyNumbers

WORDS = ["مدينة", "قطار", "المدينة", "في", "من", "والقطار", "مطار", "Paris", "2024", "ببببب",
         "جامعة", "الجامعات", "مستشفى", "ملعب"]  # fmt: skip


def reference(texts: list[str], known: dict[str, int]) -> tuple[list[int], list[int], dict]:
    """One dictionary look-up per key, in order: what the numbers must be."""
    new: dict[str, int] = {}
    flat, lengths = [], []
    for text in texts:
        keys = index_keys(text)
        lengths.append(len(keys))
        for key in keys:
            number = known.get(key)
            flat.append(new.setdefault(key, len(known) + len(new)) if number is None else number)
    return flat, lengths, new


def numbered(texts: list[str], known: dict[str, int]) -> tuple[list[int], list[int], dict]:
    numbering = KeyNumbers(known, len(known))
    parts = list(numbering.blocks(texts))
    flat = np.concatenate([np.zeros(0, np.int32)] + [p[0] for p in parts]).tolist()
    lengths = np.concatenate([np.zeros(0, np.int64)] + [p[1] for p in parts]).tolist()
    return flat, lengths, numbering.new


@pytest.mark.parametrize("block,max_words", [(1 << 14, 1 << 20), (3, 5), (1, 0)])
def test_numbers_are_a_pass_over_every_key(
    monkeypatch: pytest.MonkeyPatch, block: int, max_words: int
) -> None:
    """Small blocks and a table that starts afresh (max_words) change nothing; repeated and
    empty texts, stopwords and keys repeated inside one word included."""
    monkeypatch.setattr(lexkeys, "BLOCK_TEXTS", block)
    monkeypatch.setattr(lexkeys, "MAX_WORDS", max_words)
    rng = random.Random(3)
    texts = [" ".join(rng.choices(WORDS, k=rng.randint(0, 9))) for _ in range(40)]
    texts += texts[:5] + ["", "في من"]
    assert numbered(texts, {}) == reference(texts, {})
    # An edit: the index's keys keep their numbers; new ones follow them, in order.
    first = reference(texts[:10], {})[2]
    later = texts[10:] + [" ".join(WORDS[::-1]) + " زلزال انتخابات"]
    got = numbered(later, first)
    assert got == reference(later, first)
    assert got[2] and min(got[2].values()) == len(first)
