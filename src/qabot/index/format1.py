"""Reading an index of format 1 (qabot before issue 12), so an upgrade re-embeds nothing.

Format 1 kept the passages as JSON lines with their sentences as strings, and one float32
sentence vector per sentence *occurrence*, under an id made from the passage id and the
sentence's number. It is read into a current :class:`Snapshot` (one vector per distinct
sentence text), marked stale so that the next build writes it in the current format.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from ..chunking import Chunk, stable_key
from ..errors import REBUILD_HINT, IndexError_
from .lexical import LexicalIndex
from .snapshot import Snapshot, sentence_layout
from .vectors import FaissIndex

log = logging.getLogger(__name__)


def load_format1(folder: Path, manifest: dict[str, Any], name: str) -> Snapshot:
    """The format-1 generation in ``folder`` as a snapshot; `IndexError_` on any damage."""
    log.warning("index %s has the previous format (1): the next `qabot index` rewrites it", folder)
    dim = int(manifest["dim"])
    chunks: list[Chunk] = []
    sentences: dict[int, list[str]] = {}
    try:
        with open(folder / "passages.jsonl", encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                own = record.pop("sentences", [])
                chunk = Chunk.model_validate(record)
                chunks.append(chunk)
                sentences[chunk.key] = own
    except (OSError, ValueError) as exc:
        raise IndexError_(
            f"passage metadata in {folder} is missing or corrupt", REBUILD_HINT
        ) from exc
    passages = FaissIndex.load(folder / "passages.faiss", dim)
    stored = FaissIndex.load(folder / "sentences.faiss", dim)
    texts, ids = sentence_layout(chunks, sentences)
    first: dict[str, int] = {}  # each text's vector, from its first occurrence
    for chunk in chunks:
        for j, text in enumerate(sentences[chunk.key]):
            first.setdefault(text, stable_key(f"{chunk.id}/s{j}"))
    try:
        vectors = stored.get(np.array([first[t] for t in texts], dtype=np.int64))
    except Exception as exc:  # faiss: an id it does not hold
        raise IndexError_(f"index {folder} is inconsistent", REBUILD_HINT) from exc
    sentence_vectors = FaissIndex(dim)
    sentence_vectors.add(np.arange(len(texts), dtype=np.int64), vectors)
    try:
        lexical = LexicalIndex.load(folder / "lexical")
    except IndexError_:
        lexical = LexicalIndex.build([c.key for c in chunks], [c.match_text for c in chunks])
    snapshot = Snapshot(
        model=str(manifest.get("model")),
        dim=dim,
        chunks=chunks,
        sentences=sentences,
        passages=passages,
        sentence_vectors=sentence_vectors,
        lexical=lexical,
        prompts=manifest.get("prompts") or {},
        built=str(manifest.get("built", "")),
        name=name,
        stale=True,
        sentence_ids=ids,
    )
    snapshot.check(str(folder), manifest["passages"], manifest.get("sentences"))
    return snapshot
