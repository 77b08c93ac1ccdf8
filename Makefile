# The README names two targets: `make demo` and `make test`. Both install what
# they need (a virtualenv in .venv, the control plane built into the cache
# outside the checkout by testenv/build.sh) and are safe to run again.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# npm packages the tests read: GitHub's OpenAPI description and webhook examples.
NODE_STAMP := tests/fakes/node_modules/.installed

.PHONY: demo test test-k8s test-flux flux bench-flux lint unit testenv registry lock pin-image clean

demo: $(STAMP) testenv
	$(BIN)/gitops-bot demo

test: lint $(STAMP) $(NODE_STAMP) testenv registry
	$(BIN)/pytest

# The older Kubernetes versions of the supported range (the newest is
# testenv/build.sh's, which `make test` runs everything on): the smoke set
# (server-side apply, dry-run, ApplySet prune, health, drift; the k8s_smoke
# marker) once per version, on that version's own kube-apiserver,
# kube-controller-manager and kube-scheduler (testenv/k8s/<minor>/go.mod).
# Built first, so a cold build is not timed as a test.
K8S_MINORS := 1.35 1.34
test-k8s: $(STAMP) $(NODE_STAMP) testenv
	for m in $(K8S_MINORS); do bash testenv/k8s/build.sh $$m >/dev/null || exit 1; done
	for m in $(K8S_MINORS); do \
	  echo "make test-k8s: Kubernetes $$m"; \
	  GITOPS_BOT_K8S_VERSION=$$m $(BIN)/pytest -m k8s_smoke tests/integration || exit 1; \
	done

# Flux's source-controller and kustomize-controller, the peer bench/flux.py
# measures the puller against, built from their own pinned Go modules
# (testenv/flux/go.mod) into the cache like the control plane. Not part of
# `make test` (the flux_smoke test is deselected there): `make test-flux` builds
# them, then runs that one tiny reconcile, so the harness cannot rot.
flux:
	bash testenv/flux/build.sh >/dev/null

test-flux: $(STAMP) $(NODE_STAMP) testenv flux
	$(BIN)/pytest -m flux_smoke tests/integration

# Flux against the puller, same control plane, repository and objects
# (docs/benchmarks.md, "Against Flux"). BENCH_FLUX_ARGS: e.g. --objects 10000 --rounds 1.
bench-flux: $(STAMP) testenv flux
	nice $(BIN)/python bench/flux.py $(BENCH_FLUX_ARGS)

# The packaging linters: hadolint (Dockerfile), actionlint and zizmor (the
# action, the example workflows and this repository's own workflows), check-jsonschema (action.yml and the
# GitLab template against their vendored schemas). All but actionlint come
# with the lint extra; actionlint is built from its Go module, since only the
# Go module proxy serves it as source (its PyPI wrapper downloads a GitHub
# release at install time).
ACTIONLINT_VERSION := v1.7.12
LINTERS := $(VENV)/.actionlint-$(ACTIONLINT_VERSION)
WORKFLOWS := $(wildcard actions/github/*.yml .github/workflows/*.yml)

lint: $(STAMP) $(LINTERS)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/hadolint Dockerfile
	$(BIN)/actionlint -shellcheck=$(BIN)/shellcheck $(WORKFLOWS)
	$(BIN)/zizmor --quiet --offline --strict-collection --config actions/zizmor.yml action.yml $(WORKFLOWS)
	$(BIN)/check-jsonschema --quiet --builtin-schema vendor.github-actions action.yml
	$(BIN)/check-jsonschema --quiet --builtin-schema vendor.github-workflows $(WORKFLOWS)
	$(BIN)/check-jsonschema --quiet --builtin-schema vendor.gitlab-ci actions/gitlab/*.yml

$(LINTERS): $(STAMP)
	GOBIN=$(abspath $(BIN)) CGO_ENABLED=0 go install github.com/rhysd/actionlint/cmd/actionlint@$(ACTIONLINT_VERSION)
	touch $@

unit: $(STAMP) $(NODE_STAMP) $(LINTERS)
	$(BIN)/pytest tests/unit

testenv:
	bash testenv/build.sh >/dev/null

# The OCI registry the oci:// chart tests push to, built from its own pinned
# Go module (testenv/registry/go.mod), so pinning it never rebuilds the above.
registry:
	bash testenv/registry/build.sh >/dev/null

# The image's Python packages, locked with hashes (the Dockerfile installs them
# with --require-hashes): requirements.lock for the dependencies of
# pyproject.toml, requirements-build.lock for its build-system requirements.
# Versions already locked are kept; `make lock LOCK_FLAGS=--upgrade` takes the
# newest allowed. tests/unit/test_lock.py checks both against pyproject.toml.
LOCK := $(BIN)/uv pip compile --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(LOCK_FLAGS)

lock: $(STAMP)
	$(LOCK) --output-file requirements.lock pyproject.toml
	$(BIN)/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| $(LOCK) --output-file requirements-build.lock -

# After a release: name the image the release workflow published, by digest,
# in action.yml and the GitLab template (docs/release.md). REF is the
# reference its job summary prints: ghcr.io/gitops-bot/gitops-bot:X.Y.Z@sha256:...
pin-image: $(STAMP)
	$(BIN)/python actions/pin_image.py "$(REF)"

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
