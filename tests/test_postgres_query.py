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

import numpy as np
import psycopg
import pytest
from conftest import SEED
from fakes import HashEncoder
from pgserver import stored_postings
from test_postgres_store import PARK, QUESTIONS, assert_same_answers, both

from qabot.bridge import FILE_NAME, Bridge
from qabot.conversation import Turn
from qabot.fusion import FusionWeights
from qabot.index import bm25, build_index, halfvectors, open_store, pgschema
from qabot.index.pglists import ENTRY
from qabot.index.postgres import PostgresStore, close_pool, init_database
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


class Embedding(HashEncoder):
    """Records the words the bridge embeds."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.words: list[str] = []

    def encode_queries(self, texts: list[str]) -> Any:
        self.words += texts
        return super().encode_queries(texts)


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


MARKET = (
    "---\ntitle: سوق شعبية للخضار في وسط المدينة\n---\n"
    "يفتح سوق الخضار الشعبي أبوابه كل صباح جمعة ويقصده الباعة من القرى المجاورة.\n"
    "ويبيع المزارعون الطماطم والبطاطا والعنب بأسعار أقل من المتاجر الكبرى.\n"
)


def assert_lists_exact(url: str) -> None:
    """Each key's document frequency is a recount of the passages' stored keys; a list
    equals one made again from them, no key in more than the manifest's list_limit
    passages has one, and every key a question may walk does (qabot.index.pgkeys)."""
    with psycopg.connect(url) as conn:
        expected = stored_postings(conn)
        lists = conn.execute("SELECT term, postings FROM qabot_lists", binary=True).fetchall()
        df = dict(conn.execute("SELECT id, df FROM qabot_terms WHERE df > 0").fetchall())
        head = conn.execute("SELECT passages, list_limit FROM qabot_manifest").fetchone()
    assert head is not None
    n, limit = head
    assert limit >= bm25.pruned_df(n)
    stored = {
        term: [(int(p), int(t), int(d)) for p, t, d in np.frombuffer(blob, ENTRY).tolist()]
        for term, blob in lists
    }
    assert df == {term: len(found) for term, found in expected.items()}
    assert all(stored[t] == expected.get(t) for t in stored)  # by passage: deterministic bytes
    assert all(len(found) <= limit for found in stored.values())
    walked = {t for t, found in expected.items() if len(found) <= bm25.pruned_df(n)}
    assert walked <= stored.keys()


def test_posting_lists_stay_exact_through_edits(
    corpus: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Edits that add, change and remove passages (so that keys cross the walked share both
    ways as the corpus grows and shrinks) keep every list exact, and the BM25 hits those of
    the file store."""
    monkeypatch.setattr(bm25, "MIN_PRUNED_DF", 2)
    monkeypatch.setattr(bm25, "MAX_DF_SHARE", 0.2)
    encoder = HashEncoder(dim=384)
    files, database = both(corpus, pg_url)
    seed = SEED.read_text(encoding="utf-8")
    steps = [
        lambda: (corpus / SEED.name).unlink(),  # first build: the park article alone
        lambda: (corpus / SEED.name).write_text(seed, encoding="utf-8"),  # n 2 → 18
        lambda: (corpus / "market.txt").write_text(MARKET, encoding="utf-8"),  # 20: df 4 walked
        lambda: (corpus / SEED.name).write_text(
            seed.replace("وقد تأسست عام 1969", "وقد تأسست عام 1970"), encoding="utf-8"
        ),
        lambda: (corpus / "park.txt").unlink(),  # n 20 → 18
        lambda: (corpus / "market.txt").unlink(),  # n 18 → 16
    ]
    (corpus / "park.txt").write_text(PARK, encoding="utf-8")
    for step in steps:
        step()
        build_index(database, encoder=encoder)
        build_index(files, encoder=encoder)
        assert_lists_exact(pg_url)
        a, b = (Retriever.load(settings=s, encoder=encoder) for s in (files, database))
        for question in [*QUESTIONS, "كم كلفت الحديقة الجديدة على ضفاف النهر"]:
            ours, theirs = (r.snapshot.lexical.query(question, 5).hits for r in (a, b))
            assert [k for k, _ in ours] == [k for k, _ in theirs], question
            assert [s for _, s in ours] == pytest.approx([s for _, s in theirs], rel=1e-5)


