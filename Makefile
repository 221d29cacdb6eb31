# `make run` and `make test` each build .venv when it is missing or older than pyproject.toml.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: run test browser bench wrk worker sandbox lint clean

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(BIN)/mysafe-bot serve

worker: $(STAMP)
	$(BIN)/mysafe-bot worker

sandbox: $(STAMP)
	$(BIN)/mysafe-bot sandbox

# The browser test drives Debian's Chromium (with an emoji font, so its screenshots show the
# messages' status icons); installed here when missing and apt-get can (root). Without it that
# test is skipped, saying why.
CHROMIUM := /usr/bin/chromium
EMOJI    := /usr/share/fonts/truetype/noto/NotoColorEmoji.ttf

test: $(STAMP) browser
	$(BIN)/python -m pytest

browser:
	@{ test -x $(CHROMIUM) && test -f $(EMOJI); } || ! command -v apt-get >/dev/null || \
	  [ "$$(id -u)" != 0 ] || \
	  { echo "installing Debian's chromium for the browser test"; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; } || \
	  echo "could not install chromium: the browser test will be skipped"

# The ack rows are driven by Debian's wrk (a client that costs little CPU); installed here when
# missing and apt-get can (root). Without it they use the Python load generator, and say so.
bench: $(STAMP) wrk
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

wrk:
	@command -v wrk >/dev/null || ! command -v apt-get >/dev/null || [ "$$(id -u)" != 0 ] || \
	  { echo "installing Debian's wrk for the benchmark's ack rows"; \
	    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive \
	    apt-get install -y -qq wrk >/dev/null; } || \
	  echo "could not install wrk: the ack rows use the Python load generator"

lint: $(STAMP)
	$(BIN)/ruff check app commands tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

clean:
	rm -rf $(VENV) .pytest_cache .mysafe-bot test-artifacts
