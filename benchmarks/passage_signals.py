"""Sentence-level evidence and answer-type agreement as passage-ranking signals, on ARCD.

    python benchmarks/passage_signals.py --cache DIR [--limit N] [--json FILE]

69 % of ARCD's top-1 misses put another paragraph of the right article first: the passages
compete on the same words. Today's fusion scores a passage on its vectors, on BM25 and on
the share of the question's words anywhere in it (coverage). These signals ask whether the
words meet *in one sentence*, and whether that sentence holds what the question asks for:

- ``sent_cov``: the largest IDF share of the question's words inside one sentence;
- ``window``: the same inside any window of ``WINDOW`` consecutive words (across sentences);
- ``cue_cov``: for a question with an answer-type cue (:func:`qabot.highlight.answer_cue`),
  ``sent_cov`` over the sentences that hold a number / a time only (0 otherwise);
- ``best``: the highlight's own sentence score (similarity + lexical share + cue bonus);
- ``type_cov``: ``cue_cov`` widened to who / where (person / place word lists);
- ``cue_new``: ``cue_cov`` counting only numbers and times the question does not name.

Each is added to the shipped fused score (main 6d16300) as ``+ a·z(signal)`` (per question, over its
candidates). Weights are chosen on the questions of one half of the articles (``fold_of``,
the split the adapter and bridge experiments use) and scored on the other half, both ways:
the cross-validated R@1 and MRR@10 are the honest figures. The same for the 178 English
questions (their signals from their bridged Arabic words, :mod:`qabot.bridge`). Nothing here
uses the seed test questions.
"""

from __future__ import annotations

import argparse
import itertools
import json
import pickle
from pathlib import Path

import numpy as np

from qabot.arabic import is_mostly_arabic, terms, tokenize
from qabot.config import Settings
from qabot.evaluate import article_of, fold_of, index_eval_set, load_eval_set, paragraph_of
from qabot.fusion import Candidates, fuse, zscore
from qabot.highlight import Cue, answer_cue
from qabot.highlight import _holds as holds  # the highlight's own tests, not public
from qabot.highlight import _sentence_terms as sentence_terms
from qabot.model import load_encoder

ROOT = Path(__file__).resolve().parents[1]
ARCD = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"
ENGLISH = ROOT / "benchmarks" / "data" / "arcd-english-questions.json"
WINDOW = 12
SIGNALS = ("sent_cov", "window", "cue_cov", "best", "type_cov", "cue_new")
#: Who/where answer types the highlight does not have, as crude word lists (measured here
#: only): a sentence that may name a person, or a place.
_WHO = {"من", "ومن", "لمن", "who", "whom", "whose"}
_WHERE = {"اين", "واين", "الي اين", "where"}
_PERSON = set(tokenize(
    "بن ابن بنت أبو ابو الرئيس الملك الأمير الشيخ الدكتور السيد الامام الإمام الخليفة السلطان"
    " الوزير القائد العالم الكاتب الشاعر المؤلف مؤسس أسسه أسس ولد توفي"))
_PLACE = set(tokenize(
    "مدينة المدينة دولة الدولة عاصمة العاصمة محافظة منطقة قرية ولاية بلد إقليم جزيرة شمال جنوب"
    " شرق غرب شمالي جنوبي شرقي غربي تقع يقع حدود"))


def answer_type(question: str) -> str | None:
    """The highlight's number/time cue, else "person" / "place" from who / where."""
    cue = answer_cue(question)
    if cue is not None:
        return cue
    first = tokenize(question)[:2]
    if set(first) & _WHO:
        return "person"
    if set(first) & _WHERE:
        return "place"
    return None


def _has_type(sentence: str, kind: str | None) -> bool:
    if kind in ("number", "time"):
        return holds(sentence, kind)  # type: ignore[arg-type]
    words = set(tokenize(sentence))
    return bool(words & (_PERSON if kind == "person" else _PLACE)) if kind else False
GRID = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3, 0.4)


def _window_cov(text: str, groups: list[tuple[tuple[str, ...], float]], total: float) -> float:
    """Largest IDF share of question words inside WINDOW consecutive tokens of ``text``."""
    tokens = [frozenset(terms(t)) for t in tokenize(text)]
    hit = [[j for j, (g, _) in enumerate(groups) if any(x in keys for x in g)] for keys in tokens]
    best = 0.0
    for s in range(max(1, len(hit) - WINDOW + 1)):
        found = {j for h in hit[s : s + WINDOW] for j in h}
        best = max(best, sum(groups[j][1] for j in found))
    return best / total


def _holds_new(sentence: str, cue: Cue, asked: frozenset[str]) -> bool:
    """Whether ``sentence`` holds a number / time the question does not name itself
    («متى أقيم كأس العالم 2018؟»: 2018 is no answer)."""
    return holds(" ".join(sorted(set(tokenize(sentence)) - asked)), cue)


