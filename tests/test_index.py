"""Index build, round trip, incremental updates and damage, with a fast fake encoder."""

import json
import logging
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from fakes import HashEncoder
from filelock import FileLock

from qabot.config import Settings
from qabot.errors import IndexError_, QabotError
from qabot.index import BuildReport, FaissIndex, FileStore, build_index
from qabot.index.files import CURRENT, current_name
from qabot.retriever import Retriever
from qabot.watch import DEBOUNCE_MS, watch

SEED = Path(__file__).resolve().parents[1] / "articles" / "000_b3e058f4b2c0909a.txt"
PARK = [
    "افتتحت بلدية المدينة حديقة عامة جديدة على ضفاف النهر بمساحة تتجاوز عشرين هكتارا.",
    "تضم الحديقة ممرات للدراجات وملاعب للأطفال ومكتبة صغيرة مفتوحة للزوار طوال الأسبوع.",
    "وقال رئيس البلدية إن المشروع استغرق ثلاث سنوات من العمل وكلف نحو خمسة ملايين دولار.",
    "ومن المتوقع أن تستقبل الحديقة آلاف الزوار في عطلة نهاية الأسبوع الأولى بعد افتتاحها.",
]


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


# --------------------------------------------------------------------------- helpers


def write(path: Path, lines: list[str], front: str = "") -> None:
    path.write_text((f"---\n{front}\n---\n" if front else "") + "\n".join(lines) + "\n", "utf-8")


def counts(report: BuildReport) -> tuple[int, ...]:
    return report.added, report.updated, report.removed, report.embedded, report.embedded_sentences


def assert_same_as_full_build(settings: Settings, enc: HashEncoder) -> None:
    """The updated index holds exactly what a build from scratch would: the invariant."""
    fresh_dir = settings.index_dir.parent / "fresh"
    shutil.rmtree(fresh_dir, ignore_errors=True)
    build_index(settings, encoder=enc, full=True, index_dir=fresh_dir)
    inc, full = FileStore(settings.index_dir).load(), FileStore(fresh_dir).load()
    assert inc.chunks == full.chunks and inc.sentences == full.sentences
    keys = np.array([c.key for c in full.chunks], np.int64)
    assert sorted(inc.passages.ids().tolist()) == sorted(keys.tolist())
    np.testing.assert_allclose(inc.passages.get(keys), full.passages.get(keys), atol=1e-6)
    # One vector per distinct sentence text, numbered the same way in both.
    np.testing.assert_array_equal(inc.sentence_ids, full.sentence_ids)
    assert len(inc.sentence_vectors) == len(full.sentence_vectors) == inc.sentence_ids.max() + 1
    s_ids = np.arange(len(full.sentence_vectors), dtype=np.int64)
    np.testing.assert_allclose(
        inc.sentence_vectors.get(s_ids), full.sentence_vectors.get(s_ids), atol=1e-6
    )
    assert sorted(inc.lexical.ids.tolist()) == sorted(keys.tolist())
    assert all(inc.lexical.terms_of(k) == full.lexical.terms_of(k) for k in keys.tolist())


