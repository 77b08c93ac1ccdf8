# The README names two targets: `make demo` and `make test`. Both install what
# they need (a virtualenv in .venv, the control plane built into the cache
# outside the checkout by testenv/build.sh) and are safe to run again.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# npm packages the tests read: GitHub's OpenAPI description and webhook examples.
NODE_STAMP := tests/fakes/node_modules/.installed

.PHONY: demo test lint unit testenv clean

demo: $(STAMP) testenv
	$(BIN)/gitops-bot demo

test: lint $(STAMP) $(NODE_STAMP) testenv
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

unit: $(STAMP) $(NODE_STAMP)
	$(BIN)/pytest tests/unit

testenv:
	bash testenv/build.sh >/dev/null

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test,lint]'
	touch $@

$(NODE_STAMP): tests/fakes/package-lock.json
	npm ci --prefix tests/fakes --no-audit --no-fund --loglevel=error
	touch $@

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
