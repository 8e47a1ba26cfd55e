"""Index build, round trip, incremental updates and damage, with a fast fake encoder."""

import shutil
from pathlib import Path

import numpy as np
import pytest

from qabot.config import Settings
from qabot.encoder import HashEncoder
from qabot.errors import IndexError_
from qabot.index import FaissIndex
from qabot.indexer import build_index
from qabot.retriever import Retriever
from qabot.store import current_name

SEED = Path(__file__).resolve().parents[1] / "articles" / "000_b3e058f4b2c0909a.txt"


@pytest.fixture
def corpus(tmp_path: Path) -> Settings:
    articles = tmp_path / "articles"
    articles.mkdir()
    shutil.copy(SEED, articles / SEED.name)
    return Settings(articles_dir=articles, index_dir=tmp_path / "index", cache_dir=tmp_path / "c")


def test_faiss_index_add_remove_search_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(10, 8)).astype("f4")
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(100, 110, dtype=np.int64) * (2**40)
    index = FaissIndex(8)
    index.add(ids, vecs)
    assert index.search(vecs[3], 1)[0][0] == ids[3]
    assert index.remove(ids[:2]) == 2 and len(index) == 8
    index.save(tmp_path / "v.faiss")
    loaded = FaissIndex.load(tmp_path / "v.faiss", 8)
    assert loaded.search(vecs[5], 3) == index.search(vecs[5], 3)
    np.testing.assert_allclose(loaded.get(ids[4:6]), vecs[4:6], atol=1e-6)


def test_build_then_incremental_noop(corpus: Settings) -> None:
    enc = HashEncoder()
    first = build_index(corpus, encoder=enc)
    assert (first.articles, first.passages, first.added, first.embedded) == (1, 16, 16, 16)
    again = build_index(corpus, encoder=enc)
    assert (again.unchanged, again.embedded, again.added, again.removed) == (16, 0, 0, 0)
    assert again.generation == first.generation  # nothing changed: no new generation


def test_edit_add_delete_and_rename(corpus: Settings) -> None:
    enc = HashEncoder()
    build_index(corpus, encoder=enc)
    path = corpus.articles_dir / SEED.name
    lines = path.read_text(encoding="utf-8").split("\n")
    lines[8] = lines[8] + " وهذه جملة أضيفت."  # line 8 is paragraph 3 (6 lines of front matter)
    path.write_text("\n".join(lines), encoding="utf-8")
    edited = build_index(corpus, encoder=enc)
    assert (edited.updated, edited.embedded, edited.unchanged) == (1, 1, 15)

    (corpus.articles_dir / "new.txt").write_text(
        "خبر جديد عن افتتاح مكتبة عامة كبيرة في مدينة الرباط هذا الأسبوع.\n", encoding="utf-8"
    )
    added = build_index(corpus, encoder=enc)
    assert (added.articles, added.added, added.embedded) == (2, 1, 1)

    (corpus.articles_dir / "new.txt").rename(corpus.articles_dir / "renamed.txt")
    renamed = build_index(corpus, encoder=enc)
    assert (renamed.added, renamed.removed, renamed.embedded) == (1, 1, 0)

    (corpus.articles_dir / "renamed.txt").unlink()
    deleted = build_index(corpus, encoder=enc)
    assert (deleted.articles, deleted.removed, deleted.embedded, deleted.passages) == (1, 1, 0, 16)
    retriever = Retriever.load(settings=corpus, encoder=enc)
    assert all(p.article != "renamed" for p in retriever.search("مكتبة الرباط", k=16))


def test_bad_files_are_skipped_with_a_warning(corpus: Settings) -> None:
    (corpus.articles_dir / "empty.txt").write_bytes(b"")
    (corpus.articles_dir / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    (corpus.articles_dir / "blob.md").write_bytes(b"\x89PNG\x00\x00\x01")
    (corpus.articles_dir / "meta.txt").write_text("المصدر: رويترز\n", encoding="utf-8")
    report = build_index(corpus, encoder=HashEncoder())
    assert report.articles == 1 and report.passages == 16
    joined = "\n".join(report.skipped)
    for name in ("empty.txt", "latin1.txt", "blob.md", "meta.txt"):
        assert name in joined


def test_model_change_forces_full_rebuild(corpus: Settings) -> None:
    build_index(corpus, encoder=HashEncoder())
    other = HashEncoder(model_id="another-model")
    report = build_index(corpus, encoder=other)
    assert report.full and report.embedded == 16 and "model changed" in (report.reason or "")
    assert build_index(corpus, encoder=other, full=True).embedded == 16


def test_wrong_model_index_is_refused_with_a_fix(corpus: Settings) -> None:
    build_index(corpus, encoder=HashEncoder())
    with pytest.raises(IndexError_, match="built with model hash-test-encoder") as err:
        Retriever.load(settings=corpus, encoder=HashEncoder(dim=32, model_id="other"))
    assert "qabot index --full" in str(err.value)


def test_corrupt_and_missing_index(corpus: Settings) -> None:
    with pytest.raises(IndexError_, match="qabot index"):
        Retriever.load(settings=corpus, encoder=HashEncoder())
    build_index(corpus, encoder=HashEncoder())
    gen = corpus.index_dir / current_name(corpus.index_dir)
    (gen / "passages.faiss").write_bytes(b"garbage")
    with pytest.raises(IndexError_, match="corrupt"):
        Retriever.load(settings=corpus, encoder=HashEncoder())
    # The next build notices and rebuilds instead of failing.
    report = build_index(corpus, encoder=HashEncoder())
    assert report.full and report.embedded == 16
    assert len(Retriever.load(settings=corpus, encoder=HashEncoder())) == 16


def test_empty_index_and_empty_question(corpus: Settings) -> None:
    for path in corpus.articles_dir.iterdir():
        path.unlink()
    report = build_index(corpus, encoder=HashEncoder())
    assert report.passages == 0
    retriever = Retriever.load(settings=corpus, encoder=HashEncoder())
    assert retriever.search("سؤال", k=3) == []
    assert retriever.ask("سؤال").found is False
    with pytest.raises(ValueError, match="empty"):
        retriever.search("   \n ")


def test_retriever_picks_up_new_generation(corpus: Settings) -> None:
    enc = HashEncoder()
    build_index(corpus, encoder=enc)
    retriever = Retriever.load(settings=corpus, encoder=enc)
    assert retriever.refresh() is False
    (corpus.articles_dir / "new.txt").write_text("خبر جديد عن مكتبة الرباط الكبيرة.\n", "utf-8")
    build_index(corpus, encoder=enc)
    assert retriever.refresh() is True
    assert len(retriever) == 17