def wait_until(condition: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# --------------------------------------------------------------------------- incremental


def test_every_kind_of_change_equals_a_full_build(corpus: Settings) -> None:
    enc, a = HashEncoder(), corpus.articles_dir / "a.txt"
    write(a, PARK)
    build_index(corpus, encoder=enc)

    write(corpus.articles_dir / "dup.txt", PARK)  # the same text in a second file
    write(
        corpus.articles_dir / "rep.txt",
        ["فقرة مكررة مرتين في المقال نفسه لأغراض الاختبار فقط."] * 2,
    )
    assert counts(build_index(corpus, encoder=enc)) == (6, 0, 0, 1, 1)
    assert_same_as_full_build(corpus, enc)

    write(a, PARK[::-1])  # reordered paragraphs: every key moves, no text is new
    assert counts(build_index(corpus, encoder=enc)) == (0, 4, 0, 0, 0)
    assert_same_as_full_build(corpus, enc)

    grown = f"{PARK[3]} وهذه جملة ثانية مضافة. وهذه ثالثة أيضا."
    write(a, [grown, *PARK[::-1][1:]])  # one sentence becomes three
    assert counts(build_index(corpus, encoder=enc)) == (0, 1, 0, 1, 2)
    assert_same_as_full_build(corpus, enc)
    write(a, PARK[::-1])  # and back: dup.txt still holds that text, so nothing is embedded
    assert counts(build_index(corpus, encoder=enc)) == (0, 1, 0, 0, 0)
    assert_same_as_full_build(corpus, enc)

    write(a, PARK[::-1], front="title: حديقة جديدة")  # the title is matched with the text
    assert counts(build_index(corpus, encoder=enc)) == (0, 4, 0, 4, 0)
    assert_same_as_full_build(corpus, enc)

    (corpus.articles_dir / "dup.txt").unlink()
    a.rename(corpus.articles_dir / "b.txt")
    assert counts(build_index(corpus, encoder=enc)) == (4, 0, 8, 0, 0)
    assert_same_as_full_build(corpus, enc)


def test_metadata_only_change_makes_a_generation_without_embedding(corpus: Settings) -> None:
    enc, path = HashEncoder(), corpus.articles_dir / SEED.name
    first = build_index(corpus, encoder=enc)
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("source: تاس", "source: رويترز\nurl: https://x.example/oic"))
    report = build_index(corpus, encoder=enc)
    assert report.generation != first.generation
    assert counts(report) == (0, 0, 0, 0, 0) and report.unchanged == 16
    [info] = Retriever.load(settings=corpus, encoder=enc).articles()
    assert (info.source, info.url) == ("رويترز", "https://x.example/oic")
    assert_same_as_full_build(corpus, enc)


