"""Articles → chunks → vectors → a new index generation, re-embedding only what changed."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from filelock import FileLock, Timeout
from pydantic import BaseModel
from tqdm import tqdm

from .arabic import split_sentences
from .articles import ArticleError, read_articles
from .chunking import Chunk, chunk_article, content_hash
from .config import Settings
from .encoder import Encoder
from .errors import IndexError_, QabotError
from .store import (
    Generation,
    empty_generation,
    read_generation,
    remove_stale,
    sentence_key,
    vectors_by_hash,
)
from .store import write_generation as _write

log = logging.getLogger(__name__)


class BuildReport(BaseModel):
    """What a build did; `embedded` counts passages that went through the model."""

    articles: int
    passages: int
    added: int
    updated: int
    removed: int
    unchanged: int
    embedded: int
    embedded_sentences: int
    seconds: float
    full: bool
    reason: str | None = None
    skipped: list[str] = []
    generation: str | None = None

    def summary(self) -> str:
        text = (
            f"{self.articles} articles, {self.passages} passages: {self.added} added, "
            f"{self.updated} updated, {self.removed} removed, {self.unchanged} unchanged; "
            f"{self.embedded} embedded in {self.seconds:.1f} s"
        )
        if self.reason:
            text += f" ({self.reason})"
        if self.skipped:
            text += f"; skipped {len(self.skipped)} file(s)"
        return text


def collect_chunks(
    articles_dir: Path, max_tokens: int, count_tokens=None
) -> tuple[list[Chunk], int, list[str]]:
    """All passages of the corpus; bad files are skipped with a warning that names them."""
    chunks: list[Chunk] = []
    skipped: list[str] = []
    seen: set[str] = set()
    articles = 0
    for item in read_articles(articles_dir):
        if isinstance(item, ArticleError):
            log.info("skipped %s", item)
            skipped.append(str(item))
            continue
        if item.id in seen:
            msg = f"{item.path}: another file already has the article id {item.id!r}"
            log.info("skipped %s", msg)
            skipped.append(msg)
            continue
        kwargs = {"count_tokens": count_tokens} if count_tokens else {}
        article_chunks = chunk_article(item, max_tokens=max_tokens, **kwargs)
        if not article_chunks:
            msg = f"{item.path}: no paragraphs"
            log.info("skipped %s", msg)
            skipped.append(msg)
            continue
        seen.add(item.id)
        articles += 1
        chunks.extend(article_chunks)
    return chunks, articles, skipped


def _embed(encoder: Encoder, texts: list[str], batch: int, progress: bool, what: str) -> np.ndarray:
    out = np.zeros((len(texts), encoder.dim), dtype=np.float32)
    with tqdm(total=len(texts), desc=f"embedding {what}", unit=what, disable=not progress) as bar:
        # Hand the model a few batches at a time: it sorts them by length, so less padding.
        step = batch * 8
        for start in range(0, len(texts), step):
            out[start : start + step] = encoder.encode_passages(texts[start : start + step])
            bar.update(len(texts[start : start + step]))
    return out


def _previous(
    index_dir: Path, encoder: Encoder, full: bool
) -> tuple[Generation | None, str | None]:
    """The generation to update, or None with the reason for a full build."""
    if full:
        return None, "full rebuild requested"
    try:
        old = read_generation(index_dir)
    except IndexError_ as exc:
        if "no index" in exc.message:
            return None, None
        log.warning("previous index unusable (%s); rebuilding from scratch", exc.message)
        return None, f"previous index unusable: {exc.message}"
    if old.manifest.get("model") != encoder.model_id or old.manifest.get("dim") != encoder.dim:
        reason = f"model changed from {old.manifest.get('model')} to {encoder.model_id}"
        log.warning("%s: full rebuild", reason)
        return None, reason
    return old, None


def _acquire(lock: FileLock, index_dir: Path, timeout: float) -> None:
    """Take the build lock; say so when another build holds it, and give up after `timeout`.

    The lock is an OS file lock, so a killed build releases it: a stale lock cannot exist.
    """
    try:
        lock.acquire(timeout=0)
        return
    except Timeout:
        pass
    log.warning("waiting for another `qabot index` to finish (%s, up to %g s)…", index_dir, timeout)
    try:
        lock.acquire(timeout=timeout)
    except Timeout as exc:
        raise QabotError(
            f"another `qabot index` was still updating {index_dir} after {timeout:g} s; gave up",
            "try again once it has finished, or wait longer with `qabot index --wait SECONDS` "
            "(QABOT_LOCK_TIMEOUT)",
        ) from exc


def build_index(
    settings: Settings | None = None,
    *,
    encoder: Encoder | None = None,
    full: bool = False,
    progress: bool = False,
    lock_timeout: float | None = None,
    articles_dir: Path | None = None,
    index_dir: Path | None = None,
) -> BuildReport:
    """Bring the index in line with the articles folder, embedding only new text.

    One build at a time per index folder (a file lock); `lock_timeout` defaults to
    ``settings.lock_timeout``.
    """
    settings = settings or Settings()
    articles_dir = articles_dir or settings.articles_dir
    index_dir = index_dir or settings.index_dir
    index_dir.mkdir(parents=True, exist_ok=True)
    lock = FileLock(str(index_dir / ".lock"))
    # The lock comes first, so a build that gives up has not spent seconds loading a model.
    _acquire(lock, index_dir, settings.lock_timeout if lock_timeout is None else lock_timeout)
    try:
        if encoder is None:
            from .model import load_encoder

            encoder = load_encoder(settings)
        started = time.perf_counter()
        remove_stale(index_dir)
        chunks, n_articles, skipped = collect_chunks(
            articles_dir, settings.max_chunk_tokens, encoder.count_tokens
        )
        report = index_chunks(
            chunks, index_dir, encoder, full=full, progress=progress, batch=settings.batch_size
        )
    finally:
        lock.release()
    report.articles, report.skipped = n_articles, skipped
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def index_chunks(
    chunks: list[Chunk],
    index_dir: Path,
    encoder: Encoder,
    *,
    full: bool = False,
    progress: bool = False,
    batch: int = 16,
) -> BuildReport:
    """Write a new generation holding exactly `chunks` (the caller holds the lock)."""
    started = time.perf_counter()
    old, reason = _previous(index_dir, encoder, full)
    gen = old or empty_generation({}, encoder.dim)
    reuse, reuse_sent = vectors_by_hash(old) if old else ({}, {})

    # Sentences are split afresh: a newer splitter must reach the index even if no text changed.
    sentences = {c.key: split_sentences(c.text) for c in chunks}
    if (
        old is not None
        and old.chunks == chunks
        and not old.stale
        and all(old.sentences.get(c.key) == sentences[c.key] for c in chunks)
    ):
        return BuildReport(
            articles=len({c.article for c in chunks}),
            passages=len(chunks),
            added=0,
            updated=0,
            removed=0,
            unchanged=len(chunks),
            embedded=0,
            embedded_sentences=0,
            seconds=round(time.perf_counter() - started, 3),
            full=False,
            generation=old.name,
        )
    new_keys = {c.key for c in chunks}
    old_hash = {c.key: c.hash for c in gen.chunks}
    removed = [k for k in old_hash if k not in new_keys]
    changed = [c for c in chunks if old_hash.get(c.key) != c.hash]
    updated = sum(1 for c in changed if c.key in old_hash)

    # Passages: reuse any vector whose text was embedded before, embed the rest (once each,
    # as the same text can stand in several places).
    to_embed = list({c.hash: c for c in changed if c.hash not in reuse}.values())
    fresh = _embed(encoder, [c.match_text for c in to_embed], batch, progress, "passages")
    fresh_by_hash = dict(zip((c.hash for c in to_embed), fresh, strict=True))
    gen.passages.remove(np.array(removed + [c.key for c in changed if c.key in old_hash], np.int64))
    if changed:
        vecs = np.stack([reuse.get(c.hash, fresh_by_hash.get(c.hash)) for c in changed])
        gen.passages.add(np.array([c.key for c in changed], np.int64), vecs)

    # Sentences, the same way: they carry the highlight and 0.4 of the dense score.
    old_sent = {
        sentence_key(c.id, j): content_hash(s)
        for c in gen.chunks
        for j, s in enumerate(gen.sentences.get(c.key, []))
    }
    new_sent = {
        sentence_key(c.id, j): (content_hash(s), s)
        for c in chunks
        for j, s in enumerate(sentences[c.key])
    }
    stale = [k for k, h in old_sent.items() if new_sent.get(k, (None,))[0] != h]
    add_sent = [(k, h, s) for k, (h, s) in new_sent.items() if old_sent.get(k) != h]
    sent_todo = list({h: s for _, h, s in add_sent if h not in reuse_sent}.items())
    sent_fresh = _embed(encoder, [s for _, s in sent_todo], batch, progress, "sentences")
    sent_vec = dict(reuse_sent)
    sent_vec.update(zip((h for h, _ in sent_todo), sent_fresh, strict=True))
    gen.sentence_vectors.remove(np.array(stale, np.int64))
    if add_sent:
        gen.sentence_vectors.add(
            np.array([k for k, _, _ in add_sent], np.int64),
            np.stack([sent_vec[h] for _, h, _ in add_sent]),
        )

    gen.chunks = chunks
    gen.sentences = sentences
    gen.lexical = gen.lexical.updated(
        remove=removed, add_ids=[c.key for c in changed], add_texts=[c.match_text for c in changed]
    )
    gen.manifest = {
        "model": encoder.model_id,
        "dim": encoder.dim,
        "prompts": {
            "query": getattr(encoder, "query_prompt", ""),
            "passage": getattr(encoder, "passage_prompt", ""),
        },
        "built": datetime.now(UTC).isoformat(timespec="seconds"),
        "articles": _article_hashes(chunks),
        "passages": len(chunks),
        "sentences": len(new_sent),
    }
    name = _write(index_dir, gen)
    return BuildReport(
        articles=len({c.article for c in chunks}),
        passages=len(chunks),
        added=len(changed) - updated,
        updated=updated,
        removed=len(removed),
        unchanged=len(chunks) - len(changed),
        embedded=len(to_embed),
        embedded_sentences=len(sent_todo),
        seconds=round(time.perf_counter() - started, 3),
        full=old is None,
        reason=reason,
        generation=name,
    )


def _article_hashes(chunks: Iterable[Chunk]) -> dict[str, str]:
    """One hash per article over its passages, so a manifest shows what changed."""
    parts: dict[str, list[str]] = {}
    for chunk in chunks:
        parts.setdefault(chunk.article, []).append(chunk.hash)
    return {article: content_hash("".join(hashes)) for article, hashes in parts.items()}
