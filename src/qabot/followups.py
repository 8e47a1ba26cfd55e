"""Follow-up quality (`qabot eval --followups FILE`): R@1 alone vs in context, topic switches.

A follow-up file holds articles (as in `*.retrieval.json`) and pairs: an earlier question,
then a follow-up whose gold paragraph is given, or a topic switch, which must be handled
as if asked alone (the same top passage and verdict; refused when off-topic, i.e. its
``paragraph_id`` is null). The earlier question is asked first, as in a conversation, and
its answer's article is the context's prior.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel

from .config import Settings
from .conversation import Turn, turn_of
from .encoder import Encoder
from .errors import QabotError
from .evaluate import EvalArticle, EvalSet, index_eval_set, paragraph_of, read_model
from .results import Answer
from .retriever import Retriever


class FollowupPair(BaseModel):
    id: str
    history: list[str]  # the earlier questions, oldest first
    question: str
    paragraph_id: str | None  # None: off-topic, must be refused
    kind: Literal["followup", "switch"] = "followup"
    split: Literal["dev", "test"] = "test"


class FollowupSet(BaseModel):
    name: str = "followups"
    articles: list[EvalArticle]
    pairs: list[FollowupPair]


class PairResult(BaseModel):
    """One pair, asked alone and in context."""

    id: str
    kind: str
    split: str
    alone_top: str | None
    context_top: str | None
    alone_found: bool
    context_found: bool
    context_used: bool
    gold: str | None

    @property
    def handled(self) -> bool:
        """A switch is handled when the context changed nothing: same passage, same verdict."""
        return (self.alone_top, self.alone_found) == (self.context_top, self.context_found)


class FollowupReport(BaseModel):
    """The figures of one split (or all pairs): what `--json` prints per split."""

    name: str
    split: str
    followups: int
    r1_alone: float
    r1_context: float
    context_used: float  # share of follow-ups answered in context
    switches: int
    switch_handled: float
    off_topic: int
    off_topic_refused: float  # in context; what alone refuses is the baseline


def load_followups(path: Path) -> FollowupSet:
    """Read and check a follow-up file: every gold paragraph must be in it."""
    data = read_model(path, FollowupSet, "follow-up file")
    known = {p.id for a in data.articles for p in a.paragraphs}
    missing = [p.id for p in data.pairs if p.paragraph_id and p.paragraph_id not in known]
    if not data.pairs or missing:
        what = f"pairs {missing[:3]} name unknown paragraphs" if missing else "no pairs"
        raise QabotError(f"follow-up file {path} is not usable: {what}")
    return data


def _top(answer: Answer, known: set[str]) -> str | None:
    return paragraph_of(answer.passages[0].id, known) if answer.passages else None


def run_pairs(data: FollowupSet, retriever: Retriever) -> list[PairResult]:
    """Ask every pair's earlier questions, then its question alone and in context."""
    known = {p.id for a in data.articles for p in a.paragraphs}
    out = []
    for pair in data.pairs:
        turns: list[Turn] = []
        for earlier in pair.history:  # as in a chat: each earlier question answered first
            turns.append(turn_of(retriever.ask(earlier, k=1, history=turns)))
        alone = retriever.ask(pair.question, k=1)
        in_context = retriever.ask(pair.question, k=1, history=turns)
        out.append(
            PairResult(
                id=pair.id,
                kind=pair.kind,
                split=pair.split,
                alone_top=_top(alone, known),
                context_top=_top(in_context, known),
                alone_found=alone.found,
                context_found=in_context.found,
                context_used=in_context.context_used,
                gold=pair.paragraph_id,
            )
        )
    return out


def _mean(values: Iterable[bool]) -> float:
    values = list(values)
    return round(float(np.mean(values)), 4) if values else 0.0


def summarise(name: str, split: str, results: list[PairResult]) -> FollowupReport:
    follow = [r for r in results if r.kind == "followup"]
    switches = [r for r in results if r.kind == "switch"]
    off_topic = [r for r in switches if r.gold is None]
    return FollowupReport(
        name=name,
        split=split,
        followups=len(follow),
        r1_alone=_mean(r.alone_top == r.gold for r in follow),
        r1_context=_mean(r.context_top == r.gold for r in follow),
        context_used=_mean(r.context_used for r in follow),
        switches=len(switches),
        switch_handled=_mean(r.handled for r in switches),
        off_topic=len(off_topic),
        off_topic_refused=_mean(not r.context_found for r in off_topic),
    )


def reports(name: str, results: list[PairResult]) -> list[FollowupReport]:
    """One report per split present, then one for all pairs."""
    splits = sorted({r.split for r in results})
    out = [summarise(name, s, [r for r in results if r.split == s]) for s in splits]
    return [*out, summarise(name, "all", results)]


def open_followups(
    data: FollowupSet, root: Path, settings: Settings, encoder: Encoder
) -> Retriever:
    """Index the file's articles into ``root`` (reused when it is a cache); open them."""
    as_eval = EvalSet(name=data.name, articles=data.articles, questions=[])
    return index_eval_set(as_eval, root, settings, encoder)[1]


def evaluate_followups(
    path: Path, settings: Settings, encoder: Encoder, *, cache: Path | None = None
) -> list[FollowupReport]:
    """Index the file's articles (in a scratch or cached folder) and score every pair."""
    data = load_followups(path)
    with tempfile.TemporaryDirectory(prefix="qabot-followups-") as tmp:
        root = cache or Path(tmp)
        root.mkdir(parents=True, exist_ok=True)
        return reports(data.name, run_pairs(data, open_followups(data, root, settings, encoder)))


def format_report(report: FollowupReport) -> str:
    return (
        f"{report.name} [{report.split}]: follow-ups {report.followups}: "
        f"R@1 alone {report.r1_alone:.3f} -> in context {report.r1_context:.3f} "
        f"(context used {report.context_used:.0%}); switches {report.switches}: "
        f"handled as alone {report.switch_handled:.3f}, off-topic refused "
        f"{report.off_topic_refused:.3f} of {report.off_topic}"
    )
