"""The index on disk (format 2): sentence vectors once per distinct text in bytes, passages
column-wise and memory-mapped; an index of the previous format is read and rewritten."""

import json
import shutil
from pathlib import Path

import faiss
import numpy as np
import pytest
from fakes import HashEncoder
from test_index import PARK, SEED, assert_same_as_full_build, write

from qabot.chunking import stable_key
from qabot.config import Settings
from qabot.errors import IndexError_
from qabot.index import FaissIndex, FileStore, build_index, collect_chunks
from qabot.index.files import FORMAT, current_name
from qabot.index.halfvectors import HalfIndex, code_bound
from qabot.index.passages import PassageTable
from qabot.retriever import Retriever

DIM = 64


@pytest.fixture
def corpus(tmp_path: Path) -> Settings:
    articles = tmp_path / "articles"
    articles.mkdir()
    shutil.copy(SEED, articles / SEED.name)
    write(articles / "park.txt", PARK)
    write(articles / "park-copy.txt", PARK)  # the same four paragraphs in a second article
    return Settings(articles_dir=articles, index_dir=tmp_path / "index")


def test_a_repeated_sentence_has_one_vector_in_bytes(corpus: Settings) -> None:
    report = build_index(corpus, encoder=HashEncoder(dim=DIM))
    snapshot = FileStore(corpus.index_dir).load()
    occurrences = [s for c in snapshot.chunks for s in snapshot.sentences[c.key]]
    assert report.passages == 24 and len(occurrences) > len(set(occurrences))
    assert len(snapshot.sentence_vectors) == len(set(occurrences))
    assert report.embedded_sentences == len(set(occurrences))
    assert isinstance(snapshot.sentence_vectors, HalfIndex)
    gen = corpus.index_dir / current_name(corpus.index_dir)
    stored = (gen / "sentences.faiss").stat().st_size
    # A byte a dimension, plus each dimension's range (two float32) once.
    codes = len(set(occurrences)) * DIM
    assert codes + 2 * DIM * 4 <= stored < codes + 2 * DIM * 4 + 200
    # Every occurrence reads back its own text's vector, within half a code step (plus the
    # float16 rounding of the build's rows): the codes span [-bound, bound] in every
    # dimension, larger values are clipped.
    expected = HashEncoder(dim=DIM).encode_passages(occurrences)
    keys = [c.key for c in snapshot.chunks]
    got = snapshot.sentence_vectors.get(np.concatenate(snapshot.sentence_rows(keys)))
    bound = code_bound(DIM)
    error = np.abs(got - np.clip(expected, -bound, bound))
    assert error.max() <= bound / 255 + bound / 2048
    assert error.max() > bound / 2048  # rounded to bytes, not float16


def test_a_shared_sentence_finds_every_passage_that_has_it(corpus: Settings) -> None:
    enc = HashEncoder(dim=DIM)
    build_index(corpus, encoder=enc)
    snapshot = FileStore(corpus.index_dir).load().prepare_search()
    vector = enc.encode_queries([PARK[1]])[0]
    owners = {snapshot.by_key[k].article for k in snapshot.sentence_passages(vector, 2)}
    assert owners == {"park", "park-copy"}
    assert len(snapshot.sentence_passages(vector, 1)) == 1  # k counts passages, not texts
    found = Retriever.load(settings=corpus, encoder=enc).search(PARK[1], k=2)
    assert {p.article for p in found} == {"park", "park-copy"}
    assert all(p.sentence == PARK[1] for p in found)


def test_the_article_list_is_counted_from_the_table_as_from_the_passages(
    corpus: Settings,
) -> None:
    enc = HashEncoder(dim=DIM)
    build_index(corpus, encoder=enc)
    snapshot = FileStore(corpus.index_dir).load()
    assert isinstance(snapshot.chunks, PassageTable)
    from_table = snapshot.articles()  # counted from the metadata column: no passage built
    snapshot.chunks = list(snapshot.chunks)
    from_passages = snapshot.articles()
    assert from_table == from_passages
    assert {a.id: a.passages for a in from_table if "park" in a.id} == {"park": 4, "park-copy": 4}


def test_loaded_passages_are_the_built_ones(corpus: Settings) -> None:
    enc = HashEncoder(dim=DIM)
    build_index(corpus, encoder=enc)
    chunks, _, _ = collect_chunks(corpus.articles_dir, corpus.max_chunk_tokens, enc.count_tokens)
    snapshot = FileStore(corpus.index_dir).load()
    assert isinstance(snapshot.chunks, PassageTable)
    assert list(snapshot.chunks) == chunks and snapshot.chunks == chunks
    assert snapshot.chunks[-1] == chunks[-1] and snapshot.chunks[1:3] == chunks[1:3]
    assert [snapshot.by_key[c.key] for c in chunks] == chunks
    assert all("".join(snapshot.sentences[c.key]).replace(" ", "") == c.text.replace(" ", "")
               for c in chunks)  # fmt: skip
    with pytest.raises(KeyError):
        snapshot.by_key[12345]


