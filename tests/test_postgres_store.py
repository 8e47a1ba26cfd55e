"""The PostgreSQL + pgvector store against a real server: the same answers as the file store,
incremental and transactional commits, the build lock, the schema's version.

The fake encoder is 384-dimensional, as the database's vector columns are.
"""

from __future__ import annotations

import json
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import psycopg
import pytest
from conftest import SEED
from fakes import HashEncoder
from pgserver import PgServer, stored_postings
from psycopg_pool import PoolTimeout

from qabot.cli import main
from qabot.config import Settings
from qabot.encoder import SentenceTransformerEncoder
from qabot.errors import DatabaseError, QabotError
from qabot.index import build_index, halfvectors, open_store
from qabot.index.pgschema import SCHEMA_VERSION
from qabot.index.pgvectors import PgSentenceVectors, text_key
from qabot.index.postgres import RECONNECT_DELAY, PostgresStore
from qabot.index.snapshot import sentence_layout
from qabot.pgquestions import PgQuestionLog
from qabot.questions import QuestionLog
from qabot.results import Answer
from qabot.retriever import Retriever


@pytest.fixture(autouse=True)
def float16_sentences(monkeypatch: pytest.MonkeyPatch) -> None:
    """The file store writes sentence vectors in float16 here, as the database's halfvec keeps
    them, so that the two stores' scores compare like with like (it writes bytes otherwise)."""
    monkeypatch.setattr(halfvectors, "WRITE_AS", "float16")


QUESTIONS = [
    "متى تأسست منظمة التعاون الإسلامي؟",
    "كم عدد الدول الأعضاء في المنظمة؟",
    "ماذا قال لافروف عن العلاقات بين روسيا والعالم الإسلامي",
    "حسين إبراهيم طه",
]
PARK = (
    "---\ntitle: افتتاح حديقة عامة جديدة على ضفاف النهر\n---\n"
    "افتتحت بلدية المدينة حديقة عامة جديدة على ضفاف النهر بمساحة تتجاوز عشرين هكتارا.\n"
    "وقال رئيس البلدية إن المشروع استغرق ثلاث سنوات من العمل وكلف نحو خمسة ملايين دولار.\n"
)


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    (tmp_path / "articles").mkdir()
    shutil.copy(SEED, tmp_path / "articles" / SEED.name)
    return tmp_path / "articles"


def both(corpus: Path, pg_url: str) -> tuple[Settings, Settings]:
    files = Settings(articles_dir=corpus, index_dir=corpus.parent / "index")
    database = Settings(
        articles_dir=corpus, index_dir=corpus.parent / "unused", database_url=pg_url
    )
    return files, database


def assert_same_answers(a: Retriever, b: Retriever, questions: list[str] = QUESTIONS) -> None:
    assert len(a) == len(b)
    assert {i.id: i.passages for i in a.articles()} == {i.id: i.passages for i in b.articles()}
    for question in questions:
        for mode in ("hybrid", "dense", "lexical"):
            ours = a.search(question, k=5, mode=mode)
            theirs = b.search(question, k=5, mode=mode)
            scores = [p.score for p in ours]
            np.testing.assert_allclose(scores, [p.score for p in theirs], rtol=1e-4, atol=1e-5)
            # Equal scores may come in either order (FAISS and HNSW list ties differently),
            # and the last place may tie with a passage beyond it.
            for i, (x, y) in enumerate(zip(ours, theirs, strict=True)):
                unique = sum(abs(s - x.score) < 1e-5 for s in scores) == 1
                if unique and x.score > scores[-1] + 1e-5:
                    assert (x.id, x.sentence) == (y.id, y.sentence), (question, mode, i)
        assert a.ask(question).found == b.ask(question).found


