# Two commands on a fresh clone: `make run` (serve the bundled model) and `make test` (the whole suite).
# Both create .venv on first use. torch is pinned: on the project's machines 2.13.0 is a local CPU wheel,
# while an unpinned torch would download a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0

.PHONY: run test bench docs clean

$(VENV)/.run-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.run-installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

run: $(VENV)/.run-installed
	$(VENV)/bin/latentvj serve $(ARGS)

test: $(VENV)/.dev-installed
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.run-installed
	$(VENV)/bin/latentvj bench --sizes 64,128,256 $(ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

docs: $(VENV)/.run-installed
	$(PY) -m latentvj.bridge.params docs/osc.md
