"""What the top-1 errors on a retrieval-eval file are: siblings, near-duplicates, elsewhere.

    python benchmarks/error_analysis.py [FILE.retrieval.json] --cache DIR

A near-duplicate is a first passage sharing ≥ 80 % of the shorter one's words with the gold
paragraph (ARCD holds overlapping copies of Wikipedia paragraphs); for those pairs, found
anywhere in the top 5, it also counts how often the gold copy is the longer one.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from qabot.arabic import tokenize
from qabot.config import Settings
from qabot.evaluate import article_of, index_eval_set, load_eval_set, paragraph_of
from qabot.model import load_encoder

ARCD = Path(__file__).resolve().parents[2] / "shared" / "data" / "arcd" / "arcd.retrieval.json"


def near_duplicates(a: str, b: str) -> bool:
    x, y = set(tokenize(a)), set(tokenize(b))
    small = min(len(x), len(y))
    return small > 0 and len(x & y) / small >= 0.8


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file", nargs="?", default=str(ARCD))
    ap.add_argument("--cache", type=Path, required=True)
    args = ap.parse_args()
    settings = Settings()
    encoder = load_encoder(settings)
    data = load_eval_set(Path(args.file))
    _, retriever = index_eval_set(data, args.cache, settings, encoder)
    text = {p.id: p.text for art in data.articles for p in art.paragraphs}
    article = article_of(data)
    errors = siblings = duplicates = 0
    gold_longer = pairs = 0
    for q in data.questions:
        ids = [paragraph_of(p.id, set(text)) for p in retriever.search(q.question, k=5)]
        for other in ids:  # the first near-duplicate of the gold paragraph in the top 5
            if other != q.paragraph_id and near_duplicates(text[other], text[q.paragraph_id]):
                pairs += 1
                gold_longer += len(text[q.paragraph_id]) > len(text[other])
                break
        if ids[0] == q.paragraph_id:
            continue
        errors += 1
        siblings += article[ids[0]] == article[q.paragraph_id]
        duplicates += near_duplicates(text[ids[0]], text[q.paragraph_id])
    print(
        f"{errors} of {len(data.questions)} questions have another passage first: "
        f"{siblings} ({siblings / errors:.0%}) from the gold article, "
        f"{duplicates} ({duplicates / errors:.0%}) a near-duplicate of the gold paragraph"
    )
    print(f"near-duplicate pairs in the top 5: {pairs}, the gold copy the longer in {gold_longer}")


if __name__ == "__main__":
    main()
