"""Ablation of the Arabic analysis chain for the BM25 leg, on a retrieval-eval file.

Each rung adds one step (raw whitespace tokens, edge punctuation stripped, normalisation,
light stem, stopwords + dual stems = ``qabot.arabic.terms``) and is run with and without
the article title prepended to every paragraph. Reports R@1, R@5 and MRR@10 of the gold
paragraph (format: ../shared/data/README.md).

    .venv/bin/python benchmarks/lexical_ablation.py [FILE.retrieval.json] [--b B] [--json PATH]
        [--extra] [--timing]

``--b`` sets BM25's length normalisation for the ladder (qabot's default otherwise); ``--json``
also writes the ladder's figures there (``make figures`` renders them).

``--extra`` runs the side experiments behind the design choices; ``--timing`` times
build / incremental update / save / load / search at about 50,000 passages.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from qabot import arabic
from qabot.arabic import index_keys, terms, tokenize
from qabot.index.lexical import DEFAULT_B, DEFAULT_K1, LexicalIndex

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEFAULT_DATA = SHARED / "data" / "arcd" / "arcd.retrieval.json"

Analyzer = Callable[[str], list[str]]


@dataclass(frozen=True)
class Dataset:
    paragraph_ids: list[str]
    texts: list[str]
    titled_texts: list[str]
    questions: list[tuple[str, str]]  # (question, gold paragraph id)


def load(path: Path) -> Dataset:
    data = json.loads(path.read_text(encoding="utf-8"))
    pids: list[str] = []
    texts: list[str] = []
    titled: list[str] = []
    for article in data["articles"]:
        for paragraph in article["paragraphs"]:
            pids.append(paragraph["id"])
            texts.append(paragraph["text"])
            titled.append(f"{article['title']}\n{paragraph['text']}")
    questions = [(q["question"], q["paragraph_id"]) for q in data["questions"]]
    return Dataset(pids, texts, titled, questions)


# ---------------------------------------------------------------- analysers


def raw(text: str) -> list[str]:
    return text.split()


def _strip_edges(token: str) -> str:
    start, end = 0, len(token)
    while start < end and unicodedata.category(token[start])[0] in "PS":
        start += 1
    while end > start and unicodedata.category(token[end - 1])[0] in "PS":
        end -= 1
    return token[start:end]


def punct(text: str) -> list[str]:
    return [t for t in (_strip_edges(w) for w in text.split()) if t]


def light(text: str) -> list[str]:
    return [arabic._light_stem(t) for t in tokenize(text)]


def _content(text: str) -> list[str]:
    return [t for t in tokenize(text) if t not in arabic.STOPWORDS]


def light_stop(text: str) -> list[str]:
    return [arabic._light_stem(t) for t in _content(text)]


def snowball_stop(text: str) -> list[str]:
    return [arabic._SNOWBALL.stemWord(t) for t in _content(text)]


def dual_no_stop(text: str) -> list[str]:
    return [k for t in tokenize(text) for k in arabic._token_terms(t)]


def terms_live(text: str) -> list[str]:
    """``terms`` reading the current (possibly patched) module state."""
    return [k for t in _content(text) for k in arabic._token_terms(t)]


LADDER: list[tuple[str, Analyzer]] = [
    ("raw whitespace tokens", raw),
    ("+ edge punctuation stripped", punct),
    ("+ normalisation", tokenize),
    ("+ light stem", light),
    ("+ stopwords & dual stems (= terms)", terms),
    ("+ character trigrams (= index_keys, the lexical leg)", index_keys),
]


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Scores:
    r1: float
    r5: float
    mrr10: float


def evaluate(
    ds: Dataset,
    analyzer: Analyzer,
    *,
    titled: bool = False,
    k1: float = DEFAULT_K1,
    b: float = DEFAULT_B,
) -> Scores:
    texts: Sequence[str] = ds.titled_texts if titled else ds.texts
    index = LexicalIndex.build_from_terms(
        range(len(texts)), [analyzer(t) for t in texts], k1=k1, b=b
    )
    row_of = {pid: i for i, pid in enumerate(ds.paragraph_ids)}
    r1 = r5 = mrr = 0.0
    for question, gold in ds.questions:
        hits = [i for i, _ in index.search_terms(analyzer(question), 10)]
        if row_of[gold] in hits:
            rank = hits.index(row_of[gold]) + 1
            r1 += rank == 1
            r5 += rank <= 5
            mrr += 1.0 / rank
    n = len(ds.questions)
    return Scores(r1 / n, r5 / n, mrr / n)


def report(name: str, s: Scores) -> None:
    print(f"{name:<46} R@1 {s.r1:.3f}  R@5 {s.r5:.3f}  MRR@10 {s.mrr10:.3f}", flush=True)


@contextmanager
def _patched(table: dict[int, str | None], stopwords: frozenset[str]) -> Iterator[None]:
    """Temporarily change arabic's folding table / stopwords (clears the key cache)."""
    saved = arabic._FOLD_RE, arabic._FOLD, arabic.STOPWORDS
    arabic._FOLD_RE, arabic._FOLD = arabic._compile(arabic._TABLE | table)
    arabic.STOPWORDS = stopwords
    arabic._token_terms.cache_clear()
    arabic._text_keys.cache_clear()  # keys of whole texts, cached by the raw text
    try:
        yield
    finally:
        arabic._FOLD_RE, arabic._FOLD, arabic.STOPWORDS = saved
        arabic._token_terms.cache_clear()
        arabic._text_keys.cache_clear()


