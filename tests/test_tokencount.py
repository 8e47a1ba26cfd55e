"""Token counts paid per distinct word equal the tokenizer's own counts (``encode``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram, WordLevel

from qabot.arabic import split_sentences
from qabot.tokencount import TokenCounter

SEED = Path(__file__).resolve().parents[1] / "articles"
ODD = [
    "", " ", "  ", "\n", "a", " a", "a ", "  a  b  ", "a\nb", "a\tb", "\u00a0x\u00a0", "x\u200dy",
    "\u200d", "▁", "a▁b", "▁▁", "ﷺ", "ﻻ", "㎏ test", "🙂 x", "a" * 3000, "x  \n  y",
    "\u3000a\u3000", "ـــ", "e\u0301", "\r\n", "\x00", "١٢٣", "Ⅻ", "<s> </s>", "a<pad>b", "<unk>",
    "وزير الخارجية. الروسي", "جملة.جملة",
]  # fmt: skip


def _small_xlmr_like() -> Tokenizer:
    """A tiny Unigram tokenizer laid out as XLM-R's: normaliser, Metaspace, <s> … </s>."""
    pieces = [("<s>", 0.0), ("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0)]
    pieces += [(c, -3.0) for c in "abcdeوزيرالخجةسـ.١"] + [("▁ab", -1.0), ("▁وزير", -1.0)]
    pieces += [("ال", -1.5), ("de", -1.2), ("▁a", -1.1)]
    tokenizer = Tokenizer(Unigram(pieces, unk_id=3))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.NFKC(), normalizers.Replace(" {2,}", " ")]  # type: ignore[list-item]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always", split=True)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", special_tokens=[("<s>", 0), ("</s>", 2)]
    )
    tokenizer.add_special_tokens(["<s>", "<pad>", "</s>", "<unk>"])
    return tokenizer


def test_a_metaspace_unigram_tokenizer_is_counted_word_by_word() -> None:
    tokenizer = _small_xlmr_like()
    count = TokenCounter(tokenizer)
    assert count._by_word
    for text in ODD:
        assert count(text) == len(tokenizer.encode(text).ids), repr(text)
    assert count("ab ab ab") == 5  # <s> ▁ab ▁ab ▁ab </s>


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab de\n\t\u00a0▁وزيرال.ـ١ﻻé\u200d<s>")), max_size=40))
def test_counts_equal_encode_on_any_text(text: str) -> None:
    tokenizer = _small_xlmr_like()
    assert TokenCounter(tokenizer)(text) == len(tokenizer.encode(text).ids)


def test_other_tokenizers_are_counted_by_encode() -> None:
    tokenizer = Tokenizer(WordLevel({"a": 0, "b": 1, "[UNK]": 2}, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()  # type: ignore[assignment]
    count = TokenCounter(tokenizer)
    assert not count._by_word
    assert count("a b  c") == 3
    padded = _small_xlmr_like()
    padded.enable_padding(length=64)
    assert not TokenCounter(padded)._by_word  # padding would change every count


@pytest.mark.slow
def test_the_bundled_tokenizer_counts_as_encode_on_the_seed_and_odd_text() -> None:
    from qabot.config import Settings
    from qabot.model import load_encoder

    encoder = load_encoder(Settings(backend="onnx"))
    tokenizer: Tokenizer = encoder.tokenizer  # type: ignore[union-attr]
    assert TokenCounter(tokenizer)._by_word
    lines = [line for f in sorted(SEED.glob("*.txt")) for line in f.read_text("utf-8").split("\n")]
    paragraphs = [line for line in lines if len(line) > 40]
    assert len(paragraphs) > 10
    texts = ODD + paragraphs + [s for p in paragraphs for s in split_sentences(p)]
    texts += [f"{a} {b}" for a, b in zip(paragraphs, paragraphs[1:], strict=False)]
    assert [encoder.count_tokens(t) for t in texts] == [len(tokenizer.encode(t).ids) for t in texts]
