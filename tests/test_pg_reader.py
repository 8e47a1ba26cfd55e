"""A PostgreSQL reader reads passages per question (qabot.index.pgreader), never half an update.

Reads are counted as in tests/test_pg_edit.py: psycopg's JSON loader (a passage row holds
two JSON values) and the making of a passage from its record.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import test_pg_edit
from conftest import SEED
from fakes import HashEncoder
from test_pg_edit import ARTICLES, Reads
from test_postgres_store import PARK, QUESTIONS, both

from qabot.chunking import stable_key
from qabot.config import Settings
from qabot.index import build_index, pgquery
from qabot.index.snapshot import SnapshotMoved
from qabot.retriever import Retriever

settings, reads = test_pg_edit.settings, test_pg_edit.reads  # (its fixtures)
QUESTION = "متى افتتحت البلدية حديقة رقم 2 في العام 2003"


def test_a_fresh_reader_reads_no_passage(settings: Settings, reads: Reads) -> None:
    encoder = HashEncoder(dim=384)
    build_index(settings, encoder=encoder)
    n = 3 * ARTICLES

    reads.json = reads.passages = 0
    reader = Retriever.load(settings=settings, encoder=encoder)
    assert len(reader) == n
    assert reads.passages == 0 and reads.json <= 1  # (the manifest's prompts)

    # A question fetches its candidates' rows with their vectors, and decodes those it
    # renders: the 3 passages shown, of ~100 candidates scored.
    vector = encoder.encode_queries([QUESTION])[0]
    reads.json = 0
    hits = reader.search(QUESTION, k=3, vector=vector)
    found = reader.candidates(QUESTION, vector)
    assert found is not None and 3 < len(found.keys) < n
    assert reads.passages == len(hits) == 3 and reads.json == 0
    assert hits[0].title == "خبر رقم 13" and hits[0].source == "وكالة" and hits[0].sentence

    # The listing is one query: each article once, with its first passage's attribution.
    reads.json = reads.passages = 0
    listed = reader.articles()
    assert reads.json == ARTICLES and reads.passages == 0
    assert [(i.id, i.title, i.source, i.passages) for i in listed] == [
        (f"a{i:02d}", f"خبر رقم {i}", "وكالة", 3) for i in range(ARTICLES)
    ]
    snapshot = reader.snapshot
    whole = list(snapshot.chunks)  # (a whole read: a tool's, never a question's)
    assert [c.key for c in whole] == [c.key for c in snapshot.chunks]
    assert snapshot.sentence_count() == sum(len(snapshot.sentences[c.key]) for c in whole)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    (tmp_path / "articles").mkdir()
    shutil.copy(SEED, tmp_path / "articles" / SEED.name)
    (tmp_path / "articles" / "park.txt").write_text(PARK, encoding="utf-8")
    return tmp_path / "articles"


def _next_generation(corpus: Path, database: Settings, encoder: HashEncoder) -> None:
    """Remove the park article and change the seed's year: passages deleted and replaced."""
    (corpus / "park.txt").unlink()
    text = (corpus / SEED.name).read_text(encoding="utf-8")
    (corpus / SEED.name).write_text(text.replace("1969", "1970"), encoding="utf-8")
    build_index(database, encoder=encoder)


def _same(a: Retriever, b: Retriever) -> None:
    for question in [*QUESTIONS, "تأسست عام 1970", "كم كلفت الحديقة الجديدة على ضفاف النهر"]:
        ours, theirs = a.search(question, k=5), b.search(question, k=5)
        assert [(p.id, p.text, p.sentence) for p in ours] == [
            (p.id, p.text, p.sentence) for p in theirs
        ]
        assert [p.score for p in ours] == pytest.approx([p.score for p in theirs])


def test_a_reader_behind_a_commit_answers_from_the_new_generation(
    corpus: Path, pg_url: str
) -> None:
    encoder = HashEncoder(dim=384)
    _, database = both(corpus, pg_url)
    build_index(database, encoder=encoder)
    reader = Retriever.load(settings=database, encoder=encoder)
    old = reader.snapshot
    park = stable_key("park#1")  # (not read yet: a row read before is G's, kept whole)
    assert park in old.passage_hashes()
    _next_generation(corpus, database, encoder)

    # The old snapshot serves nothing of the new generation, and does not crash on the
    # passage the commit deleted: it says it moved.
    vector = encoder.encode_queries([QUESTIONS[0]])[0]
    with pytest.raises(SnapshotMoved):
        old.for_question([QUESTIONS[0]], vector, 50, 50)
    with pytest.raises(SnapshotMoved):
        old.by_key[park]
    with pytest.raises(SnapshotMoved):
        old.articles()

    # The retriever (not refreshed) loads the new generation and answers from it, whole.
    top = reader.search("تأسست عام 1970", k=1, mode="lexical")[0]
    assert "1970" in top.text and reader.generation == "gen-000002"
    assert "park" not in {i.id for i in reader.articles()}
    _same(reader, Retriever.load(settings=database, encoder=encoder))


def test_a_commit_between_a_questions_trips(
    corpus: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The candidates were found in one generation, their passages would be read in the
    next: the question starts again on the next one, never mixing them."""
    encoder = HashEncoder(dim=384)
    _, database = both(corpus, pg_url)
    build_index(database, encoder=encoder)
    reader = Retriever.load(settings=database, encoder=encoder)
    question = "كم كلفت الحديقة الجديدة على ضفاف النهر"
    assert reader.search(question, k=1)[0].article == "park"

    fetch = pgquery._Candidates.fetch
    calls: list[int] = []

    def commit_first(self: Any, keys: list[int]) -> None:
        if not calls:  # the candidates (the park's among them) are of generation 1
            _next_generation(corpus, database, encoder)
        calls.append(len(keys))
        fetch(self, keys)

    monkeypatch.setattr(pgquery._Candidates, "fetch", commit_first)
    ours = reader.search(question, k=5)
    monkeypatch.undo()
    assert len(calls) == 2 and reader.generation == "gen-000002"
    assert all(p.article != "park" for p in ours)
    fresh = Retriever.load(settings=database, encoder=encoder)
    theirs = fresh.search(question, k=5)
    assert [(p.id, p.text) for p in ours] == [(p.id, p.text) for p in theirs]
    assert [p.score for p in ours] == pytest.approx([p.score for p in theirs])
    np.testing.assert_array_equal(
        [p.confidence for p in ours], [p.confidence for p in theirs]
    )