def test_a_new_sentence_splitter_reaches_an_unchanged_corpus(
    corpus: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same passages, sentences split differently (a newer qabot): not a no-op."""
    enc = HashEncoder()
    first = build_index(corpus, encoder=enc)
    monkeypatch.setattr("qabot.index.build.split_sentences", lambda text: [text])
    report = build_index(corpus, encoder=enc)
    assert report.generation != first.generation and report.embedded == 0
    assert report.embedded_sentences > 0
    assert_same_as_full_build(corpus, enc)


# --------------------------------------------------------------------------- damage and leftovers


def test_leftovers_of_a_killed_build_are_ignored_then_cleaned(corpus: Settings) -> None:
    enc = HashEncoder()
    build_index(corpus, encoder=enc)
    index = corpus.index_dir
    # A build killed while writing (a .tmp folder and pointer) and one killed after its
    # folder rename but before the CURRENT switch (a complete folder nothing points to).
    (index / "gen-000002.tmp").mkdir()
    (index / "gen-000002.tmp" / "passages.faiss").write_bytes(b"half")
    (index / f"{CURRENT}.tmp").write_text("gen-000002\n")
    shutil.copytree(index / "gen-000001", index / "gen-000002")
    assert len(Retriever.load(settings=corpus, encoder=enc)) == 16

    write(corpus.articles_dir / "a.txt", PARK)
    report = build_index(corpus, encoder=enc)
    assert report.generation == "gen-000003" and report.embedded == 4
    kept = [".lock", CURRENT, "bridge.npz", "gen-000001", "gen-000003"]  # bridge: qabot.bridge
    assert sorted(p.name for p in index.iterdir()) == kept
    assert len(Retriever.load(settings=corpus, encoder=enc)) == 20


def test_current_pointing_nowhere_is_a_clear_error_and_rebuilt(corpus: Settings) -> None:
    enc = HashEncoder()
    build_index(corpus, encoder=enc)
    shutil.rmtree(corpus.index_dir / "gen-000001")
    with pytest.raises(IndexError_, match="points to gen-000001, which is missing") as err:
        Retriever.load(settings=corpus, encoder=enc)
    assert "qabot index --full" in str(err.value)
    (corpus.index_dir / CURRENT).write_text("../../etc\n")
    with pytest.raises(IndexError_, match="not a generation"):
        Retriever.load(settings=corpus, encoder=enc)
    report = build_index(corpus, encoder=enc)
    assert report.full and "unusable" in (report.reason or "") and report.embedded == 16
    assert len(Retriever.load(settings=corpus, encoder=enc)) == 16


KILL_DRIVER = """
import os, signal, sys
from pathlib import Path
from qabot.config import Settings
from fakes import HashEncoder
from qabot.index import build_index

kill_at, calls, real_replace = int(sys.argv[3]), [0], os.replace

def replace(src, dst):
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    real_replace(src, dst)

os.replace = replace
build_index(
    Settings(articles_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2])), encoder=HashEncoder()
)
"""


def test_killed_at_every_rename_the_previous_index_survives(corpus: Settings) -> None:
    """SIGKILL just before each rename a build makes: the bridge's words (qabot.bridge), its
    generation folder, then CURRENT."""
    enc = HashEncoder()
    build_index(corpus, encoder=enc)
    write(corpus.articles_dir / "a.txt", PARK)
    args = [str(corpus.articles_dir), str(corpus.index_dir)]
    for step in range(1, 4):
        run = subprocess.run([sys.executable, "-c", KILL_DRIVER, *args, str(step)], timeout=120)
        assert run.returncode == -signal.SIGKILL, step
        assert current_name(corpus.index_dir) == "gen-000001", step
        retriever = Retriever.load(settings=corpus, encoder=enc)
        assert len(retriever) == 16 and retriever.search("منظمة التعاون الإسلامي", k=1), step
    report = build_index(corpus, encoder=enc)
    assert report.embedded == 4 and report.generation == "gen-000003"  # gen-000002 was orphaned
    assert_same_as_full_build(corpus, enc)
    assert not list(corpus.index_dir.glob("*.tmp"))


#: Index folders whose file operations the audit hook below checks (none outside that test).
_AUDITED: list[Path] = []
_POINTER_FAULTS: list[str] = []


def _audit_pointer(event: str, args: tuple) -> None:  # type: ignore[type-arg]
    """Whatever a commit does to CURRENT, a reader at any instant must read a complete name
    of a complete generation: CURRENT is never opened for writing (that truncates it in
    place), and it only changes by renaming a complete file naming a published folder onto it.
    """
    if not _AUDITED or event not in ("open", "os.rename"):
        return
    folder = _AUDITED[0]
    pointer = str(folder / CURRENT)
    if event == "open":
        path, mode, flags = args
        writing = (mode is not None and any(m in str(mode) for m in "wax+")) or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_TRUNC)
        )
        if str(path) == pointer and writing:
            _POINTER_FAULTS.append(f"CURRENT opened for writing ({mode!r}, {flags!r})")
        return
    src, dst = str(args[0]), str(args[1])
    if dst != pointer:
        return
    name = Path(src).read_text(encoding="utf-8")
    if not re.fullmatch(r"gen-\d{6,}\n?", name):
        _POINTER_FAULTS.append(f"CURRENT replaced by an incomplete pointer {name!r}")
    elif not (folder / name.strip() / "manifest.json").is_file():
        _POINTER_FAULTS.append(f"CURRENT switched to {name.strip()} before it was published")


sys.addaudithook(_audit_pointer)


def test_current_pointer_is_never_half_written(corpus: Settings) -> None:
    """Every way CURRENT changes during commits, checked as it happens (audit hook), and a
    reader thread hammering it meanwhile only ever reads a whole name of a whole folder."""
    enc = HashEncoder()
    corpus.index_dir.mkdir()
    _AUDITED.append(corpus.index_dir)
    reads: list[str | None] = []
    done = threading.Event()

    def reader() -> None:
        while not done.is_set():
            try:
                name = (corpus.index_dir / CURRENT).read_text(encoding="utf-8")
            except FileNotFoundError:
                name = None
            reads.append(name)
            # An old generation may be pruned after the switch (a reader slowed down by a
            # loaded machine sees that): only a folder CURRENT still names must exist.
            if (
                name
                and not (corpus.index_dir / name.strip() / "manifest.json").is_file()
                and (corpus.index_dir / CURRENT).read_text(encoding="utf-8") == name
            ):
                reads.append(f"missing folder {name!r}")

    thread = threading.Thread(target=reader)
    try:
        thread.start()
        for i in range(8):
            write(corpus.articles_dir / "park.txt", [*PARK[:3], f"{PARK[3]} النسخة {i}."])
            build_index(corpus, encoder=enc)
    finally:
        done.set()
        thread.join(10)
        _AUDITED.clear()
    assert _POINTER_FAULTS == []
    assert current_name(corpus.index_dir) == "gen-000008"
    seen = [r for r in reads if r is not None]
    assert seen and all(re.fullmatch(r"gen-0000(0[1-8])\n?", r) for r in seen), set(seen)
    first = reads.index(seen[0])
    assert None not in reads[first:]  # once there, CURRENT never disappears


RANDOM_KILL_DRIVER = """
import json, os, signal, sys
from pathlib import Path
import numpy as np
from fakes import HashEncoder
from qabot.config import Settings
from qabot.index import build_index

