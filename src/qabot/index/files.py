"""Snapshots as generation folders on disk: the default :class:`SnapshotStore`.

A commit writes a complete new ``gen-NNNNNN`` folder under a ``.tmp`` name, renames it into
place, then switches the ``CURRENT`` pointer to it with an atomic rename, so a reader (or a
killed build) never meets a half-written index. Files inside the folder need no atomic write
of their own. The previous generation stays for readers still holding it; older ones go.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock, Timeout

from .. import __version__, bridge
from ..bridge import Bridge
from ..config import DEFAULT_ANN_THRESHOLD
from ..encoder import Encoder
from ..errors import REBUILD_HINT, IndexError_, QabotError
from ..fsio import publish_dir, write_atomic
from .format1 import load_format1
from .halfvectors import HalfIndex
from .legs import LexicalLeg
from .lexical import LexicalIndex
from .passages import PassageTable
from .snapshot import Snapshot
from .vectors import FaissIndex, VectorIndex

log = logging.getLogger(__name__)

#: 2: sentence vectors once per distinct text, float16 (``sentences.faiss``, memory-mapped);
#: passages column-wise in ``passages/`` (was ``passages.jsonl``); sentence ids in
#: ``sentence_ids.npy``. Format 1 is still read (:mod:`.format1`); a build rewrites it.
FORMAT = 2
CURRENT = "CURRENT"
_GEN_NAME = re.compile(r"gen-(\d{6,})")


def current_name(index_dir: Path) -> str | None:
    """The name of the live generation in ``index_dir``, or None when nothing was built yet."""
    try:
        name = (index_dir / CURRENT).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise IndexError_(f"cannot read the index in {index_dir} ({exc})", REBUILD_HINT) from exc
    return name or None


def _number(name: str | None) -> int:
    match = _GEN_NAME.fullmatch(name or "")
    return int(match[1]) if match else 0


def _lexical(leg: LexicalLeg) -> LexicalIndex:
    if not isinstance(leg, LexicalIndex):
        raise TypeError(f"a FileStore keeps a LexicalIndex, not {type(leg).__name__}")
    return leg


def _faiss(vectors: VectorIndex) -> FaissIndex:
    if not isinstance(vectors, FaissIndex):
        raise TypeError(f"a FileStore keeps FaissIndex vectors, not {type(vectors).__name__}")
    return vectors


class FileStore:
    """The snapshots of one index folder (``QABOT_INDEX_DIR``)."""

    def __init__(self, folder: Path, *, ann_threshold: int = DEFAULT_ANN_THRESHOLD) -> None:
        self.folder = Path(folder)
        self.location = str(self.folder)
        self.ann_threshold = ann_threshold

    def current_name(self) -> str | None:
        return current_name(self.folder)

    def load_for_update(self) -> Snapshot:
        """What :meth:`load` gives: a build reuses the mapped files as they are."""
        return self.load()

    def new_vectors(self, dim: int) -> FaissIndex:
        return FaissIndex(dim, ann_threshold=self.ann_threshold)

    def load_bridge(self, encoder: Encoder) -> Bridge | None:
        return bridge.load_bridge(self.folder, encoder)

    def update_bridge(self, texts: Iterable[str], encoder: Encoder, changed: bool) -> None:
        bridge.update_bridge(self.folder, texts, encoder, changed)

    # ------------------------------------------------------------------ building

    @contextmanager
    def lock(self, timeout: float) -> Iterator[None]:
        """Hold the folder's build lock; say so when another build holds it, give up after
        ``timeout``. Then clear what a killed build left behind (safe only under the lock).

        The lock is an OS file lock, so a killed build releases it: a stale lock cannot exist.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.folder / ".lock"))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            what = "waiting for another `qabot index` to finish (%s, up to %g s)…"
            log.warning(what, self.folder, timeout)
            try:
                lock.acquire(timeout=timeout)
            except Timeout as exc:
                raise QabotError(
                    f"another `qabot index` was still updating {self.folder} after {timeout:g} s; "
                    "gave up",
                    "try again once it has finished, or wait longer with `qabot index --wait "
                    "SECONDS` (QABOT_LOCK_TIMEOUT)",
                ) from exc
        try:
            self._remove_stale()
            yield
        finally:
            lock.release()

    def _remove_stale(self) -> None:
        """Drop what a killed build left behind (``*.tmp``); only call it holding the lock."""
        for path in self.folder.glob("*.tmp"):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)

    def commit(self, snapshot: Snapshot) -> str:
        """Write ``snapshot`` as a new generation folder and make it current; return its name.

        The number is past every folder on disk, not just past CURRENT: a build killed
        between its folder rename and the CURRENT switch leaves a complete folder that
        nothing points to, and renaming onto it would fail.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        self._remove_stale()
        previous = self.current_name()
        numbers = [_number(p.name) for p in self.folder.glob("gen-*")]
        name = f"gen-{max([_number(previous), *numbers]) + 1:06d}"
        tmp = self.folder / f"{name}.tmp"
        tmp.mkdir()
        _faiss(snapshot.passages).save(tmp / "passages.faiss")
        HalfIndex.save(snapshot.sentence_vectors, tmp / "sentences.faiss")
        _lexical(snapshot.lexical).save(tmp / "lexical")
        PassageTable.of(snapshot.chunks, snapshot.sentences).save(tmp / "passages")
        np.save(tmp / "sentence_ids.npy", snapshot.sentence_ids.astype(np.int32))
        manifest = {
            "format": FORMAT,
            "qabot_version": __version__,
            "model": snapshot.model,
            "dim": snapshot.dim,
            "prompts": snapshot.prompts,
            "built": snapshot.built,
            "passages": len(snapshot.chunks),
            "sentences": snapshot.sentence_count(),
            "sentence_vectors": len(snapshot.sentence_vectors),
        }
        # Written last: marks the folder complete.
        (tmp / "manifest.json").write_text(
            json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8"
        )
        publish_dir(tmp, self.folder / name)
        write_atomic(self.folder / CURRENT, name + "\n")
        snapshot.name = name
        self._prune(keep={name, previous})
        return name

    def _prune(self, keep: set[str | None]) -> None:
        """Drop old generations; the previous one stays for readers still holding it."""
        for path in self.folder.glob("gen-*"):
            if path.name not in keep:
                shutil.rmtree(path, ignore_errors=True)

    # ------------------------------------------------------------------ loading

    def _manifest(self) -> tuple[str, dict[str, Any]]:
        name = self.current_name()
        pointer = self.folder / CURRENT
        if name is None:
            raise IndexError_(f"no index in {self.folder}", "build it with `qabot index`")
        if not _GEN_NAME.fullmatch(name):
            raise IndexError_(f"{pointer} names {name!r}, not a generation", REBUILD_HINT)
        if not (self.folder / name).is_dir():
            raise IndexError_(f"{pointer} points to {name}, which is missing", REBUILD_HINT)
        path = self.folder / name / "manifest.json"
        try:
            manifest = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexError_(f"index manifest {path} is missing or corrupt", REBUILD_HINT) from exc
        if not isinstance(manifest, dict):
            raise IndexError_(f"index manifest {path} is missing or corrupt", REBUILD_HINT)
        if manifest.get("format") not in (1, FORMAT):
            raise IndexError_(f"index {path.parent} has an unknown format", REBUILD_HINT)
        fields = ("dim", "passages") + (
            ("sentences", "sentence_vectors") if manifest["format"] > 1 else ()
        )
        if not all(isinstance(manifest.get(field), int) for field in fields):
            raise IndexError_(f"index manifest {path} is incomplete", REBUILD_HINT)
        return name, manifest

    def load(self) -> Snapshot:
        """The current generation, failing with a clear `IndexError_` on any damage."""
        name, manifest = self._manifest()
        folder = self.folder / name
        if manifest["format"] == 1:
            return load_format1(folder, manifest, name)
        dim = int(manifest["dim"])
        try:
            table = PassageTable.load(folder / "passages")
            sentence_ids = np.load(folder / "sentence_ids.npy", mmap_mode="r")
            if sentence_ids.ndim != 1 or sentence_ids.dtype.kind != "i":
                raise ValueError("sentence ids are not a list of integers")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise IndexError_(
                f"passage metadata in {folder} is missing or corrupt", REBUILD_HINT
            ) from exc
        passages = FaissIndex.load(folder / "passages.faiss", dim, self.ann_threshold)
        sentence_vectors = HalfIndex.load(
            folder / "sentences.faiss", dim, int(manifest["sentence_vectors"])
        )
        stale = False
        try:
            lexical = LexicalIndex.load(folder / "lexical")
        except IndexError_ as exc:
            stale = True
            # BM25 is derived from the passages alone: rebuild it rather than re-embed anything.
            log.warning("rebuilding the BM25 index of %s (%s)", folder, exc.message)
            lexical = LexicalIndex.build(table.keys.tolist(), [c.match_text for c in table])
        snapshot = Snapshot(
            model=str(manifest.get("model")),
            dim=dim,
            chunks=table,
            sentences=table.sentences,
            passages=passages,
            sentence_vectors=sentence_vectors,
            lexical=lexical,
            prompts=manifest.get("prompts") or {},
            built=str(manifest.get("built", "")),
            name=name,
            stale=stale,
            sentence_ids=np.asarray(sentence_ids, dtype=np.int64),
        )
        snapshot.check(str(folder), manifest["passages"], manifest.get("sentences"))
        return snapshot
