"""Follow-up questions: does a question lean on the earlier ones, and how to add their context.

People ask the way they talk: «من هو الأمين العام لمنظمة التعاون الإسلامي؟» then
«ومتى تنتهي زيارته؟», whose subject is only in the earlier question. The retriever answers a
question with history twice, alone and in context (the earlier questions' content words at
a lower BM25 weight, a query vector mixed with theirs, the earlier answer's article as a
prior), and :func:`depends` picks one. Which signals decide was measured on the dev part of
benchmarks/data/followups.json (benchmarks/followups.py; see README, "Follow-up questions").
"""

from __future__ import annotations

import base64
import re
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .arabic import STOPWORDS, normalize, term_groups, tokenize
from .chunking import stable_key
from .encoder import Encoder
from .results import Answer


@dataclass(frozen=True)
class Turn:
    """An earlier question of the same conversation, with what answered it when known."""

    question: str
    article: str | None = None  # the article of the passage that answered it
    passage: str | None = None  # that passage's id
    # The question's query vector (:func:`pack_vector`): kept with the turn, so a replica
    # that did not encode the question reads a follow-up in context with no extra encoding.
    vector: str | None = None


def pack_vector(vector: np.ndarray) -> str:
    """A query vector as text (float32, base64): it goes into JSON memories unrounded."""
    return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode("ascii")


def unpack_vector(text: str) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype="<f4").astype(np.float32)


def turn_of(answer: Answer) -> Turn:
    """The turn an answer leaves in a conversation: its question, and what answered it."""
    top = answer.passages[0] if answer.found and answer.passages else None
    vector = answer.query_vector
    return Turn(
        answer.question,
        top.article if top else None,
        top.id if top else None,
        pack_vector(vector) if vector is not None else None,
    )


#: What callers may pass as history: bare questions or turns, oldest first.
History = Sequence["str | Turn"]


@dataclass(frozen=True)
class ContextWeights:
    """How much the context counts; chosen on the dev split (benchmarks/followups.py).

    Measured there (68 dev pairs): the textual cues decide (elliptic و/ف + question word:
    43/53 dev follow-ups, 1/15 switches; pronoun suffixes 29/53 and 0/15); the confidence
    gain alone found nothing the cues missed, "very short" (27/53, 2/15) cost a switch, and
    requiring the question's own words in the passage cost more follow-ups than it saved,
    so those three are off (gain > 1, ``short`` False, ``own`` 0) but kept for other
    corpora to try. Wave 4, on the 78 dev pairs of the extended set (same script, same
    rule: R@1 to 0.85 plus switches to 0.95, then their sum): a passage prior of 1.5
    ranked one more dev follow-up first than 0.5 (53 vs 52 of 61; switches 17/17 both);
    earlier words 0.5 and vector 0.2 or 0.7 did no better, and vector 0.7 with prior 1.0
    gained follow-ups but answered off-topic switches in context. Fusing the alone
    ranking (z-score or reciprocal rank, also scaled by its confidence) or the earlier
    question's whole ranking did not help on dev (offline, context forced).
    """

    words: float = 0.3  # BM25 and coverage weight of the earlier questions' content words
    vector: float = 0.4  # mixed query vector = normalise(v(question) + w·v(context))
    prior: float = 0.6  # added to the z-scored fused score of passages of the last answer's
    passage_prior: float = 1.5  # ... article, and this too to that passage itself
    alone: float = 0.0  # weight of the question's own (alone) z-scored ranking, fused in
    gain: float = 1.1  # confidence gained in context that alone makes a question dependent
    own: float = 0.0  # share of an Arabic question's own words the passage must hold
    short: bool = False  # whether two content words or fewer count as a cue
    turns: int = 3  # earlier questions used


DEFAULT_CONTEXT = ContextWeights()

