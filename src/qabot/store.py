"""One index generation on disk: manifest, passage metadata, vectors and the BM25 leg.

Builds write a complete new generation folder, then switch ``CURRENT`` to it with an
atomic rename, so a reader (or a killed build) never meets a half-written index.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__
from .chunking import Chunk, stable_key
from .errors import REBUILD_HINT, IndexError_
from .index import FaissIndex, VectorIndex
from .lexical import LexicalIndex

log = logging.getLogger(__name__)

FORMAT = 1
CURRENT = "CURRENT"
#: The vector store: anything with `VectorIndex`'s methods (a Qdrant client, say) fits here.
VECTOR_STORE: type[FaissIndex] = FaissIndex
_GEN_NAME = re.compile(r"gen-(\d{6,})")


def sentence_key(passage_id: str, number: int) -> int:
    return stable_key(f"{passage_id}/s{number}")


@dataclass
class Generation:
    """Everything a retriever needs, loaded from (or about to be written to) one folder."""

    manifest: dict[str, Any]
    chunks: list[Chunk]
    sentences: dict[int, list[str]]
    passages: VectorIndex
    sentence_vectors: VectorIndex
    lexical: LexicalIndex
    name: str = ""
    #: Some derived part (BM25) had to be rebuilt on load: worth writing a new generation.
    stale: bool = False
    by_key: dict[int, Chunk] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_key = {chunk.key: chunk for chunk in self.chunks}


def current_name(index_dir: Path) -> str | None:
    """The name of the live generation, or None when nothing was built yet."""
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexError_(f"cannot read the index in {index_dir} ({exc})", REBUILD_HINT) from exc
    return name or None


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")


def _number(name: str | None) -> int:
    match = _GEN_NAME.fullmatch(name or "")
    return int(match[1]) if match else 0


def _fsync(path: Path) -> None:
    """Flush a file or a folder entry to disk, so a crash cannot reorder our renames."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale(index_dir: Path) -> None:
    """Drop what a killed build left behind (``*.tmp``); only call it holding the lock."""
    for path in index_dir.glob("*.tmp"):
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def write_generation(index_dir: Path, gen: Generation) -> str:
    """Write `gen` as a new folder and make it current; return its name.

    The number is past every folder on disk, not just past CURRENT: a build killed
    between its folder rename and the CURRENT switch leaves a complete folder that
    nothing points to, and renaming onto it would fail.
    """
    index_dir.mkdir(parents=True, exist_ok=True)
    remove_stale(index_dir)
    previous = current_name(index_dir)
    numbers = [_number(p.name) for p in index_dir.glob("gen-*")]
    name = f"gen-{max([_number(previous), *numbers]) + 1:06d}"
    tmp = index_dir / f"{name}.tmp"
    tmp.mkdir()
    gen.manifest.update(format=FORMAT, qabot_version=__version__, generation=name)
    gen.passages.save(tmp / "passages.faiss")
    gen.sentence_vectors.save(tmp / "sentences.faiss")
    gen.lexical.save(tmp / "lexical")
    with open(tmp / "passages.jsonl", "w", encoding="utf-8") as fh:
        for chunk in gen.chunks:
            record = chunk.model_dump(mode="json")
            record["sentences"] = gen.sentences.get(chunk.key, [])
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")
    _write_json(tmp / "manifest.json", gen.manifest)  # written last: marks the folder complete
    for path in (tmp / "passages.jsonl", tmp / "manifest.json", tmp / "lexical", tmp):
        _fsync(path)
    os.replace(tmp, index_dir / name)
    pointer = index_dir / f"{CURRENT}.tmp"
    pointer.write_text(name + "\n", encoding="utf-8")
    _fsync(pointer)
    os.replace(pointer, index_dir / CURRENT)
    _fsync(index_dir)
    gen.name = name
    _prune(index_dir, keep={name, previous})
    return name


