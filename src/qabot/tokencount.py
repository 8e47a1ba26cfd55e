"""Exact token counts for chunking, paid once per distinct word instead of once per text.

Chunking counts every paragraph, then the sentences and merged pieces of the long ones, so a
build tokenizes ~1.5× its text, at ~0.4 ms a paragraph (the tokenizer's ``encode`` builds
offsets, ids and masks a count never reads). A Metaspace tokenizer (XLM-R, e5) cuts the
normalised text into words at spaces and tokenizes each word alone, so a text's count is the
sum of its words' counts plus the special tokens: counted here from the tokenizer's own
normaliser and model, with each word's count kept. Other tokenizers are counted by ``encode``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tokenizers import Tokenizer

#: Words whose counts are kept; past this the memo starts afresh (a word is ~100 bytes).
MAX_WORDS = 1 << 18
_SPACE = "▁"


class TokenCounter:
    """``len(tokenizer.encode(text).ids)`` (no truncation), cheaper on repeated words."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self._tokenizer = tokenizer
        self._words: dict[str, int] = {}
        self._specials = len(tokenizer.encode("").ids)
        self._by_word = _splits_at_spaces(tokenizer)
        if self._by_word:
            self._normalize = tokenizer.normalizer.normalize_str
            self._tokenize = tokenizer.model.tokenize
        # "<s>", "<pad>"… written in a text are matched before normalising: left to ``encode``.
        added = tokenizer.get_added_tokens_decoder().values()
        self._added = tuple(t.content for t in added)

    def __call__(self, text: str) -> int:
        if not self._by_word or any(added in text for added in self._added):
            return len(self._tokenizer.encode(text).ids)
        normalized = self._normalize(text)
        if not normalized:
            return self._specials
        # What Metaspace (prepend "always", split) does: spaces become "▁", a "▁" goes in
        # front unless there is one, and each word starts at a "▁".
        marked = normalized.replace(" ", _SPACE)
        words = marked.split(_SPACE)[1:] if marked.startswith(_SPACE) else marked.split(_SPACE)
        memo = self._words
        if len(memo) > MAX_WORDS:
            memo.clear()
        tokenize = self._tokenize
        for word in set(words).difference(memo):
            memo[word] = len(tokenize(_SPACE + word))
        return self._specials + sum(map(memo.__getitem__, words))


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
