"""Exact token counts for chunking, paid once per distinct word instead of once per text.

Chunking counts every paragraph, then the sentences and merged pieces of the long ones, so a
build tokenizes ~1.5× its text, at ~0.4 ms a paragraph (the tokenizer's ``encode`` builds
offsets, ids and masks a count never reads). A Metaspace tokenizer (XLM-R, e5) cuts the
normalised text into words at spaces and tokenizes each word alone, so a text's count is the
sum of its words' counts plus the special tokens: counted here from the tokenizer's own
normaliser and model, with each word's count kept. Other tokenizers are counted by ``encode``.

Chunking only asks whether a text fits (:meth:`TokenCounter.fits`), and most paragraphs fit
by far: a word's tokens each cover at least one of its characters, so a word not counted yet
is bounded by its length, and its model run is paid only where the bounds could not decide a
split (on ARCD, 7,645 of 15,922 distinct words are counted). The normaliser itself is skipped
on text it surely leaves as it is (:func:`_kept_test`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenizers import Tokenizer

#: Words whose counts are kept; past this the memo starts afresh (a word is ~100 bytes).
MAX_WORDS = 1 << 18
#: Texts whose count (or bound) is kept: archives repeat whole paragraphs.
MAX_TEXTS = 1 << 16
_SPACE = "▁"
#: Arabic letters, digits and punctuation, and the marks that join a letter (``_kept_test``).
_ARABIC = "".join(map(chr, [0x60C, 0x61B, 0x61F, *range(0x620, 0x64B), *range(0x660, 0x670),
                             *range(0x671, 0x6D4), 0x6D5, 0xAB, 0xBB, 0x2013, 0x2014,
                             *range(0x2018, 0x201E)]))  # fmt: skip
_MARKS = "".join(map(chr, [*range(0x64B, 0x656), 0x670]))
_SPACES_TO_ONE = {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}


class TokenCounter:
    """``len(tokenizer.encode(text).ids)`` (no truncation), cheaper on repeated words, and
    whether a text fits in a number of tokens, counted exactly only when a bound cannot tell."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._words: dict[str, int] = {}
        # text → the least and most its count can be (the same once counted)
        self._texts: dict[str, tuple[int, int]] = {}
        self._specials = len(tokenizer.encode("").ids)
        self._by_word = _splits_at_spaces(tokenizer)
        self._bounded = False  # whether a word's count is at most its length + 1
        if self._by_word:
            self._normalize = tokenizer.normalizer.normalize_str
            self._kept = _kept_test(tokenizer)
            self._tokenize = tokenizer.model.tokenize
            # A byte-fallback piece ("<0xE2>") covers a byte: up to 4 a character.
            pieces = map(tokenizer.model.token_to_id, (f"<0x{b:02X}>" for b in range(256)))
            self._bounded = all(piece is None for piece in pieces)
        # "<s>", "<pad>"… written in a text are matched before normalising: left to ``encode``.
        added = tokenizer.get_added_tokens_decoder().values()
        self._added = tuple(t.content for t in added)

    def __call__(self, text: str) -> int:
        low, high = self._texts.get(text, (0, -1))
        if low == high:
            return low
        words = self._split(text)
        count = len(self._tokenizer.encode(text).ids) if words is None else self._count(words)
        self._remember(text, count, count)
        return count

    def fits(self, text: str, limit: int) -> bool:
        """``self(text) <= limit``, running the model on as few words not met before as it
        can. Until it is counted, such a word counts as at least one token and at most one
        a character plus one for the "▁" in front of it (a model's piece is never empty, and
        no piece spans two words); they are counted longest first, only while ``limit`` is
        between those bounds of the text's count."""
        low, high = self._texts.get(text, (0, -1))
        if low <= high and (high <= limit or low > limit):
            return high <= limit
        words = self._split(text)
        if words is None or not self._bounded:
            return self(text) <= limit
        memo = self._words
        if len(memo) > MAX_WORDS:
            memo.clear()
        cold = Counter([w for w in words if w not in memo])
        low = high = self._specials + sum([memo[w] for w in words if w in memo])
        low += cold.total()
        high += sum([(len(w) + 1) * n for w, n in cold.items()])
        for word in sorted(cold, key=lambda w: len(w) * cold[w], reverse=True):
            if high <= limit or low > limit:
                break
            count = memo[word] = len(self._tokenize(_SPACE + word))
            low += (count - 1) * cold[word]
            high -= (len(word) + 1 - count) * cold[word]
        self._remember(text, low, high)
        return high <= limit

    def _split(self, text: str) -> list[str] | None:
        """The words the tokenizer's model sees in ``text`` (without their "▁"), or None if
        only ``encode`` counts it right."""
        if not self._by_word or any(added in text for added in self._added):
            return None
        normalized = text if self._kept is not None and self._kept(text) else self._normalize(text)
        if not normalized:
            return []
        # What Metaspace (prepend "always", split) does: spaces become "▁", a "▁" goes in
        # front unless there is one, and each word starts at a "▁".
        marked = normalized.replace(" ", _SPACE)
        return marked.split(_SPACE)[1:] if marked.startswith(_SPACE) else marked.split(_SPACE)

    def _count(self, words: list[str]) -> int:
        memo = self._words
        if len(memo) > MAX_WORDS:
            memo.clear()
        tokenize = self._tokenize
        for word in set(words).difference(memo):
            memo[word] = len(tokenize(_SPACE + word))
        return self._specials + sum(map(memo.__getitem__, words))

    def _remember(self, text: str, low: int, high: int) -> None:
        if len(self._texts) > MAX_TEXTS:
            self._texts.clear()
        self._texts[text] = (low, high)


