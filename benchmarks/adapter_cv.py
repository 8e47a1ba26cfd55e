"""A query-side linear adapter on the question embedding, cross-validated by article.

    python benchmarks/adapter_cv.py --cache DIR [--json benchmarks/results/adapter_cv.json]

The adapter is ``q' = normalise(q + A q)``, A a 384×384 matrix (zero at the start, L2-penalised
towards zero), trained with a softmax over the passages of the training articles (the
gold passage against all others: in-batch and hard negatives at once) on ARCD question →
paragraph pairs of one half of the articles (``article // 2 % 2``), and scored on the
questions of the other half in the full ARCD index, dense alone and fused as qabot ranks.
It is never scored on the part it was trained on. Both ways; the figures are summed.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from qabot.config import Settings
from qabot.evaluate import article_of, index_eval_set, load_eval_set, paragraph_of
from qabot.model import load_encoder

ROOT = Path(__file__).resolve().parents[1]
ARCD = ROOT.parent / "shared" / "data" / "arcd" / "arcd.retrieval.json"
ENGLISH = ROOT / "benchmarks" / "data" / "arcd-english-questions.json"


def train(q: np.ndarray, p: np.ndarray, gold: np.ndarray, decay: float, epochs: int) -> np.ndarray:
    """The adapter matrix A for question vectors ``q`` whose gold rows of ``p`` are ``gold``."""
    torch.manual_seed(0)
    qt, pt, gt = torch.tensor(q), torch.tensor(p), torch.tensor(gold)
    a = torch.zeros(q.shape[1], q.shape[1], requires_grad=True)
    opt = torch.optim.Adam([a], lr=1e-3)
    for _ in range(epochs):
        for batch in torch.randperm(len(qt)).split(64):
            x = qt[batch] + qt[batch] @ a
            x = x / x.norm(dim=1, keepdim=True)
            loss = torch.nn.functional.cross_entropy(x @ pt.T / 0.05, gt[batch])
            loss = loss + decay * (a**2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
    return a.detach().numpy()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/adapter_cv.json")
    ap.add_argument("--decay", type=float, nargs="+", default=[1e-3, 1e-2])
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    settings = Settings()
    encoder = load_encoder(settings)
    data = load_eval_set(ARCD)
    _, retriever = index_eval_set(data, args.cache, settings, encoder)
    snap = retriever.snapshot
    known = {p.id for art in data.articles for p in art.paragraphs}
    article = article_of(data)
    keys = np.array(sorted(snap.by_key), dtype=np.int64)
    pvec = snap.passages.get(keys).astype(np.float32)
    para = [paragraph_of(snap.by_key[int(k)].id, known) for k in keys]
    first_row = {pid: r for r, pid in reversed(list(enumerate(para)))}
    qs = [q for q in data.questions if q.paragraph_id in first_row]
    qvec = encoder.encode_queries([q.question for q in qs]).astype(np.float32)
    part = np.array([int(article[q.paragraph_id][1:]) // 2 % 2 for q in qs])
    english = json.loads(ENGLISH.read_text(encoding="utf-8"))["questions"]
    en = [i for i, q in enumerate(qs) if q.id in english]
    envec = dict(zip(en, encoder.encode_queries([english[qs[i].id] for i in en]), strict=True))
    ppart = np.array([int(snap.by_key[int(k)].article[1:]) // 2 % 2 for k in keys])
    rows = []
    for decay in [0.0, *args.decay]:
        ranks: dict[str, list[float]] = {"dense": [], "hybrid": [], "english": []}
        for test in (0, 1):
            tr = np.flatnonzero(part != test)
            prow = np.flatnonzero(ppart != test)
            remap = {int(r): j for j, r in enumerate(prow)}
            gold = np.array([remap[first_row[qs[i].paragraph_id]] for i in tr])
            a = (
                train(qvec[tr], pvec[prow], gold, decay, args.epochs)
                if decay
                else np.zeros((qvec.shape[1],) * 2, np.float32)
            )
            for i in np.flatnonzero(part == test):
                v = qvec[i] + qvec[i] @ a
                v = v / np.linalg.norm(v)
                asked = [("dense", qs[i].question, v), ("hybrid", qs[i].question, v)]
                if i in envec:
                    e = envec[i] + envec[i] @ a
                    asked.append(("english", english[qs[i].id], e / np.linalg.norm(e)))
                for name, text, vec in asked:
                    mode = "dense" if name == "english" else name
                    hits = retriever.search(text, k=10, mode=mode, vector=vec)  # type: ignore[arg-type]
                    seen = list(dict.fromkeys(paragraph_of(h.id, known) for h in hits))
                    pid = qs[i].paragraph_id
                    ranks[name].append(1 / (seen.index(pid) + 1) if pid in seen else 0.0)
        row = {"decay": decay, "epochs": args.epochs, "n": len(ranks["dense"]),
               "english_n": len(ranks["english"])}  # fmt: skip
        for mode, rr in ranks.items():
            row[f"{mode}_r1"] = round(float(np.mean([r == 1 for r in rr])), 4)
            row[f"{mode}_mrr10"] = round(float(np.mean(rr)), 4)
        rows.append(row)
        print(json.dumps(row), flush=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({"rows": rows}, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
