"""Incremental builds with the real model: what gets embedded, what the answers say, kills.

Each test starts from a copy of the seed corpus *and* of its already built index, so only
the change under test goes through the model (~12 paragraphs/s on the test machine).
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakes import HashEncoder

from qabot.config import Settings
from qabot.encoder import SentenceTransformerEncoder
from qabot.index import build_index
from qabot.index.files import current_name
from qabot.retriever import Retriever

pytestmark = pytest.mark.slow

SEED_QUESTION = "متى تأسست منظمة التعاون الإسلامي؟"
PARK_QUESTION = "كم بلغت تكلفة الحديقة العامة الجديدة على ضفاف النهر؟"
PARK = [
    "افتتحت بلدية المدينة حديقة عامة جديدة على ضفاف النهر بمساحة تتجاوز عشرين هكتارا.",
    "تضم الحديقة ممرات للدراجات وملاعب للأطفال ومكتبة صغيرة مفتوحة للزوار طوال الأسبوع.",
    "وقال رئيس البلدية إن المشروع استغرق ثلاث سنوات من العمل وكلف نحو خمسة ملايين دولار.",
    "ومن المتوقع أن تستقبل الحديقة آلاف الزوار في عطلة نهاية الأسبوع الأولى بعد افتتاحها.",
    "وزرعت في الحديقة أكثر من ألفي شجرة من أنواع محلية تتحمل الحرارة وقلة المياه.",
    "كما خصصت البلدية حافلات مجانية تنقل السكان من وسط المدينة إلى مدخل الحديقة كل ساعة.",
    "وأكد مسؤولون أن الحديقة ستستضيف سوقا أسبوعيا للمزارعين وعروضا موسيقية في المساء.",
    "ويأمل السكان أن تخفف المساحات الخضراء الجديدة من حرارة الصيف في الأحياء المجاورة.",
]


def park_article() -> str:
    return "---\ntitle: افتتاح حديقة عامة جديدة على ضفاف النهر\n---\n" + "\n".join(PARK) + "\n"


@pytest.fixture
def seed_copy(tmp_path: Path, seed_settings: Settings, seed_retriever: Retriever) -> Settings:
    """A private copy of the seed corpus and of its built index: nothing left to embed."""
    shutil.copytree(seed_settings.articles_dir, tmp_path / "articles")
    shutil.copytree(seed_settings.index_dir, tmp_path / "index")
    return Settings(articles_dir=tmp_path / "articles", index_dir=tmp_path / "index")


def test_edited_paragraph_is_the_only_text_embedded(
    seed_copy: Settings, encoder: SentenceTransformerEncoder
) -> None:
    retriever = Retriever.load(settings=seed_copy, encoder=encoder)
    assert "1969" in (retriever.ask(SEED_QUESTION).sentence or "")
    [path] = seed_copy.articles_dir.iterdir()
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("وقد تأسست عام 1969", "وقد تأسست عام 1970"), encoding="utf-8")

    report = build_index(seed_copy, encoder=encoder)
    assert (report.updated, report.unchanged, report.embedded, report.embedded_sentences) == (
        1, 15, 1, 1,
    )  # fmt: skip
    assert retriever.refresh() is True
    answer = retriever.ask(SEED_QUESTION)
    assert answer.found and "1970" in (answer.sentence or "")
    assert all("1969" not in p.text for p in retriever.search(SEED_QUESTION, k=16))


def test_renamed_file_costs_no_embedding(
    seed_copy: Settings, encoder: SentenceTransformerEncoder
) -> None:
    [path] = seed_copy.articles_dir.iterdir()
    path.rename(path.with_name("oic-lavrov.txt"))
    report = build_index(seed_copy, encoder=encoder)
    assert (report.added, report.removed, report.embedded, report.embedded_sentences) == (
        16, 16, 0, 0,
    )  # fmt: skip
    answer = Retriever.load(settings=seed_copy, encoder=encoder).ask(SEED_QUESTION)
    assert answer.found and answer.passages[0].article == "oic-lavrov"
    assert "1969" in answer.passages[0].text


def test_model_change_rebuilds_everything_and_says_so(
    tmp_path: Path, encoder: SentenceTransformerEncoder
) -> None:
    (tmp_path / "articles").mkdir()
    (tmp_path / "articles" / "park.txt").write_text(park_article(), encoding="utf-8")
    settings = Settings(articles_dir=tmp_path / "articles", index_dir=tmp_path / "index")
    build_index(settings, encoder=HashEncoder())

    report = build_index(settings, encoder=encoder)
    assert report.full and report.embedded == report.passages == len(PARK)
    assert report.reason == f"model changed from hash-test-encoder to {encoder.model_id}"
    assert report.reason in report.summary()
    answer = Retriever.load(settings=settings, encoder=encoder).ask(PARK_QUESTION)
    assert answer.found and "خمسة ملايين دولار" in (answer.sentence or "")


KILL_DRIVER = """
import sys
import time
from pathlib import Path
from qabot.config import Settings
from qabot.index import build_index
from qabot.model import load_encoder

settings = Settings(articles_dir=Path(sys.argv[1]), index_dir=Path(sys.argv[2]))
encoder = load_encoder(settings)
encode = encoder.encode_passages

calls = []

def announced(texts):
    print("embedding", len(texts), flush=True)
    vectors = encode(texts)
    calls.append(len(texts))
    if len(calls) == int(sys.argv[3]):
        time.sleep(60)  # hold the build here however fast the model was: the kill lands here
    return vectors

encoder.encode_passages = announced
build_index(settings, encoder=encoder)
print("done", flush=True)
"""


def test_killed_real_build_leaves_the_previous_index_answering(
    seed_copy: Settings, encoder: SentenceTransformerEncoder
) -> None:
    """`kill -9` while the model embeds the passages, then the sentences; then build again."""
    (seed_copy.articles_dir / "park.txt").write_text(park_article(), encoding="utf-8")
    args = [str(seed_copy.articles_dir), str(seed_copy.index_dir)]
    for phase in (1, 2):  # 1: passages, 2: sentences
        build = subprocess.Popen(
            [sys.executable, "-c", KILL_DRIVER, *args, str(phase)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert build.stdout is not None
            for _ in range(phase):
                assert build.stdout.readline().startswith("embedding"), build.stderr.read()
            time.sleep(0.1)  # inside the model call
            build.send_signal(signal.SIGKILL)
        finally:
            build.kill()
            build.communicate(timeout=60)
        assert build.returncode == -signal.SIGKILL
        assert current_name(seed_copy.index_dir) == "gen-000001"
        retriever = Retriever.load(settings=seed_copy, encoder=encoder)
        assert len(retriever) == 16 and "1969" in (retriever.ask(SEED_QUESTION).sentence or "")
        assert not retriever.ask(PARK_QUESTION).found

    report = build_index(seed_copy, encoder=encoder)
    assert (report.added, report.embedded, report.generation) == (8, 8, "gen-000002")
    assert not list(seed_copy.index_dir.glob("*.tmp"))
    retriever = Retriever.load(settings=seed_copy, encoder=encoder)
    assert retriever.ask(PARK_QUESTION).found and retriever.ask(SEED_QUESTION).found
