.PHONY: setup run test lint index eval bench

setup:
	bash scripts/setup

run:
	bash scripts/run

test:
	bash scripts/test -q

lint: setup
	.venv/bin/ruff check src tests benchmarks bot.py
	.venv/bin/mypy

index: setup
	.venv/bin/qabot index

eval: setup
	.venv/bin/qabot eval ../shared/data/arcd/arcd.retrieval.json --unanswerable

bench: setup
	.venv/bin/python benchmarks/bench_core.py
