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
import statistics
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
            f"| {r['mrr10']:.3f} | {_pct(r.get('answered'))} | {_pct(r.get('answered_correct'))} "
            f"| {_pct(r.get('refused_unanswerable'))} |"
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
            f"| {r['mrr10']:.3f} | {_pct(r.get('answered'))} | {_pct(r.get('answered_correct'))} "
            f"| {_pct(r.get('refused_unanswerable'))} |"
        )
    f = e["fit"]
    bm25 = ", ".join(f"{w}: {v:.3f}" for w, v in e["english_with_bm25"].items())
    rows.append("")
    rows.append(
        f"English confidence fit (both folds): slope {f['slope']}, bias {f['bias']}, dense "
        f"AUC {f['auc']}; the default threshold sits at dense {f['boundary']} "
        f"({f['answered']:.1%} of answerable kept, {f['refused']:.1%} of unanswerable "
        f"refused). English R@1 with BM25 over the bridged words (no coverage) at weight {bm25}."
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
    """One column per run: the headline (each chat waits for each answer) and, if measured,
    the run whose chats send several questions at once (the per-chat order check), the run
    with 429s on sendMessage alone (where Telegram documents its flood limits), and the run
    with updates POSTed to a webhook instead of polled."""
    names = (
        "load_test.json", "load_test-burst4.json", "load_test-429-on-sends.json",
        "load_test-webhook.json",
    )  # fmt: skip
    runs = [_load(name) for name in names if (RESULTS / name).exists()]

    def asked(o: dict[str, Any]) -> str:
        """The faults asked for, by method: getUpdates' 429 share may differ."""
        sends = f"sendMessage {o['errors']:.0%} 5xx, {o['limits']:.0%} 429"
        polls = o.get("poll_limits")
        polls = o["limits"] if polls is None else polls
        if o.get("webhook"):
            return f"{sends}; no getUpdates"
        if polls == o["limits"]:
            return f"{o['errors']:.0%} 5xx, {o['limits']:.0%} 429"
        return f"{sends}; getUpdates {o['errors']:.0%} 5xx, {polls:.0%} 429"

    def cells(t: dict[str, Any]) -> list[Any]:
        o, r = t["options"], t["result"]
        faults = ", ".join(f"{k}: {v}" for k, v in r["faults"].items())
        return [
            f"{o['chats']} × {o['questions']} ({o.get('burst', 1)})",
            "webhook" if o.get("webhook") else "polling (getUpdates)",
            o.get("send_rate", 30),
            f"{asked(o)}, {o['lost']:.0%} responses lost after delivery",
            f"{r['asked']} / {r['answered']} / {r['not found']} / {r['rate limited']}",
            f"{r['lost']} / {r['duplicated']} / {r['unmatched']} / {r['apologies']}",
            f"{r.get('busy', 0)} / {r.get('out of order', 0)}",
            r["responses lost after delivery"],
            r["handled"],
            f"{r['updates handed out twice']} / {r['updates left unconfirmed']}",
            faults,
            f"{r['elapsed']} s / {r.get('questions per second', '')}",
            f"{r.get('latency p50 s')} s / {r.get('latency p95 s')} s / "
            f"{r.get('latency max s')} s",
            f"{r['RSS after loading MB']} MB / {r['RSS at the end MB']} MB / "
            f"{r.get('peak RSS MB', '')} MB",
            r.get("load average", ""),
        ]

    names = [
        "chats × questions (sent in bursts of)",
        "updates reach the bot by",
        "messages/s allowed (0: no limit)",
        "faults asked for",
        "asked / answered / not found / rate limited",
        "lost / duplicated / unmatched / apologies",
        "busy / out of order",
        "responses lost after delivery",
        "updates handled (retriever calls)",
        "updates handed out twice / left unconfirmed",
        "faults injected (method status: count)",
        "wall time / questions per second",
        "latency p50 / p95 / max",
        "RSS after loading model and index / at the end / peak",
        "load average (1 min) at the end",
    ]
    columns = [cells(t) for t in runs]
    rows = ["| |" + " |" * len(runs), "|---|" + "---|" * len(runs)]
    for i, name in enumerate(names):
        rows.append(f"| {name} | " + " | ".join(str(c[i]) for c in columns) + " |")
    return "\n".join(rows)


def bot_latency(name: str = "bot_latency.json") -> str:
    t = _load(name)
    names = {
        "bot": "bot, end to end (update → reply)",
        "worker": "encode + `Retriever.search`, worker thread",
        "main": "encode + `Retriever.search`, main thread",
    }
    rows = ["| | p50 ms | p95 ms | mean ms |", "|---|---:|---:|---:|"]
    for arm, name in names.items():
        r = t[arm]
        rows.append(f"| {name} | {r['p50 ms']} | {r['p95 ms']} | {r['mean ms']} |")
    rows.append("")
    rows.append(
        f"{t['questions']} questions, {t['backend']} backend, the arms taking turns; bot p50 / "
        f"search p50 (main thread) = {t['bot / search p50']}; load average "
        f"{t['load average']} at the end."
    )
    return "\n".join(rows)


def load_arms() -> str:
    """The load runs of `load_arms.py`, one row each in the order run: the issue's fault mix on
    getUpdates too, 429s on sendMessage alone, and the webhook; where the slowest 5 % waited."""
    rows = [
        "| run | load start → end | q/s | p50 / p95 / max s | getUpdates 429s (questions held)"
        " | slowest 5 %: getUpdates 429 / sendMessage 429 / 5xx retries / the rest, mean s"
        " | loop late p95 ms | lost / dup / out of order | peak RSS MB |",
        "|---|---|---:|---|---|---|---:|---|---:|",
    ]
    arms = ("issue", "sends", "webhook")
    names = [p.stem.removeprefix("load_test-arms-") for p in RESULTS.glob("load_test-arms-*")]
    names.sort(key=lambda n: (n.rpartition("-")[2], arms.index(n.rpartition("-")[0])))
    for name in names:
        r = _load(f"load_test-arms-{name}.json")["result"]
        held = [f[3] for f in r["failed getUpdates (s after start, kind, s fetching nothing, "
                                 "questions held)"] if f[1] == "429"]  # fmt: skip
        by = r["slowest 5 %"]["mean s by cause"]
        retries = by["getUpdates 5xx"] + by["sendMessage 5xx"]
        rest = by["bot's work and queueing"]
        rows.append(
            f"| {name} "
            f"| {r['load average at the start']} → {r['load average']} "
            f"| {r['questions per second']} "
            f"| {r['latency p50 s']} / {r['latency p95 s']} / {r['latency max s']} "
            f"| {len(held)} ({', '.join(map(str, held)) or '-'}) "
            f"| {by['getUpdates 429']:.2f} / {by['sendMessage 429']:.2f} / {retries:.2f} / "
            f"{rest:.2f} "
            f"| {r['event loop lateness'].get('p95 ms', '')} "
            f"| {r['lost']} / {r['duplicated']} / {r['out of order']} | {r['peak RSS MB']} |"
        )
    return "\n".join(rows)


def build(name: str = "build_throughput.json") -> str:
    t = _load(name)
    rows = [
        "| corpus | code | passages | non-embedding CPU s | MB / CPU s | MB / s (wall) "
        "| index MB | budget MB | load s (BM25 part) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for corpus, arms in t["corpora"].items():
        for arm, r in arms.items():
            rows.append(
                f"| {corpus} | {arm} | {r['passages']:,} | {r['non_embedding_cpu_s']:.2f} "
                f"| {r['non_embedding_mb_per_cpu_s']:.2f} | {r['non_embedding_mb_per_s']:.3f} "
                f"| {r['index_bytes'] / 1e6:.1f} | {r['budget_bytes'] / 1e6:.1f} "
                f"| {r['load_s']:.2f} ({r.get('load_bm25_s', float('nan')):.2f}) |"
            )
    return "\n".join(rows)


def build_small() -> str:
    """The index-size and build rows of the wave-5 "small" slice (same columns as build)."""
    t = _load("build_throughput-small.json")
    parts = ["| corpus | code | lexical | passages/ | passages.faiss | sentences.faiss | total | "
             "budget |", "|---|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for corpus, arms in t["corpora"].items():
        for arm, r in arms.items():
            b = r["index_parts_bytes"]
            parts.append(
                f"| {corpus} | {arm} | {b['lexical'] / 1e6:.3f} | {b['passages'] / 1e6:.3f} "
                f"| {b['passages.faiss'] / 1e6:.3f} | {b['sentences.faiss'] / 1e6:.3f} "
                f"| {r['index_bytes'] / 1e6:.3f} | {r['budget_bytes'] / 1e6:.3f} |"
            )
    load = f"load average {t['load_before']:.1f} → {t['load_after']:.1f}"
    return build("build_throughput-small.json") + f"\n\n{load}\n\n" + "\n".join(parts)


def build_speed() -> str:
    r = _load("build_speed.json")
    rows = ["| arm | wall s | CPU s | passages + sentences s | bridge words s | rest s |",
            "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for arm, a in r["arms"].items():
        m = a["mean"]
        rows.append(
            f"| {arm} | {m['wall_s']:.1f} | {m['cpu_s']:.1f} | {m.get('encode_passages_s', 0):.1f} "
            f"| {m.get('encode_queries_s', 0):.1f} | {m['rest_s']:.1f} |"
        )
    p = r["parity_min_cosine"]
    rows += ["", f"{r['passages']} passages, {r['rounds']} round(s), means. torch / ONNX: wall "
             f"**{r['speedup_mean_wall']}×**, CPU {r['speedup_mean_cpu']}×. Parity (min cosine, "
             f"ONNX build against torch build): passages {p['passages']}, sentences "
             f"{p['sentences']} (these are stored in bytes). Load average "
             f"{r['load_average']['before'][0]:.1f} → {r['load_average']['after'][0]:.1f}."]
    return "\n".join(rows)


def build_wave6(name: str = "build_throughput-wave6.json") -> str:
    """Non-embedding build work per stage (CPU s), each arm (source tree) of one run."""
    t = _load(name)
    stages = ["read_chunk", "sentences", "bridge", "bm25_analysis", "bm25", "write", "other"]
    rows = ["| corpus | code | MB | CPU s | **MB / CPU s** | MB / s (wall) | "
            + " | ".join(stages) + " |", "|---|---|---:|---:|---:|---:|"
            + "---:|" * len(stages)]  # fmt: skip
    for corpus, arms in t["corpora"].items():
        for arm, r in arms.items():
            cpu, mb = r["stages_cpu_s"], r["text_bytes"] / 1e6
            rows.append(
                f"| {corpus} | {arm} | {mb:.2f} | {r['non_embedding_cpu_s']:.3f} "
                f"| **{r['non_embedding_mb_per_cpu_s']:.2f}** "
                f"| {r['non_embedding_mb_per_s']:.2f} | "
                + " | ".join(f"{cpu.get(f'{s}_cpu', 0.0):.3f}" for s in stages) + " |"
            )
    loads = [f"{r['load_avg']:.1f}" for arms in t["corpora"].values() for r in arms.values()]
    rows += ["", f"Load average {t['load_before']:.1f} before, {', '.join(loads)} after each "
             f"arm, {t['load_after']:.1f} at the end ({t['cpus']} CPUs)."]  # fmt: skip
    return "\n".join(rows)


def bridge_bytes() -> str:
    r = _load("bridge_bytes.json")
    rows = ["| bridge file | size MB | min cosine to float32 | English R@1 | R@5 | MRR@10 |",
            "|---|---:|---:|---:|---:|---:|"]  # fmt: skip
    for arm in ("float16", "bytes"):
        a = r[arm]
        rows.append(
            f"| {arm} | {a['bytes'] / 1e6:.2f} | {a['min_cosine_to_float32']:.4f} "
            f"| {a['english_r1']:.3f} | {a['english_r5']:.3f} | {a['english_mrr10']:.3f} |"
        )
    return "\n".join(rows) + f"\n\n{r['words']:,} words."


def encoder() -> str:
    r = _load("bench_encoder.json")
    q, build = r["query_ms"], r["build_s"]
    rows = ["| measure | torch | ONNX Runtime | ONNX / torch |", "|---|---|---|---|"]
    for p in ("p50", "p95"):
        t, o = q["torch"][p], q["onnx"][p]
        rows.append(f"| one question, bare encode {p} | {t} ms | {o} ms | {o / t:.2f} |")
    t, s = q["torch"]["p50"], q["search"]["p50"]
    rows.append(f"| `Retriever.search` p50 (ONNX) vs torch bare encode p50 | {t} ms | {s} ms "
                f"| {s / t:.2f} |")  # fmt: skip
    rows.append(f"| index build, {r['passages']} passages + {r['sentences']} sentences | "
                f"{build['torch']} s | {build['onnx']} s | {build['onnx'] / build['torch']:.2f} |")
    rows += ["", "| build's embedding alone | texts/s |", "|---|---|"]
    rows += [f"| {k} | {v} |" for k, v in r["embed_texts_per_s"].items()]
    before, after = r["load_average"]["before"], r["load_average"]["after"]
    rows += ["", f"{r['questions']} questions of {r['corpus']}, batch size {r['batch_size']}; "
             f"load average {before[0]:.1f} before, {after[0]:.1f} after (2 cores)."]  # fmt: skip
    return "\n".join(rows)


def followups() -> str:
    lines = (RESULTS / "followups.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [
        "| split | follow-ups | R@1 alone | R@1 in context | context used | switches "
        "| handled as alone | off-topic refused |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in map(json.loads, lines):
        split = {"dev": "dev (tuned on)"}.get(r["split"], r["split"])
        rows.append(
            f"| {split} | {r['followups']} | {r['r1_alone']:.3f} | {r['r1_context']:.3f} "
            f"| {_pct(r['context_used'])} | {r['switches']} | {r['switch_handled']:.3f} "
            f"| {r['off_topic_refused']:.3f} of {r['off_topic']} |"
        )
    t = _load("followup_latency.json")
    rows.append("")
    rows.append(
        f"Latency ({t['pairs']} follow-ups × {t['rounds']} rounds, interleaved, load average "
        f"{t['load_min']}–{t['load_max']} on 2 shared cores): p50 alone {t['alone_p50_ms']} ms; "
        f"in context with the earlier question's vector kept {t['warm_p50_ms']} ms = "
        f"**{t['warm_ratio']:.2f}×**; "
        + (
            f"on another replica (nothing kept here; the earlier turn carries its vector) "
            f"{t['replica_p50_ms']} ms = **{t['replica_ratio']:.2f}×**; "
            if "replica_ratio" in t
            else ""
        )
        + f"nothing kept (question and earlier question encoded in "
        f"one call) {t['cold_p50_ms']} ms = **{t['cold_ratio']:.2f}×**. Bare encoding: "
        f"{t['enc1_p50_ms']} ms for the question, {t['enc2_p50_ms']} ms for it and the earlier "
        f"question in one call ({t['encode_pair_ratio']:.2f}×)."
    )
    if "switch_cold_ratio" in t:
        rows[-1] += (
            f" Topic switches ({t['switches']}), history never asked before: alone "
            f"{t['switch_alone_p50_ms']} ms, in context {t['switch_cold_p50_ms']} ms = "
            f"**{t['switch_cold_ratio']:.2f}×** (a question no cue makes dependent is not read "
            f"in context, nor its history encoded)."
        )
    return "\n".join(rows)


def scale() -> str:
    rows = [
        "| passages | sentences | ANN threshold | build s (CPU) | build peak RSS / anon MB "
        "| load s (CPU) | RSS MB | on disk MB | query p50 / p95 ms (CPU p50) "
        "| add / edit / remove an article s (CPU) | passage vectors (recall@10) "
        "| sentence search (recall@10) | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in _load("scale.json"):
        kind = r.get("passages_index", "IVF-Flat")
        passages = f"{kind if r['passages_approximate'] else 'exact'} "
        passages += f"({r['passages_recall10']:.3f})"
        if r.get("sentence_search", True):
            sentences = f"exact ({r['sentences_recall10']:.3f})"
        else:  # past the threshold: the whole search's top 10 against the exact configuration
            sentences = f"none (whole search {r['search_recall10']:.3f})"
        edits = " / ".join(
            f"{r[f'{e}_article_s']} ({r[f'{e}_article_cpu_s']})" if f"{e}_article_s" in r
            else "–"
            for e in ("add", "edit", "remove")
        )  # fmt: skip
        # peak of the whole build process (the corpus it was handed included); anon: without
        # the mapped scratch files. Rows before the streaming build have neither.
        peak = (f"{r['build_peak_rss_mb']:,} / {r['build_peak_anon_mb']:,}"
                if "build_peak_rss_mb" in r else "–")  # fmt: skip
        rows.append(
            f"| {r['passages']:,} | {r['sentences']:,} | {r['threshold']:,} "
            f"| {r['build_s']} ({r['build_cpu_s']}) | {peak} "
            f"| {r['load_s']} ({r['load_cpu_s']}) | {r['rss_mb']:,} | {r['disk_total_mb']:,} "
            f"| {r['query_p50_ms']} / {r['query_p95_ms']} ({r['query_cpu_p50_ms']}) | {edits} "
            f"| {passages} | {sentences} | {r['load_before']}–{r['load_after']} |"
        )
    return "\n".join(rows)


def scale_probes() -> str:
    """Past the threshold: query CPU and passage recall per share of the IVF lists probed."""
    rows = ["| passages | lists probed | query CPU p50 / p95 ms | passage recall@10 |",
            "|---|---|---|---|"]  # fmt: skip
    for r in _load("scale.json"):
        for share, m in r.get("nprobe", {}).items():
            rows.append(
                f"| {r['passages']:,} | {share} ({m['nprobe']}) "
                f"| {m['query_cpu_p50_ms']} / {m['query_cpu_p95_ms']} "
                f"| {m['passages_recall10']:.3f} |"
            )
    return "\n".join(rows)


_ANN_NAMES = {"ivf": "IVF-Flat", "hnsw32": "HNSW, M=32", "hnsw": "HNSW flat, M=32, efC=64",
              "codes": "IVF-PQ fast scan (4-bit, 2 dims a code) + exact re-rank (shipped)"}


def _ann_drawn(r: dict[str, Any]) -> str:
    if "vectors" in r:
        return str(r["vectors"])
    return f"real + {r['noise']} × Gaussian" if r.get("noise") else "fitted Gaussian"


def ann() -> str:
    rows = ["| vectors | drawn as | index | build s wall (CPU), threads | setting "
            "| query CPU ms | recall@10 | load avg |",
            "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in _load("ann_choice.json"):
        drawn, threads = _ann_drawn(r), r.get("threads", 1)
        state = f"{r['load_before']}–{r['load_after']}" if "load_after" in r else str(r["load"])
        flat = r["exact_ms"] or "–"
        rows.append(f"| {r['size']:,} | {drawn} | exact (flat) | | | {flat} | 1.000 | {state} |")
        for kind, name in _ANN_NAMES.items():
            part = r.get(kind)
            if not part:
                continue
            lists = f", {part['lists']} lists" if "lists" in part else ""
            when = part.get("load", state)  # measured with the kind, when written
            cpu = f" ({part['build_cpu_s']})" if "build_cpu_s" in part else ""
            used = part.get("threads", threads)
            for setting, m in part.items():
                # the shipped index: the re-rank sweep at 1/2 of the lists, the other shares
                # at the shipped 2,000 (the JSON holds every pair)
                shown = kind != "codes" or setting.startswith("1/2,") or setting.endswith(" 2000")
                if isinstance(m, dict) and shown:
                    rows.append(
                        f"| {r['size']:,} | {drawn} | {name}{lists} "
                        f"| {part['build_s']}{cpu}, {used} | {setting} "
                        f"| {m['ms']} | {m['recall10']:.3f} | {when} |"
                    )
    return "\n".join(rows)


def ann_costs() -> str:
    """The shipped approximate index's costs beyond search, per size."""
    rows = ["| vectors | drawn as | save s | load s | on disk MB: read on load / mapped "
            "| one article edited s (CPU) |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    for r in _load("ann_choice.json"):
        if "codes" in r and "read_mb" in r["codes"]:
            c = r["codes"]
            rows.append(
                f"| {r['size']:,} | {_ann_drawn(r)} | {c['save_s']} | {c['load_s']} "
                f"| {c['read_mb']:,} / {c['mapped_mb']:,} | {c['edit_s']} ({c['edit_cpu_s']}) |"
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


def pg_scale() -> str:
    """Both stores on scale.py's corpus (pg_scale.py); the file store's row from scale.json
    where pg_scale.py did not run it."""
    rows = [
        "| passages | store | build s (client CPU s) | build peak MB: client + server "
        "| one-article edit s (client CPU s) | query p50 / p95 ms | passage recall@10 | on disk GB "
        "| load |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    files = sorted(RESULTS.glob("pg_scale-*.json"), key=lambda f: int(f.stem.split("-")[1]))
    if not files:
        raise FileNotFoundError(2, "missing", str(RESULTS / "pg_scale-10000.json"))
    for path in files:
        run = _load(path.name)
        for r in run["rows"]:
            pg = r["store"] == "postgres"
            store = "PostgreSQL" if pg else "files" + (" (scale.json)" if r.get("from") else "")
            peak = f"{r['build_peak_anon_mb']:,}"
            peak += f" + {r['server_build_peak_mb']:,}" if pg else ""
            edit = r.get("edit_article_s", "")
            if "edit_article_cpu_s" in r:
                edit = f"{edit} ({r['edit_article_cpu_s']})"
            disk = (r["size_mb"] if pg else r["disk_total_mb"]) / 1024
            rows.append(
                f"| {run['passages']:,} | {store} | {r['build_s']} ({r['build_cpu_s']}) | {peak} "
                f"| {edit} | {r['query_p50_ms']} / {r['query_p95_ms']} "
                f"| {r['passages_recall10']:.3f} | {disk:.2f} | {float(r['load_before']):.1f} |"
            )
    a = _load("pg_arcd.json")
    rows.append("")
    rows.append(
        f"ARCD ({a['questions']} questions{f', one in {e}' if (e := a['every']) > 1 else ''}): "
        f"R@1 {a['files']['r1']:.4f} "
        f"in files, {a['postgres']['r1']:.4f} in PostgreSQL, the same rank of the gold "
        f"paragraph for {a['same_rank']} of {a['questions']}; query p50 without encoding "
        f"{a['files']['p50_ms']} ms in files, {a['postgres']['p50_ms']} ms in PostgreSQL "
        f"(load {a['load'][0]:.1f})."
    )
    return "\n".join(rows)


def pg_edit() -> str:
    """One-article edits of one database, this code against a baseline's, in turns
    (pg_edit.py): the median of each arm's edits."""
    rows = [
        "| passages | code | edits | edit s: median (range) | client CPU s | client peak MB "
        "| JSON values decoded | load |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(RESULTS.glob("pg_edit-*.json"), key=lambda f: int(f.stem.split("-")[1])):
        run = _load(path.name)
        for arm in ("baseline", "this"):
            found = [e for e in run["edits"] if e["arm"] == arm]
            if not found:
                continue

            def mid(field: str, found: list[dict[str, Any]] = found) -> float:
                return float(statistics.median(e[field] for e in found))

            loads = [float(e["load"]) for e in found]
            rows.append(
                f"| {run['passages']:,} | {arm} | {len(found)} "
                f"| {mid('edit_article_s'):.1f} ({min(e['edit_article_s'] for e in found):.1f}–"
                f"{max(e['edit_article_s'] for e in found):.1f}) | {mid('edit_article_cpu_s'):.2f} "
                f"| {mid('edit_peak_anon_mb'):.0f} | {mid('json_decoded'):,.0f} "
                f"| {min(loads):.1f}–{max(loads):.1f} |"
            )
    if len(rows) == 2:
        raise FileNotFoundError(2, "missing", str(RESULTS / "pg_edit-10000.json"))
    return "\n".join(rows)


def pg_reader() -> str:
    """Fresh PostgreSQL readers, the old code's and this one's, in turns (pg_reader.py): the
    median of each arm's readers."""
    rows = [
        "| passages | code | readers | load s (CPU s) | RSS after load MB "
        "| query p50 / p95 ms | query client CPU p50 ms | same top 5 | article list s | load |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for path in sorted(RESULTS.glob("pg_reader-*.json"), key=lambda f: int(f.stem.split("-")[1])):
        run = _load(path.name)
        for arm, name in (("before", "28399c1 (every passage at load)"), ("after", "on demand")):
            found = run["runs"][arm]
            if not found:
                continue

            def mid(field: str, found: list[dict[str, Any]] = found) -> float:
                return float(statistics.median(r[field] for r in found))

            loads = [float(r["load_avg"]) for r in found]
            rows.append(
                f"| {run['passages']:,} | {name} | {len(found)} "
                f"| {mid('load_s'):.2f} ({mid('load_cpu_s'):.2f}) | {mid('rss_mb'):,.0f} "
                f"| {mid('query_p50_ms'):.1f} / {mid('query_p95_ms'):.1f} "
                f"| {mid('query_cpu_p50_ms'):.1f} | {'yes' if run['same_top5'] else 'no'} "
                f"| {mid('articles_s'):.2f} | {min(loads):.1f}–{max(loads):.1f} |"
            )
    if len(rows) == 2:
        raise FileNotFoundError(2, "missing", str(RESULTS / "pg_reader-10000.json"))
    return "\n".join(rows)


def pg_hnsw() -> str:
    """pgvector HNSW settings: recall@10 against exact and query p50 (pg_hnsw.py)."""
    run = _load("pg_hnsw.json")
    rows = [
        "| vectors | rows | m | ef_construction | build s | ef_search | recall@10 "
        "| query p50 / p95 ms | load avg |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, data in run["sets"].items():
        for r in data["results"]:
            rows.append(
                f"| {name} | {data['rows']:,} | {r['m']} | {r['ef_construction']} "
                f"| {r['build_s']} | {r['ef_search']} | {r['recall_at_10']:.4f} "
                f"| {r['query_p50_ms']} / {r['query_p95_ms']} | {r['load']:.1f} |"
            )
    return "\n".join(rows)


def bridge() -> str:
    """English questions' lexical bridges: each setting chosen on one half of the articles
    and scored on the other (english_bridge.py, english_wordlist.py)."""
    rows = ["| bridge (178 English questions) | chosen on half 0 → R@1 on half 1 (dense) "
            "| chosen on half 1 → R@1 on half 0 (dense) | cross-validated R@1 | all 178 |",
            "|---|---|---|---|---|"]  # fmt: skip
    runs = [("english_bridge.json", "model's embedding space (qabot.bridge)"),
            ("english_wordlist.json", "FreeDict eng-ara word list (GPL, optional)")]  # fmt: skip
    first: dict[str, Any] = {}
    for name, what in runs:
        if not (RESULTS / name).exists():
            continue
        r = _load(name)
        first = first or r
        f0, f1 = r["fold0"], r["fold1"]
        shipped = r.get("shipped")
        rows.append(
            f"| {what} | {f0['held_r1']:.3f} ({f0['held_dense_r1']:.3f}) "
            f"| {f1['held_r1']:.3f} ({f1['held_dense_r1']:.3f}) | **{r['cv_r1']:.3f}** "
            f"| {format(shipped['r1'], '.3f') + ' (shipped setting)' if shipped else '—'} |"
        )
    dense = f"{first['dense_r1']:.3f}"
    rows.insert(2, f"| none (dense leg alone) | | | {dense} | {dense} |")
    lat = first.get("latency")
    if lat:
        rows.append("")
        rows.append(
            f"Latency, p50 over the 178 questions (interleaved, one run): bare query encoding "
            f"{lat['encode_p50_ms']} ms; encoding + search without the bridge "
            f"{lat['dense_p50_ms']} ms (**{lat['dense_ratio']}×**), with it, every word met "
            f"before, {lat['warm_p50_ms']} ms (**{lat['warm_ratio']}×**), with every word new "
            f"{lat['cold_p50_ms']} ms (**{lat['cold_ratio']}×**)."
        )
    return "\n".join(rows)


def abstention() -> str:
    r = _load("abstention_fit.json")
    rows = ["| features (Arabic, held out by article) | answered | refused "
            "| refused at exactly 95 % answered |", "|---|---|---|---|"]  # fmt: skip
    for row in r["rows"]:
        rows.append(
            f"| {' + '.join(row['features'])} | {row['answered']:.1%} | {row['refused']:.1%} "
            f"| {row['refused_at_95']:.1%} |"
        )
    return "\n".join(rows)


def synonyms() -> str:
    r = _load("arabic_synonyms.json")
    rows = [f"| k | cosine ≥ | BM25 weight | coverage weight | R@1 ({r['n']}) | half 0 | half 1 |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in r["rows"]:
        rows.append(
            f"| {row['k']} | {row['t']} | {row['s']} | {row['c']} | {row['r1']:.4f} "
            f"| {row['r1_fold0']:.4f} | {row['r1_fold1']:.4f} |"
        )
    return "\n".join(rows)


def passage_signals() -> str:
    r = _load("passage_signals.json")
    rows = ["| questions | signal(s) added | R@1 before | MRR@10 before | cross-validated R@1 "
            "| MRR@10 | largest weight chosen on half 0 / half 1 |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    for lang, label in (("ar", "ARCD Arabic"), ("en", "English")):
        for row in r[lang]:
            chosen = [f"{w:g}" for w in (row["chosen_on_half0"], row["chosen_on_half1"])
                      for w in [max(w)]]  # fmt: skip
            rows.append(
                f"| {label} ({row['n']}) | {' + '.join(row['signals'])} | {row['base_r1']:.4f} "
                f"| {row['base_mrr10']:.4f} | {row['cv_r1']:.4f} | {row['cv_mrr10']:.4f} "
                f"| {' / '.join(chosen)} |"
            )
    return "\n".join(rows)


def abstention_invariant() -> str:
    rows = ["| questions | features (held out by article) | answered | refused "
            "| refused at exactly 95 % answered | seed questions refused (fit on all ARCD) "
            "| seed off-topic refused | park question (test_incremental) |",
            "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    park = {True: "**refused**", False: "answered"}
    for name, label in (("abstention_invariant.json", "Arabic"),
                        ("abstention_invariant-english.json", "English")):  # fmt: skip
        r = _load(name)
        for row in r["rows"]:
            refused = ", ".join(f"«{q}»" for q in row["seed_refused"]) or "none"
            rows.append(
                f"| {label} | {' + '.join(row['features'])} | {row['answered']:.1%} "
                f"| {row['refused']:.1%} | {row['refused_at_95']:.1%} | {refused} "
                f"| {row['seed_off_topic_refused']} "
                f"| {park.get(row.get('park_refused'), '—')} |"
            )
    return "\n".join(rows)


#: build_memory.py's stages under one name, whichever version ran (renamed in wave 6).
_STAGE_NAMES = {
    "_previous": "load the snapshot", "split_all": "split sentences",
    "FileStore.update_bridge": "word bridge", "_sync": "passage vectors",
    "sync_passages": "passage vectors", "sentence_layout": "sentence layout",
    "_sentence_vectors": "sentence vectors", "build_sentence_vectors": "sentence vectors",
    "LexicalIndex.updated": "BM25 update", "FaissIndex.save": "write passage vectors",
    "HalfIndex.save": "write sentence vectors", "LexicalIndex.save": "write BM25",
    "PassageTable.of": "passage table", "PassageTable.save": "write passage table",
    "index_chunks": "whole edit",
}  # fmt: skip


def edit_memory(name: str = "edit_memory.json") -> str:
    """One incremental edit, stage by stage, before and after (build_memory.py --compare):
    CPU seconds and peak anonymous RSS, the largest over the edits run."""
    r = _load(name)
    edits = sorted({row["phase"] for row in r["after"]["rows"]} - {"build"})

    def stages(version: str) -> dict[str, tuple[float, int]]:
        out: dict[str, tuple[float, int]] = {}
        for row in r[version]["rows"]:
            name = _STAGE_NAMES.get(row["stage"])
            if row["phase"] == "build" or name is None:
                continue
            cpu, anon = out.get(name, (0.0, 0))
            out[name] = (max(cpu, row["cpu_s"]), max(anon, row["peak_anon_mb"]))
        return out

    before, after = stages("before"), stages("after")
    rows = [f"| stage of an edit ({', '.join(edits)}; worst of them) | CPU s before | CPU s after "
            "| peak anon MB before | peak anon MB after |", "|---|---|---|---|---|"]  # fmt: skip
    for name in dict.fromkeys(_STAGE_NAMES.values()):
        if name in before or name in after:
            b, a = before.get(name, (0.0, 0)), after.get(name, (0.0, 0))
            rows.append(f"| {name} | {b[0]:.2f} | {a[0]:.2f} | {b[1]:,} | {a[1]:,} |")
    for version in ("before", "after"):
        t = r[version]["totals"]
        times = " / ".join(f"{t[f'{e}_s']} ({t[f'{e}_cpu_s']})" for e in edits)
        rows.append("")
        rows.append(
            f"{version.capitalize()}: build {t['build_s']} s ({t['build_cpu_s']} CPU), peak anon "
            f"{t['build_peak_anon_mb']:,} MB (the corpus held by the benchmark: "
            f"{t['corpus_anon_mb']:,} MB); {', '.join(edits)}: {times} s (CPU)."
        )
    rows.append("")
    rows.append(f"{r['size']:,} passages; load average {r['load_before']}–{r['load_after']}.")
    return "\n".join(rows)


def onnx_question(name: str) -> str:
    """``onnx_question.py``: one question's ms and the build slice's seconds, per session arm."""
    r = _load(name)
    rows = ["| arm | question p50 ms | p95 ms | CPU ms a question | build slice CPU s | wall s "
            "| min cosine |", "|---|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for arm, a in r["arms"].items():
        rows.append(f"| {arm} | {a['question_ms']['p50']:.2f} | {a['question_ms']['p95']:.2f} "
                    f"| {a['question_cpu_ms']:.2f} | {a['build_cpu_s']:.2f} "
                    f"| {a['build_wall_s']:.2f} | {a['min_cosine']} |")  # fmt: skip
    before, after = r["load_average"]["before"][0], r["load_average"]["after"][0]
    slice_ = r["build_slice"]
    tokens = r["parts_ms"]["tokens_p50"]
    rows += ["", f"{r['questions']} ARCD questions (median {tokens} tokens); build slice "
             f"{slice_['texts']} texts ({slice_['passages']} passages + sentences), "
             f"{slice_['rounds']} rounds; load average {before:.1f} before, {after:.1f} after."]
    return "\n".join(rows)


def encoder_compare(name: str) -> str:
    """``bench_encoder.py --baseline``: each run of each tree, in the order they ran."""
    r = _load(name)
    rows = ["| run | torch encode p50 ms | ONNX encode p50 ms | `Retriever.search` p50 ms "
            "| search ÷ torch encode | ONNX build CPU s | ONNX embedding CPU s | load |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for i in range(r["rounds"]):
        for arm in r["runs"]:
            x = r["runs"][arm][i]
            q = x["query_ms"]
            build = x.get("build_cpu_s", {}).get("onnx", "")
            embed = x.get("embed_cpu_s", {}).get("onnx, longest first", "")
            load = x["load_average"]["before"][0]
            rows.append(f"| {arm} {i + 1} | {q['torch']['p50']} | {q['onnx']['p50']} "
                        f"| {q['search']['p50']} | {x['search_over_torch_encode_p50']} "
                        f"| {build} | {embed} | {load:.1f} |")  # fmt: skip
    return "\n".join(rows)


TABLES: dict[str, Callable[[], str]] = {
    "arcd": arcd, "crossval": crossval, "english": english, "lexical": lexical, "load": load,
    "load-arms": load_arms,
    "bot-latency-wave7": lambda: bot_latency("bot_latency-wave7.json"),
    "bot-latency": bot_latency, "build": build, "encoder": encoder,
    "followups": followups,
    "scale": scale, "scale-probes": scale_probes, "ann": ann, "ann-costs": ann_costs,
    "parity": parity,
    "bridge": bridge, "abstention": abstention, "synonyms": synonyms, "pg-scale": pg_scale,
    "pg-edit": pg_edit, "pg-reader": pg_reader,
    "passage-signals": passage_signals, "abstention-invariant": abstention_invariant,
    "pg-hnsw": pg_hnsw,
    "build-small": build_small, "build-speed": build_speed, "bridge-bytes": bridge_bytes,
    "build-wave6": build_wave6,
    "build-wave7": lambda: build_wave6("build_throughput-wave7.json"),
    "build-wave8": lambda: build_wave6("build_throughput-wave8.json"),
    "edit-memory": edit_memory,
    "edit-memory-300k": lambda: edit_memory("edit_memory_300k.json"),
    "onnx-question-prioritised": lambda: onnx_question("onnx_question-wave8-prioritised.json"),
    "onnx-question-contended": lambda: onnx_question("onnx_question-wave8-contended.json"),
    "onnx-question-lowload": lambda: onnx_question("onnx_question-wave8-lowload.json"),
    "encoder-wave8": lambda: encoder_compare("bench_encoder-wave8-compare.json"),
    "encoder-wave8-busy": lambda: encoder_compare("bench_encoder-wave8-questions-busy.json"),
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
