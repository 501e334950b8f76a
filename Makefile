# Two commands set everything up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install demo test test-fast lint bench train clean

install: $(STAMP)

$(STAMP): pyproject.toml clients/python/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch first and pinned: its CPU build lies on this machine's disk (an unpinned one is CUDA).
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	# The Python SDK (its own distribution, lipsync-client), for `lipsync submit` and its tests.
	$(BIN)/pip install --quiet -e clients/python
	$(BIN)/python -m services.engine.faces.assets
	# The original service's Node.js example client, run by tests/e2e/test_seed_client.py.
	if command -v npm >/dev/null; then npm install --prefix tests/e2e/seed_client --no-audit --no-fund --silent; fi
	# Debian's chromium for the web console's browser tests and screenshots (Playwright drives it;
	# its own browser download is not used), and CJK fonts so Japanese renders in screenshots.
	{ command -v chromium >/dev/null && [ -d /usr/share/fonts/opentype/noto ]; } || { as_root=$$([ "$$(id -u)" -eq 0 ] || echo sudo); \
		$$as_root apt-get update -qq && $$as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver fonts-noto-cjk; }
	touch $(STAMP)

demo: install
	$(BIN)/python -m services.devtools.demo_stack --out demo-out

test: install
	$(BIN)/ruff check services proxy protos tests bench triton_models clients/python
	$(BIN)/mypy services proxy protos bench clients/python/lipsync_client
	$(BIN)/pytest -q
	# The JavaScript SDK, with Node's own test runner, against a real `lipsync dev`.
	if command -v node >/dev/null; then node --test clients/js/test/; fi

# The same without the tests that render real videos or start whole stacks (marked slow).
test-fast: install
	$(BIN)/ruff check services proxy protos tests bench triton_models clients/python
	$(BIN)/mypy services proxy protos bench clients/python/lipsync_client
	$(BIN)/pytest -q -m "not slow"

bench: install
	$(BIN)/python bench/render.py
	$(BIN)/python bench/sync.py
	$(BIN)/python bench/api.py
	$(BIN)/python bench/triton.py

# Training voices (Debian packages); the held-out ones are never trained on. Festival's are in
# main; Open JTalk's m001 Japanese voice (CC-BY 3.0) is in contrib, enabled here if it is off.
TRAIN_PACKAGES := festival festvox-kdlpc16k festvox-italp16k festvox-itapc16k \
	festvox-czech-ph festvox-suopuhe-lj festvox-suopuhe-mv festvox-ca-ona-hts \
	hts-voice-nitech-jp-atr503-m001
CONTRIB_SOURCES := /etc/apt/sources.list.d/lipsync-contrib.sources

train: install
	@missing=$$(for p in $(TRAIN_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  apt-get update -qq; \
	  if ! apt-cache policy hts-voice-nitech-jp-atr503-m001 | grep -q 'Candidate: [0-9]'; then \
	    printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: %s\nComponents: contrib\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
	      "$$(. /etc/os-release && echo $$VERSION_CODENAME)" > $(CONTRIB_SOURCES) && apt-get update -qq; \
	  fi; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	fi
	$(BIN)/python -m services.engine.training.train --seed 0

clean:
	rm -rf $(VENV) demo-out bench-out .pytest_cache .mypy_cache .ruff_cache
