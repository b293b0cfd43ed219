# The superposition book. Two commands do everything on a fresh machine:
#   make book   execute every chapter at its default (CPU) size and build _build/html
#   make test   lint + unit tests of lib + execution of every chapter under nbval
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# lib is found from this checkout even when the venv is shared between checkouts.
export PYTHONPATH := $(CURDIR)
export PYTHONUNBUFFERED := 1
CHAPTERS := $(sort $(wildcard book/[0-9]*.md))
NBVAL_DIR := _build/nbval
LINT_DIR := _build/lint

.PHONY: install book test unit chapters bench lint clean
.DEFAULT_GOAL := book

# torch first: any torch spec other than the local 2.13.0 wheel would pull CUDA packages.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade "pip>=23"
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps --no-build-isolation -e .
	touch $@

install: $(STAMP)

book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W --keep-going
	@echo "book: $(CURDIR)/_build/html/index.html"

test: lint unit chapters

unit: $(STAMP)
	$(PY) -m pytest tests -q

# nbval runs the jupytext-converted chapters; pytest exit code 5 (nothing collected) is an error.
chapters: $(STAMP)
	rm -rf $(NBVAL_DIR) && mkdir -p $(NBVAL_DIR)
	for ch in $(CHAPTERS); do $(PY) -m jupytext --quiet --to ipynb "$$ch" -o "$(NBVAL_DIR)/$$(basename $${ch%.md}).ipynb"; done
	rc=0; $(PY) -m pytest --nbval-lax --nbval-cell-timeout=1800 -p no:cacheprovider -q $(NBVAL_DIR) || rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: no chapter notebooks were collected from book/" >&2; exit 1; fi; \
	exit $$rc

bench: $(STAMP)
	$(PY) -m bench

# ruff on lib, tests, bench and on the code cells of each chapter (code fits the page:
# 88 columns), then the import-linter contracts of lib's layers (pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check lib tests bench
	rm -rf $(LINT_DIR) && $(PY) -m lib.reporting.chapter_code $(LINT_DIR) $(CHAPTERS)
	$(VENV)/bin/ruff check --no-cache --config 'lint.pycodestyle.max-line-length = 88' --extend-ignore E402,B018 $(LINT_DIR)
	$(VENV)/bin/lint-imports

clean:
	rm -rf _build .jupyter_cache .pytest_cache
