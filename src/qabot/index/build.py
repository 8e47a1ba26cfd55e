"""Articles → chunks → vectors → a new snapshot, re-embedding only text not embedded before."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from ..arabic import split_sentences
from ..articles import ArticleError, read_articles
from ..bridge import TextChanges
from ..chunking import Chunk, chunk_article
from ..config import Settings
from ..encoder import Encoder
from ..errors import IndexError_
from .lexical import LexicalIndex
from .reuse import embed_all, sync_passages
from .reuse import sentence_vectors as build_sentence_vectors
from .snapshot import Snapshot, sentence_layout
from .store import SnapshotStore, open_store

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
    articles_dir: Path, max_tokens: int, count_tokens: Callable[[str], int]
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
        article_chunks = chunk_article(item, max_tokens=max_tokens, count_tokens=count_tokens)
        if not article_chunks:
            msg = f"{item.path}: no paragraphs"
            log.info("skipped %s", msg)
            skipped.append(msg)
            continue
        seen.add(item.id)
        articles += 1
        chunks.extend(article_chunks)
    return chunks, articles, skipped


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

    One build at a time per index (the store's lock); `lock_timeout` defaults to
    ``settings.lock_timeout``.
    """
    settings = settings or Settings()
    store = open_store(settings, index_dir)
    # The lock comes first, so a build that gives up has not spent seconds loading a model.
    with store.lock(settings.lock_timeout if lock_timeout is None else lock_timeout):
        if encoder is None:
            from ..model import load_encoder

            encoder = load_encoder(settings)
        started = time.perf_counter()
        chunks, n_articles, skipped = collect_chunks(
            articles_dir or settings.articles_dir, settings.max_chunk_tokens, encoder.count_tokens
        )
        report = index_chunks(
            chunks, store, encoder, full=full, progress=progress, batch=settings.batch_size
        )
    report.articles, report.skipped = n_articles, skipped
    report.seconds = round(time.perf_counter() - started, 3)
    return report


def _previous(
    store: SnapshotStore, encoder: Encoder, full: bool
) -> tuple[Snapshot | None, str | None]:
    """The snapshot to update, or None with the reason for a full build."""
    if full:
        return None, "full rebuild requested"
    try:
        if store.current_name() is None:
            return None, None
        old = store.load_for_update()
    except IndexError_ as exc:
        log.warning("previous index unusable (%s); rebuilding from scratch", exc.message)
        return None, f"previous index unusable: {exc.message}"
    if not old.built_with(encoder):
        reason = f"model changed from {old.model} to {encoder.model_id}"
        log.warning("%s: full rebuild", reason)
        return None, reason
    return old, None


def _digest(hashes: Iterable[str]) -> str:
    """A digest of a multiset of passage text hashes, in any order: which texts a bridge
    counted (:class:`~qabot.bridge.TextChanges`)."""
    count = total = 0
    for h in hashes:
        count += 1
        total += int(h[:16], 16)
    return f"{count}:{total % (1 << 64):016x}"


class _MatchTexts(Sequence[str]):
    """The match texts of ``chunks``, each made when read (BM25 reads each once in order)."""

    def __init__(self, chunks: list[Chunk]) -> None:
        self._chunks = chunks

    def __len__(self) -> int:
        return len(self._chunks)

    def __getitem__(self, i: int) -> str:  # type: ignore[override]  # no slices asked
        return self._chunks[i].match_text


def split_all(chunks: list[Chunk]) -> dict[int, list[str]]:
    """Every passage's sentences; a text repeated across passages is split once."""
    memo: dict[str, list[str]] = {}
    out = {}
    for c in chunks:
        found = memo.get(c.text)
        if found is None:
            found = memo[c.text] = split_sentences(c.text)
        out[c.key] = list(found)
    return out


def index_chunks(
    chunks: list[Chunk],
    store: SnapshotStore,
    encoder: Encoder,
    *,
    full: bool = False,
    progress: bool = False,
    batch: int = 16,
) -> BuildReport:
    """Commit a new snapshot holding exactly ``chunks`` (the caller holds the store's lock)."""
    started = time.perf_counter()
    old, reason = _previous(store, encoder, full)
    base = old or Snapshot(
        encoder.model_id,
        encoder.dim,
        chunks=[],
        sentences={},
        passages=store.new_vectors(encoder.dim),
        sentence_vectors=store.new_vectors(encoder.dim),
        # A database store analyses the passages itself as it writes them.
        lexical=getattr(store, "new_lexical", lambda: LexicalIndex.build([], []))(),
    )
    # Sentences are split afresh: a newer splitter must reach the index even if no text changed.
    sentences = split_all(chunks)
    old_passages = base.passage_hashes()
    # Passages, not their texts: a million match texts would hold another GB.
    new_passages = {c.key: c for c in chunks}
    changed: list[int] = []
    gone = [
        k for k, h in old_passages.items() if k not in new_passages or new_passages[k].hash != h
    ]
    fresh = [k for k, c in new_passages.items() if old_passages.get(k) != c.hash]
    # Passage by passage only when no text changed (else a million passages are built to
    # find the one that did).
    same = (
        old is not None
        and not gone
        and not fresh
        and not old.stale
        and old.chunks == chunks
        and all(old.sentences.get(c.key) == sentences[c.key] for c in chunks)
    )
    # English: the bridge's word counts move by the texts that changed.
    changes = TextChanges(
        lambda: (c.match_text for c in chunks),
        removed=(base.by_key[k].match_text for k in gone),
        added=(new_passages[k].match_text for k in fresh),
        before=_digest(old_passages.values()) if old is not None else "",
        after=_digest(c.hash for c in chunks),
    )
    store.update_bridge(changes, encoder, changed=not same)
    if same and old is not None:
        embedded, embedded_sentences, name = 0, 0, old.name
    else:

        def embed(what: str) -> Callable[[list[str]], np.ndarray]:
            return lambda texts: embed_all(encoder, texts, batch, progress, what)

        changed, embedded = sync_passages(
            base.passages, old_passages, new_passages, base.vectors_by_hash(), embed("passages"),
            getattr(store, "folder", None),
        )  # fmt: skip
        # Sentences, the same way: they carry the highlight and 0.4 of the dense score.
        texts, sentence_ids = sentence_layout(chunks, sentences)
        sentence_vectors, embedded_sentences = build_sentence_vectors(
            base, texts, store, embed("sentences")
        )
        snapshot = Snapshot(
            model=encoder.model_id,
            dim=encoder.dim,
            chunks=chunks,
            sentences=sentences,
            passages=base.passages,
            sentence_vectors=sentence_vectors,
            lexical=base.lexical.updated(
                remove=old_passages.keys() - new_passages.keys(),
                add_ids=changed,
                add_texts=_MatchTexts([new_passages[k] for k in changed]),
            ),
            prompts={
                "query": getattr(encoder, "query_prompt", ""),
                "passage": getattr(encoder, "passage_prompt", ""),
            },
            built=datetime.now(UTC).isoformat(timespec="seconds"),
            sentence_ids=sentence_ids,
        )
        name = store.commit(snapshot)
    updated = sum(1 for k in changed if k in old_passages)
    return BuildReport(
        articles=len({c.article for c in chunks}),
        passages=len(chunks),
        added=len(changed) - updated,
        updated=updated,
        removed=len(old_passages.keys() - new_passages.keys()),
        unchanged=len(chunks) - len(changed),
        embedded=embedded,
        embedded_sentences=embedded_sentences,
        seconds=round(time.perf_counter() - started, 3),
        full=old is None,
        reason=reason,
        generation=name,
    )