def test_round_trip_matches_the_file_store(corpus: Path, pg_url: str) -> None:
    encoder = HashEncoder(dim=384)
    files, database = both(corpus, pg_url)
    first = build_index(database, encoder=encoder)
    assert (first.added, first.embedded) == (16, 16)
    build_index(files, encoder=encoder)
    a, b = (Retriever.load(settings=s, encoder=encoder) for s in (files, database))
    assert isinstance(b.store, PostgresStore)
    assert_same_answers(a, b)

    # Edit one paragraph, add an article: only the new text is embedded, in both stores.
    text = SEED.read_text(encoding="utf-8").replace("وقد تأسست عام 1969", "وقد تأسست عام 1970")
    (corpus / SEED.name).write_text(text, encoding="utf-8")
    (corpus / "park.txt").write_text(PARK, encoding="utf-8")
    ours, theirs = build_index(database, encoder=encoder), build_index(files, encoder=encoder)
    assert (ours.added, ours.updated, ours.embedded) == (theirs.added, theirs.updated, 3)
    assert (ours.added, ours.updated) == (2, 1)
    assert b.refresh() and a.refresh()
    assert "1970" in b.search("تأسست عام 1970", k=1, mode="lexical")[0].text
    assert_same_answers(a, b, [*QUESTIONS, "كم كلفت الحديقة الجديدة على ضفاف النهر"])

    # Delete the seed article: its passages, vectors and postings go.
    (corpus / SEED.name).unlink()
    report = build_index(database, encoder=encoder)
    build_index(files, encoder=encoder)
    assert (report.removed, report.passages, report.embedded) == (16, 2, 0)
    assert b.refresh() and a.refresh()
    assert_same_answers(a, b, [*QUESTIONS, "كم كلفت الحديقة الجديدة على ضفاف النهر"])
    with psycopg.connect(pg_url) as conn:
        counts = conn.execute(
            "SELECT (SELECT count(*) FROM qabot_passage_vectors), "
            "(SELECT count(*) FROM qabot_passages WHERE keys <> ''::bytea), "
            "(SELECT count(*) FROM qabot_lists)"
        ).fetchone()
        postings = stored_postings(conn)
        df = dict(conn.execute("SELECT id, df FROM qabot_terms WHERE df > 0").fetchall())
    assert counts == (2, 2, len(postings))
    # each df, patched by the edits, equals a recount of the passages' keys
    assert df == {term: len(found) for term, found in postings.items()}
    with psycopg.connect(pg_url) as conn:
        rows = conn.execute("SELECT count(*) FROM qabot_sentence_vectors").fetchone()
    assert rows == (len(b.snapshot.sentence_vectors),) and rows[0] == 2  # PARK's two sentences

    # An unchanged corpus commits nothing new.
    again = build_index(database, encoder=encoder)
    assert (again.embedded, again.generation) == (0, report.generation)


def test_a_sentence_text_has_one_row_kept_across_generations(corpus: Path, pg_url: str) -> None:
    """The seed twice: each sentence text has one float16 row, read back under its text's
    key; an edit adds the new text's row and drops the old one, leaving the others' rows as
    they were (same row version)."""
    encoder = HashEncoder(dim=384)
    _, database = both(corpus, pg_url)
    shutil.copy(SEED, corpus / "copy.txt")
    build_index(database, encoder=encoder)
    snapshot = open_store(database).load()
    distinct = len(snapshot.sentence_vectors)
    assert snapshot.sentence_count() == 2 * distinct

    def rows() -> dict[int, str]:
        with psycopg.connect(pg_url) as conn:
            found = conn.execute("SELECT key, xmin::text FROM qabot_sentence_vectors").fetchall()
        return dict(found)

    before = rows()
    assert len(before) == distinct
    texts, _ = sentence_layout(snapshot.chunks, snapshot.sentences)
    assert len(texts) == distinct
    vectors = snapshot.sentence_vectors.get(np.array([text_key(t) for t in texts]))
    np.testing.assert_allclose(vectors, encoder.encode_passages(texts), atol=1e-3)

    for path in (corpus / SEED.name, corpus / "copy.txt"):
        path.write_text(path.read_text(encoding="utf-8").replace("1969", "1970"), encoding="utf-8")
    read: list[int] = []
    fetch = PgSentenceVectors.get
    with pytest.MonkeyPatch.context() as patch:  # the reused vectors are not read back
        patch.setattr(
            PgSentenceVectors, "get", lambda s, ids: read.append(len(ids)) or fetch(s, ids)
        )
        report = build_index(database, encoder=encoder)
    assert read == []
    after = rows()
    assert report.embedded_sentences == len(after.keys() - before.keys()) >= 1
    assert len(after) == distinct and after.keys() != before.keys()
    assert all(after[k] == before[k] for k in after.keys() & before.keys())
    retriever = Retriever.load(settings=database, encoder=encoder)
    hit = retriever.search("متى تأسست منظمة التعاون الإسلامي؟", k=1)[0]
    assert "1970" in (hit.sentence or "") or "1970" in hit.text


