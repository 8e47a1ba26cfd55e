"""An English→Arabic word bridge in the model's own embedding space.

BM25 over Arabic keys cannot match an English question, so English questions ranked by the
dense leg alone. The multilingual model places a word near its translations, so the
corpus's distinct Arabic words, embedded once at index time (``bridge.npz`` beside the
generations of a file store, a row of a database), turn each English content word into its
nearest Arabic words: a BM25 and coverage query at a low weight
(:data:`qabot.fusion.FusionWeights.bridge`).
On ARCD's 178 English questions this lifts R@1 from 0.618 to 0.635 cross-validated
(benchmarks/english_bridge.py). Without a bridge English ranks by the dense leg alone.
"""

from __future__ import annotations

import io
import itertools
import json
import logging
import operator
import re
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import numpy as np

from .arabic import STOPWORDS, is_arabic_token, normalize, tokenize
from .encoder import Encoder
from .fsio import write_atomic

log = logging.getLogger(__name__)

FILE_NAME = "bridge.npz"
#: The corpus's commonest Arabic words kept: ARCD has 11,836 (4,868 seen twice or more,
#: which bridge English as well: benchmarks/english_bridge.py --min-count 2).
MAX_WORDS = 100_000
MIN_COUNT = 1
#: English words' Arabic words kept between questions (they repeat: "year", "capital"):
#: a kept word costs neither a model call nor a product with the whole vocabulary.
_KEEP_WORDS = 4096


def vocabulary_label(min_count: int) -> str:
    """How a bridge's words were chosen, as its file records it."""
    return f"min {min_count}, max {MAX_WORDS}"


#: How the default vocabulary is chosen; a bridge chosen otherwise is rebuilt by the next build.
VOCABULARY = vocabulary_label(MIN_COUNT)
_WORD_RE = re.compile(r"[^\W\d_]+")
_MARKS_RE = re.compile("[\u0640\u064b-\u065f\u0670]")  # tatweel, harakat, dagger alef
_BLOCK_TEXTS = 4096


def english_words(question: str) -> list[str]:
    """The Latin content words of ``question`` (normalised, distinct, in order)."""
    return list(
        dict.fromkeys(
            t
            for t in tokenize(question)
            if t.isalpha() and not is_arabic_token(t) and t not in STOPWORDS and len(t) > 1
        )
    )


def word_counts(texts: Iterable[str]) -> Counter[str]:
    """How often each Arabic word of ``texts`` occurs, spelled as it is (marks removed)."""
    # Counted as they are, then each distinct word analysed once: a million passages hold
    # ~80M words but only as many spellings as the vocabulary (10× faster at 100k passages).
    # Texts are read a block at a time as one string ("\n" ends a word, as a text's end does),
    # a repeated text once (archives repeat whole paragraphs), its other copies added after.
    counts: Counter[str] = Counter()
    each = iter(texts)
    while block := Counter(itertools.islice(each, _BLOCK_TEXTS)):
        found = Counter(_WORD_RE.findall(_MARKS_RE.sub("", "\n".join(block))))
        for text, copies in block.items():
            if copies > 1:
                for word, n in Counter(_WORD_RE.findall(_MARKS_RE.sub("", text))).items():
                    found[word] += n * (copies - 1)
        counts.update(found)
    return Counter({w: n for w, n in counts.items() if is_arabic_token(w)})


def _normalized(words: list[str]) -> list[str]:
    """:func:`~qabot.arabic.normalize` of each word, in one call over the words a line each
    (the steps act within a line: a line break neither composes nor folds)."""
    keys = normalize("\n".join(words)).split("\n") if words else []
    return keys if len(keys) == len(words) else [normalize(w) for w in words]


def arabic_vocabulary(
    texts: Iterable[str] | Counter[str], min_count: int = MIN_COUNT, limit: int = MAX_WORDS
) -> list[str]:
    """The commonest Arabic content words of ``texts`` (or of their :func:`word_counts`),
    one per normalised form (its commonest spelling, without marks), commonest first; ties
    in alphabetical order, so the words depend on the counts alone (an edit updates them)."""
    counts = texts if isinstance(texts, Counter) else word_counts(texts)
    best: dict[str, tuple[int, str]] = {}
    totals: Counter[str] = Counter()
    for (word, n), key in zip(counts.items(), _normalized(list(counts)), strict=True):
        if len(key) <= 2 or key in STOPWORDS:
            continue
        totals[key] += n
        if key not in best or (-n, word) < (-best[key][0], best[key][1]):
            best[key] = (n, word)
    ranked = sorted(totals.items())  # by form, then (stable) by count: one key per sort
    ranked.sort(key=operator.itemgetter(1), reverse=True)
    del ranked[limit:]
    return [best[key][1] for key, n in ranked if n >= min_count]


