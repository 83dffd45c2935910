# Pantheon — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test lint bench migrate install clean chromium

# The browser tests drive Debian's chromium package (never a downloaded browser); override with
# `make test CHROMIUM=/path/to/chromium` on another system.
CHROMIUM ?= /usr/bin/chromium
export PANTHEON_CHROMIUM := $(CHROMIUM)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/pantheon serve

migrate: $(STAMP)
	$(BIN)/pantheon migrate

test: $(STAMP) chromium
	$(BIN)/python -m pytest

# Installs the chromium package when it is missing and this user may (root, or passwordless sudo).
chromium:
	@if [ ! -x "$(CHROMIUM)" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium package for the browser tests..."; \
	    apt-get update && apt-get install -y chromium; \
	  elif command -v apt-get >/dev/null && sudo -n true 2>/dev/null; then \
	    echo "Installing Debian's chromium package for the browser tests..."; \
	    sudo apt-get update && sudo apt-get install -y chromium; \
	  else \
	    echo "The browser tests need Chromium at $(CHROMIUM), and this user cannot install it."; \
	    echo "On Debian or Ubuntu: sudo apt-get install -y chromium   (then run make test again)"; \
	    echo "Elsewhere: install Chromium and run  make test CHROMIUM=/path/to/chromium"; \
	    exit 1; \
	  fi; \
	  test -x "$(CHROMIUM)" || { echo "chromium was installed but $(CHROMIUM) is still missing"; exit 1; }; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pantheon-test
