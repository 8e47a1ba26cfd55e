"""An English→Arabic word list (FreeDict eng-ara) as the English questions' lexical bridge.

    apt-get install dict-freedict-eng-ara   # GPL-2+: an optional resource, never bundled
    python benchmarks/english_wordlist.py --cache DIR \\
        [--freedict /usr/share/dictd/freedict-eng-ara] [--json FILE]

Each English content word of a question (or, if missing, its form without -s/-es/-ed/-ing)
is looked up in the dictd files and replaced by its first ``n`` Arabic translations; those
form the BM25/coverage query fused as benchmarks/english_bridge.py fuses the embedding
bridge's words, alone and together with them ("both"). Settings chosen on one half of the
articles, scored on the other, as there. Nothing here uses the seed test questions.
"""

from __future__ import annotations

import argparse
import gzip
import itertools
import json
import re
from pathlib import Path

import numpy as np
from english_bridge import ARCD, ENGLISH, GRID_C, GRID_W, ROOT, cross_validate, top1

from qabot.bridge import english_words
from qabot.config import Settings
from qabot.evaluate import article_of, fold_of, index_eval_set, load_eval_set
from qabot.fusion import FusionWeights
from qabot.model import load_encoder

_B64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_SPLIT = re.compile(r"[,،;؛/]")


def _number(text: str) -> int:
    n = 0
    for ch in text:
        n = n * 64 + _B64.index(ch)
    return n


def read_dictd(prefix: Path) -> dict[str, list[str]]:
    """Headword (lower case) → its Arabic translations, in the dictionary's order."""
    with gzip.open(prefix.with_suffix(".dict.dz")) as fh:
        data = fh.read()
    out: dict[str, list[str]] = {}
    for line in prefix.with_suffix(".index").read_text(encoding="utf-8").splitlines():
        word, offset, length = line.split("\t")
        if word.startswith("00-"):
            continue
        start = _number(offset)
        body = data[start : start + _number(length)].decode("utf-8").split("\n")[1:]
        words = [w.strip() for part in body for w in _SPLIT.split(part) if w.strip()]
        out.setdefault(word.lower(), []).extend(words)
    return out


def translate(word: str, lexicon: dict[str, list[str]], n: int) -> list[str]:
    forms = [word]
    for end, repl in (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", "")):
        if word.endswith(end) and len(word) > len(end) + 2:
            forms.append(word[: -len(end)] + repl)
    for form in forms:
        if form in lexicon:
            return lexicon[form][:n]
    return []


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--freedict", type=Path, default=Path("/usr/share/dictd/freedict-eng-ara"))
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/english_wordlist.json")
    args = ap.parse_args()
    lexicon = read_dictd(args.freedict)
    settings = Settings()
    encoder = load_encoder(settings)
    data = load_eval_set(ARCD)
    _, retriever = index_eval_set(data, args.cache, settings, encoder)
    snap, bridge, weights = retriever.snapshot, retriever._bridge, FusionWeights()
    assert bridge is not None, "the index has no bridge"
    known = {p.id for art in data.articles for p in art.paragraphs}
    gold_article = article_of(data)
    english = json.loads(ENGLISH.read_text(encoding="utf-8"))["questions"]
    qs = [q for q in data.questions if q.id in english]
    texts = [english[q.id] for q in qs]
    vectors = encoder.encode_queries(texts)
    found = [retriever.candidates(t, v, "dense") for t, v in zip(texts, vectors, strict=True)]
    bridged = [
        bridge.arabic_query(t, encoder, weights.bridge_words, weights.bridge_threshold)
        for t in texts
    ]
    folds = np.array([fold_of(gold_article[q.paragraph_id]) for q in qs])
    covered = np.mean([any(translate(w, lexicon, 1) for w in english_words(t)) for t in texts])
    words = [w for t in texts for w in english_words(t)]
    found_words = np.mean([bool(translate(w, lexicon, 1)) for w in words])
    print(f"{len(lexicon)} headwords; {found_words:.1%} of the questions' content words found")
    right: dict[tuple[float, ...], np.ndarray] = {}
    for n, both in itertools.product((1, 2, 4), (0, 1)):
        queries = [
            " ".join(w for word in english_words(t) for w in translate(word, lexicon, n))
            + (" " + b if both else "")
            for t, b in zip(texts, bridged, strict=True)
        ]
        for w, c in itertools.product(GRID_W, GRID_C):
            right[(n, both, w, c)] = top1(snap, qs, found, queries, w, c, known)
    base = right[(1, 0, 0.0, 0.0)]
    result: dict[str, object] = {
        "headwords": len(lexicon), "words_found": round(float(found_words), 4),
        "questions_with_a_word": round(float(covered), 4),
    }  # fmt: skip
    result |= cross_validate(right, folds, base, ("n", "both", "w", "c"))
    result["grid"] = [
        {"n": n, "both": b, "w": w, "c": c, "r1": round(float(v.mean()), 4)}
        for (n, b, w, c), v in right.items()
    ]
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