class TextChanges(Iterable[str]):
    """A corpus's texts, read only if need be, and how they changed since the last build:
    a bridge that counted the texts before (``before``, a digest of them) updates its word
    counts from the removed and added texts instead of counting a million passages again."""

    def __init__(
        self,
        every: Callable[[], Iterable[str]],
        removed: Iterable[str],
        added: Iterable[str],
        before: str,
        after: str,
    ) -> None:
        self._every = every
        self.removed, self.added = removed, added
        self.before, self.after = before, after

    def __iter__(self) -> Iterator[str]:
        return iter(self._every())

    def counts(self, old: Bridge | None) -> Counter[str]:
        """The word counts of the texts now: ``old``'s updated if it counted them before."""
        if old is None or old.counts is None or not self.before or old.source != self.before:
            return word_counts(self)
        counts = Counter(old.counts)
        counts.subtract(word_counts(self.removed))
        counts.update(word_counts(self.added))
        return +counts  # words no text has any more go


class Bridge:
    """The corpus's Arabic words and their unit vectors (float16), searched by cosine."""

    def __init__(
        self,
        model: str,
        words: list[str],
        vectors: np.ndarray,
        vocabulary: str = "",
        counts: Counter[str] | None = None,
        source: str = "",
    ) -> None:
        if len(words) != len(vectors):
            raise ValueError(f"{len(words)} words but {len(vectors)} vectors")
        self.model = model
        #: Every Arabic spelling's count in the texts, and a digest of those texts
        #: (:class:`TextChanges`): what an edit updates instead of counting again.
        self.counts, self.source = counts, source
        self.vocabulary = vocabulary  # how the words were chosen (:data:`VOCABULARY`)
        self.words = words
        self.vectors = np.asarray(vectors, dtype=np.float16)
        self._english: OrderedDict[tuple[str, int, float], list[str]] = OrderedDict()
        self._matrix: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.words)

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        encoder: Encoder,
        old: Bridge | None = None,
        min_count: int = MIN_COUNT,
    ) -> Bridge:
        """The bridge of ``texts``' vocabulary; words ``old`` has are not embedded again."""
        changes = texts if isinstance(texts, TextChanges) else None
        counts = changes.counts(old) if changes else word_counts(texts)
        words = arabic_vocabulary(counts, min_count)
        kept = dict(zip(old.words, old.vectors, strict=True)) if old else {}
        missing = [w for w in words if w not in kept]
        if len(missing) == len(words) and words:  # every word new: in order already
            vectors = np.asarray(encoder.encode_queries(missing))
        else:
            if missing:
                kept |= dict(zip(missing, encoder.encode_queries(missing), strict=True))
            vectors = np.array([kept[w] for w in words]).reshape(len(words), encoder.dim)
        label = vocabulary_label(min_count)
        return cls(
            encoder.model_id, words, vectors, label, counts, changes.after if changes else ""
        )

    def nearest(self, vectors: np.ndarray, k: int, threshold: float) -> list[str]:
        """For each of ``vectors`` (English words), its ``k`` nearest Arabic words at
        cosine ≥ ``threshold``; distinct, in order."""
        if not len(self.words) or not len(vectors):
            return []
        if self._matrix is None:  # float32 once: a product in float16 is slow on CPUs
            self._matrix = self.vectors.astype(np.float32)
        sims = np.asarray(vectors, dtype=np.float32) @ self._matrix.T
        k = min(k, len(self.words))
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        out: dict[str, None] = {}
        for row, cols in enumerate(top):
            for col in sorted(cols.tolist(), key=lambda c: -sims[row, c]):
                if sims[row, col] >= threshold:
                    out[self.words[col]] = None
        return list(out)

    def arabic_query(self, question: str, encoder: Encoder, k: int, threshold: float) -> str:
        """The Arabic words standing for ``question``'s English content words ("" if none)."""
        keys = [(w, k, threshold) for w in english_words(question)]
        missing = [key for key in dict.fromkeys(keys) if key not in self._english]
        if missing:
            vectors = encoder.encode_queries([w for w, _, _ in missing])
            for key, vector in zip(missing, vectors, strict=True):
                self._english[key] = self.nearest(vector[None, :], k, threshold)
        out: dict[str, None] = {}
        for key in keys:
            self._english.move_to_end(key)
            out.update(dict.fromkeys(self._english[key]))
        while len(self._english) > _KEEP_WORDS:
            self._english.popitem(last=False)
        return " ".join(out)

    def to_bytes(self) -> bytes:
        """The bridge as a store keeps it (a file, a database row): words as UTF-8 lines and
        vectors as bytes, each row over its own largest value (11,848 ARCD words: 9.9 → 4.6
        MB); decoding and coding again gives the same bytes, so a rebuild that keeps a
        word's vector does not round it again."""
        buffer = io.BytesIO()
        meta = {"model": self.model, "vocabulary": self.vocabulary, "source": self.source}
        meta_bytes = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
        words = np.frombuffer("\n".join(self.words).encode("utf-8"), np.uint8)
        vectors = self.vectors.astype(np.float32)
        # Each row's largest magnitude, without an array of magnitudes.
        peaks = np.maximum(vectors.max(axis=1, initial=0.0), -vectors.min(axis=1, initial=0.0))
        scales = np.maximum(peaks, 1e-12) / 127
        codes = np.rint(np.divide(vectors, scales[:, None], out=vectors), out=vectors)
        codes = codes.astype(np.int8)
        arrays = {"meta": meta_bytes, "words_utf8": words, "codes": codes, "scales": scales}
        if self.counts is not None:
            spelled = "\n".join(self.counts).encode("utf-8")
            arrays["counted_utf8"] = np.frombuffer(spelled, np.uint8)
            arrays["counts"] = np.fromiter(self.counts.values(), np.uint32, len(self.counts))
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> Bridge:
        """What :meth:`to_bytes` wrote, or a bridge of float16 vectors and a word array
        (before)."""
        with np.load(io.BytesIO(data)) as arrays:
            meta = json.loads(arrays["meta"].tobytes().decode("utf-8"))
            model, vocabulary = str(meta["model"]), str(meta.get("vocabulary"))
            if "codes" not in arrays:
                return cls(model, [str(w) for w in arrays["words"]], arrays["vectors"], vocabulary)
            text = arrays["words_utf8"].tobytes().decode("utf-8")
            vectors = arrays["codes"].astype(np.float32) * arrays["scales"][:, None]
            counts = None
            if "counts" in arrays:
                spelled = arrays["counted_utf8"].tobytes().decode("utf-8")
                words = spelled.split("\n") if spelled else []
                counts = Counter(dict(zip(words, arrays["counts"].tolist(), strict=True)))
            words = text.split("\n") if text else []
            source = str(meta.get("source", ""))
            return cls(
                model, words, vectors, vocabulary, counts, source if counts is not None else ""
            )

    def save(self, path: Path) -> None:
        write_atomic(path, self.to_bytes())

    @classmethod
    def load(cls, path: Path) -> Bridge:
        return cls.from_bytes(path.read_bytes())


