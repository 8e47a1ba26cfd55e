"""Token counts paid per distinct word equal the tokenizer's own counts (``encode``)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer, normalizers, pre_tokenizers, processors
from tokenizers.models import Unigram, WordLevel

from qabot.arabic import split_sentences
from qabot.chunking import split_long
from qabot.tokencount import _ARABIC, _MARKS, TokenCounter

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
    assert count._by_word and count._kept is None  # (only XLM-R's normaliser is skipped)
    for text in ODD:
        assert count(text) == len(tokenizer.encode(text).ids), repr(text)
    assert count("ab ab ab") == 5  # <s> ▁ab ▁ab ▁ab </s>


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab de\n\t\u00a0▁وزيرال.ـ١ﻻé\u200d<s>")), max_size=40))
def test_counts_equal_encode_on_any_text(text: str) -> None:
    tokenizer = _small_xlmr_like()
    assert TokenCounter(tokenizer)(text) == len(tokenizer.encode(text).ids)


def test_fits_counts_exactly_when_the_bound_cannot_tell() -> None:
    tokenizer = _small_xlmr_like()
    count = TokenCounter(tokenizer)
    # <s> ▁ab ▁ab ▁ab </s>: 5 tokens, but 11 if each word took one token a character and "▁".
    assert count.fits("ab ab ab", 5)  # right at the limit: only the exact count knows
    assert not count.fits("ab ab ab", 4)
    fresh = TokenCounter(tokenizer)
    assert fresh.fits("ab ab ab", 11)  # the bounds decide (5 to 11): the words are not counted
    assert not fresh.fits("ab ab ab ab", 5)  # at least 6
    assert not fresh._words
    assert fresh.fits("ab ab ab ab", 6)  # 6 to 14: counted, 6
    assert fresh._words == {"ab": 1}
    assert fresh("ab ab ab") == 5 and fresh.fits("ab ab ab", 5)  # a bound kept is not a count
    assert fresh.fits("ab ab ab ab ab", 7) and not fresh.fits("ab ab ab ab ab", 6)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.text(alphabet=st.sampled_from(list("ab de\n▁وزيرال.ـ١ﻻé<s>")), max_size=30)),
    st.integers(0, 30),
)
def test_fits_is_the_count_against_the_limit(texts: list[str], limit: int) -> None:
    tokenizer = _small_xlmr_like()
    count = TokenCounter(tokenizer)  # one counter: words and texts met before are kept
    for text in texts:
        assert count.fits(text, limit) == (len(tokenizer.encode(text).ids) <= limit), repr(text)


@settings(max_examples=100, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("ab de وزير ال. ـ١")), max_size=120),
    st.integers(3, 40),
)
def test_split_long_cuts_where_the_exact_counts_cut(text: str, limit: int) -> None:
    tokenizer = _small_xlmr_like()
    exact = [split_long(text, limit, lambda t: len(tokenizer.encode(t).ids))]
    assert [split_long(text, limit, TokenCounter(tokenizer))] == exact


def test_a_paragraph_at_the_limit_stays_whole_and_one_token_more_is_split() -> None:
    tokenizer = _small_xlmr_like()
    paragraph = "ab ab. ab ab. ab ab"  # <s> + 8 + </s> = 10 tokens, 21 by characters
    assert len(tokenizer.encode(paragraph).ids) == 10
    assert split_long(paragraph, 10, TokenCounter(tokenizer)) == [paragraph]
    assert split_long(paragraph, 9, TokenCounter(tokenizer)) == ["ab ab. ab ab.", "ab ab"]


def test_byte_fallback_pieces_are_always_counted() -> None:
    pieces = [("<s>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -2.0), ("a", -3.0)]
    pieces += [(f"<0x{b:02X}>", -5.0) for b in range(256)]
    tokenizer = Tokenizer(Unigram(pieces, unk_id=2, byte_fallback=True))
    tokenizer.normalizer = normalizers.NFKC()  # type: ignore[assignment]
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(prepend_scheme="always", split=True)
    count = TokenCounter(tokenizer)
    text = "a 🙂"  # ▁ a ▁ and the emoji's 4 bytes: 7 tokens, 4 characters with the "▁"s
    assert len(tokenizer.encode(text).ids) == 7
    assert count._by_word and not count._bounded
    assert not count.fits(text, 6) and count.fits(text, 7)


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


@lru_cache(maxsize=1)
def _bundled() -> Tokenizer:
    from qabot.config import Settings
    from qabot.model.load import model_dir

    folder = model_dir(Path(Settings().cache_dir).expanduser().resolve())
    return Tokenizer.from_file(str(folder / "tokenizer.json"))


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [*_ARABIC, *_MARKS, *"ab Z9.-\"", "  ", "\t", "ﻻ", "…", "\u0653", "\u0654", "ٵ", "ﷺ"]
        ),
        max_size=40,
    ).map("".join),
    st.integers(2, 40),
)
def test_the_bundled_normaliser_is_skipped_only_where_it_changes_nothing(
    text: str, limit: int
) -> None:
    tokenizer = _bundled()
    count = TokenCounter(tokenizer)
    assert count._kept is not None
    if count._kept(text):
        assert tokenizer.normalizer.normalize_str(text) == text
    exact = len(tokenizer.encode(text).ids)
    assert count.fits(text, limit) == (exact <= limit)
    assert count(text) == exact
