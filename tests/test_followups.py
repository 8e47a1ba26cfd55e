"""Follow-ups with the real model over the seed article, and `qabot eval --followups`.

The pairs checked here are the "test" half of benchmarks/data/followups.json (the weights
were chosen on its "dev" half, never on these) and questions written for this file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from qabot.cli import main
from qabot.conversation import turn_of
from qabot.retriever import Retriever

ROOT = Path(__file__).resolve().parents[1]
FOLLOWUPS = ROOT / "benchmarks" / "data" / "followups.json"

pytestmark = pytest.mark.slow

#: (earlier question, follow-up, gold paragraph of the seed article)
FOLLOW_UPS = [
    ("متى تأسست منظمة التعاون الإسلامي؟", "وما كان اسمها عند التأسيس؟", 16),
    ("متى عقدت قمة قازان 2022؟", "وما ترتيبها بين القمم الاقتصادية؟", 13),
    ("ما موقف دول منظمة التعاون الإسلامي من الأحداث في أوكرانيا؟", "وأين قال لافروف ذلك؟", 4),
    ("من هو ممثل روسيا الدائم لدى منظمة التعاون الإسلامي؟", "ولأي وكالة أنباء صرّح؟", 5),
    ("When was the Organisation of Islamic Cooperation founded?",
     "And how many members does it have?", 16),
    ("Who is Russia's permanent representative to the OIC?",
     "What did he say Western opponents are doing?", 5),
    # a relative clause's pronoun with no subject after it still points back (wave 5); read
    # in context its top passage is the gold one, but at confidence 0.222 under the 0.23
    # threshold, so it is refused (and answered alone): a known miss, kept strict
    pytest.param(
        "من هو رئيس تتارستان؟", "ما المجموعة التي يرأسها؟", 12,
        marks=pytest.mark.xfail(strict=True, reason="in-context confidence under threshold"),
    ),
    # fragments (و + preposition, no question word), written for this file
    ("من يرأس مجموعة الرؤية الاستراتيجية روسيا - العالم الإسلامي؟", "وعن قمة قازان؟", 13),
    ("أين تقع النزاعات التي سيناقش الطرفان حلها؟", "وعن العلاقات الفلسطينية الإسرائيلية؟", 9),
]  # fmt: skip
#: A complete question after another topic: answered exactly as if asked alone.
SWITCHES = [
    ("أين يقع المغرب؟", "من هو ممثل روسيا الدائم لدى منظمة التعاون الإسلامي؟"),
    ("من هو نجيب محفوظ؟", "متى تأسست منظمة التعاون الإسلامي؟"),
    ("ماهي عاصمة سوريا؟", "ما اللقب الذي منح لمدينة قازان؟"),
    ("مع من يجتمع لافروف في موسكو؟", "متى عقدت قمة قازان 2022؟"),
    # complete questions with a false cue, written for this file (wave 5): a relative
    # clause's own pronoun with its subject named, and "And" before a complete question
    ("أين يقع المغرب؟", "ما المجموعة التي يرأسها رستم مينيخانوف؟"),
    ("من هو نجيب محفوظ؟", "ما المدينة التي يزورها حسين إبراهيم طه؟"),
    ("What is diabetes?", "And who is Lavrov meeting in Moscow?"),
]
OFF_TOPIC = [
    ("متى تأسست منظمة التعاون الإسلامي؟", "كيف أحضّر الكبسة باللحم؟"),
    ("Who is Lavrov meeting in Moscow?", "What is the best recipe for chocolate cake?"),
]


def paragraph(answer_passage_id: str) -> int:
    return int(answer_passage_id.rsplit("#", 1)[1].split(".")[0])


@pytest.mark.parametrize(("earlier", "question", "gold"), FOLLOW_UPS)
def test_follow_up_finds_its_paragraph_in_context(
    seed_retriever: Retriever, earlier: str, question: str, gold: int
) -> None:
    history = [turn_of(seed_retriever.ask(earlier, k=1))]
    answer = seed_retriever.ask(question, k=1, history=history)
    assert answer.context_used and answer.found
    assert paragraph(answer.passages[0].id) == gold


@pytest.mark.parametrize(("earlier", "question"), SWITCHES)
def test_complete_question_after_a_switch_is_answered_alone(
    seed_retriever: Retriever, earlier: str, question: str
) -> None:
    alone = seed_retriever.ask(question)
    switched = seed_retriever.ask(question, history=[turn_of(seed_retriever.ask(earlier))])
    assert not switched.context_used
    assert switched.model_dump() == alone.model_dump()


@pytest.mark.parametrize(("earlier", "question"), OFF_TOPIC)
def test_off_topic_after_a_question_is_still_refused(
    seed_retriever: Retriever, earlier: str, question: str
) -> None:
    answer = seed_retriever.ask(question, history=[turn_of(seed_retriever.ask(earlier))])
    assert not answer.found and not answer.context_used


def test_elliptic_off_topic_question_is_refused(seed_retriever: Retriever) -> None:
    """Read in context, but still not confident enough (over the larger follow-up corpus it
    is answered: benchmarks/README.md, "Follow-up questions")."""
    earlier = turn_of(seed_retriever.ask("مع من يجتمع لافروف في موسكو؟"))
    assert not seed_retriever.ask("وما هي عاصمة فرنسا؟", history=[earlier]).found


def test_eval_followups_reports_alone_and_in_context(
    tmp_path: Path, encoder: object, capsys: pytest.CaptureFixture[str]
) -> None:
    data = json.loads(FOLLOWUPS.read_text("utf-8"))
    data["articles"] = data["articles"][:1]  # the seed article alone: quick
    data["pairs"] = [
        p for p in data["pairs"] if p["id"] in ("seed-ar-05", "seed-ar-07", "switch-01")
    ]
    small = tmp_path / "small.json"
    small.write_text(json.dumps(data, ensure_ascii=False), "utf-8")
    assert main(["eval", "--followups", str(small), "--json"], encoder=encoder) == 0  # type: ignore[arg-type]
    reports = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    every = reports[-1]
    assert every["split"] == "all" and every["followups"] == 2 and every["switches"] == 1
    assert every["r1_context"] == 1.0 and every["switch_handled"] == 1.0
    assert every["context_used"] == 1.0


def test_question_encoded_with_its_context_keeps_its_vector(seed_retriever: Retriever) -> None:
    """A cold history is encoded in the question's call; padding moves the vector ~1e-7."""
    question = "ومتى تنتهي زيارته إلى موسكو؟"
    earlier = "من هو الأمين العام لمنظمة التعاون الإسلامي؟"
    alone = seed_retriever.encoder.encode_queries([question])[0]
    together = seed_retriever.encoder.encode_queries([question, earlier])
    assert float(alone @ together[0]) > 0.99999
    assert float(np.abs(alone - together[0]).max()) < 1e-5
    assert float(alone @ together[1]) < 0.99  # the second row is the earlier question's
