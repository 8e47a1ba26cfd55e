"""An edit against the database reads what it changes, not every passage (qabot.index.pgbase).

What a commit reads is counted where every stored passage would pass: psycopg's JSON loader
(each passage row holds two JSON values, its record and its sentences) and the making of a
passage from its record. A whole read is counted the same way, to show the count sees them.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import psycopg.types.json
import pytest
from fakes import HashEncoder

from qabot.chunking import Chunk
from qabot.config import Settings
from qabot.index import build_index
from qabot.index.pgbase import read_passages
from qabot.retriever import Retriever

ARTICLES = 40
WORDS = ["مدينة", "نهر", "حديقة", "مدرسة", "سوق", "جسر", "ميناء", "مكتبة", "ملعب", "مستشفى"]


def article(i: int, source: str = "وكالة") -> str:
    lines = [f"---\ntitle: خبر رقم {i}\nsource: {source}\n---"]
    for p in range(3):
        words = " ".join(WORDS[(i + p + j) % len(WORDS)] for j in range(8))
        lines.append(f"افتتحت البلدية في العام {1990 + i} {words} الجديدة رقم {p}.")
    return "\n".join(lines) + "\n"


@pytest.fixture
def settings(tmp_path: Path, pg_url: str) -> Settings:
    folder = tmp_path / "articles"
    folder.mkdir()
    for i in range(ARTICLES):
        (folder / f"a{i:02d}.txt").write_text(article(i), encoding="utf-8")
    return Settings(articles_dir=folder, index_dir=tmp_path / "unused", database_url=pg_url)


class Reads:
    """JSON values psycopg decoded and passages made from stored records, while counting."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.json = self.passages = 0
        psycopg.types.json.set_json_loads(self._loads)
        validate = Chunk.model_validate

        def made(obj: Any, *args: Any, **kwargs: Any) -> Chunk:
            self.passages += 1
            return validate(obj, *args, **kwargs)

        monkeypatch.setattr(Chunk, "model_validate", made)

    def _loads(self, data: str | bytes) -> Any:
        self.json += 1
        return json.loads(data)


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> Iterator[Reads]:
    counted = Reads(monkeypatch)
    yield counted
    psycopg.types.json.set_json_loads(json.loads)


def test_an_edit_reads_only_the_passages_it_changes(settings: Settings, reads: Reads) -> None:
    encoder = HashEncoder(dim=384)
    build_index(settings, encoder=encoder)
    reader = Retriever.load(settings=settings, encoder=encoder)
    n = len(reader)
    assert n == 3 * ARTICLES

    # The count sees a whole read (what a reader's load was before it read passages per
    # question, tests/test_pg_reader.py): every passage's two JSON values.
    reads.json = reads.passages = 0
    assert settings.database_url
    with psycopg.connect(settings.database_url) as conn:
        assert len(read_passages(conn)[0]) == n
    assert reads.json >= 2 * n and reads.passages == n

    # One paragraph of one article edited: the edit reads that passage's record, no other.
    path = settings.articles_dir / "a07.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("رقم 1.", "رقم 1 معدل."), "utf-8")
    reads.json = reads.passages = 0
    report = build_index(settings, encoder=encoder)
    assert (report.updated, report.added, report.removed, report.embedded) == (1, 0, 0, 1)
    assert reads.passages <= 1, reads.passages  # the replaced passage (its text leaves BM25)
    assert reads.json <= 3, reads.json  # that record, and the manifest's prompts

    assert reader.refresh()
    assert "معدل" in reader.search("الجديدة رقم 1 معدل", k=1, mode="lexical")[0].text
    assert len(reader) == n


def sources_of(settings: Settings, encoder: HashEncoder) -> dict[str, str | None]:
    return {i.id: i.source for i in Retriever.load(settings=settings, encoder=encoder).articles()}


def test_an_attribution_changed_beside_an_edit_is_written(settings: Settings) -> None:
    """A passage whose text is unchanged but whose article's source changed is rewritten, in
    the same run as another article's text edit (the commit compares every row's digest)."""
    encoder = HashEncoder(dim=384)
    build_index(settings, encoder=encoder)
    (settings.articles_dir / "a03.txt").write_text(article(3, "صحيفة"), encoding="utf-8")
    path = settings.articles_dir / "a09.txt"
    path.write_text(path.read_text(encoding="utf-8").replace("رقم 2.", "رقم 2 معدل."), "utf-8")
    report = build_index(settings, encoder=encoder)
    assert (report.updated, report.embedded) == (1, 1)
    sources = sources_of(settings, encoder)
    assert sources["a03"] == "صحيفة" and sources["a04"] == "وكالة"

    # Then the attribution alone: no text changed, and the change still reaches readers.
    (settings.articles_dir / "a04.txt").write_text(article(4, "إذاعة"), encoding="utf-8")
    report = build_index(settings, encoder=encoder)
    assert (report.updated, report.embedded) == (0, 0)
    sources = sources_of(settings, encoder)
    assert sources["a04"] == "إذاعة"
