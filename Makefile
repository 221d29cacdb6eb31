# `make run` and `make test` each build .venv when it is missing or older than the lock.
# Everything is installed from requirements-dev.lock (exact versions and hashes), never from the
# ranges in pyproject.toml; `make lock` refreshes the locks on purpose.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
LOCK     := requirements.lock
DEV_LOCK := requirements-dev.lock

.PHONY: run test test-fast browser bench wrk worker sandbox lint lock format docs clean messages

$(STAMP): pyproject.toml $(LOCK) $(DEV_LOCK)
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11) and "Python 3.11+ is required")'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes -r $(DEV_LOCK)
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@touch $(STAMP)

# The runtime lock first (what the image installs), then everything else resolved within it, so
# the two never disagree. uv resolves once for every platform and Python 3.11+.
UV_COMPILE = $(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(UPGRADE) pyproject.toml
lock: UPGRADE ?= --upgrade
lock: $(STAMP)
	$(UV_COMPILE) --extra build -o $(LOCK)
	$(UV_COMPILE) --extra build --extra test --extra dev -c $(LOCK) -o $(DEV_LOCK)

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

# The whole suite over both cores, slowest tests named at the end; what CI runs.
test: $(STAMP) browser
	$(BIN)/python -m pytest -n auto --durations=25

# Everything but the tests marked slow (process starts, deploy/, cluster, browser, long runs).
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n auto -m "not slow"

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

# The settings table of docs/configuration.md, rendered from app/foundations/settings.py's declarations
# (a test fails when they disagree).
docs: $(STAMP)
	$(BIN)/python -m app.foundations.settings_table

lint: $(STAMP)
	$(BIN)/ruff check app commands tests benchmarks
	$(BIN)/ruff format --check app commands tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# The message catalogs (app/i18n): extract every marked sentence into the template, then add the
# new ones to each language's .po (untranslated, for a translator) and drop the gone. No
# locations: files move, and the ids are what matter. Catalogs are compiled on first use.
POT := app/i18n/locales/messages.pot
messages: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg --no-location --sort-output \
	  --add-comments=Translators: --project=mysafe-bot -o $(POT) app commands
	$(BIN)/pybabel update -i $(POT) -d app/i18n/locales -D messages \
	  --no-fuzzy-matching --ignore-obsolete

format: $(STAMP)
	$(BIN)/ruff check --fix app commands tests benchmarks
	$(BIN)/ruff format app commands tests benchmarks

clean:
	rm -rf $(VENV) .pytest_cache .mysafe-bot test-artifacts
