# digitlab — the two commands (README): `make site` and `make test`; also `make lab`, `make data`, `make bench`.
# Each target sets itself up: a .venv with torch + torchvision at the pinned versions (from this machine's disk), then
# `pip install -e '.[dev]'`. Stamps in .venv/ make a second run reinstall nothing unless pyproject.toml changed. The stamps'
# names carry the interpreter's version and the torch pins, so a new python3 rebuilds the venv and a new pin reinstalls torch;
# the venv's stamp is written last, so a venv whose creation was interrupted is removed and made again.
SHELL   := /bin/bash
PYTHON  ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
PY      := $(BIN)/python
TORCH_VER ?= 2.14.1
TV_VER    ?= 0.29.1
PYVER   := $(shell $(PYTHON) -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')
VENV_OK := $(VENV)/.venv-ok-py$(PYVER)
TORCH_OK := $(VENV)/.torch-$(TORCH_VER)-torchvision-$(TV_VER)
NBS     := $(sort $(wildcard nbs/*.ipynb))
# Notebooks run one at a time with all cores: two torch processes on two cores spin-wait each other.
NB_WORKERS ?= 0

.PHONY: site test quick lab data bench seeds install export check-export check-clean check-practice practice release-check wheel-notebooks nbtest pytest docs readme clean

install: $(VENV)/.installed

$(VENV_OK):
	rm -rf $(VENV)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	touch $@

$(TORCH_OK): $(VENV_OK)
	$(PY) -m pip install -q torch==$(TORCH_VER) torchvision==$(TV_VER)
	rm -f $(VENV)/.torch-*
	touch $@

$(VENV)/.installed: pyproject.toml $(TORCH_OK)
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

data: install
	$(BIN)/digitlab data

export: install
	PYTHONPATH=. $(BIN)/nbdev-export

# ---- make test -------------------------------------------------------------------------------------------
# Fingerprint of the working tree (tracked changes + untracked files), to see what a command changed.
TREE_STATE = { git status --porcelain --untracked-files=all; git diff; } | sha1sum

check-export: install
	@before=$$($(TREE_STATE)); PYTHONPATH=. $(BIN)/nbdev-export; after=$$($(TREE_STATE)); \
	if [ "$$before" != "$$after" ]; then git status --short; \
	  echo "FAIL: nbdev-export changed the library: export the notebooks (make export) and commit digitlab/."; exit 1; fi; \
	echo "ok: nbdev-export changes nothing"

check-clean: install
	@before=$$($(TREE_STATE)); $(BIN)/nbdev-clean; after=$$($(TREE_STATE)); \
	if [ "$$before" != "$$after" ]; then git status --short; \
	  echo "FAIL: nbdev-clean changed notebooks: run nbdev-clean and commit nbs/."; exit 1; fi; \
	echo "ok: nbdev-clean changes nothing"

nbtest: data
	$(BIN)/nbdev-test --n-workers $(NB_WORKERS) --timing --do-print

# DIGITLAB_RELEASE names release-check's kept sdist, wheel and venv (`make test` sets it); without it the tests build their own.
pytest: data
	$(BIN)/python -m pytest -q tests

# The tests marked slow are left out: export and clean checks, then the fast tests (≈ 2 min), for contributors between commits.
quick: check-export check-clean check-practice
	$(BIN)/python -m pytest -q -m 'not slow' tests

# Each lesson's Your turn section and the practice copies in practice/ are generated from digitlab's exercises (tools/practice.py).
check-practice: install
	$(PY) tools/practice.py --check

practice: export
	$(PY) tools/practice.py

# The sdist and wheel as a release builds them: twine check, the wheel's files, a fresh venv that installs it (tools/release_check.py).
release-check: install
	$(PY) tools/release_check.py --keep .make/release

# Each step in turn, timed; the seconds per step are printed at the end (also when a step fails), and kept in .make/steps.
TEST_STEPS := install data check-export check-clean check-practice release-check nbtest pytest
test:
	@mkdir -p .make; : > .make/steps; rc=0; \
	for t in $(TEST_STEPS); do s=$$(date +%s); \
	  $(MAKE) --no-print-directory $$t DIGITLAB_RELEASE=$(CURDIR)/.make/release || rc=$$?; \
	  printf '%-15s %5d s%s\n' $$t $$(( $$(date +%s)-s )) "$$( [ $$rc = 0 ] || echo '   FAILED')" >> .make/steps; \
	  [ $$rc = 0 ] || break; done; \
	echo "make test: seconds per step"; cat .make/steps; \
	awk '{s+=$$2} END {printf "%-15s %5d s\n", "total", s}' .make/steps; exit $$rc

# Every lesson notebook as a Colab reader runs it: a fresh venv with only the wheel + jupyter, the network cut (≈ 12 min).
wheel-notebooks: install
	tools/wheel_notebooks.sh

# ---- make site -------------------------------------------------------------------------------------------
# Execute every notebook in place (outputs are the docs), clean them, then render _docs/ with quarto if it is
# on PATH, else smalldocs. Notebooks are re-executed only when one of them changed since the last run.
.make/executed: $(NBS) | $(VENV)/.installed
	PYTHONPATH=. $(BIN)/nbdev-export
	$(BIN)/digitlab data
	@mkdir -p .make
	set -o pipefail; for nb in $(NBS); do echo "executing $$nb"; \
	  $(BIN)/jupyter execute --inplace "$$nb" 2>&1 | { grep -v '^\[' || true; } || exit 1; done
	$(BIN)/nbdev-clean
	touch $@

docs: .make/executed
	$(PY) tools/docs.py

site: docs
	@echo "The site's home page: $(CURDIR)/_docs/index.html"

readme: install
	$(PY) tools/docs.py --readme-only

lab: data
	$(BIN)/jupyter lab nbs

bench: data
	$(PY) bench/loaders.py --train
	$(PY) bench/vectorize.py
	$(PY) bench/train.py
	$(PY) bench/distributed.py

# Every headline recipe over five seeds (≈ 25 min): rewrites digitlab/seeds.json, which the notebooks quote and assert against.
seeds: data
	$(PY) bench/seeds.py

clean:
	rm -rf _docs _proc .make
