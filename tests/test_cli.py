"""The `qabot` command end to end, in process, with the real model and a real index.

The first command loads the bundled model as `qabot` does; the others are handed the
session's copy of it (``main(..., encoder=...)``), as a program holding one would.
"""

import io
import json
import shutil
from pathlib import Path

import pytest

from qabot.cli import main
from qabot.encoder import SentenceTransformerEncoder

ROOT = Path(__file__).resolve().parents[1]
EVAL = {
    "name": "tiny",
    "articles": [
        {
            "title": "مكتبة الرباط",
            "paragraphs": [
                {"id": "t-a0-p0", "text": "افتتحت مدينة الرباط مكتبة عامة جديدة تضم مئة ألف كتاب."},
                {"id": "t-a0-p1", "text": "صمم المكتبة المهندس كريم الفاسي على شكل كتاب مفتوح."},
            ],
        },
        {
            "title": "موسم الزيتون",
            "paragraphs": [
                {"id": "t-a1-p0", "text": "بدأ موسم قطاف الزيتون في تونس مبكرا هذا العام."},
                {"id": "t-a1-p1", "text": "يتوقع المزارعون إنتاج مئتي ألف طن من زيت الزيتون."},
            ],
        },
    ],
    "questions": [
        {
            "id": "q0",
            "question": "كم كتابا تضم مكتبة الرباط؟",
            "paragraph_id": "t-a0-p0",
            "answer_text": "مئة ألف كتاب",
        },
        {
            "id": "q1",
            "question": "من صمم مكتبة الرباط؟",
            "paragraph_id": "t-a0-p1",
            "answer_text": "كريم الفاسي",
        },
        {
            "id": "q2",
            "question": "متى بدأ قطاف الزيتون في تونس؟",
            "paragraph_id": "t-a1-p0",
            "answer_text": "مبكرا",
        },
        {
            "id": "q3",
            "question": "كم طنا من زيت الزيتون يتوقع المزارعون؟",
            "paragraph_id": "t-a1-p1",
            "answer_text": "مئتي ألف طن",
        },
    ],
}


@pytest.fixture
def corpus(tmp_path: Path, encoder: SentenceTransformerEncoder) -> tuple[list[str], list[str]]:
    articles = tmp_path / "articles"
    articles.mkdir()
    shutil.copy(ROOT / "articles" / "000_b3e058f4b2c0909a.txt", articles)
    return ["--index", str(tmp_path / "index")], ["--articles", str(articles)]


def test_index_ask_json(corpus, encoder, capsys: pytest.CaptureFixture[str]) -> None:
    index, articles = corpus
    assert main(["index", *index, *articles, "--json"]) == 0  # loads the model itself
    report = json.loads(capsys.readouterr().out)
    for key in ("articles", "passages", "added", "updated", "removed", "unchanged", "embedded"):
        assert key in report
    assert (report["articles"], report["passages"], report["embedded"]) == (1, 16, 16)

    question = "متى تأسست منظمة التعاون الإسلامي؟"
    assert main(["ask", *index, "--json", "-k", "2", question], encoder=encoder) == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 2 and hits[0]["paragraph"] == 16 and hits[0]["source"] == "تاس"

    assert main(["ask", *index, question], encoder=encoder) == 0
    out = capsys.readouterr().out
    assert "1969" in out and "الفقرة 16" in out


def test_user_errors_are_one_line_and_exit_2(
    corpus, encoder, capsys: pytest.CaptureFixture[str]
) -> None:
    index, articles = corpus
    assert main(["ask", *index, "سؤال"], encoder=encoder) == 2  # no index yet
    err = capsys.readouterr().err
    assert "qabot index" in err and "Traceback" not in err and err.count("\n") == 1
    assert main(["index", *index, *articles], encoder=encoder) == 0
    capsys.readouterr()
    assert main(["ask", *index, "   "], encoder=encoder) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["index", *index, "--articles", "/nonexistent/folder"], encoder=encoder) == 2
    assert "does not exist" in capsys.readouterr().err


def test_eval_reports_the_figures(tmp_path: Path, encoder, capsys) -> None:
    path = tmp_path / "tiny.retrieval.json"
    path.write_text(json.dumps(EVAL, ensure_ascii=False), encoding="utf-8")
    assert main(["eval", str(path), "--json", "--unanswerable"], encoder=encoder) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 4 and report["r1"] >= 0.75 and report["r5"] == 1.0
    for key in ("mrr10", "p50_ms", "p95_ms", "answered", "refused_unanswerable", "highlight"):
        assert key in report
    assert report["highlight_n"] == round(report["r1"] * 4) and report["highlight"] == 1.0
    assert main(["eval", str(path), "--mode", "lexical"], encoder=encoder) == 0
    assert "R@1" in capsys.readouterr().out
    # Abstention follows --mode; the confidence needs the dense score, so BM25 alone refuses.
    argv = ["eval", str(path), "--json", "--mode", "lexical", "--unanswerable"]
    assert main(argv, encoder=encoder) == 0
    lexical = json.loads(capsys.readouterr().out)
    assert lexical["mode"] == "lexical" and lexical["answered"] == 0.0
    assert lexical["refused_unanswerable"] == 1.0


def test_bad_settings_and_paths_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("QABOT_BATCH_SIZE", "many")
    assert main(["ask", "سؤال"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("qabot: QABOT_BATCH_SIZE:") and err.count("\n") == 1
    monkeypatch.delenv("QABOT_BATCH_SIZE")
    a_file = tmp_path / "not-a-folder"
    a_file.write_text("x")
    assert main(["ask", "--index", str(a_file), "سؤال"]) == 2
    assert main(["index", "--index", str(a_file), "--articles", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("\n") == 2 and str(a_file) in err


def test_over_long_question_is_cut_with_a_note(corpus, encoder, capsys, monkeypatch) -> None:
    index, articles = corpus
    assert main(["index", *index, *articles], encoder=encoder) == 0
    monkeypatch.setenv("QABOT_MAX_QUESTION_CHARS", "60")
    question = "متى تأسست منظمة التعاون الإسلامي؟ " + "كلام " * 200
    assert main(["ask", *index, "-k", "1", question], encoder=encoder) == 0
    captured = capsys.readouterr()
    assert "first 60 characters" in captured.err and "1969" in captured.out


def test_run_builds_the_index_then_chats(corpus, encoder, capsys, monkeypatch) -> None:
    """`qabot run` without a bot token: one model for the build and the chat that follows."""
    index, articles = corpus
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO("متى تأسست منظمة التعاون الإسلامي؟\n/exit\n"))
    assert main(["run", *index, *articles, "-k", "1"], encoder=encoder) == 0
    captured = capsys.readouterr()
    assert "16 passages" in captured.out and "1969" in captured.out
    assert "16 added" in captured.err  # the build's summary
