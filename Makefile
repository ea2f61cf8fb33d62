# The README's two commands: `make run` and `make test`. Both create .venv when it is missing.
# `make run` installs what the app needs and no more; `make test` adds the `test` extra (pytest, playwright, ruff
# and llama-cpp-python, which compiles llama.cpp from source: minutes, once) and Debian's chromium.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
APP     := $(VENV)/.installed-app
TESTS   := $(VENV)/.installed-test
LLAMA   := $(VENV)/.installed-llama
# torch first (same pip command): otherwise pip resolves a CUDA build of a newer torch.
TORCH   ?= torch==2.13.0

.PHONY: run test llama screenshots setup browser demo bench lint clean

$(APP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)" -e .
	$(BIN)/python -m lep_core.export.converter install
	touch $@

$(TESTS): $(APP)
	$(BIN)/pip install -q "$(TORCH)" -e ".[test]"
	touch $@ $(LLAMA)

# Optional for users: llama.cpp in Python, to quantize GGUF exports to k-quants and check them in llama.cpp.
$(LLAMA): $(APP)
	$(BIN)/pip install -q "$(TORCH)" -e ".[llama]"
	touch $@

setup: $(APP)

llama: $(LLAMA)

browser:
	@test -x /usr/bin/chromium || { apt-get update -qq && apt-get install -y -qq chromium >/dev/null; }

demo: $(APP)
	$(BIN)/lep prepare-demo

run: demo
	$(BIN)/python launch.py

test: $(TESTS) browser demo lint
	$(BIN)/python -m pytest tests

# Refresh the README's images on purpose (the browser tests write them to a temporary folder otherwise).
screenshots: $(TESTS) browser demo
	LEP_SCREENSHOTS=assets $(BIN)/python -m pytest tests/browser

# Imports sorted and pyflakes-clean (part of `make test`); `ruff check --fix` sorts them.
lint: $(TESTS)
	$(BIN)/ruff check lep_core lep_studio tests launch.py

bench: $(APP)
	$(BIN)/lep bench

clean:
	rm -rf $(VENV) .pytest_cache