_OPENERS = "من ممن ما ماذا متى أين كيف كم لماذا لم هل أي ماهو ماهي بكم بماذا لمن عن إلى"
#: «ومتى …؟», «فما …؟», «وفي أي …؟», «وعلى ماذا …؟»: a question that goes on from the last
#: one (matched on folded text).
_ELLIPTIC_RE = re.compile(
    r"^[وف]\s?(?:(?:في|علي|الي|من|عن)\s|[بل])?(?:" + "|".join(normalize(_OPENERS).split()) + r")\b"
)
#: «وفي الجنوب؟», «وعن النفط؟»: و/ف + a preposition, no question word: only a fragment.
_FRAGMENT_RE = re.compile(r"^[وف](?:في|علي|عن|الي|مع|عند|بين|خلال|بعد|قبل)\s")
#: Attached pronouns that point back: زيارته، رئيسها، عددهم، منه، عنها.
_SUFFIX_RE = re.compile(r"^\w{2,}(?:ه|ها|هم|هما|هن)$")
_ENGLISH_BACK = frozenset(
    "he she it they him her them his its their hers theirs there that those this".split()  # noqa: SIM905
)
#: Openers of an English fragment ("What about the west?"); "And"/"Also" only before one.
_ENGLISH_OPENERS = ("what about", "how about")


def _words(text: str) -> frozenset[str]:
    return frozenset(normalize(w) for w in text.split())


_ENGLISH_CONNECTIVES = _words("and also")
#: Words that open a complete English question: after "And" it still names what it asks.
_ENGLISH_QUESTION = _words(
    "who whom whose what which when where why how is are was were do does did can could "
    "will would has have had"
)
#: Relative pronouns: a pronoun suffix on the word after one can be the clause's own
#: (resumptive) pronoun, pointing to the noun before it: «الحزب الذي يرأسه أردوغان».
_RELATIVES = _words("الذي التي الذين اللذان اللتان اللذين اللتين اللاتي اللواتي")
#: Words after such a verb that are no subject: adverbs of place and time, numbers.
_NOT_SUBJECT = _words(
    "على شمالا جنوبا شرقا غربا عام سنة يوم شهر قرن مرة أيضا فعلا حاليا سابقا لاحقا اليوم الآن"
)
#: Words ending in ه/ها that are not pronouns.
_NOT_SUFFIXED = frozenset("الله وجه اتجاه مياه شبه انتباه فقه منها عليها فيها هذه".split())  # noqa: SIM905
_MARKS_RE = re.compile("[\u064b-\u0652\u0640]")  # short vowels and tatweel


def cues(question: str) -> set[str]:
    """The textual signs that ``question`` goes on from earlier ones: which were found."""
    text = question.strip().lower()
    found: set[str] = set()
    words = tokenize(text)
    folded = normalize(text)
    short = len(term_groups(question)) <= 2
    goes_on = _ELLIPTIC_RE.match(folded) or _FRAGMENT_RE.match(folded)
    if goes_on or text.startswith(_ENGLISH_OPENERS) or _english_fragment(words, short):
        found.add("elliptic")
    if any(w in _ENGLISH_BACK for w in words):
        found.add("pronoun")
    raw = re.findall(r"[^\W_]+", text)  # not folded: ة must stay apart from ه
    for i, word in enumerate(raw):
        bare = _MARKS_RE.sub("", word)
        pointing = _SUFFIX_RE.match(bare) and not {bare, bare[1:]} & _NOT_SUFFIXED  # والله
        if pointing and not _resumptive(raw, i):
            found.add("pronoun")
            break
    if short:
        found.add("short")
    return found


def _english_fragment(words: list[str], short: bool) -> bool:
    """"And his mother?", "And how many members?": "And" or "Also" before a fragment, that
    is before no question word, or before a question of two content words or fewer.

    English drops no subject: a complete question after "And" ("And who founded modern
    Egypt?") names what it asks, or shows its back-reference as a pronoun ("And when did it
    end?"). Arabic verbs carry their subject («ومتى انتهت؟»), so و + question word stays a cue.
    """
    if len(words) < 2 or words[0] not in _ENGLISH_CONNECTIVES:
        return False
    return short or words[1] not in _ENGLISH_QUESTION or words[2:3] == ["about"]