def signals(
    found: Candidates, sentences: list[list[str]], texts: list[str], kind: str | None,
    asked: frozenset[str] = frozenset(),
) -> np.ndarray:  # fmt: skip
    """One row per candidate: the SIGNALS, in order."""
    groups = found.groups
    total = sum(w for _, w in groups)
    out = np.zeros((len(found.keys), len(SIGNALS)))
    if total <= 0:
        return out
    for i, sents in enumerate(sentences):
        shares = np.array([
            sum(w for g, w in groups if any(t in sentence_terms(s) for t in g)) / total
            for s in sents
        ]) if sents else np.zeros(1)  # fmt: skip
        holding = np.array([found.cue is not None and holds(s, found.cue) for s in sents])
        typed = np.array([_has_type(s, kind) for s in sents])
        fresh = np.array([found.cue is not None and _holds_new(s, found.cue, asked) for s in sents])
        sims = found.sentence_sims[i] if found.sentence_sims else np.zeros(len(sents))
        best = sims + 0.3 * shares[: len(sims)] + 0.2 * holding[: len(sims)] if sents else [0.0]
        out[i] = (
            shares.max(),
            _window_cov(texts[i], groups, total),
            shares[holding].max() if holding.any() else 0.0,
            float(np.max(best)),
            shares[typed].max() if typed.any() else 0.0,
            shares[fresh].max() if fresh.any() else 0.0,
        )
    return out


def collect(cache: Path, limit: int | None) -> list[dict]:
    settings = Settings()
    encoder = load_encoder(settings)
    data = load_eval_set(ARCD)
    _, retriever = index_eval_set(data, cache, settings, encoder)
    snap = retriever.snapshot
    known = {p.id for art in data.articles for p in art.paragraphs}
    article = article_of(data)
    english = json.loads(ENGLISH.read_text(encoding="utf-8"))["questions"]
    qs = [(q, q.question, "ar") for q in data.questions]
    qs += [(q, english[q.id], "en") for q in data.questions if q.id in english]
    if limit:
        qs = qs[:limit] + [x for x in qs if x[2] == "en"][:limit // 4]
    vectors = encoder.encode_queries([text for _, text, _ in qs])
    rows = []
    for (q, text, lang), v in zip(qs, vectors, strict=True):
        found = retriever.candidates(text, v, "hybrid")
        assert found is not None
        arabic = is_mostly_arabic(text)
        chunks = [snap.by_key[int(k)] for k in found.keys]
        sents = [snap.sentences.get(int(k), []) for k in found.keys]
        rows.append({
            "lang": lang,
            "fold": fold_of(article[q.paragraph_id]),
            "cue": found.cue,
            "para": [paragraph_of(c.id, known) for c in chunks],
            "gold_id": q.paragraph_id,
            "fused": fuse(found, "hybrid", arabic, retriever.weights),
            "x": signals(found, sents, [c.text for c in chunks], answer_type(text),
                         frozenset(tokenize(text))),
            "kind": answer_type(text),
        })  # fmt: skip
    return rows


def score(rows: list[dict], weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per question: hit at 1, reciprocal rank within 10 (0 when the gold is not pooled)."""
    r1, rr = [], []
    for r in rows:
        x = r["x"]
        z = np.column_stack([zscore(x[:, j]) for j in range(x.shape[1])])
        s = r["fused"] + z @ weights
        order = np.argsort(-s, kind="stable")
        # passages of one paragraph: rank by paragraph (first occurrence), as qabot eval does
        seen = list(dict.fromkeys(r["para"][i] for i in order))
        rank = seen.index(r["gold_id"]) + 1 if r["gold_id"] in seen else None
        r1.append(rank == 1)
        rr.append(1 / rank if rank and rank <= 10 else 0.0)
    return np.array(r1), np.array(rr)


def grid(names: tuple[str, ...]) -> list[np.ndarray]:
    cols = [SIGNALS.index(n) for n in names]
    out = []
    for ws in itertools.product(GRID, repeat=len(cols)):
        w = np.zeros(len(SIGNALS))
        w[cols] = ws
        out.append(w)
    return out


def cross_validate(rows: list[dict], names: tuple[str, ...]) -> dict:
    halves = [[r for r in rows if r["fold"] == f] for f in (0, 1)]
    table = [(w, [score(h, w) for h in halves]) for w in grid(names)]
    held_r1, held_rr, chosen = [], [], []
    for train in (0, 1):
        w, res = max(table, key=lambda t: (t[1][train][0].mean(), -np.abs(t[0]).sum()))
        held_r1.append(res[1 - train][0])
        held_rr.append(res[1 - train][1])
        chosen.append([round(float(v), 2) for v in w])
    base = [score(h, np.zeros(len(SIGNALS))) for h in halves]
    return {
        "signals": list(names),
        "n": len(rows),
        "base_r1": round(float(np.concatenate([b[0] for b in base]).mean()), 4),
        "base_mrr10": round(float(np.concatenate([b[1] for b in base]).mean()), 4),
        "cv_r1": round(float(np.concatenate(held_r1).mean()), 4),
        "cv_mrr10": round(float(np.concatenate(held_rr).mean()), 4),
        "chosen_on_half0": chosen[0],
        "chosen_on_half1": chosen[1],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--limit", type=int)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/passage_signals.json")
    args = ap.parse_args()
    saved = args.cache / f"passage_signals-{args.limit or 'all'}.pkl"
    if saved.exists():
        rows = pickle.loads(saved.read_bytes())
    else:
        rows = collect(args.cache, args.limit)
        saved.write_bytes(pickle.dumps(rows))
    sets = [(n,) for n in SIGNALS] + [("sent_cov", "cue_cov"), ("sent_cov", "type_cov")]
    sets += [("cue_cov", "cue_new")]
    out = {}
    for lang in ("ar", "en"):
        part = [r for r in rows if r["lang"] == lang]
        out[lang] = []
        for names in sets:
            row = cross_validate(part, names)
            out[lang].append(row)
            print(lang, json.dumps(row), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
