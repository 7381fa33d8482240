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

$(STAMP): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet -e ".[test]"
	touch $(STAMP)

test: $(STAMP)
	$(VENV)/bin/python -m pytest -q tests

# Until the Ray pipeline lands, the main job is a single-process training of the demo config.
sweep: $(STAMP)
	$(VENV)/bin/n2r train n2r/configs/demo-synthetic-text.yaml --out runs/demo

clean:
	rm -rf $(VENV) runs