def usable(data: bytes | None, encoder: Encoder, where: str) -> Bridge | None:
    """The bridge stored as ``data`` (:meth:`Bridge.to_bytes`), if it is one for ``encoder``'s
    model; None (English by the dense leg alone) if there is none or it is damaged."""
    if data is None:
        return None
    try:
        bridge = Bridge.from_bytes(data)
    except (OSError, ValueError, KeyError, TypeError, EOFError) as exc:
        log.warning("ignoring %s: %s", where, exc)
        return None
    if bridge.model != encoder.model_id or bridge.vectors.shape[1:] != (encoder.dim,):
        return None
    return bridge


def renewed(
    old: Bridge | None, texts: Iterable[str], encoder: Encoder, changed: bool
) -> Bridge | None:
    """The bridge to store for ``texts`` if they ``changed`` or ``old`` is missing or stale
    (embedding only the new words); None when ``old`` stays."""
    if old is None or changed or old.vocabulary != VOCABULARY:
        return Bridge.build(texts, encoder, old)
    return None


def load_bridge(folder: Path | None, encoder: Encoder) -> Bridge | None:
    """The bridge kept in index ``folder``, if there is one for ``encoder``'s model."""
    path = folder / FILE_NAME if folder is not None else None
    if path is None or not path.is_file():
        return None
    try:
        data = path.read_bytes()
    except OSError as exc:
        log.warning("ignoring %s: %s", path, exc)
        return None
    return usable(data, encoder, str(path))


def update_bridge(folder: Path, texts: Iterable[str], encoder: Encoder, changed: bool) -> None:
    """Rewrite index ``folder``'s bridge for ``texts`` if they ``changed`` or it is missing
    or stale, embedding only the new words. Written before the snapshot is committed, so a
    retriever that opens the new snapshot finds its words."""
    new = renewed(load_bridge(folder, encoder), texts, encoder, changed)
    if new is not None:
        folder.mkdir(parents=True, exist_ok=True)  # a first build: before its first commit
        new.save(folder / FILE_NAME)


def bridged_words(
    bridge: Bridge | None, question: str, encoder: Encoder, k: int, threshold: float
) -> str:
    """The Arabic words for a non-Arabic ``question`` ("" without a bridge or a match)."""
    return bridge.arabic_query(question, encoder, k, threshold) if bridge is not None else ""
