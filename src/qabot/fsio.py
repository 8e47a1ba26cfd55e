"""Durable file updates: after a crash a reader finds the old content or the new, never half.

Write a whole folder under a temporary name and rename it into place (nothing inside it needs
its own atomic write), or replace one small file with :func:`write_atomic`.
"""

from __future__ import annotations

import os
from pathlib import Path


def fsync(path: Path) -> None:
    """Flush a file or a folder entry to disk, so a crash cannot reorder the renames after it."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_tree(folder: Path) -> None:
    """Flush every file and folder under ``folder``, then the folder itself (before renaming it)."""
    for path in sorted(folder.rglob("*"), reverse=True):  # contents before their folders
        fsync(path)
    fsync(folder)


def publish_dir(tmp: Path, target: Path) -> None:
    """Rename the complete folder ``tmp`` to ``target`` (which must not exist), flushed first."""
    fsync_tree(tmp)
    os.replace(tmp, target)
    fsync(target.parent)


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace ``path`` with ``data`` through ``<name>.tmp`` and a rename, flushed to disk."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        fsync(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)  # gone after the rename; a failed write leaves nothing
    fsync(path.parent)
