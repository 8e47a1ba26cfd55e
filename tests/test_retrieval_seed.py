"""The real model and a real FAISS index answer questions about the bundled seed article."""

import pytest

from qabot.retriever import Retriever

ARABIC = [
    ("مع من يجتمع لافروف في موسكو؟", 1),
    ("ما هي مجالات التعاون التي سيبحثها الجانبان؟", 2),
    ("ما موقف دول منظمة التعاون الإسلامي من الأحداث في أوكرانيا؟", 4),
    ("ماذا قال لافروف عن موقف دول المنظمة خلال زيارته إلى الرياض؟", 4),
    ("من هو ممثل روسيا الدائم لدى منظمة التعاون الإسلامي؟", 5),
    ("ما هي القضية التي تمثل أولوية لمنظمة التعاون الإسلامي؟", 9),
    ("على أي أساس تريد روسيا تطوير علاقاتها مع دول المنظمة؟", 11),
    ("من يرأس مجموعة الرؤية الاستراتيجية روسيا - العالم الإسلامي؟", 12),
    ("متى عقدت قمة قازان 2022؟", 13),
    ("ما اللقب الذي منح لمدينة قازان؟", 14),
    ("متى تأسست منظمة التعاون الإسلامي؟", 16),
    ("كم عدد الدول الأعضاء في منظمة التعاون الإسلامي؟", 16),
    ("متى تنتهي زيارة الأمين العام إلى موسكو؟", 1),  # "26 الجاري": no word of the question
]
ENGLISH = [
    ("When was the Organisation of Islamic Cooperation founded?", 16),
    ("Who is Russia's permanent representative to the OIC?", 5),
    ("Who is Lavrov meeting in Moscow?", 1),
    ("How many member states does the OIC have?", 16),
]
#: Answerable questions the English calibration refuses. It is fitted on ARCD questions
#: translated into English (benchmarks/english_eval.py), never on these, so this is the honest
#: outcome; strict, so a better calibration shows up.
REFUSED = {
    "How many member states does the OIC have?": (
        "right paragraph first, but its dense score (0.764) is below the English boundary "
        "fitted on ARCD (0.782 at the default threshold): refused"
    ),
}


def _expected() -> list:
    return [
        pytest.param(q, n, marks=pytest.mark.xfail(strict=True, reason=REFUSED[q]))
        if q in REFUSED
        else pytest.param(q, n)
        for q, n in ARABIC + ENGLISH
    ]


#: Questions qabot gets wrong today (README, "Known misses"); strict, so a fix shows up.
KNOWN_MISSES = [
    ("ما الاسم السابق لمنظمة التعاون الإسلامي؟", 16),  # "سابق" pulls paragraph 14
    ("Who heads the strategic vision group Russia - Islamic World?", 12),  # 13 ranks first
    ("When was the KazanSummit 2022 held?", 13),  # 15 (Tatarstan's capital, 2022) ranks first
]
OFF_TOPIC = [
    "كيف أحضّر الكبسة باللحم؟",
    "ما هي وصفة الكنافة النابلسية؟",
    "كيف أطبخ الأرز باللبن؟",
    "من فاز بكأس العالم لكرة القدم 2018؟",
    "كم هدفا سجل ميسي في الموسم الماضي؟",
    "من هو هداف الدوري الإنجليزي هذا العام؟",
    "هل ستمطر غدا في القاهرة؟",
    "ما درجة الحرارة المتوقعة في الرياض اليوم؟",
    "متى يبدأ فصل الشتاء في المغرب؟",
    "كيف أعالج الصداع النصفي؟",
    "How do I bake sourdough bread?",
    "What is the best recipe for chocolate cake?",
    "How long should I boil an egg?",
    "Who won the 2018 football World Cup?",
    "Which team won the NBA finals last year?",
    "How many goals did Messi score last season?",
    "Will it rain tomorrow in London?",
    "What's the weather like in Paris this weekend?",
    "How cold does it get in Moscow in winter?",
    "How do I change a flat tyre?",
]


