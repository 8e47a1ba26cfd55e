"""Retrieval quality on a `*.retrieval.json` file: R@1, R@5, MRR@10, abstention, latency."""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import numpy as np
from pydantic import BaseModel

from .chunking import Chunk, paragraph_chunks
from .config import Settings
from .encoder import Encoder
from .errors import QabotError
from .fusion import Mode
from .index import FileStore, index_chunks, open_store
from .retriever import Retriever

M = TypeVar("M", bound=BaseModel)


class EvalQuestion(BaseModel):
    id: str
    question: str
    paragraph_id: str
    answer_text: str | None = None


class EvalParagraph(BaseModel):
    id: str
    text: str


class EvalArticle(BaseModel):
    title: str | None = None
    paragraphs: list[EvalParagraph]


class EvalSet(BaseModel):
    name: str = "eval"
    articles: list[EvalArticle]
    questions: list[EvalQuestion]


class EvalReport(BaseModel):
    """The figures `qabot eval` prints; `--json` emits exactly this object."""

    name: str
    mode: str
    n: int
    r1: float
    r5: float
    mrr10: float
    p50_ms: float
    p95_ms: float
    encode_p50_ms: float
    highlight: float | None = None  # of right rank-1 passages that contain the answer text:
    highlight_n: int = 0  # the share whose highlighted sentence overlaps it, and their count
    answered: float | None = None
    answered_correct: float | None = None
    refused_unanswerable: float | None = None


