"""The word bridge in bytes against float16: size and English R@1 (issue 12, index size).

    .venv/bin/python benchmarks/bridge_bytes.py --cache DIR [--json PATH]

``DIR`` is an ARCD eval cache (``qabot eval … --cache DIR`` makes one; ``DIR/full`` is used).
The corpus's bridge words are embedded afresh (float32), then written twice beside two copies
of that index: as qabot wrote them before (float16 vectors, a word array) and as
:meth:`qabot.bridge.Bridge.save` writes them now (bytes over each row's largest value, words
as UTF-8). The 178 English ARCD questions (``benchmarks/data/arcd-english-questions.json``)
are ranked on each copy with ``qabot eval``'s measurement (hybrid). Nothing is tuned here.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
from english_eval import write_sets

from qabot.bridge import FILE_NAME, VOCABULARY, Bridge, load_bridge
from qabot.config import Settings
from qabot.evaluate import evaluate
from qabot.fsio import write_atomic
from qabot.model import load_encoder

RESULTS = Path(__file__).resolve().parent / "results" / "bridge_bytes.json"


def save_float16(bridge: Bridge, path: Path) -> None:
    """The bridge file as qabot wrote it before the byte codes."""
    buffer = io.BytesIO()
    meta = {"model": bridge.model, "vocabulary": bridge.vocabulary}
    meta_bytes = np.frombuffer(json.dumps(meta).encode("utf-8"), np.uint8)
    words = np.array(bridge.words, dtype=str)
    np.savez(buffer, meta=meta_bytes, words=words, vectors=bridge.vectors.astype(np.float16))
    write_atomic(path, buffer.getvalue())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cache", type=Path, required=True)
    ap.add_argument("--json", type=Path, default=RESULTS)
    args = ap.parse_args()
    settings = Settings()
    encoder = load_encoder(settings)
    built = load_bridge(args.cache / "full", encoder)
    if built is None:
        raise SystemExit(f"no bridge for this model in {args.cache / 'full'}")
    vectors = encoder.encode_queries(built.words)  # float32, as a build embeds them
    fresh = Bridge(built.model, built.words, vectors, VOCABULARY)
    fresh.vectors = vectors  # (the constructor keeps float16; the file writers choose)
    result: dict[str, object] = {"words": len(fresh.words), "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        sets = write_sets(Path(tmp))
        english = next(path for name, path in sets.items() if name.endswith("-english"))
        for arm, write in (("float16", save_float16), ("bytes", Bridge.save)):
            root = Path(tmp) / arm
            skip = shutil.ignore_patterns(".lock")
            shutil.copytree(args.cache / "full", root / "full", ignore=skip)
            write(fresh, root / "full" / FILE_NAME)
            size = (root / "full" / FILE_NAME).stat().st_size
            stored = load_bridge(root / "full", encoder)
            assert stored is not None
            cos = (stored.vectors.astype(np.float32) * vectors).sum(axis=1)
            r = evaluate(english, settings, encoder, mode="hybrid", cache=root)
            row = {"bytes": size, "min_cosine_to_float32": round(float(cos.min()), 5),
                   "english_r1": r.r1, "english_r5": r.r5, "english_mrr10": r.mrr10}  # fmt: skip
            result[arm] = row
            print(arm, json.dumps(row), flush=True)
    result["load_after"] = os.getloadavg()
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