def test_english_questions_use_the_bridge_kept_in_the_database(corpus: Path, pg_url: str) -> None:
    """A build stores the corpus's word bridge in the database, embedding only new words; an
    English question then ranks as in the file store, through its bridged Arabic words (the
    fake encoder has no meaning: both bridges hold «تأسست» under "founded"'s vector)."""
    encoder = Embedding(dim=384)
    files, database = both(corpus, pg_url)
    build_index(database, encoder=encoder)
    store = PostgresStore(pg_url)
    kept = store.load_bridge(encoder)
    assert kept is not None and {"منظمة", "التعاون", "روسيا"} <= set(kept.words)
    assert store.load_bridge(HashEncoder(dim=384, model_id="another-model")) is None
    before = len(encoder.words)
    (corpus / "park.txt").write_text(PARK, encoding="utf-8")
    build_index(database, encoder=encoder)
    new = set(encoder.words[before:])
    assert "الحديقة" in new or "حديقة" in new
    assert not new & set(kept.words)  # the words it had are not embedded again

    build_index(files, encoder=encoder)
    founded = Bridge(encoder.model_id, ["تأسست"], encoder.encode_queries(["founded"]))
    founded.save(files.index_dir / FILE_NAME)
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE qabot_bridge SET data = %s", (founded.to_bytes(),))
    weights = FusionWeights(bridge_lexical=0.9, bridge_coverage=0.0)
    a, b = (Retriever(open_store(s), encoder, s, weights) for s in (files, database))
    question = "When was the Organisation founded?"
    ours, theirs = (r.search(question, k=5) for r in (a, b))
    assert "تأسست" in theirs[0].text  # BM25 on the bridged word decides at this weight
    assert [p.id for p in ours] == [p.id for p in theirs]
    assert [p.score for p in ours] == pytest.approx([p.score for p in theirs], rel=1e-4)
    dense = b.search(question, k=5, mode="dense")
    assert [p.id for p in theirs] != [p.id for p in dense]


def test_a_version_3_database_is_migrated(corpus: Path, pg_url: str) -> None:
    """A schema-3 database (a row per (key, passage) pair, lists of walked keys only) gets
    each passage's keys in its row, every key's list and its sentences' keys (schema 5): the
    bytes a build writes, and the same answers."""
    encoder = HashEncoder(dim=384)
    _, database = both(corpus, pg_url)
    build_index(database, encoder=encoder)
    read_keys = "SELECT key, keys, sentence_keys FROM qabot_passages ORDER BY key"
    read_lists = "SELECT term, postings FROM qabot_lists ORDER BY term"
    with psycopg.connect(pg_url) as conn:
        keys = conn.execute(read_keys, binary=True).fetchall()
        lists = conn.execute(read_lists, binary=True).fetchall()
        pairs = [
            (t, p, tf, dl) for t, found in stored_postings(conn).items() for p, tf, dl in found
        ]
    answers = [Retriever.load(settings=database, encoder=encoder).search(q, k=5) for q in QUESTIONS]
    close_pool(pg_url)
    with psycopg.connect(pg_url) as conn:  # back to what schema 3's writer left
        conn.execute(
            "CREATE TABLE qabot_postings (term integer NOT NULL, passage bigint NOT NULL, "
            "tf integer NOT NULL, dl integer NOT NULL, PRIMARY KEY (term, passage))"
        )
        with conn.cursor().copy("COPY qabot_postings (term, passage, tf, dl) FROM STDIN") as copy:
            for pair in pairs:
                copy.write_row(pair)
        conn.execute("ALTER TABLE qabot_passages DROP COLUMN keys")
        conn.execute("ALTER TABLE qabot_passages DROP COLUMN sentence_keys")
        conn.execute("ALTER TABLE qabot_manifest DROP COLUMN list_limit")
        conn.execute(
            "DELETE FROM qabot_lists WHERE term IN (SELECT id FROM qabot_terms WHERE df > 2)"
        )
        conn.execute("DELETE FROM qabot_schema WHERE version > 3")
    assert pgschema.schema_version(psycopg.connect(pg_url)) == 3
    assert init_database(pg_url) == (3, pgschema.SCHEMA_VERSION)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute(read_keys, binary=True).fetchall() == keys
        assert conn.execute(read_lists, binary=True).fetchall() == lists
        assert conn.execute("SELECT to_regclass('qabot_postings')").fetchone() == (None,)
    again = Retriever.load(settings=database, encoder=encoder)
    assert [again.search(q, k=5) for q in QUESTIONS] == answers


def test_no_sentence_graph_past_the_ann_threshold(corpus: Path, pg_url: str) -> None:
    """Past the ANN threshold a question searches no sentence vectors (as the file store),
    so their HNSW graph is dropped; it is made again once the passages fall under it."""
    encoder = HashEncoder(dim=384)
    _, database = both(corpus, pg_url)
    database = database.model_copy(update={"ann_threshold": 10})
    graph = "SELECT to_regclass('qabot_sentence_vectors_embedding_idx') IS NOT NULL"

    def has_graph() -> bool:
        with psycopg.connect(pg_url) as conn:
            row = conn.execute(graph).fetchone()
        return bool(row and row[0])

    build_index(database, encoder=encoder)  # the seed: 16 passages
    assert not has_graph()
    big = Retriever.load(settings=database, encoder=encoder)
    assert big.snapshot.passages.approximate
    vector = encoder.encode_queries(["متى تأسست منظمة التعاون الإسلامي؟"])[0]
    assert big.snapshot.sentence_passages(vector, 10) == []
    assert big.search("متى تأسست منظمة التعاون الإسلامي؟", k=3)
    (corpus / "park.txt").write_text(PARK, encoding="utf-8")
    build_index(database, encoder=encoder)  # 18
    assert not has_graph()
    (corpus / SEED.name).unlink()
    build_index(database, encoder=encoder)  # 2: under the threshold again
    assert has_graph()
    small = Retriever.load(settings=database, encoder=encoder)
    assert not small.snapshot.passages.approximate
    assert small.snapshot.sentence_passages(vector, 2)
