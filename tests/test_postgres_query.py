"""A question costs two database round trips (qabot.index.pgquery), with the same answers.

Round trips are counted as the pool's connection checkouts: each is at least one round
trip, and the two the query path takes are one pipeline each.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from conftest import SEED
from fakes import HashEncoder
from test_postgres_store import QUESTIONS, assert_same_answers, both

from qabot.conversation import Turn
from qabot.index import bm25, build_index, halfvectors
from qabot.index.postgres import PostgresStore
from qabot.retriever import Retriever


@pytest.fixture(autouse=True)
def float16_sentences(monkeypatch: pytest.MonkeyPatch) -> None:
    """The file store writes sentence vectors in float16 here, as the database's halfvec keeps
    them, so that the two stores' scores compare like with like (it writes bytes otherwise)."""
    monkeypatch.setattr(halfvectors, "WRITE_AS", "float16")


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    (tmp_path / "articles").mkdir()
    shutil.copy(SEED, tmp_path / "articles" / SEED.name)
    return tmp_path / "articles"


class Counting:
    """Counts the checkouts of a pool's connections."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, pool: Any) -> None:
        self.count = 0
        checkout = pool.connection

        @contextmanager
        def counted(*args: Any, **kwargs: Any) -> Iterator[Any]:
            self.count += 1
            with checkout(*args, **kwargs) as conn:
                yield conn

        monkeypatch.setattr(pool, "connection", counted)


def test_a_question_is_two_round_trips_with_the_same_answers(
    corpus: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    encoder = HashEncoder(dim=384)
    files, database = both(corpus, pg_url)
    build_index(database, encoder=encoder)
    build_index(files, encoder=encoder)
    a, b = (Retriever.load(settings=s, encoder=encoder) for s in (files, database))
    assert isinstance(b.store, PostgresStore)
    trips = Counting(monkeypatch, b.store.pool)
    for question in QUESTIONS:
        vector = encoder.encode_queries([question])[0]
        before = trips.count
        answer = b.ask(question, k=5, vector=vector)
        assert trips.count - before == 2, question
        assert [p.id for p in answer.passages] == [
            p.id for p in a.ask(question, k=5, vector=vector).passages
        ]
    assert_same_answers(a, b)  # every mode, scores and sentences

    # A follow-up: both readings (alone, in context) the same as the file store's.
    history = [Turn(QUESTIONS[0], "x", "x#1")]
    follow = "ومتى انضمت روسيا إليها؟"
    ours, theirs = (r.ask(follow, k=5, history=history) for r in (a, b))
    assert ours.context_used == theirs.context_used
    assert [p.id for p in ours.passages] == [p.id for p in theirs.passages]
    assert [p.score for p in ours.passages] == pytest.approx([p.score for p in theirs.passages])


def test_common_keys_are_pruned_as_the_file_store_prunes_them(
    corpus: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys in more than 3 of the 16 passages keep no posting list in the file store, and are
    not walked in the database: the BM25 hits and the answers stay the same in both."""
    monkeypatch.setattr(bm25, "MIN_PRUNED_DF", 2)
    monkeypatch.setattr(bm25, "MAX_DF_SHARE", 0.2)
    encoder = HashEncoder(dim=384)
    files, database = both(corpus, pg_url)
    build_index(database, encoder=encoder)
    build_index(files, encoder=encoder)
    a, b = (Retriever.load(settings=s, encoder=encoder) for s in (files, database))
    assert bm25.pruned_df(len(a)) == 3
    for question in QUESTIONS:
        ours, theirs = (r.snapshot.lexical.query(question, 5).hits for r in (a, b))
        assert [k for k, _ in ours] == [k for k, _ in theirs], question
        assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], rel=1e-5)
    assert_same_answers(a, b)