def _resumptive(words: list[str], i: int) -> bool:
    """Whether the suffix on ``words[i]`` is a relative clause's own pronoun, the clause
    naming its subject: «الحزب الذي يرأسه أردوغان», «القبيلة التي ينتمي إليها السلاجقة».

    Such a pronoun points to the noun before الذي/التي, inside the question. Without a
    subject after it («الدولة التي تحدها من الشمال؟», «المجموعة التي يرأسها؟») the clause
    leans on someone named earlier, and the suffix stays a cue.
    """
    before = [normalize(w) for w in words[max(0, i - 2) : i]]
    if not _RELATIVES.intersection(before) or i + 1 >= len(words):
        return False
    after = words[i + 1]
    folded = normalize(after)
    adverb = "\u064b" in after  # tanween fath: شمالاً, an adverb
    return not (adverb or folded.isdigit() or folded in STOPWORDS or folded in _NOT_SUBJECT)


def as_turns(history: History | None, limit: int) -> list[Turn]:
    """The last ``limit`` earlier questions, as turns, oldest first; blanks dropped."""
    turns = [t if isinstance(t, Turn) else Turn(t) for t in history or ()]
    return [t for t in turns if t.question.strip()][-limit:] if limit > 0 else []


def context_text(turns: Sequence[Turn]) -> str:
    """The earlier questions, oldest first, as one text for BM25."""
    return " ".join(t.question for t in turns)


def _key(text: str) -> str:
    """What a question is kept under: its words, so «ما  هي؟\n» and «ما هي؟» are one."""
    return " ".join(text.split())


class QueryVectors:
    """Recent query vectors, so an earlier question is not encoded again as context.

    Keyed by the question's words (:func:`_key`): the text a caller passes back as
    history need not be spaced exactly as it was asked.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._kept: OrderedDict[str, np.ndarray] = OrderedDict()

    def _keep(self, text: str, vector: np.ndarray) -> np.ndarray:
        text = _key(text)
        self._kept.pop(text, None)
        self._kept[text] = vector
        while len(self._kept) > self.limit:
            self._kept.popitem(last=False)
        return vector

    def keep(self, text: str, vector: np.ndarray) -> None:
        """Keep ``vector`` as the vector of ``text`` (encoded elsewhere, e.g. in a batch)."""
        self._keep(text, vector)

    def encode(self, texts: list[str], encoder: Encoder) -> list[np.ndarray]:
        """The vectors of ``texts``: those not kept are encoded together, in one call."""
        keys = [_key(t) for t in texts]
        missing = list(dict.fromkeys(k for k in keys if k not in self._kept))
        if missing:
            for text, vector in zip(missing, encoder.encode_queries(missing), strict=True):
                self._keep(text, vector)
        return [self._keep(k, self._kept[k]) for k in keys]

    def one(self, text: str, encoder: Encoder) -> np.ndarray:
        """The vector of ``text``, encoded now unless it was kept."""
        return self.encode([text], encoder)[0]

    def mean(self, texts: list[str], encoder: Encoder) -> np.ndarray:
        """The mean vector of ``texts`` (encoded together if not kept)."""
        return np.mean(self.encode(texts, encoder), axis=0)

    def forget(self, text: str) -> None:
        self._kept.pop(_key(text), None)

    def clear(self) -> None:
        self._kept.clear()


def mix_vectors(alone: np.ndarray, context: np.ndarray, weight: float) -> np.ndarray:
    """The in-context query vector: the question's plus ``weight`` times the context's."""
    mixed = alone.astype(np.float32) + np.float32(weight) * context.astype(np.float32)
    norm = float(np.linalg.norm(mixed))
    return mixed / norm if norm > 0 else alone


def mix_lexical(own: np.ndarray, earlier: np.ndarray, weight: float) -> np.ndarray:
    """BM25 (or coverage) with the earlier questions' words counting ``weight`` as much."""
    return own + weight * earlier