def write_format1(settings: Settings, enc: HashEncoder) -> None:
    """Replace the current generation by what qabot before issue 12 wrote for it: JSON lines
    with the sentences as strings, one float32 vector per sentence occurrence."""
    snapshot = FileStore(settings.index_dir).load()
    gen = settings.index_dir / current_name(settings.index_dir)
    for path in ("passages", "sentence_ids.npy", "sentences.faiss"):
        shutil.rmtree(gen / path) if (gen / path).is_dir() else (gen / path).unlink()
    vectors = FaissIndex(DIM)
    with open(gen / "passages.jsonl", "w", encoding="utf-8") as fh:
        for chunk in snapshot.chunks:
            own = snapshot.sentences[chunk.key]
            fh.write(json.dumps(chunk.model_dump(mode="json") | {"sentences": own}) + "\n")
            keys = [stable_key(f"{chunk.id}/s{j}") for j in range(len(own))]
            vectors.add(np.array(keys, np.int64), enc.encode_passages(own))
    vectors.save(gen / "sentences.faiss")
    record = json.loads((gen / "manifest.json").read_text(encoding="utf-8"))
    del record["sentence_vectors"]
    (gen / "manifest.json").write_text(json.dumps(record | {"format": 1}), encoding="utf-8")


def test_an_index_of_the_previous_format_is_read_then_rewritten_without_embedding(
    corpus: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    enc = HashEncoder(dim=DIM)
    build_index(corpus, encoder=enc)
    write_format1(corpus, enc)
    retriever = Retriever.load(settings=corpus, encoder=enc)
    assert "previous format (1)" in caplog.text
    assert {p.article for p in retriever.search(PARK[1], k=2)} == {"park", "park-copy"}
    report = build_index(corpus, encoder=enc)  # nothing changed but the format
    assert (report.embedded, report.embedded_sentences) == (0, 0)
    assert report.generation == "gen-000002" and not report.full
    manifest = corpus.index_dir / "gen-000002" / "manifest.json"
    assert json.loads(manifest.read_text(encoding="utf-8"))["format"] == FORMAT
    assert_same_as_full_build(corpus, enc)


def test_sentence_vectors_stored_in_float16_are_read_and_an_edit_writes_bytes(
    corpus: Settings,
) -> None:
    enc = HashEncoder(dim=DIM)
    build_index(corpus, encoder=enc)
    gen = corpus.index_dir / current_name(corpus.index_dir)
    snapshot = FileStore(corpus.index_dir).load()
    texts = [t for k in sorted(snapshot.sentence_ids_by_text().items(), key=lambda i: i[1])
             for t in k[:1]]  # fmt: skip
    # As qabot wrote them before the byte codes: float16, same file name and manifest.
    old = faiss.IndexScalarQuantizer(DIM, faiss.ScalarQuantizer.QT_fp16, faiss.METRIC_INNER_PRODUCT)
    old.add(enc.encode_passages(texts))
    faiss.write_index(old, str(gen / "sentences.faiss"))
    snapshot = FileStore(corpus.index_dir).load()
    ids = np.arange(len(texts), dtype=np.int64)
    np.testing.assert_allclose(snapshot.sentence_vectors.get(ids), enc.encode_passages(texts),
                               atol=1e-3)  # fmt: skip
    retriever = Retriever.load(settings=corpus, encoder=enc)
    assert {p.article for p in retriever.search(PARK[1], k=2)} == {"park", "park-copy"}
    write(corpus.articles_dir / "extra.txt", ["حديقة جديدة في المدينة افتتحت اليوم للزوار."])
    report = build_index(corpus, encoder=enc)
    assert report.embedded_sentences == 1  # the others reused from the float16 file
    stored = faiss.read_index(str(corpus.index_dir / report.generation / "sentences.faiss"))
    assert stored.sq.qtype == faiss.ScalarQuantizer.QT_8bit
    assert_same_as_full_build(corpus, enc)


def test_an_index_of_an_unknown_format_is_refused_then_rebuilt(corpus: Settings) -> None:
    enc = HashEncoder(dim=DIM)
    build_index(corpus, encoder=enc)
    manifest = corpus.index_dir / current_name(corpus.index_dir) / "manifest.json"
    record = json.loads(manifest.read_text(encoding="utf-8"))
    manifest.write_text(json.dumps(record | {"format": FORMAT + 1}), encoding="utf-8")
    with pytest.raises(IndexError_, match="unknown format") as err:
        Retriever.load(settings=corpus, encoder=enc)
    assert "qabot index --full" in str(err.value)
    report = build_index(corpus, encoder=enc)
    assert report.full and "unknown format" in (report.reason or "")


@pytest.mark.parametrize(
    "damage",
    [
        lambda g: (g / "sentence_ids.npy").write_bytes(b"\x93NUMPY garbage"),
        lambda g: (g / "passages" / "tables.json").write_text("{", encoding="utf-8"),
        lambda g: np.save(g / "passages" / "text_ends.npy", np.zeros(3, np.int64)),
        lambda g: np.save(g / "sentence_ids.npy", np.zeros(5, np.int32)),
    ],
    ids=["garbage ids", "broken tables", "texts disagree", "too few sentence ids"],
)
def test_damaged_passage_files_are_a_clear_error(corpus: Settings, damage) -> None:  # type: ignore[no-untyped-def]
    enc = HashEncoder(dim=DIM)
    build_index(corpus, encoder=enc)
    damage(corpus.index_dir / current_name(corpus.index_dir))
    with pytest.raises(IndexError_, match="corrupt|inconsistent") as err:
        Retriever.load(settings=corpus, encoder=enc)
    assert "qabot index --full" in str(err.value)
    assert build_index(corpus, encoder=enc).full  # the next build repairs it
