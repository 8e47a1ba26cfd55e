"""`qabot index --watch`: rebuild incrementally a moment after article files change."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

from watchfiles import Change
from watchfiles import watch as watch_changes

from .articles import ARTICLE_SUFFIXES
from .config import Settings
from .encoder import Encoder
from .errors import QabotError
from .index import build_index

DEBOUNCE_MS = 1500  # the longest a burst of saves is grouped for
STEP_MS = 500  # saves closer together than this are one change


def _is_article(change: Change, path: str) -> bool:
    name = Path(path).name
    return not name.startswith(".") and name.lower().endswith(ARTICLE_SUFFIXES)


def watch(
    settings: Settings,
    full: bool = False,
    stop_event: threading.Event | None = None,
    encoder: Encoder | None = None,
) -> int:
    """Index now, then after every burst of saves; runs until interrupted (or ``stop_event``).

    The model is loaded once (unless ``encoder`` is given) for all the rebuilds.
    """
    if encoder is None:
        from .model import load_encoder

        encoder = load_encoder(settings)
    report = build_index(settings, encoder=encoder, full=full)
    for line in report.skipped:
        print(f"warning: skipped {line}", file=sys.stderr)
    print(report.summary(), flush=True)
    print(f"watching {settings.articles_dir} for changes (Ctrl+C to stop)", file=sys.stderr)
    for changes in watch_changes(
        settings.articles_dir,
        watch_filter=_is_article,
        debounce=DEBOUNCE_MS,
        step=STEP_MS,
        stop_event=stop_event,
        raise_interrupt=False,
    ):
        names = sorted({Path(p).name for _, p in changes})
        try:
            report = build_index(settings, encoder=encoder)
        except QabotError as exc:
            print(f"qabot: {exc}", file=sys.stderr, flush=True)
            continue
        for line in report.skipped:
            print(f"warning: skipped {line}", file=sys.stderr)
        print(f"{', '.join(names)} changed: {report.summary()}", flush=True)
    return 0
