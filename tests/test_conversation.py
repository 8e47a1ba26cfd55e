"""Follow-up questions without the model: the cues, the context arithmetic, the memory, and
the retriever's history path over a real index built with the fake encoder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from fakes import HashEncoder

from qabot.chunking import stable_key
from qabot.config import Settings
from qabot.conversation import (
    DEFAULT_CONTEXT,
    ContextWeights,
    QueryVectors,
    Reading,
    Turn,
    as_turns,
    context_text,
    cues,
    depends,
    fuse_readings,
    may_depend,
    mix_coverage,
    mix_lexical,
    mix_vectors,
    pack_vector,
    turn_of,
    unpack_vector,
    with_prior,
)
from qabot.index import build_index
from qabot.memory import Conversations, Replies
from qabot.retriever import Retriever

SEED = Path(__file__).resolve().parents[1] / "articles" / "000_b3e058f4b2c0909a.txt"
PARK = """---
title: حديقة جديدة على ضفاف النهر
source: صحيفة المدينة
published: 2023-05-01
---
افتتحت بلدية المدينة حديقة عامة جديدة على ضفاف النهر بمساحة تتجاوز عشرين هكتارا.
تضم الحديقة ممرات للدراجات وملاعب للأطفال ومكتبة صغيرة مفتوحة للزوار طوال الأسبوع.
وقال رئيس البلدية إن المشروع استغرق ثلاث سنوات من العمل وكلف نحو خمسة ملايين دولار.
"""


# --------------------------------------------------------------------------- cues


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("ومتى انتهت؟", {"elliptic", "short"}),
        ("فأين تقع؟", {"elliptic", "short"}),
        ("وفي أي عام حدث ذلك بالضبط في تاريخ البلاد؟", {"elliptic"}),
        ("وعلى ماذا تطل المدينة القديمة المذكورة هنا؟", {"elliptic"}),
        ("ما هو دور رئيسها في المجموعة الاقتصادية؟", {"pronoun"}),
        ("كم عدد سكانهم في آخر إحصاء رسمي للدولة؟", {"pronoun"}),
        ("Where was he born?", {"pronoun", "short"}),
        ("And what about the summit in Kazan this year?", {"elliptic", "pronoun"}),
        ("ما هي عاصمة جمهورية تتارستان الروسية؟", set()),  # ة is not the pronoun ه
        ("متى تأسست منظمة التعاون الإسلامي؟", set()),
        ("ما هي عاصمة فرنسا؟", {"short"}),
        ("والله ما أعرف لماذا تأسست المنظمة الدولية؟", set()),  # و + الله, no question word
        ("وفي جامعة الدول العربية منذ متى؟", {"elliptic"}),  # و + preposition: a fragment
        ("وعن الحدود الشرقية للبلاد المذكورة؟", {"elliptic"}),
        ("وفاة الكاتب المصري الكبير متى كانت بالضبط؟", set()),  # وفاة: a word, not و + في
        ("في أي عام ولد الكاتب المصري الكبير؟", set()),  # no و: a complete question
        # a relative clause's own pronoun, its subject named after it: no back-reference
        ("ما الكتاب الذي ألفه طه حسين؟", set()),
        ("ما المدينة التي يسكنها أحمد؟", set()),
        ("ما النهر الذي يمر عبره الطريق السريع؟", set()),
        # ... but no subject after it: the clause leans on someone named earlier
        ("ما الكتاب الذي ألفه؟", {"pronoun", "short"}),
        ("ما النهر الذي يعبرها من الشرق؟", {"pronoun"}),
        ("ما الجائزة التي نالها عام 1988؟", {"pronoun"}),  # a time word, not a subject
        ("ما الحدود التي تفصلها شمالاً عن تركيا؟", {"pronoun"}),  # an adverb (tanween)
        # English: "And" before a complete question is no cue; before a fragment it is
        ("And who wrote the novel Palace Walk?", set()),
        ("And in which city?", {"elliptic", "short"}),
        ("And how many members?", {"elliptic", "short"}),  # a question word, but no subject
        ("And where was the summit held?", {"elliptic", "short"}),
        ("Also the population of the capital city?", {"elliptic"}),
        ("And when did she retire from singing?", {"elliptic", "pronoun", "short"}),
    ],
)
def test_cues(question: str, expected: set[str]) -> None:
    assert cues(question) == expected


def reading(cue: set[str], alone: float, context: float, own: float = 1.0) -> Reading:
    return Reading(frozenset(cue), alone, context, own)


def test_a_cue_makes_a_question_depend() -> None:
    assert depends(reading({"elliptic"}, 0.9, 0.5))
    assert depends(reading({"pronoun"}, 0.1, 0.8))


def test_short_alone_is_not_a_cue_unless_asked_for() -> None:
    assert not depends(reading({"short"}, 0.1, 0.9), replace_weights(gain=1.1))
    assert depends(reading({"short"}, 0.1, 0.9), replace_weights(gain=1.1, short=True))


def test_confidence_gain_decides_without_cues() -> None:
    weights = replace_weights(gain=0.3)
    assert depends(reading(set(), 0.1, 0.5), weights)
    assert not depends(reading(set(), 0.4, 0.5), weights)


def test_without_a_cue_only_a_reachable_gain_lets_a_question_depend() -> None:
    assert may_depend({"elliptic"}) and may_depend({"pronoun", "short"})
    assert not may_depend(set()) and not may_depend({"short"})  # gain 1.1: out of reach
    assert may_depend({"short"}, replace_weights(short=True))
    assert may_depend(set(), replace_weights(gain=0.3))
    # wherever may_depend says no, depends says no for every pair of confidences
    for alone, context in ((0.0, 1.0), (0.5, 0.5), (1.0, 0.0)):
        assert not depends(reading({"short"}, alone, context))


def test_kept_vectors_are_found_whatever_the_spacing() -> None:
    encoder = HashEncoder()
    calls: list[list[str]] = []
    encode = encoder.encode_queries
    encoder.encode_queries = lambda texts: calls.append(texts) or encode(texts)  # type: ignore[method-assign]
    kept = QueryVectors(4)
    first = kept.one("ما هي  عاصمة فرنسا؟\n", encoder)
    again = kept.one(" ما هي عاصمة فرنسا؟", encoder)
    assert calls == [["ما هي عاصمة فرنسا؟"]]
    np.testing.assert_array_equal(first, again)


def test_context_without_an_answer_is_not_used() -> None:
    refused = Reading(frozenset({"elliptic"}), 0.1, 0.2, 1.0, answered=False)
    assert not depends(refused)


def test_own_words_missing_from_the_context_passage_keep_it_alone() -> None:
    weights = replace_weights(own=0.5)
    assert not depends(reading({"elliptic"}, 0.1, 0.9, own=0.3), weights)
    assert depends(reading({"elliptic"}, 0.1, 0.9, own=0.6), weights)
    english = Reading(frozenset({"pronoun"}), 0.1, 0.9, 0.0, arabic=False)
    assert depends(english, weights)  # no BM25 for English: its own words are not measured


def replace_weights(**changes: object) -> ContextWeights:
    from dataclasses import replace

    return replace(DEFAULT_CONTEXT, **changes)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- mixing


def test_mixed_vector_is_unit_and_between_both() -> None:
    a, b = np.array([1.0, 0.0], "f4"), np.array([0.0, 1.0], "f4")
    mixed = mix_vectors(a, b, 0.5)
    assert np.isclose(np.linalg.norm(mixed), 1.0)
    assert mixed @ a > mixed @ b > 0
    assert np.allclose(mix_vectors(a, b, 0.0), a)


def test_earlier_words_count_less_in_bm25_and_coverage() -> None:
    own, earlier = np.array([2.0, 0.0]), np.array([0.0, 2.0])
    assert list(mix_lexical(own, earlier, 0.5)) == [2.0, 1.0]
    # own words weigh 3 (IDF), earlier 2 at half weight: found all own, or all earlier
    cov = mix_coverage(np.array([1.0, 0.0]), np.array([0.0, 1.0]), 3.0, 2.0, 0.5)
    assert np.allclose(cov, [0.75, 0.25])
    assert np.allclose(mix_coverage(np.zeros(2), np.zeros(2), 0.0, 0.0, 0.5), 0.0)


def test_prior_favours_the_last_answer_article_and_passage() -> None:
    ids = ["a1#1", "a1#2", "a2#1"]
    keys = np.array([stable_key(i) for i in ids])
    last = Turn("q", article="a1", passage="a1#2")
    out = with_prior(np.zeros(3), keys, lambda i: ids[i].split("#")[0], last, DEFAULT_CONTEXT, 3)
    assert out[1] > out[0] > out[2] == 0.0
    assert np.isclose(out[1], DEFAULT_CONTEXT.prior + DEFAULT_CONTEXT.passage_prior)
    assert not with_prior(np.zeros(3), keys, lambda i: "a1", Turn("q"), DEFAULT_CONTEXT, 3).any()


def test_prior_is_looked_up_only_where_it_can_reach_the_top() -> None:
    scores = np.array([3.0, 2.5, 0.0, 2.4])
    keys = np.array([stable_key(f"a1#{i}") for i in range(4)])
    last = Turn("q", article="a1", passage="a1#2")  # the passage prior lifts 0.0 to 1.5
    looked: list[int] = []

    def article_of(i: int) -> str:
        looked.append(i)
        return "a1"

    out = with_prior(scores, keys, article_of, last, DEFAULT_CONTEXT, k=1)
    assert sorted(looked) == [0, 1, 3]  # 1.5 + 0.6 < 3.0: the article prior cannot lift it
    assert np.isclose(out[2], DEFAULT_CONTEXT.passage_prior)
    assert np.isclose(out[3], 2.4 + DEFAULT_CONTEXT.prior)


def test_alone_scores_join_the_context_ranking() -> None:
    fused = fuse_readings(np.array([1.0, 1.0]), [7, 8], {7: 2.0, 9: -1.0}, 0.5)
    assert list(fused) == [2.0, 0.5]  # key 8 was not in the alone pool: it gets the lowest


def test_history_keeps_the_last_turns_as_turns() -> None:
    turns = as_turns(["q1", Turn("q2", article="a"), " ", "q3", "q4"], 3)
    assert [t.question for t in turns] == ["q2", "q3", "q4"]
    assert turns[0].article == "a"
    assert context_text(turns) == "q2 q3 q4"
    assert as_turns(["q"], 0) == [] and as_turns(None, 3) == []


# --------------------------------------------------------------------------- memory


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_conversation_keeps_the_last_turns_and_expires_after_silence() -> None:
    clock = Clock()
    memory = Conversations(turns=2, ttl=600, clock=clock)
    for q in ("q1", "q2", "q3"):
        memory.remember("u", Turn(q))
        clock.now += 599
    assert [t.question for t in memory.history("u")] == ["q2", "q3"]
    clock.now += 2  # 601 s of silence since q3
    assert memory.history("u") == []
    memory.remember("u", Turn("q4"))
    assert [t.question for t in memory.history("u")] == ["q4"]
    memory.forget("u")
    assert memory.history("u") == [] and memory.history("other") == []


def test_conversations_are_bounded_dropping_the_idlest() -> None:
    memory = Conversations(turns=3, limit=2)
    memory.remember("a", Turn("qa"))
    memory.remember("b", Turn("qb"))
    memory.remember("a", Turn("qa2"))  # a is now fresher than b
    memory.remember("c", Turn("qc"))
    assert len(memory) == 2 and memory.history("b") == [] and len(memory.history("a")) == 2


def test_replies_are_bounded() -> None:
    replies = Replies(limit=2)
    for i in range(3):
        replies.add(1, i, Turn(f"q{i}"))
    assert replies.get(1, 0) is None and replies.get(1, 2) == Turn("q2") and len(replies) == 2
    assert replies.get(2, 2) is None  # another chat's message with the same id


# --------------------------------------------------------------------------- retriever


@pytest.fixture(scope="module")
def retriever(tmp_path_factory: pytest.TempPathFactory) -> Retriever:
    root = tmp_path_factory.mktemp("conv")
    (root / "articles").mkdir()
    shutil.copy(SEED, root / "articles" / SEED.name)
    (root / "articles" / "park.txt").write_text(PARK, encoding="utf-8")
    settings = Settings(articles_dir=root / "articles", index_dir=root / "index")
    build_index(settings, encoder=HashEncoder())
    return Retriever.load(settings=settings, encoder=HashEncoder())


def test_empty_history_is_exactly_a_single_question(retriever: Retriever) -> None:
    question = "متى تأسست منظمة التعاون الإسلامي؟"
    plain = retriever.ask(question)
    assert retriever.ask(question, history=[]) == plain
    assert retriever.ask(question, history=None) == plain
    assert retriever.search(question, history=[" "]) == retriever.search(question)
    assert not plain.context_used


def with_threshold(retriever: Retriever, min_confidence: float) -> Retriever:
    """The same index, answering above another confidence (the fake encoder's confidences
    mean nothing: 0 makes every reading an answer, 1 none)."""
    return Retriever(retriever.store, retriever.encoder, Settings(min_confidence=min_confidence))


def test_elliptic_follow_up_is_searched_in_context(retriever: Retriever) -> None:
    retriever = with_threshold(retriever, 0.0)
    earlier = "كم تبلغ مساحة الحديقة العامة الجديدة على ضفاف النهر؟"
    first = retriever.ask(earlier, k=1)
    assert first.passages[0].article == "park"
    alone = retriever.ask("وكم كلف؟", k=3)
    follow = retriever.ask("وكم كلف؟", k=3, history=[earlier])
    assert follow.context_used and not alone.context_used
    assert follow.passages[0].article == "park"
    assert "خمسة ملايين" in follow.passages[0].text


def test_a_context_that_answers_nothing_is_not_used(retriever: Retriever) -> None:
    refusing = with_threshold(retriever, 1.0)
    earlier = "كم تبلغ مساحة الحديقة العامة الجديدة على ضفاف النهر؟"
    alone = refusing.ask("وكم كلف؟", k=3)
    follow = refusing.ask("وكم كلف؟", k=3, history=[earlier])
    assert not follow.found and not follow.context_used
    assert follow.passages == alone.passages  # refused as if asked alone: no context note


def test_complete_question_after_another_topic_is_answered_alone(retriever: Retriever) -> None:
    question = "من هو ممثل روسيا الدائم لدى منظمة التعاون الإسلامي؟"
    alone = retriever.ask(question)
    switched = retriever.ask(question, history=["كم تبلغ مساحة الحديقة العامة الجديدة؟"])
    assert not switched.context_used
    assert switched.passages == alone.passages and switched.found == alone.found


def test_a_complete_question_with_a_resumptive_pronoun_is_answered_alone(
    retriever: Retriever,
) -> None:
    """«افتتحتها» points to «الحديقة» inside the question, whose clause names its subject:
    even where every reading answers (threshold 0), the earlier question is not used."""
    retriever = with_threshold(retriever, 0.0)
    question = "ما الحديقة التي افتتحتها بلدية المدينة على ضفاف النهر؟"
    alone = retriever.ask(question)
    switched = retriever.ask(question, history=["متى تأسست منظمة التعاون الإسلامي؟"])
    assert not switched.context_used
    assert switched.passages == alone.passages
    follow = retriever.ask("ما الحديقة التي افتتحتها؟", history=["ماذا افتتحت بلدية المدينة؟"])
    assert follow.context_used  # no subject after the verb: the pronoun still points back


def test_context_costs_no_extra_encoding_call(retriever: Retriever) -> None:
    calls: list[list[str]] = []
    encode = retriever.encoder.encode_queries

    def counting(texts: list[str]) -> np.ndarray:
        calls.append(texts)
        return encode(texts)

    retriever.encoder.encode_queries = counting  # type: ignore[method-assign]
    try:
        retriever.ask("ما عدد ملاعب الأطفال في الحديقة؟ سؤال جديد")
        assert len(calls) == 1
        retriever.ask("وهل فيها مكتبة؟ سؤال جديد", history=["سؤال لم يطرح قبل عن النهر"])
        # the question and the context never asked before: together, in one call
        assert calls[1:] == [["وهل فيها مكتبة؟ سؤال جديد", "سؤال لم يطرح قبل عن النهر"]]
        retriever.ask("وهل فيها ممرات؟", history=["ما عدد ملاعب الأطفال في الحديقة؟ سؤال جديد"])
        assert calls[2:] == [["وهل فيها ممرات؟"]]  # that context was asked before: kept
        retriever.ask("وهل فيها أشجار؟", history=["سؤال أول لم يطرح", "سؤال ثان لم يطرح"])
        assert calls[3:] == [["وهل فيها أشجار؟", "سؤال أول لم يطرح", "سؤال ثان لم يطرح"]]
        # no cue: the history cannot change the answer, so it is not even encoded
        retriever.ask("ما عدد الزوار في الحديقة الجديدة؟", history=["سؤال ثالث لم يطرح"])
        assert calls[4:] == [["ما عدد الزوار في الحديقة الجديدة؟"]]
    finally:
        del retriever.encoder.encode_queries


def test_a_turn_carries_its_vector_exactly() -> None:
    vector = HashEncoder().encode_queries(["ما هي عاصمة فرنسا؟"])[0]
    assert np.array_equal(unpack_vector(pack_vector(vector)), vector)


def test_another_replica_reads_a_follow_up_with_the_turns_vector(retriever: Retriever) -> None:
    """The turn an answer leaves holds its query vector: a retriever that never saw the
    earlier question (another replica, a restart) encodes only the follow-up, and answers
    exactly as the one that asked it."""
    retriever = with_threshold(retriever, 0.0)
    earlier = "كم تبلغ مساحة الحديقة العامة على ضفاف النهر؟ مرة ثانية"
    turn = turn_of(retriever.ask(earlier, k=1))
    assert turn.vector is not None and turn.passage is not None
    here = retriever.ask("وكم كلف المشروع؟", k=3, history=[turn])
    replica = Retriever(retriever.store, HashEncoder(), retriever.settings)
    calls: list[list[str]] = []
    encode = replica.encoder.encode_queries
    replica.encoder.encode_queries = lambda texts: calls.append(texts) or encode(texts)  # type: ignore[method-assign]
    there = replica.ask("وكم كلف المشروع؟", k=3, history=[turn])
    assert calls == [["وكم كلف المشروع؟"]]
    assert there.context_used and there.passages == here.passages
    bare = Turn(turn.question, turn.article, turn.passage)  # no vector: encoded with it
    calls.clear()
    assert replica.ask("وكم كلف الإنشاء؟", k=3, history=[bare]).context_used
    assert calls == [["وكم كلف الإنشاء؟"]]  # kept from the turn just read
    replica._vectors.clear()
    replica.ask("وكم كلف البناء؟", k=3, history=[bare])
    assert calls[1:] == [["وكم كلف البناء؟", earlier]]


def test_answers_compare_by_their_data_not_the_kept_vector(retriever: Retriever) -> None:
    question = "ما عدد ملاعب الأطفال في الحديقة الجديدة؟ مرة أخرى"
    first = retriever.ask(question)
    retriever._vectors.clear()
    again = retriever.ask(question)
    assert first.query_vector is not None and again.query_vector is not None
    assert first.query_vector is not again.query_vector  # encoded twice: two arrays
    assert first == again
    assert first != retriever.ask("ما هي عاصمة فرنسا؟")
