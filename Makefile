.PHONY: setup run test lint index eval bench figures mutants

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

# Every table in benchmarks/README.md, regenerated from the scripts' output (minutes: ARCD
# is indexed once into $(CACHE) and reused). benchmarks/figures.py --check compares only.
ARCD ?= ../shared/data/arcd/arcd.retrieval.json
CACHE ?= /tmp/qabot-figures
RESULTS := benchmarks/results
figures: setup
	mkdir -p $(RESULTS)
	.venv/bin/qabot eval $(ARCD) --unanswerable --cache $(CACHE) --json > $(RESULTS)/arcd-hybrid.json
	.venv/bin/qabot eval $(ARCD) --mode dense --cache $(CACHE) --json > $(RESULTS)/arcd-dense.json
	.venv/bin/qabot eval $(ARCD) --mode lexical --cache $(CACHE) --json > $(RESULTS)/arcd-lexical.json
	.venv/bin/python benchmarks/tune_retrieval.py $(ARCD) --cache $(CACHE) --json $(RESULTS)/tune_retrieval.json
	.venv/bin/python benchmarks/english_eval.py --cache $(CACHE) --json $(RESULTS)/english_eval.json
	.venv/bin/python benchmarks/lexical_ablation.py $(ARCD) --json $(RESULTS)/lexical_ablation.json
	.venv/bin/python benchmarks/lexical_ablation.py $(ARCD) --b 0.75 --json $(RESULTS)/lexical_ablation-b0.75.json
	.venv/bin/python benchmarks/load_test.py --json $(RESULTS)/load_test.json
	.venv/bin/python benchmarks/build_throughput.py --out $(RESULTS)/build_throughput.json
	.venv/bin/python benchmarks/bench_encoder.py --json $(RESULTS)/bench_encoder.json
	.venv/bin/python benchmarks/load_test.py --burst 4 --json $(RESULTS)/load_test-burst4.json
	.venv/bin/python benchmarks/bot_latency.py --json $(RESULTS)/bot_latency.json
	.venv/bin/qabot eval --followups benchmarks/data/followups.json --cache $(CACHE)-followups --json > $(RESULTS)/followups.jsonl
	.venv/bin/python benchmarks/followup_latency.py --cache $(CACHE)-followups
	.venv/bin/python benchmarks/figures.py

# Targeted mutants of render, arabic, the language gate and index files (scripts/mutants.py).
mutants: setup
	.venv/bin/python scripts/mutants.py
