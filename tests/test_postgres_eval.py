"""`qabot eval --database-url` measures the database store without touching its live index.

The eval set (and, with ``--unanswerable``, each half of it) is indexed into scratch databases
on the same server, dropped afterwards (qabot.pgeval); the figures equal the file store's. A
user who may not create databases is refused, with a message saying why.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import psycopg
import pytest
from conftest import SEED
from fakes import HashEncoder
from test_cli import EVAL

from qabot.cli import main
from qabot.config import Settings
from qabot.index import build_index

FIGURES = ("n", "r1", "r5", "mrr10", "answered", "answered_correct", "refused_unanswerable")


def _live(url: str) -> tuple[object, ...]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT generation, passages, (SELECT count(*) FROM qabot_passages), "
            "(SELECT count(*) FROM qabot_lists), (SELECT array_agg(datname::text) "
            "FROM pg_database WHERE datname LIKE 'qabot_eval%%') FROM qabot_manifest"
        ).fetchone()
    assert row is not None
    return tuple(row)


def test_eval_against_the_database_leaves_its_index_alone(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    encoder = HashEncoder(dim=384)
    (tmp_path / "articles").mkdir()
    shutil.copy(SEED, tmp_path / "articles" / SEED.name)
    build_index(Settings(articles_dir=tmp_path / "articles", database_url=pg_url), encoder=encoder)
    before = _live(pg_url)
    assert before[1] == 16 and before[4] is None

    path = tmp_path / "tiny.retrieval.json"
    path.write_text(json.dumps(EVAL, ensure_ascii=False), encoding="utf-8")
    argv = ["eval", str(path), "--json", "--unanswerable"]
    assert main([*argv, "--database-url", pg_url], encoder=encoder) == 0
    database = json.loads(capsys.readouterr().out)
    assert _live(pg_url) == before  # same generation and rows; no scratch database left

    assert main([*argv, "--index", str(tmp_path / "unused")], encoder=encoder) == 0
    files = json.loads(capsys.readouterr().out)
    assert {k: database[k] for k in FIGURES} == {k: files[k] for k in FIGURES}
    assert database["n"] == 4 and database["refused_unanswerable"] is not None


def test_eval_refuses_a_user_who_may_not_create_a_scratch_database(
    tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("DROP ROLE IF EXISTS qabot_reader")
        conn.execute("CREATE ROLE qabot_reader LOGIN NOCREATEDB")
    url = pg_url.replace("postgres@", "qabot_reader@", 1)
    path = tmp_path / "tiny.retrieval.json"
    path.write_text(json.dumps(EVAL, ensure_ascii=False), encoding="utf-8")
    assert main(["eval", str(path), "--database-url", url], encoder=HashEncoder(384)) == 2
    err = capsys.readouterr().err
    assert "scratch database" in err and "CREATEDB" in err and err.count("\n") == 1
