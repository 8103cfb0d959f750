# mnistmax — `make help` lists the targets.
SHELL := /bin/bash
PY := .venv/bin/python
MNISTMAX := .venv/bin/mnistmax
CONFIG ?= configs/mnist.yaml
RUN ?= latest
RUNS ?= latest
OVERRIDES ?=
# where torch / torchvision come from. Empty: PyPI (its Linux wheels bundle CUDA: 6.7 GB in .venv with the test extras).
# CPU-only wheels (no CUDA libraries): make install TORCH_INDEX=https://download.pytorch.org/whl/cpu
TORCH_INDEX ?=

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}'

.venv/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv .venv
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX)) torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $@

install: .venv/.installed ## create .venv and install mnistmax with its test extras

test: .venv/.installed ## lint (ruff: pyproject.toml) and run the test suite (slow tests excluded), slowest 15 listed
	$(PY) -m ruff check mnistmax tests scripts
	$(PY) -m pytest -q --durations=15

test-slow: .venv/.installed ## run only the slow tests (tests/slow)
	$(PY) -m pytest -q --durations=15 -m slow tests/slow

train: .venv/.installed ## train with CONFIG (default configs/mnist.yaml) and OVERRIDES="KEY=VALUE ..."
	$(MNISTMAX) train --config $(CONFIG) $(OVERRIDES)

eval: .venv/.installed ## evaluate the latest run (or RUN=outputs/runs/NAME)
	$(MNISTMAX) eval $(RUN)

quick: .venv/.installed ## train + evaluate configs/quick.yaml (under a minute)
	$(MNISTMAX) train --config configs/quick.yaml
	$(MNISTMAX) eval latest

full-pipeline: .venv/.installed ## train -> eval -> pictures -> limitations -> HTML report (default config, < 10 min)
	$(MNISTMAX) train --config $(CONFIG) $(OVERRIDES)
	$(MNISTMAX) eval latest
	$(MNISTMAX) viz all latest
	$(MNISTMAX) compare limitations latest
	$(MNISTMAX) report latest

demo-mnist: ## the full pipeline on configs/quick.yaml (about a minute)
	$(MAKE) --no-print-directory full-pipeline CONFIG=configs/quick.yaml

compare: .venv/.installed ## compare RUNS (default: latest): architectures table and limitations
	$(MNISTMAX) compare models $(RUNS)
	$(MNISTMAX) compare limitations $(RUNS)

viz: .venv/.installed ## every picture of RUN (default: latest) its task supports: curves, grid, sigma panel, cases, ...
	$(MNISTMAX) viz all $(RUN)

figures: viz ## viz, plus the noise gallery and the HTML report of RUN
	$(MNISTMAX) viz noise-gallery
	$(MNISTMAX) report $(RUN)

compare-encoders: .venv/.installed ## train the SimCLR, SupCon and triplet recipes, then `compare encoders` them (about 55 min on a 2-core fp32 CPU)
	set -e; runs=""; for recipe in simclr supcon triplet; do \
	  $(MNISTMAX) train -c models/$$recipe $(OVERRIDES); \
	  runs="$$runs $$(ls -td outputs/runs/$$recipe-*/ | head -1)"; \
	done; $(MNISTMAX) compare encoders $$runs

bench: .venv/.installed ## training img/s vs a bare PyTorch loop, epoch time vs epoch number, eval img/s (docs/PERFORMANCE.md)
	$(PY) scripts/bench_throughput.py
	$(PY) scripts/bench_epochs.py
	$(PY) scripts/bench_eval.py

zoo: .venv/.installed ## rebuild the pretrained zoo (ZOO="mnist-unet classifier ..."; default all: about 1.5 h on a 2-core bf16 CPU)
	$(MNISTMAX) zoo build $(ZOO)

zoo-check: .venv/.installed ## evaluate every zoo entry again and compare with its recorded numbers
	$(MNISTMAX) zoo check $(ZOO)

docs: .venv/.installed ## build the docs site into site/ (mkdocs build --strict: a broken link or reference fails)
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs build --strict

docs-serve: .venv/.installed ## serve the docs site on http://127.0.0.1:8000 while you edit it
	NO_MKDOCS_2_WARNING=1 $(PY) -m mkdocs serve

clean: ## remove outputs/ (runs, MLflow store)
	rm -rf outputs

.PHONY: compare-encoders docs docs-serve help install test test-slow train eval quick full-pipeline demo-mnist compare viz figures bench zoo zoo-check clean