@pytest.mark.slow
def test_real_model_answers_like_the_file_store(
    corpus: Path, pg_url: str, encoder: SentenceTransformerEncoder
) -> None:
    files, database = both(corpus, pg_url)
    build_index(files, encoder=encoder)  # (the shared seed index keeps sentences in bytes)
    build_index(database, encoder=encoder)
    ours = Retriever.load(settings=database, encoder=encoder)
    assert_same_answers(Retriever.load(settings=files, encoder=encoder), ours)
    answer = ours.ask("متى تأسست منظمة التعاون الإسلامي؟")
    assert answer.found and "1969" in (answer.sentence or "")


def test_two_indexers_at_once_are_serialised(corpus: Path, pg_url: str) -> None:
    """The second waits for the first's advisory lock, then finds nothing left to embed."""

    class Slow(HashEncoder):
        def encode_passages(self, texts: list[str]) -> np.ndarray:
            time.sleep(0.3)
            return super().encode_passages(texts)

    _, database = both(corpus, pg_url)
    reports = []
    threads = [
        threading.Thread(target=lambda: reports.append(build_index(database, encoder=Slow(384))))
        for _ in range(2)
    ]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join()
    assert sorted(r.embedded for r in reports) == [0, 16]
    assert {r.generation for r in reports} == {"gen-000001"}

    store = open_store(database)
    with store.lock(1.0), pytest.raises(QabotError, match="still updating"):
        build_index(database, encoder=HashEncoder(384), lock_timeout=0.3)


def test_readers_never_see_half_an_update(corpus: Path, pg_url: str) -> None:
    """While a build replaces every passage, each read sees the old or the new state whole."""
    encoder = HashEncoder(dim=384)
    _, database = both(corpus, pg_url)
    build_index(database, encoder=encoder)
    retriever = Retriever.load(settings=database, encoder=encoder)
    seen: set[tuple[int, ...]] = set()
    errors: list[BaseException] = []
    done = threading.Event()

    def read() -> None:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            while not done.is_set():
                row = conn.execute(
                    "SELECT (SELECT generation FROM qabot_manifest), "
                    "(SELECT count(*) FROM qabot_passages), "
                    "(SELECT count(*) FROM qabot_passage_vectors), "
                    "(SELECT count(*) FROM qabot_passages WHERE keys <> ''::bytea), "
                    "(SELECT count(*) FROM qabot_passages WHERE record->>'text' LIKE '%%1970%%')"
                ).fetchone()
                assert row is not None
                seen.add(tuple(row))
                try:
                    retriever.refresh()
                    retriever.search("متى تأسست منظمة التعاون الإسلامي؟", k=3)
                except BaseException as exc:  # noqa: BLE001 - reported below
                    errors.append(exc)

    reader = threading.Thread(target=read)
    reader.start()
    text = SEED.read_text(encoding="utf-8")
    for year in ("1970", "1969", "1970"):
        edited = text.replace("1969", year).replace("المنظمة", f"المنظمة ({year})")
        (corpus / SEED.name).write_text(edited, encoding="utf-8")
        build_index(database, encoder=encoder)
    done.set()
    reader.join()
    assert not errors
    # Every state seen is whole: all passages with their vectors and postings, and the
    # edited sentence in exactly the generations that hold it.
    assert {(n, v, p) for _, n, v, p, _ in seen} == {(16, 16, 16)}
    states: dict[int, set[int]] = {}
    for generation, *_, with_1970 in seen:
        states.setdefault(generation, set()).add(with_1970)
    assert states[1] == {0} and len(states) >= 2
    assert all(len(n) == 1 and (0 in n) == (g % 2 == 1) for g, n in states.items())