def mix_coverage(
    own: np.ndarray, earlier: np.ndarray, own_total: float, earlier_total: float, weight: float
) -> np.ndarray:
    """Coverage of the question and the down-weighted earlier words together, in [0, 1]."""
    total = own_total + weight * earlier_total
    if total <= 0:
        return np.zeros_like(own)
    return np.minimum(1.0, (own * own_total + weight * earlier * earlier_total) / total)


def fuse_readings(
    in_context: np.ndarray,
    keys: Sequence[int],
    alone: dict[int, float],
    weight: float,
) -> np.ndarray:
    """In-context z-scores plus ``weight`` times the question's own (candidates it did not
    pool get its lowest); the last answer's prior comes after (:func:`with_prior`)."""
    floor = min(alone.values(), default=0.0)
    own = np.array([alone.get(key, floor) for key in keys], dtype=np.float64)
    return in_context + weight * own


def with_prior(
    scores: np.ndarray,
    keys: np.ndarray,
    article_of: Callable[[int], str],
    last: Turn,
    weights: ContextWeights,
    k: int,
) -> np.ndarray:
    """``scores`` (of the candidates with ``keys``) plus the last answer's prior:
    ``passage_prior`` for its passage, ``prior`` for the passages of its article.

    The passage is found by key (a passage's key is :func:`stable_key` of its id); a
    candidate's article (``article_of(i)``) is looked up only where the prior can lift it
    into the top ``k``, as a look-up costs more than the whole fusion.
    """
    if last.article is None or not len(scores):
        return scores
    out = scores.astype(np.float64, copy=True)
    if last.passage is not None:
        out[keys == stable_key(last.passage)] += weights.passage_prior
    if weights.prior > 0:
        at = len(out) - min(k, len(out))  # the k-th highest score's place once partitioned
        kth = np.partition(out, at)[at]
        for i in np.flatnonzero(out >= kth - weights.prior):  # below: out of reach
            if article_of(int(i)) == last.article:
                out[i] += weights.prior
    return out


@dataclass(frozen=True)
class Reading:
    """What the decision weighs: the question's cues and both readings' top confidence."""

    cues: frozenset[str]
    alone: float  # confidence of the best passage for the question alone
    context: float  # ... in context
    own: float  # share of the question's own words (IDF-weighted) in the in-context passage
    arabic: bool = True  # own is measured for Arabic questions only
    answered: bool = True  # whether the in-context reading is confident enough to answer


def may_depend(found: set[str] | frozenset[str], weights: ContextWeights = DEFAULT_CONTEXT) -> bool:
    """Whether :func:`depends` can say yes for a question with these cues, whatever its
    readings: if not, the question is not read in context at all (nor its history encoded).

    Without a cue only the confidence gain can decide, and confidences lie in [0, 1].
    """
    return bool(_signals(found, weights)) or weights.gain <= 1.0


def _signals(found: set[str] | frozenset[str], weights: ContextWeights) -> set[str]:
    return set(found) if weights.short else set(found) - {"short"}


def depends(reading: Reading, weights: ContextWeights = DEFAULT_CONTEXT) -> bool:
    """Whether to answer in context: a textual cue, or much more confident in context.

    A context that does not lead to an answer is not used: the question is refused either
    way, and its own reading is what it would be asked alone («وكم سعر الذهب اليوم؟»).
    An Arabic question whose own words are mostly missing from the in-context passage
    («وما هي عاصمة فرنسا؟» after a question on the OIC) is answered alone whatever its cues.
    """
    if not reading.answered or (reading.arabic and reading.own < weights.own):
        return False
    if _signals(reading.cues, weights):
        return True
    return reading.context - reading.alone >= weights.gain
