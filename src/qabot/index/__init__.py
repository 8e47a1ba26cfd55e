"""The index: build a snapshot of the articles, keep it in a store, search its parts.

- :mod:`.snapshot`: :class:`Snapshot`, one built index (passages, sentences, vectors, BM25).
- :mod:`.vectors`: the :class:`VectorIndex` interface and :class:`FaissIndex`.
- :mod:`.lexical`: :class:`LexicalIndex`, BM25 and coverage over Arabic keys (one question's
  hits: :mod:`.lexquery`; an edit merged into it: :mod:`.lexupdate`; texts' keys as key
  numbers: :mod:`.lexkeys`).
- :mod:`.store`: the :class:`SnapshotStore` interface; :mod:`.files` keeps snapshots on disk,
  with :mod:`.passages` (passages column-wise) and :mod:`.halfvectors` (byte-coded vectors).
- :mod:`.build`: :func:`build_index` and :func:`index_chunks`, incremental builds; the
  vectors they reuse or embed: :mod:`.reuse`.
"""

from .build import BuildReport, build_index, collect_chunks, index_chunks
from .files import FileStore
from .lexical import LexicalIndex
from .snapshot import Snapshot
from .store import SnapshotStore, open_store
from .vectors import FaissIndex, VectorIndex

__all__ = [
    "BuildReport",
    "FaissIndex",
    "FileStore",
    "LexicalIndex",
    "Snapshot",
    "SnapshotStore",
    "VectorIndex",
    "build_index",
    "collect_chunks",
    "index_chunks",
    "open_store",
]