@pytest.mark.parametrize(("question", "paragraph"), _expected())
def test_expected_paragraph_first_and_answered(
    seed_retriever: Retriever, question: str, paragraph: int
) -> None:
    answer = seed_retriever.ask(question, k=3)
    top = answer.passages[0]
    assert top.paragraph == paragraph, (question, top.text[:80])
    assert answer.found, (question, top.confidence)
    assert top.sentence and top.sentence in top.text
    assert top.title and top.source == "تاس" and str(top.published) == "2022-10-24"


@pytest.mark.xfail(strict=True, reason="known miss, see README")
@pytest.mark.parametrize(("question", "paragraph"), KNOWN_MISSES)
def test_known_misses(seed_retriever: Retriever, question: str, paragraph: int) -> None:
    answer = seed_retriever.ask(question, k=3)
    assert answer.found and answer.passages[0].paragraph == paragraph


@pytest.mark.parametrize(("question", "paragraph"), KNOWN_MISSES)
def test_known_misses_are_still_answered_with_the_right_paragraph_close(
    seed_retriever: Retriever, question: str, paragraph: int
) -> None:
    """A rank miss is not a refusal: the reader still gets an answer, the right one second."""
    answer = seed_retriever.ask(question, k=3)
    assert answer.found, (question, answer.passages[0].confidence)
    assert paragraph in [p.paragraph for p in answer.passages[:2]]


def test_english_questions_reach_bm25_only_through_the_bridge(seed_retriever: Retriever) -> None:
    """BM25 over Arabic keys cannot match English words, so without the index's bridge
    (qabot.bridge) English ranks exactly as the dense leg; its Arabic words move the ranking."""
    questions = [q for q, _ in ENGLISH + [m for m in KNOWN_MISSES if m[0].isascii()]]

    def same_as_dense(question: str) -> bool:
        hybrid = seed_retriever.search(question, k=5)
        return [p.id for p in hybrid] == [
            p.id for p in seed_retriever.search(question, k=5, mode="dense")
        ]

    bridge = seed_retriever._bridge
    assert bridge is not None
    try:
        seed_retriever._bridge = None
        assert all(same_as_dense(q) for q in questions)
    finally:
        seed_retriever._bridge = bridge
    assert not all(same_as_dense(q) for q in questions)
    with pytest.raises(ValueError, match="mode"):
        seed_retriever.search("سؤال", mode="bm25")


def test_answering_sentence_is_highlighted(seed_retriever: Retriever) -> None:
    answer = seed_retriever.ask("متى تأسست منظمة التعاون الإسلامي؟")
    assert answer.sentence and "1969" in answer.sentence
    answer = seed_retriever.ask("من يرأس مجموعة الرؤية الاستراتيجية روسيا - العالم الإسلامي؟")
    assert answer.sentence and "مينيخانوف" in answer.sentence


def test_off_topic_questions_are_refused(seed_retriever: Retriever) -> None:
    """All of them (README: "all refused")."""
    answered = [q for q in OFF_TOPIC if seed_retriever.ask(q).found]
    assert answered == []


def test_refused_answerable_question_still_finds_its_paragraph(seed_retriever: Retriever) -> None:
    """A refusal by calibration, not a retrieval miss: the right paragraph is first."""
    for question in REFUSED:
        answer = seed_retriever.ask(question, k=3)
        assert not answer.found and answer.passages[0].paragraph == dict(ENGLISH)[question]


def test_search_api_shape(seed_retriever: Retriever) -> None:
    hits = seed_retriever.search("متى تأسست منظمة التعاون الإسلامي؟", k=3)
    assert len(hits) == 3
    assert hits[0].score >= hits[1].score >= hits[2].score
    assert all(0.0 <= h.confidence <= 1.0 for h in hits)
    assert hits[0].id == f"{hits[0].article}#{hits[0].paragraph}"
    with pytest.raises(ValueError):
        seed_retriever.search("  ")