def _prune(index_dir: Path, keep: set[str | None]) -> None:
    """Drop old generations; the previous one stays for readers still holding it."""
    for path in index_dir.glob("gen-*"):
        if path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def read_manifest(index_dir: Path) -> tuple[str, dict[str, Any]]:
    name = current_name(index_dir)
    if name is None:
        raise IndexError_(f"no index in {index_dir}", "build it with `qabot index`")
    if not _GEN_NAME.fullmatch(name):
        raise IndexError_(f"{index_dir / CURRENT} names {name!r}, not a generation", REBUILD_HINT)
    if not (index_dir / name).is_dir():
        raise IndexError_(f"{index_dir / CURRENT} points to {name}, which is missing", REBUILD_HINT)
    path = index_dir / name / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise IndexError_(f"index manifest {path} is missing or corrupt", REBUILD_HINT) from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise IndexError_(f"index {path.parent} has an unknown format", REBUILD_HINT)
    if not isinstance(manifest.get("dim"), int) or not isinstance(manifest.get("passages"), int):
        raise IndexError_(f"index manifest {path} is incomplete", REBUILD_HINT)
    return name, manifest


def read_generation(index_dir: Path) -> Generation:
    """Load the current generation, failing with a clear `IndexError_` on any damage."""
    name, manifest = read_manifest(index_dir)
    folder = index_dir / name
    dim = int(manifest["dim"])
    chunks: list[Chunk] = []
    sentences: dict[int, list[str]] = {}
    try:
        with open(folder / "passages.jsonl", encoding="utf-8") as fh:
            for line in fh:
                record = json.loads(line)
                sents = record.pop("sentences", [])
                chunk = Chunk.model_validate(record)
                chunks.append(chunk)
                sentences[chunk.key] = sents
    except (OSError, ValueError) as exc:
        raise IndexError_(
            f"passage metadata in {folder} is missing or corrupt", REBUILD_HINT
        ) from exc
    passages = VECTOR_STORE.load(folder / "passages.faiss", dim)
    sentence_vectors = VECTOR_STORE.load(folder / "sentences.faiss", dim)
    stale = False
    try:
        lexical = LexicalIndex.load(folder / "lexical")
    except IndexError_ as exc:
        stale = True
        # BM25 is derived from the passages alone: rebuild it rather than re-embed anything.
        log.warning("rebuilding the BM25 index of %s (%s)", folder, exc.message)
        lexical = LexicalIndex.build([c.key for c in chunks], [c.match_text for c in chunks])
    n_sentences = sum(len(s) for s in sentences.values())
    if (
        len(passages) != len(chunks)
        or len(lexical) != len(chunks)
        or manifest.get("passages") != len(chunks)
        or len(sentence_vectors) != n_sentences
    ):
        raise IndexError_(
            f"index {folder} is inconsistent ({len(passages)} vectors, {len(chunks)} passages, "
            f"{len(sentence_vectors)} sentence vectors, {n_sentences} sentences)",
            REBUILD_HINT,
        )
    return Generation(
        manifest, chunks, sentences, passages, sentence_vectors, lexical, name=name, stale=stale
    )


def empty_generation(manifest: dict[str, Any], dim: int) -> Generation:
    return Generation(
        manifest, [], {}, VECTOR_STORE(dim), VECTOR_STORE(dim), LexicalIndex.build([], [])
    )


def vectors_by_hash(gen: Generation) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Reusable embeddings of an old generation, keyed by the hash of the text they embed."""
    from .chunking import content_hash

    keys = np.array([c.key for c in gen.chunks], dtype=np.int64)
    passage_vecs = gen.passages.get(keys)
    by_hash = {c.hash: passage_vecs[i] for i, c in enumerate(gen.chunks)}
    s_keys: list[int] = []
    s_hashes: list[str] = []
    for chunk in gen.chunks:
        for j, sentence in enumerate(gen.sentences.get(chunk.key, [])):
            s_keys.append(sentence_key(chunk.id, j))
            s_hashes.append(content_hash(sentence))
    sent_vecs = gen.sentence_vectors.get(np.array(s_keys, dtype=np.int64))
    sent_by_hash = {h: sent_vecs[i] for i, h in enumerate(s_hashes)}
    return by_hash, sent_by_hash