def extras(ds: Dataset) -> None:
    print("\nside experiments (paragraph text only, k1/b defaults unless stated):")
    report("terms", evaluate(ds, terms))
    report("light stem + stopwords", evaluate(ds, light_stop))
    report("Snowball stem + stopwords", evaluate(ds, snowball_stop))
    report("dual stems, no stopwords", evaluate(ds, dual_no_stop))
    with _patched({ord("ؤ"): "ؤ", ord("ئ"): "ئ"}, arabic.STOPWORDS):
        report("terms, ؤ ئ not folded", evaluate(ds, terms_live))
    with _patched({}, arabic.STOPWORDS | {"علي", "وعلي", "ام"}):
        report("terms, + stopwords على/وعلى/أم (Ali, mother)", evaluate(ds, terms_live))
    for k1, b in [
        (0.9, 0.4),
        (0.9, 0.75),
        (1.0, 0.75),
        (1.2, 0.75),
        (1.5, 0.75),
        (2.0, 0.75),
        (1.2, 0.5),
        (1.2, 0.9),
    ]:
        report(f"terms, k1={k1} b={b}", evaluate(ds, terms, k1=k1, b=b))


def timing(ds: Dataset, copies: int = 110) -> None:
    """Build/update/save/load/search times at ~50k passages (the corpus repeated)."""
    texts = ds.texts * copies
    n = len(texts)
    t0 = time.perf_counter()
    term_lists = [terms(t) for t in texts]
    t1 = time.perf_counter()
    index = LexicalIndex.build_from_terms(range(n), term_lists)
    t2 = time.perf_counter()
    LexicalIndex.build_from_terms(range(n), [index.terms_of(i) for i in range(n)])
    t3 = time.perf_counter()
    index.updated(remove=range(100), add_ids=range(n, n + 100), add_texts=ds.texts[:100])
    t4 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        path = index.save(Path(tmp))
        t5 = time.perf_counter()
        LexicalIndex.load(Path(tmp))
        t6 = time.perf_counter()
        size = path.stat().st_size
    q0 = time.perf_counter()
    for question, _ in ds.questions[:200]:
        index.search_terms(index_keys(question), 10)
    q1 = time.perf_counter()
    print(
        f"\n{n} passages: analyse {t1 - t0:.2f}s (cold cache), build_from_terms {t2 - t1:.2f}s, "
        f"rebuild via terms_of {t3 - t2:.2f}s, updated(-100/+100) {t4 - t3:.2f}s, "
        f"save {t5 - t4:.2f}s ({size / 1e6:.1f} MB), load {t6 - t5:.2f}s, "
        f"search {(q1 - q0) / 200 * 1000:.2f} ms/query"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--extra", action="store_true", help="run the side experiments")
    parser.add_argument("--timing", action="store_true", help="time at ~50k passages")
    parser.add_argument("--b", type=float, default=DEFAULT_B, help="BM25 b for the ladder")
    parser.add_argument("--json", type=Path, help="also write the ladder's figures here")
    args = parser.parse_args()
    ds = load(args.data)
    print(
        f"{args.data.name}: {len(ds.texts)} paragraphs, {len(ds.questions)} questions, "
        f"BM25 k1={DEFAULT_K1} b={args.b}"
    )
    rows = []
    for titled in (False, True):
        print("\nparagraph text" + (" with article title prepended:" if titled else ":"))
        for name, analyzer in LADDER:
            scores = evaluate(ds, analyzer, titled=titled, b=args.b)
            report(name, scores)
            rows.append({"analysis": name, "titled": titled, **vars(scores)})
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        record = {"data": args.data.name, "k1": DEFAULT_K1, "b": args.b, "rows": rows}
        args.json.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    if args.extra:
        extras(ds)
    if args.timing:
        timing(ds)


if __name__ == "__main__":
    main()