articles, index, kill_at = sys.argv[1], sys.argv[2], int(sys.argv[3])
events = []
WRITES = {"open", "os.rename", "os.mkdir", "os.remove", "os.rmdir", "shutil.rmtree"}

def tick(kind):
    events.append(kind)
    if len(events) == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)

def hook(event, args):
    if event not in WRITES or not args or not str(args[0]).startswith(index):
        return
    if event == "open":
        mode, flags = args[1], args[2]
        writing = any(m in str(mode or "") for m in "wax+") or (
            isinstance(flags, int) and flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        )
        if not writing:
            return
    tick("write")

class Encoder(HashEncoder):
    def encode_passages(self, texts):  # in batches of two, as a model works through them
        parts = []
        for i in range(0, len(texts), 2):
            tick("embed")
            parts.append(super().encode_passages(texts[i : i + 2]))
        return np.concatenate(parts) if parts else super().encode_passages(texts)

sys.addaudithook(hook)
settings = Settings(articles_dir=Path(articles), index_dir=Path(index))
build_index(settings, encoder=Encoder())
print(json.dumps(events))
"""


def test_killed_at_random_points_while_embedding_and_writing(corpus: Settings) -> None:
    """SIGKILL at random points of an update (seeded): inside the embedding batches and at
    file writes, folder creations, renames and removals. Each time the index still loads
    (the old generation or the complete new one) and the next build repairs everything."""
    enc = HashEncoder()
    build_index(corpus, encoder=enc)
    pristine = corpus.index_dir.parent / "pristine"
    shutil.copytree(corpus.index_dir, pristine)
    write(corpus.articles_dir / "a.txt", PARK)
    args = [str(corpus.articles_dir), str(corpus.index_dir)]
    dry = subprocess.run(
        [sys.executable, "-c", RANDOM_KILL_DRIVER, *args, "0"],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    events = json.loads(dry.stdout)
    embeds = [i + 1 for i, kind in enumerate(events) if kind == "embed"]
    writes = [i + 1 for i, kind in enumerate(events) if kind == "write"]
    assert len(embeds) >= 3 and len(writes) >= 6, events
    rng = random.Random(20261129)
    points = sorted(rng.sample(embeds, 3) + rng.sample(writes, 6))
    for point in points:
        shutil.rmtree(corpus.index_dir)
        shutil.copytree(pristine, corpus.index_dir)
        run = subprocess.run(
            [sys.executable, "-c", RANDOM_KILL_DRIVER, *args, str(point)], timeout=120
        )
        assert run.returncode == -signal.SIGKILL, point
        retriever = Retriever.load(settings=corpus, encoder=enc)
        assert len(retriever) in (16, 20), point  # the old generation or the whole new one
        assert retriever.search("منظمة التعاون الإسلامي", k=1), point
        build_index(corpus, encoder=enc)
        assert_same_as_full_build(corpus, enc)
        assert not list(corpus.index_dir.glob("*.tmp")), point


def test_question_in_flight_keeps_its_generation(corpus: Settings) -> None:
    """A swap between the start and the end of a search does not disturb that search."""

    class Gated(HashEncoder):
        armed, entered, release = threading.Event(), threading.Event(), threading.Event()

        def encode_queries(self, texts: list[str]) -> np.ndarray:
            if self.armed.is_set():  # questions, not the build's words (qabot.bridge)
                self.entered.set()
                assert self.release.wait(30)
            return super().encode_queries(texts)

        def encode_passages(self, texts: list[str]) -> np.ndarray:
            return HashEncoder.encode_queries(self, texts)

    enc = Gated()
    write(corpus.articles_dir / "park.txt", PARK)
    build_index(corpus, encoder=enc)
    retriever = Retriever.load(settings=corpus, encoder=enc)
    enc.armed.set()
    found: list[set[str]] = []
    question = threading.Thread(
        target=lambda: found.append({p.article for p in retriever.search(PARK[0], k=20)})
    )
    question.start()
    assert enc.entered.wait(10)
    (corpus.articles_dir / "park.txt").unlink()
    build_index(corpus, encoder=enc)
    assert retriever.refresh() is True  # swapped while the question is in flight
    enc.release.set()
    question.join(10)
    assert found == [{"park", SEED.stem}]  # answered from the generation it started on
    assert {p.article for p in retriever.search(PARK[0], k=20)} == {SEED.stem}


# --------------------------------------------------------------------------- the lock


def test_second_build_waits_then_gives_up_with_a_clear_message(corpus: Settings) -> None:
    """Another process holds the lock: `qabot index --wait 1` says it waits, then gives up."""
    corpus.index_dir.mkdir()
    with FileLock(str(corpus.index_dir / ".lock")):
        started = time.monotonic()
        run = subprocess.run(
            [sys.executable, "-m", "qabot", "index", "--wait", "1"]
            + ["--articles", str(corpus.articles_dir), "--index", str(corpus.index_dir)],
            capture_output=True, text=True, timeout=120, env=os.environ | {"HF_HUB_OFFLINE": "1"},
        )  # fmt: skip
        waited = time.monotonic() - started
    assert run.returncode == 2, run.stderr
    assert "waiting for another `qabot index` to finish" in run.stderr
    assert "gave up" in run.stderr and "--wait SECONDS" in run.stderr
    assert waited >= 1.0 and current_name(corpus.index_dir) is None


def test_waiting_build_proceeds_when_the_lock_is_released(
    corpus: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="qabot.index.files")
    corpus.index_dir.mkdir()
    lock = FileLock(str(corpus.index_dir / ".lock"))
    reports: list[BuildReport] = []
    with lock:
        waiter = threading.Thread(
            target=lambda: reports.append(build_index(corpus, encoder=HashEncoder()))
        )
        waiter.start()
        assert wait_until(lambda: "waiting for another" in caplog.text, 10)
        assert not reports
    waiter.join(30)
    assert reports and reports[0].passages == 16
    with lock, pytest.raises(QabotError, match="gave up"):
        build_index(corpus, encoder=HashEncoder(), lock_timeout=0.2)


def test_concurrent_builds_do_not_corrupt(corpus: Settings) -> None:
    enc = HashEncoder()
    build_index(corpus, encoder=enc)
    errors: list[BaseException] = []

    def build() -> None:
        try:
            build_index(corpus, encoder=enc)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    write(corpus.articles_dir / "a.txt", PARK)
    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert current_name(corpus.index_dir) == "gen-000002"  # one build did it, the rest no-ops
    assert_same_as_full_build(corpus, enc)


# --------------------------------------------------------------------------- watch


def test_watch_applies_a_burst_of_saves_once(
    corpus: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    """Five saves within milliseconds (well inside STEP_MS) are one change: one rebuild."""
    enc = HashEncoder()
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch, args=(corpus,), kwargs={"stop_event": stop, "encoder": enc}
    )
    watcher.start()
    try:
        assert wait_until(lambda: current_name(corpus.index_dir) == "gen-000001", 30)
        # Prove the watcher is live before the burst: save a probe until it is rebuilt.
        probe = corpus.articles_dir / "probe.txt"
        write(probe, ["مقال تجريبي قصير عن الطقس في المدينة اليوم."])
        seen = lambda: "probe.txt changed:" in capsys.readouterr().out  # noqa: E731
        for _ in range(20):
            if wait_until(seen, 3):
                break
            probe.touch()
        else:
            pytest.fail("the watcher never picked up a change")
        saved = time.monotonic()
        for version in range(5):  # an editor saving in a burst
            write(corpus.articles_dir / "park.txt", [*PARK[:3], f"{PARK[3]} النسخة {version}."])
        out: list[str] = []

        def applied() -> bool:
            out.append(capsys.readouterr().out)
            return "park.txt changed:" in "".join(out)

        assert wait_until(applied, 20)
        latency = time.monotonic() - saved
        time.sleep(DEBOUNCE_MS / 1000 + 1.0)  # room for any extra rebuild to show up
    finally:
        stop.set()
        watcher.join(10)
    out.append(capsys.readouterr().out)
    printed = "".join(out)
    assert printed.count("changed:") == 1 and latency < 10, (latency, printed)
    gen = FileStore(corpus.index_dir).load()
    assert any(c.text.endswith("النسخة 4.") for c in gen.chunks)  # the last save, applied
    assert not any("النسخة 3." in c.text for c in gen.chunks)
    assert_same_as_full_build(corpus, enc)


def test_unusable_new_generation_is_rejected_once(corpus: Settings, monkeypatch) -> None:
    enc = HashEncoder()
    build_index(corpus, encoder=enc)
    retriever = Retriever.load(settings=corpus, encoder=enc)
    (corpus.articles_dir / "new.txt").write_text("خبر جديد عن مكتبة الرباط الكبيرة.\n", "utf-8")
    build_index(corpus, encoder=enc)
    gen = corpus.index_dir / current_name(corpus.index_dir)
    (gen / "passages.faiss").write_bytes(b"garbage")
    loads = []
    real_open = Retriever._open
    monkeypatch.setattr(Retriever, "_open", lambda self: loads.append(1) or real_open(self))
    assert retriever.refresh() is False and retriever.refresh() is False
    assert len(loads) == 1  # not re-read on every question
    assert len(retriever) == 16 and retriever.search("منظمة التعاون", k=1)


def test_a_generation_folder_is_flushed_before_it_is_renamed_into_place(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """publish_dir: a crash right after the rename must not leave a published folder whose
    files never reached the disk, so every file is flushed before the rename, not after."""
    from qabot import fsio

    events: list[tuple[str, Path]] = []
    real_replace = os.replace
    monkeypatch.setattr(fsio, "fsync_tree", lambda p: events.append(("flush", Path(p))))

    def replace(src: str | Path, dst: str | Path) -> None:
        events.append(("rename", Path(src)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    tmp = tmp_path / "gen-000001.tmp"
    tmp.mkdir()
    (tmp / "manifest.json").write_text("{}", encoding="utf-8")
    fsio.publish_dir(tmp, tmp_path / "gen-000001")
    assert events == [("flush", tmp), ("rename", tmp)]
    assert (tmp_path / "gen-000001" / "manifest.json").read_text(encoding="utf-8") == "{}"
