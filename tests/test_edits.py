"""An edit of a large index reuses what is stored as it is: the files it writes are a full
build's, byte for byte, where the format allows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from fakes import HashEncoder

from qabot.chunking import paragraph_chunks
from qabot.index import FileStore, index_chunks
from qabot.index.halfvectors import CodeRows, HalfIndex

WORDS = ["مدينة", "قطار", "مطار", "جامعة", "مستشفى", "ملعب", "متحف", "سوق", "مكتبة", "حديقة"]


def chunks(ids: range | list[int], edited: int | None = None) -> list:
    """Articles of two paragraphs; their sentences repeat across articles (shared vectors)."""
    out = []
    for i in ids:
        first = f"خبر عن {WORDS[i % 10]} رقم {i}. جملة مشتركة عن {WORDS[(i * 3) % 10]}."
        second = f"فقرة ثانية عن {WORDS[(i * 7) % 10]}. {'تحديث جديد. ' if i == edited else ''}"
        for p, text in enumerate([first, second], start=1):
            out += paragraph_chunks(f"a{i}#{p}", text, 400, len, article=f"a{i}", paragraph=p)
    return out


@pytest.mark.parametrize(
    "before, after",
    [
        (chunks(range(60)), chunks(range(60)) + chunks([60])),  # an article added
        (chunks(range(60)), chunks(range(60), edited=5)),  # one edited
        (chunks(range(60)), chunks([i for i in range(60) if i != 7])),  # one removed
    ],
    ids=["add", "edit", "remove"],
)
def test_an_edit_writes_the_sentence_codes_a_full_build_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, before: list, after: list
) -> None:
    encoder = HashEncoder()
    inc, full = FileStore(tmp_path / "inc"), FileStore(tmp_path / "full")
    index_chunks(before, inc, encoder)
    copied: list[int] = []
    save = HalfIndex.save

    def spy(vectors: object, path: Path) -> None:
        copied.append(isinstance(vectors, CodeRows))
        save(vectors, path)  # type: ignore[arg-type]

    monkeypatch.setattr(HalfIndex, "save", staticmethod(spy))
    report = index_chunks(after, inc, encoder)
    assert copied == [True]  # the stored codes were copied, not decoded and coded again
    assert report.embedded_sentences <= 2
    index_chunks(after, full, encoder)
    a, b = (s.folder / str(s.current_name()) for s in (inc, full))
    assert (a / "sentences.faiss").read_bytes() == (b / "sentences.faiss").read_bytes()
    np.testing.assert_array_equal(np.load(a / "sentence_ids.npy"), np.load(b / "sentence_ids.npy"))
    for column in ("keys", "text", "spans", "hashes"):
        assert (a / "passages" / f"{column}.npy").read_bytes() == (
            b / "passages" / f"{column}.npy"
        ).read_bytes()
