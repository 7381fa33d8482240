# Two commands on a fresh machine: `make sweep` (the main job) and `make test`.
# Each creates .venv from pyproject.toml when it is missing or older than pyproject.toml.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export RAY_AUTH_MODE := disabled

.PHONY: test sweep venv clean

venv: $(STAMP)

# uv installs the pinned packages in seconds (it unpacks in parallel and keeps an unpacked cache): the
# whole venv takes about 28 s here (63 s while it was also byte-compiled ahead, 111-147 s with pip). It reads no pip configuration, so it is handed pip's local wheel folders
# (find-links: where this machine keeps torch's CPU build; without one, torch comes from PyPI as pip
# would take it). Copies, not hard links: the venv never shares files with the cache.
UV_VERSION := 0.13.9
FIND_LINKS := $(or $(PIP_FIND_LINKS),$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null))
export UV_LINK_MODE := copy

# Byte code: uv installs without compiling, and the modules are compiled when first imported, each
# .pyc written beside its source for every later process (Python's own behaviour). This machine sets
# PYTHONDONTWRITEBYTECODE=1, which would make every process compile every module it imports again,
# so it is not passed on to the commands below. Compiling the whole venv ahead (compileall on every
# core) took about 45 s of the venv's 63 s; the test suite imports 7,388 of its 23,468 modules.
unexport PYTHONDONTWRITEBYTECODE

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --no-compile uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --quiet --python $(VENV)/bin/python $(foreach d,$(FIND_LINKS),--find-links $(d)) -e ".[test]"
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q --durations=12 tests

# The main job: on a local Ray instance, sweep the generated synthetic-text and ba2motifs sets
# (rnp vs n2r, Optuna + ASHA), export the best configuration of each study, explain a few test
# inputs and write runs/sweep/<name>/report.html. Pass ARGS="tune_spaces/beer.yaml --data-dir PATH" for real data.
sweep: $(STAMP)
	$(VENV)/bin/n2r sweep --storage runs/sweep $(ARGS)

clean:
	rm -rf $(VENV) runs
