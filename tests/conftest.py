"""Shared fixtures: the real model and a real index over the bundled seed article."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from qabot.config import Settings
from qabot.encoder import SentenceTransformerEncoder
from qabot.index import build_index
from qabot.model import load_encoder
from qabot.retriever import Retriever

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
SEED = ROOT / "articles" / "000_b3e058f4b2c0909a.txt"
#: The PostgreSQL server fixtures (pg_server, pg_url) for the database store's tests.
pytest_plugins = ["pgserver"]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that loads the real model is ``slow``, marked from its fixtures so that
    none is missed: in-process, the model comes only from the ``encoder`` fixture below
    (directly or through ``seed_retriever``). Subprocesses that load it are marked by hand."""
    for item in items:
        if "encoder" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session", autouse=True)
def fakes_in_subprocesses() -> Iterator[None]:
    """Python subprocesses that tests start can import the test helpers (``from fakes ...``)."""
    paths = [str(TESTS), os.environ.get("PYTHONPATH", "")]
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYTHONPATH", os.pathsep.join(p for p in paths if p))
        yield


@pytest.fixture(scope="session")
def encoder() -> SentenceTransformerEncoder:
    """The real default model (bundled multilingual-e5-small), converted on first use.

    Loaded once for the session: tests pass it on (``encoder=``) rather than load it again.
    """
    return load_encoder(Settings())


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """A private copy of the bundled corpus and its own index folder."""
    root = tmp_path_factory.mktemp("seed")
    (root / "articles").mkdir()
    shutil.copy(SEED, root / "articles" / SEED.name)
    return Settings(articles_dir=root / "articles", index_dir=root / "index")


@pytest.fixture(scope="session")
def seed_retriever(seed_settings: Settings, encoder: SentenceTransformerEncoder) -> Retriever:
    """A real FAISS index of the seed article, searched with the real model."""
    build_index(seed_settings, encoder=encoder)
    return Retriever.load(settings=seed_settings, encoder=encoder)
