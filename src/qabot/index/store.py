"""Where snapshots live: the interface a build and a retriever need from a store.

:class:`qabot.index.files.FileStore` keeps them as folders on disk; a server-backed store
(PostgreSQL with pgvector, say) implements the same methods and plugs in at
:func:`open_store`.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Protocol

from ..bridge import Bridge
from ..config import Settings
from ..encoder import Encoder
from .snapshot import Snapshot
from .vectors import VectorIndex


class SnapshotStore(Protocol):
    """Keeps the current snapshot of one index and replaces it atomically with a new one."""

    #: Where the index is, for messages ("index <location> is inconsistent").
    location: str

    def current_name(self) -> str | None:
        """The current snapshot's name (cheap: asked before every question), None if none."""
        ...

    def load(self) -> Snapshot:
        """The current snapshot; `IndexError_` (with the fix) if there is none or it is damaged."""
        ...

    def load_for_update(self) -> Snapshot:
        """The current snapshot as `qabot index` updates it: a store may read less for
        that than for searching (a database reads keys and text hashes, no passage)."""
        ...

    def new_vectors(self, dim: int) -> VectorIndex:
        """An empty vector index of the kind this store keeps, for a build from scratch."""
        ...

    def commit(self, snapshot: Snapshot) -> str:
        """Make ``snapshot`` the current one, all at once; return (and set) its name.

        Readers that loaded the previous snapshot keep working with it.
        """
        ...

    def lock(self, timeout: float) -> AbstractContextManager[None]:
        """Held for a whole build, so two builds cannot interleave; `QabotError` after
        ``timeout`` seconds of waiting."""
        ...

    def load_bridge(self, encoder: Encoder) -> Bridge | None:
        """The English→Arabic word bridge kept with the index (:mod:`qabot.bridge`), if
        there is one for ``encoder``'s model."""
        ...

    def update_bridge(self, texts: Iterable[str], encoder: Encoder, changed: bool) -> None:
        """Store the bridge of ``texts`` if they ``changed`` or it is missing or stale;
        called before the snapshot is committed, so its readers find its words."""
        ...


def open_store(settings: Settings, index_dir: Path | None = None) -> SnapshotStore:
    """The store the settings name: the database of ``database_url`` when one is set
    (README "Running on PostgreSQL"), else the index folder (``index_dir`` overrides it)."""
    if settings.database_url:
        from .postgres import PostgresStore

        return PostgresStore(settings.database_url, ann_threshold=settings.ann_threshold)
    from .files import FileStore

    return FileStore(index_dir or settings.index_dir, ann_threshold=settings.ann_threshold)
