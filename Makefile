# The superposition book. Two commands do everything on a fresh machine:
#   make book   execute every chapter at its default (CPU) size and build _build/html
#   make test   lint + unit tests + make book (executes every chapter, fails on a failed
#               claim) + the browser check of the built HTML (needs Debian's chromium)
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

.PHONY: install book test unit chapters browser bench lint gpu-check wheels clean
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

# --all: a fresh environment, so every chapter executes in every build (lib/ changes are
# invisible to Sphinx) and the claims page is filled from this build's claims files.
book: $(STAMP)
	$(VENV)/bin/jupyter-book build . -W --keep-going --all
	@echo "book: $(CURDIR)/_build/html/index.html"

# The chapters execute once, in the book build; `make chapters` (nbval) stays separate.
test: lint unit book browser

# Every page of the TOC in headless Chromium (tests/browser/check_book.py): no console
# error, every image loaded, no raw TeX, no broken internal link, no non-local request.
browser: $(STAMP)
	rm -rf _build/screenshots
	$(PY) -m tests.browser.check_book _build/html --toc _toc.yml --screenshots _build/screenshots

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

# On a CUDA machine, <= 8 minutes: bench on every case, each chapter's GPU file at reduced
# steps; the record goes to results/gpu-check/ (README, "Paper scale on a GPU").
gpu-check: $(STAMP)
	$(PY) tools/gpu_check.py

# The wheels the GPU machine lacks (tools/gpu-wheels.txt), for Python 3.12, into .whl/.
wheels: $(STAMP)
	tools/fetch_gpu_wheels.sh 3.12 .whl

# ruff on lib, tests, bench and on the code cells of each chapter (code fits the page:
# 88 columns), then the import-linter contracts of lib's layers (pyproject.toml).
lint: $(STAMP)
	$(VENV)/bin/ruff check lib tests bench
	$(VENV)/bin/ruff check --config 'lint.pycodestyle.max-line-length = 100' tools
	rm -rf $(LINT_DIR) && $(PY) -m lib.reporting.chapter_code $(LINT_DIR) $(CHAPTERS)
	$(PY) -m lib.reporting.chapter_code --check $(CHAPTERS)
	$(VENV)/bin/ruff check --no-cache --config 'lint.pycodestyle.max-line-length = 88' --extend-ignore E402,B018 $(LINT_DIR)
	$(VENV)/bin/lint-imports

clean:
	rm -rf _build .jupyter_cache .pytest_cache
