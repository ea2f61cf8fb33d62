# The README's two commands: `make run` and `make test`. Both create .venv when it is missing.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
# torch first (same pip command): otherwise pip resolves a CUDA build of a newer torch.
TORCH   ?= torch==2.13.0

.PHONY: run test screenshots setup browser demo bench lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)" -e ".[test]"
	$(BIN)/python -m lep_core.export.converter install
	touch $(STAMP)

setup: $(STAMP)

browser:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

demo: $(STAMP)
	$(BIN)/lep prepare-demo

run: demo
	$(BIN)/python launch.py

test: $(STAMP) browser demo lint
	$(BIN)/python -m pytest tests

# Refresh the README's images on purpose (the browser tests write them to a temporary folder otherwise).
screenshots: $(STAMP) browser demo
	LEP_SCREENSHOTS=assets $(BIN)/python -m pytest tests/browser

# Imports sorted and pyflakes-clean (part of `make test`); `ruff check --fix` sorts them.
lint: $(STAMP)
	$(BIN)/ruff check lep_core lep_studio tests launch.py

bench: $(STAMP)
	$(BIN)/lep bench

clean:
	rm -rf $(VENV) .pytest_cache