def fits_within(count_tokens: Callable[[str], int], limit: int) -> Callable[[str], bool]:
    """Whether a text has at most ``limit`` tokens as ``count_tokens`` counts them: through
    :meth:`TokenCounter.fits` when it is one (counting only where a bound cannot tell)."""
    if isinstance(count_tokens, TokenCounter):
        return partial(count_tokens.fits, limit=limit)
    return lambda text: count_tokens(text) <= limit


def _kept_test(tokenizer: Tokenizer) -> Callable[[str], bool] | None:
    """A test that the tokenizer's normaliser surely leaves a text as it is, much cheaper than
    running it (most paragraphs are left as they are), or None if there is none for it.

    For XLM-R's normaliser: a precompiled map applied a grapheme at a time (a grapheme under
    6 bytes looked up whole, any other a character at a time), then runs of spaces made one.
    Printable ASCII and the Arabic letters, digits and punctuation below are each a grapheme
    of their own; an Arabic mark joins the character before it. So a text of those, with no
    two spaces in a row and no mark after an ASCII character or at the start, is made of
    graphemes the map leaves alone if each character does, and each wide one with one mark:
    checked here once, with the characters the map changes left out."""
    normalizer = tokenizer.normalizer
    spec = json.loads(normalizer.__getstate__()) if normalizer is not None else {}
    steps = spec.get("normalizers", []) if spec.get("type") == "Sequence" else []
    if [step.get("type") for step in steps] != ["Precompiled", "Replace"]:
        return None
    if steps[1] != _SPACES_TO_ONE:
        return None
    normalize = normalizer.normalize_str
    ascii_ = [c for c in map(chr, range(0x20, 0x7F)) if normalize(c) == c]
    wide = [c for c in _ARABIC if normalize(c) == c]
    marks = [m for m in _MARKS if all(normalize(c + m) == c + m for c in ["", *wide])]
    other = re.compile("[^" + re.escape("".join(ascii_ + wide + marks)) + "]")
    lone = re.compile(f"(?:^|[{re.escape(''.join(ascii_))}])[{''.join(marks)}]")
    return lambda t: other.search(t) is None and "  " not in t and lone.search(t) is None


def _splits_at_spaces(tokenizer: Tokenizer) -> bool:
    """Whether ``tokenizer`` works word by word as :class:`TokenCounter` assumes: a
    normaliser, a Metaspace pre-tokenizer that prepends "▁" always and splits, a Unigram
    model, and no truncation or padding (which would change a count). Read from its parts:
    its whole JSON (``to_str``, the 250k-piece vocabulary) took ~0.3 s to make and parse."""
    from tokenizers.models import Unigram

    pre = tokenizer.pre_tokenizer
    spec: dict[str, Any] = json.loads(pre.__getstate__()) if pre is not None else {}
    return (
        tokenizer.normalizer is not None
        and spec.get("type") == "Metaspace"
        and spec.get("replacement") == _SPACE
        and spec.get("prepend_scheme") == "always"
        and spec.get("split") is True
        and tokenizer.truncation is None
        and tokenizer.padding is None
        and isinstance(tokenizer.model, Unigram)
    )