def test_db_init_and_a_newer_schema_is_refused(
    pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "init", "--database-url", pg_url]) == 0
    assert f"schema version {SCHEMA_VERSION} (migrated from version 0)" in capsys.readouterr().out
    assert main(["db", "init", "--database-url", pg_url]) == 0
    assert "(up to date)" in capsys.readouterr().out
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("INSERT INTO qabot_schema VALUES (%s)", (SCHEMA_VERSION + 1,))
    from qabot.index.postgres import close_pool

    close_pool(pg_url)
    assert main(["ask", "متى تأسست المنظمة؟", "--database-url", pg_url]) == 2
    err = capsys.readouterr().err
    assert "newer than this qabot understands" in err and err.count("\n") == 1


def test_database_down_at_start_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"postgresql://postgres:secret@127.0.0.1:{_closed_port()}/nowhere"
    assert main(["ask", "متى تأسست المنظمة؟", "--database-url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qabot: cannot reach the database 127.0.0.1:") and err.count("\n") == 1
    assert "secret" not in err


def _closed_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_database_lost_and_back(corpus: Path) -> None:
    """Killed mid-run: searches fail while it is down, and the first one after it is back
    works (the pool's reconnection attempts are at most RECONNECT_DELAY apart)."""
    server = PgServer.start()
    try:
        encoder = HashEncoder(dim=384)
        _, database = both(corpus, server.url)
        build_index(database, encoder=encoder)
        retriever = Retriever.load(settings=database, encoder=encoder)
        before = [p.id for p in retriever.search("متى تأسست منظمة التعاون الإسلامي؟", k=3)]
        server.kill()
        with pytest.raises(DatabaseError, match="cannot reach the database"):
            retriever.refresh()
        with pytest.raises((psycopg.OperationalError, PoolTimeout)):
            retriever.search("متى تأسست منظمة التعاون الإسلامي؟", k=3)
        # Down for ~20 s in all: psycopg_pool alone would now be waiting 8 s, then 16 s, between
        # attempts, past the 5 s a question waits for a connection.
        time.sleep(10)
        server.run()
        back = time.monotonic()
        # The first question after the restart is answered, and soon.
        retriever.refresh()
        after = [p.id for p in retriever.search("متى تأسست منظمة التعاون الإسلامي؟", k=3)]
        assert time.monotonic() - back < 2 * RECONNECT_DELAY + 1
        assert after == before
    finally:
        from qabot.index.postgres import close_pool

        close_pool(server.url)
        server.destroy()


def test_questions_are_recorded_in_the_database(
    pg_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Every replica records into the same table; `qabot stats` reads it from any host."""
    settings = Settings(index_dir=tmp_path / "nothing-here", database_url=pg_url)
    record = QuestionLog.of(settings)
    assert isinstance(record, PgQuestionLog)
    now = datetime.now(UTC)
    unanswered = Answer(question="ما عاصمة المريخ؟", passages=[], found=False)
    for text, at in (("ما عاصمة المريخ؟", now), ("ما عاصمة  المريخ", now - timedelta(days=1))):
        record.record_answer(unanswered.model_copy(update={"question": text}), at=at)
    record.record_answer(Answer(question="متى تأسست المنظمة؟", passages=[], found=True), at=now)
    assert main(["stats", "--json", "--days", "3", "--database-url", pg_url]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert (stats["questions"], stats["answered"]) == (3, 1)
    assert [d["questions"] for d in stats["per_day"]] == [0, 1, 2]
    [top] = stats["unanswered"]
    assert (top["question"], top["count"]) == ("ما عاصمة المريخ؟", 2)
    assert not (tmp_path / "nothing-here").exists()