def read_model(path: Path, model: type[M], what: str) -> M:
    """A JSON file as ``model``; a missing or malformed file is one clear `QabotError` line."""
    try:
        return model.model_validate_json(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise QabotError(f"cannot read {what} {path}: {str(exc).splitlines()[0]}") from exc


def load_eval_set(path: Path) -> EvalSet:
    """Read and check an eval file: every question's gold paragraph must be in it."""
    data = read_model(path, EvalSet, "eval file")
    known = {p.id for a in data.articles for p in a.paragraphs}
    missing = [q.id for q in data.questions if q.paragraph_id not in known]
    if not data.questions or missing:
        what = f"questions {missing[:3]} name unknown paragraphs" if missing else "no questions"
        raise QabotError(f"eval file {path} is not usable: {what}")
    return data


def _article_id(a: int) -> str:
    return f"a{a:04d}"


def article_of(data: EvalSet) -> dict[str, str]:
    """Paragraph id → the article id its passages carry (what :func:`fold_of` splits on)."""
    return {p.id: _article_id(a) for a, art in enumerate(data.articles) for p in art.paragraphs}


def eval_chunks(
    data: EvalSet, max_tokens: int, count_tokens: Callable[[str], int]
) -> list[Chunk]:
    """Each eval paragraph becomes passages whose ids start with the paragraph's id."""
    chunks: list[Chunk] = []
    for a, article in enumerate(data.articles):
        for p, para in enumerate(article.paragraphs, start=1):
            if not para.text.strip():
                continue  # nothing to find; a question about it counts as a miss
            chunks += paragraph_chunks(
                para.id,
                para.text.strip(),
                max_tokens,
                count_tokens,
                article=_article_id(a),
                paragraph=p,
                title=article.title,
            )
    return chunks


def paragraph_of(passage_id: str, known: set[str]) -> str:
    """The eval paragraph a passage comes from: itself, or the paragraph it is a part of."""
    return passage_id if passage_id in known else passage_id.rsplit(".", 1)[0]


@contextmanager
def _index_dir(cache: Path | None) -> Iterator[Path]:
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        yield cache
        return
    tmp = Path(tempfile.mkdtemp(prefix="qabot-eval-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def highlight_hits(text: str, sentence: str | None, answer: str | None) -> bool | None:
    """Whether the highlighted sentence overlaps the answer's span in the passage.

    None when there is nothing to judge: no answer text, or the answer is not in this
    passage (e.g. it fell into another part of a split paragraph).
    """
    answer = (answer or "").strip()
    starts = [m.start() for m in re.finditer(re.escape(answer), text)] if answer else []
    if not starts or not sentence:
        return None
    at = text.find(sentence)
    return at >= 0 and any(at < s + len(answer) and s < at + len(sentence) for s in starts)


@dataclass
class _Ranked:
    ranks: list[int | None]
    times: list[float]
    encode_times: list[float]
    highlights: list[bool]


def _rank(data: EvalSet, retriever: Retriever, mode: Mode, k: int) -> _Ranked:
    """Per question: the gold paragraph's rank, the highlight's hit, search and encoding times."""
    known = {p.id for a in data.articles for p in a.paragraphs}
    out = _Ranked([], [], [], [])
    for q in data.questions:
        start = time.perf_counter()
        retriever.encoder.encode_queries([q.question])
        out.encode_times.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        hits = retriever.search(q.question, k=k, mode=mode)
        out.times.append((time.perf_counter() - start) * 1000)
        seen = list(dict.fromkeys(paragraph_of(hit.id, known) for hit in hits))
        out.ranks.append(seen.index(q.paragraph_id) + 1 if q.paragraph_id in seen else None)
        if hits and seen[0] == q.paragraph_id:
            hit = highlight_hits(hits[0].text, hits[0].sentence, q.answer_text)
            if hit is not None:
                out.highlights.append(hit)
    return out


def evaluate(
    path: Path,
    settings: Settings,
    encoder: Encoder,
    *,
    mode: Mode = "hybrid",
    k: int = 10,
    unanswerable: bool = False,
    cache: Path | None = None,
    progress: bool = False,
) -> EvalReport:
    """Index the file's paragraphs in a scratch (or cached) index and score every question."""
    data = load_eval_set(path)
    if settings.database_url and unanswerable:
        from .pgeval import Memo

        encoder = Memo(encoder)  # the halves reuse the whole set's vectors
    with _index_dir(cache) as root, _scratch(settings, "full") as scratch:
        chunks, retriever = index_eval_set(data, root, scratch, encoder, progress=progress)
        ranked = _rank(data, retriever, mode, max(k, 10))
        ranks, times, encode_times = ranked.ranks, ranked.times, ranked.encode_times
        report = EvalReport(
            name=data.name,
            mode=mode,
            n=len(ranks),
            r1=round(float(np.mean([r == 1 for r in ranks])), 4),
            r5=round(float(np.mean([r is not None and r <= 5 for r in ranks])), 4),
            mrr10=round(float(np.mean([1 / r if r and r <= 10 else 0 for r in ranks])), 4),
            p50_ms=round(float(np.percentile(times, 50)), 2),
            p95_ms=round(float(np.percentile(times, 95)), 2),
            encode_p50_ms=round(float(np.percentile(encode_times, 50)), 2),
            highlight=round(float(np.mean(ranked.highlights)), 4) if ranked.highlights else None,
            highlight_n=len(ranked.highlights),
        )
        if unanswerable:
            report.answered, report.answered_correct, report.refused_unanswerable = _abstention(
                data, chunks, root, settings, encoder, mode
            )
    return report


@contextmanager
def _scratch(settings: Settings, label: str) -> Iterator[Settings]:
    """The settings as they are, or with a database: pointing at a scratch database on its
    server, dropped afterwards (:mod:`qabot.pgeval`), so a live index is never replaced."""
    if not settings.database_url:
        yield settings
        return
    from .pgeval import scratch_database

    with scratch_database(settings.database_url, label) as url:
        yield settings.model_copy(update={"database_url": url})


def index_eval_set(
    data: EvalSet, root: Path, settings: Settings, encoder: Encoder, *, progress: bool = False
) -> tuple[list[Chunk], Retriever]:
    """Index every paragraph into ``root/full`` (incrementally, so a cache is reused); open it."""
    chunks = eval_chunks(data, settings.max_chunk_tokens, encoder.count_tokens)
    store = open_store(settings, root / "full")  # the database, with QABOT_DATABASE_URL
    index_chunks(chunks, store, encoder, progress=progress, batch=settings.batch_size)
    return chunks, Retriever(store, encoder, settings)


def fold_of(chunk_article: str) -> int:
    return int(chunk_article[1:]) % 2


def index_fold(
    root: Path, chunks: list[Chunk], fold: int, settings: Settings, encoder: Encoder
) -> Retriever:
    """Index half the articles (``fold_of`` = ``fold``) into ``root/fold<n>``; open it.

    The fold starts as a copy of ``root/full``, so its vectors are reused, not re-embedded.
    """
    half = [c for c in chunks if fold_of(c.article) == fold]
    if settings.database_url:  # a scratch database of its own (see _scratch)
        store = open_store(settings)
    else:
        fold_dir = root / f"fold{fold}"
        if not fold_dir.exists():
            shutil.copytree(root / "full", fold_dir, ignore=shutil.ignore_patterns(".lock"))
        store = FileStore(fold_dir)
    index_chunks(half, store, encoder, batch=settings.batch_size)
    return Retriever(store, encoder, settings)


def _abstention(
    data: EvalSet,
    chunks: list[Chunk],
    root: Path,
    settings: Settings,
    encoder: Encoder,
    mode: Mode = "hybrid",
) -> tuple[float, float, float]:
    """Index half the articles, ask every question; average over both halves.

    The confidence rests on the dense score, so in ``lexical`` mode everything is refused.
    """
    gold_article = article_of(data)
    known = set(gold_article)
    answered: list[bool] = []
    correct: list[bool] = []
    refused: list[bool] = []
    for fold in (0, 1):
        with _scratch(settings, f"fold{fold}") as scratch:
            retriever = index_fold(root, chunks, fold, scratch, encoder)
            for q in data.questions:
                answer = retriever.ask(q.question, k=1, mode=mode)
                if fold_of(gold_article[q.paragraph_id]) == fold:
                    answered.append(answer.found)
                    top = paragraph_of(answer.passages[0].id, known) if answer.passages else ""
                    correct.append(answer.found and top == q.paragraph_id)
                else:
                    refused.append(not answer.found)
    return (
        round(float(np.mean(answered)), 4),
        round(float(np.mean(correct)), 4),
        round(float(np.mean(refused)), 4),
    )


def report_json(report: EvalReport) -> str:
    return json.dumps(report.model_dump(exclude_none=True), ensure_ascii=False)
