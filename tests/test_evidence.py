"""Evidence shares (qabot.evidence): read the same over one article or many, and the
answer-type signal that ranks the sentence holding what a كم/متى question asks for."""

from __future__ import annotations

import numpy as np

from qabot.evidence import answer_shares, bm25_share, ceiling_of, sentence_share
from qabot.fusion import (
    DEFAULT_WEIGHTS,
    Candidates,
    confidence_of,
    fuse,
    passage_confidence,
    zscore,
)
from qabot.index.lexical import LexicalIndex

QUESTION = "متى تأسست منظمة التعاون الإسلامي؟"
ANSWER = "تأسست منظمة التعاون الإسلامي عام 1969 في الرباط."
ON_TOPIC = [
    ANSWER,
    "تضم منظمة التعاون الإسلامي سبعا وخمسين دولة.",
    "يقع مقر المنظمة في جدة.",
]
#: Passages about anything else, as a large corpus has them.
OFF_TOPIC = [f"افتتح المتحف الوطني معرضا جديدا للفنون رقم {i} في المدينة القديمة." for i in
             range(300)]  # fmt: skip


def test_bm25_share_reads_the_same_over_one_article_or_many() -> None:
    """z(BM25) of the answer over the other candidates grows six-fold with off-topic
    passages (1.2 → 7.2: why the seed's questions were refused by a z(BM25) calibration);
    its share of the question's ceiling moves by about a tenth (0.41 → 0.54)."""
    shares, zs = [], []
    for texts in (ON_TOPIC, ON_TOPIC + OFF_TOPIC):
        index = LexicalIndex.build(list(range(len(texts))), texts)
        query = index.query(QUESTION, 50)
        ids = [i for i, _ in query.hits] + list(range(len(ON_TOPIC), min(len(texts), 60)))
        ids = list(dict.fromkeys(ids))
        scores = query.scores(ids)
        shares.append(bm25_share(float(scores[ids.index(0)]), ceiling_of(query)))
        zs.append(float(zscore(scores)[ids.index(0)]))
    assert abs(shares[0] - shares[1]) < 0.15 and min(shares) > 0.3
    assert zs[1] > zs[0] + 5


def test_a_leg_without_a_ceiling_gives_none() -> None:
    assert ceiling_of(object()) == 0.0
    assert bm25_share(3.0, 0.0) == 0.0


def test_sentence_share_wants_the_words_in_one_sentence() -> None:
    index = LexicalIndex.build([1], [ANSWER])
    groups = index.query("متى تأسست منظمة التعاون في الرباط؟", 1).groups
    together = [ANSWER]
    apart = ["تأسست منظمة عام 1969.", "تعاون البلدان في الرباط."]
    assert sentence_share(groups, together) == 1.0
    assert 0 < sentence_share(groups, apart) < 1.0
    assert sentence_share([], together) == 0.0


def test_answer_shares_count_only_sentences_that_hold_the_answer_type() -> None:
    index = LexicalIndex.build([1], [ANSWER])
    groups = index.query(QUESTION, 1).groups
    dated = [ANSWER]
    undated = ["تأسست منظمة التعاون الإسلامي بمبادرة من الملك فيصل."]
    shares = answer_shares(groups, "time", [dated, undated])
    assert shares is not None
    assert shares[0] == 1.0 and shares[1] == 0.0
    assert answer_shares(groups, None, [dated, undated]) is None


def _two(answer: np.ndarray | None, ceiling: float = 0.0) -> Candidates:
    """Two candidates alike on every leg but the answer share: the second holds a date."""
    d = np.array([0.80, 0.80], dtype=np.float32)
    return Candidates(np.arange(2), d, d, d, [d[:1], d[1:]], np.array([5.0, 5.0]),
                      np.array([0.9, 0.9]), [], "time", 0, False, ceiling, answer)  # fmt: skip


def test_answer_type_ranks_arabic_questions_only() -> None:
    found = _two(np.array([0.4, 1.0]))
    arabic = fuse(found, "hybrid", True)
    assert arabic[1] > arabic[0]
    found.bridged = True  # an English question's bridged words: the signal stays out
    english = fuse(found, "hybrid", False)
    assert english[0] == english[1]
    assert fuse(_two(None), "hybrid", True)[0] == fuse(_two(None), "hybrid", True)[1]


def test_evidence_calibration_only_where_the_ceiling_is_known() -> None:
    plain = confidence_of(0.80, 0.9, True)
    assert passage_confidence(_two(None, ceiling=0.0), 0, True) == plain
    with_evidence = passage_confidence(_two(None, ceiling=10.0), 0, True, sentences=[ANSWER])
    weights = dict(DEFAULT_WEIGHTS.conf_evidence)
    features = {"dense": 0.8, "sentence": 0.8, "paragraph": 0.8, "bm25_share": 0.5,
                "sent_cov": 0.0}  # fmt: skip
    logit = sum(w * features.get(n, 1.0) for n, w in weights.items())
    assert with_evidence == round(1 / (1 + np.exp(-logit)), 4)
    assert with_evidence != plain
