"""Render the figure tables in benchmarks/README.md from the scripts' JSON output.

    .venv/bin/python benchmarks/figures.py [--check]

Each table sits between ``<!-- figures:NAME -->`` and ``<!-- /figures:NAME -->`` and is made
only from ``benchmarks/results/*.json``, which the benchmark scripts write (``make figures``
runs them all, then this). ``--check`` changes nothing and exits 1 if a table differs from
what the results say, so the README cannot drift from the measurements.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
README = HERE / "README.md"
MARKED = re.compile(r"(<!-- figures:([\w-]+) -->\n)(.*?)(<!-- /figures:\2 -->)", re.S)


def _load(name: str) -> Any:
    return json.loads((RESULTS / name).read_text(encoding="utf-8"))


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value:.1%}"


def arcd() -> str:
    rows = ["| mode | R@1 | R@5 | MRR@10 | answered | answered and right | unanswerable refused |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for mode in ("hybrid", "dense", "lexical"):
        if not (RESULTS / f"arcd-{mode}.json").exists():
            continue  # not measured yet: no row rather than an old one
        r = _load(f"arcd-{mode}.json")
        rows.append(
            f"| {mode}{' (default)' if mode == 'hybrid' else ''} | {r['r1']:.3f} | {r['r5']:.3f} "
            f"| {r['mrr10']:.3f} | {_pct(r['answered'])} | {_pct(r['answered_correct'])} "
            f"| {_pct(r['refused_unanswerable'])} |"
        )
    h = _load("arcd-hybrid.json")
    rows.append("")
    rows.append(
        f"{h['n']} questions. Highlight on the answer in {h['highlight']:.1%} of the "
        f"{h['highlight_n']} right first passages that contain the answer text. Query p50 "
        f"{h['p50_ms']:.1f} ms, p95 {h['p95_ms']:.1f} ms (bare query encoding p50 "
        f"{h['encode_p50_ms']:.1f} ms in the same run; the machine's load moves these)."
    )
    return "\n".join(rows)


def crossval() -> str:
    t = _load("tune_retrieval.json")
    rows = [
        "| tuned on → scored on | weights chosen (paragraph, BM25, coverage) | R@1 | MRR@10 "
        "| shipped weights: R@1 | MRR@10 | answered | unanswerable refused "
        "| shipped calibration: answered | refused |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in t["cross-validation"]:
        w = r["weights"]
        at, ash = r["abstention tuned"], r["abstention shipped"]
        rows.append(
            f"| {r['tuned on']} → {r['scored on']} "
            f"| {w['paragraph']}, {w['lexical']}, {w['coverage']} "
            f"| {r['tuned']['r1']:.3f} | {r['tuned']['mrr10']:.3f} "
            f"| {r['shipped']['r1']:.3f} | {r['shipped']['mrr10']:.3f} "
            f"| {_pct(at['answered'])} | {_pct(at['refused'])} "
            f"| {_pct(ash['answered'])} | {_pct(ash['refused'])} |"
        )
    best = t["best on all"]
    rows.append("")
    rows.append(
        f"On all of {t['data']} the grid's best (by MRR@10) is {tuple(best['weights'])}: "
        f"R@1 {best['r1']:.3f}, MRR@10 {best['mrr10']:.3f}; the logistic fit on all of it is "
        f"{tuple(t['calibration on all'])} (dense, coverage, bias), AUC {t['auc on all']:.3f}."
    )
    return "\n".join(rows)


def english() -> str:
    e = _load("english_eval.json")
    rows = ["| questions | mode | R@1 | R@5 | MRR@10 | answered | answered and right "
            "| unanswerable refused |", "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in e["rows"]:
        rows.append(
            f"| {r['questions']} ({r['n']}) | {r['mode']} | {r['r1']:.3f} | {r['r5']:.3f} "
            f"| {r['mrr10']:.3f} | {_pct(r['answered'])} | {_pct(r['answered_correct'])} "
            f"| {_pct(r['refused_unanswerable'])} |"
        )
    f = e["fit"]
    bm25 = ", ".join(f"{w}: {v:.3f}" for w, v in e["english_with_bm25"].items())
    rows.append("")
    rows.append(
        f"English confidence fit (both folds): slope {f['slope']}, bias {f['bias']}, dense "
        f"AUC {f['auc']}; the default threshold sits at dense {f['boundary']} "
        f"({f['answered']:.1%} of answerable kept, {f['refused']:.1%} of unanswerable "
        f"refused). English R@1 if BM25 joined at weight {bm25}."
    )
    return "\n".join(rows)


def lexical() -> str:
    runs = [_load("lexical_ablation.json"), _load("lexical_ablation-b0.75.json")]
    head = " | ".join(f"b = {r['b']}: R@1 | R@5 | MRR@10" for r in runs)
    rows = [f"| analysis | title | {head} |", "|---|---|" + "---|" * 3 * len(runs)]
    for i, row in enumerate(runs[0]["rows"]):
        cells = " | ".join(
            f"{r['rows'][i]['r1']:.3f} | {r['rows'][i]['r5']:.3f} | {r['rows'][i]['mrr10']:.3f}"
            for r in runs
        )
        rows.append(f"| {row['analysis']} | {'yes' if row['titled'] else 'no'} | {cells} |")
    return "\n".join(rows)


def load() -> str:
    t = _load("load_test.json")
    o, r = t["options"], t["result"]
    faults = ", ".join(f"{k}: {v}" for k, v in r["faults"].items())
    lines = [
        ("chats × questions", f"{o['chats']} × {o['questions']}"),
        ("faults asked for", f"{o['errors']:.0%} 5xx, {o['limits']:.0%} 429, "
         f"{o['lost']:.0%} responses lost after delivery"),  # fmt: skip
        ("asked / answered / not found / rate limited",
         f"{r['asked']} / {r['answered']} / {r['not found']} / {r['rate limited']}"),
        ("lost / duplicated / unmatched / apologies",
         f"{r['lost']} / {r['duplicated']} / {r['unmatched']} / {r['apologies']}"),
        ("responses lost after delivery", r["responses lost after delivery"]),
        ("updates handled (retriever calls)", r["handled"]),
        ("updates handed out twice / left unconfirmed",
         f"{r['updates handed out twice']} / {r['updates left unconfirmed']}"),
        ("faults injected (method status: count)", faults),
        ("wall time", f"{r['elapsed']} s"),
        ("latency p50 / p95 / max",
         f"{r.get('latency p50 s')} s / {r.get('latency p95 s')} s / {r.get('latency max s')} s"),
        ("RSS after loading model and index / at the end",
         f"{r['RSS after loading MB']} MB / {r['RSS at the end MB']} MB"),
    ]  # fmt: skip
    return "\n".join(["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in lines)])


def scale() -> str:
    rows = [
        "| passages | sentences | ANN threshold | build s (CPU) | load s (CPU) | RSS MB "
        "| on disk MB | query p50 / p95 ms (CPU p50) | add / edit / remove an article s (CPU) "
        "| ANN: passages, sentences (recall@10) | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in _load("scale.json"):
        ann = ", ".join(
            f"{'IVF' if r[f'{w}_approximate'] else 'exact'} ({r[f'{w}_recall10']:.3f})"
            for w in ("passages", "sentences")
        )
        rows.append(
            f"| {r['passages']:,} | {r['sentences']:,} | {r['threshold']:,} "
            f"| {r['build_s']} ({r['build_cpu_s']}) "
            f"| {r['load_s']} ({r['load_cpu_s']}) | {r['rss_mb']:,} | {r['disk_total_mb']:,} "
            f"| {r['query_p50_ms']} / {r['query_p95_ms']} ({r['query_cpu_p50_ms']}) | "
            + " / ".join(f"{r[f'{e}_article_s']} ({r[f'{e}_article_cpu_s']})"
                         for e in ("add", "edit", "remove"))  # fmt: skip
            + " "
            f"| {ann} | {r['load_before']}–{r['load_after']} |"
        )
    return "\n".join(rows)


def ann() -> str:
    rows = ["| vectors | drawn as | index | build s | setting | query ms (CPU) | recall@10 |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in _load("ann_choice.json"):
        drawn = f"real + {r['noise']} × Gaussian" if r.get("noise") else "fitted Gaussian"
        rows.append(f"| {r['size']:,} | {drawn} | exact (flat) | | | {r['exact_ms']} | 1.000 |")
        for kind in ("ivf", "hnsw32"):
            if kind not in r:
                continue
            part = r[kind]
            name = f"IVF-Flat, {part['lists']} lists" if kind == "ivf" else "HNSW, M=32"
            for setting, m in part.items():
                if isinstance(m, dict):
                    rows.append(
                        f"| {r['size']:,} | {drawn} | {name} | {part['build_s']} | {setting} "
                        f"| {m['ms']} | {m['recall10']:.3f} |"
                    )
    return "\n".join(rows)


def parity() -> str:
    p = _load("lexical_parity.json")
    d = p["differences"]
    rows = ["| BM25 leg | lexical-only R@1 | MRR@10 |", "|---|---|---|"]
    for key, name in (("old", "before (main)"), ("new", "after (default)"),
                      ("new_forced_pruning", f"after, pruning forced ({p['forced_pruned_keys']} "
                       "keys in > 5 % of the passages lose their posting list)")):  # fmt: skip
        rows.append(f"| {name} | {p[key]['r1']:.4f} | {p[key]['mrr10']:.4f} |")
    rows.append("")
    rows.append(
        f"{p['questions']} questions over {p['passages']} passages: top-50 hits differing in "
        f"{d['hits']} questions; largest difference of any passage's BM25 score "
        f"{d['scores']:.1e} (float32 summation order), of its coverage {d['coverage']:.1e}."
    )
    return "\n".join(rows)


TABLES: dict[str, Callable[[], str]] = {
    "arcd": arcd, "crossval": crossval, "english": english, "lexical": lexical, "load": load,
    "scale": scale, "ann": ann, "parity": parity,
}  # fmt: skip


def render(text: str) -> str:
    def table(match: re.Match[str]) -> str:
        name = match[2]
        if name not in TABLES:
            raise SystemExit(f"unknown figures block {name!r}")
        try:
            body = TABLES[name]()
        except FileNotFoundError as exc:  # not measured yet: say so, show no old figures
            body = f"*Not measured on this revision yet (`{Path(str(exc.filename)).name}` is "
            body += "missing): run `make figures`.*"
        return f"{match[1]}{body}\n{match[4]}"

    return MARKED.sub(table, text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if README.md is stale")
    args = parser.parse_args()
    text = README.read_text(encoding="utf-8")
    new = render(text)
    if args.check:
        if new != text:
            print(f"{README} is stale: run benchmarks/figures.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
