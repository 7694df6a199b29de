# ancre — the project's interface for humans and CI. Every target is idempotent.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed
LOCK   := requirements/dev.lock
PKGS   := -m ancre -m ancre._verify -p ancre.trust -p ancre.issuer -p ancre.verifier -p ancre.wallet -p ancre.registry -p ancre.cli -p ancre.storage -p ancre.web

.PHONY: install node-deps test test-fast lint format demo bench lock clean docs docs-reference release-check fuzz fuzz-ci audit soak soak-ci

install: $(STAMP)

# Re-install when the lock or the project's metadata changes; strict editable mode builds a
# link tree mypy can follow (re-run `make install` after adding a module file).
$(STAMP): $(LOCK) pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	test -x $(UV) || $(BIN)/python -m pip install --quiet --disable-pip-version-check "uv==0.13.9"
	$(UV) pip sync --quiet --require-hashes --compile-bytecode --python $(BIN)/python $(LOCK)
	$(UV) pip install --quiet --python $(BIN)/python --no-deps \
	    --config-settings editable_mode=strict -e .
	# Machines here run with PYTHONDONTWRITEBYTECODE=1: compile once, or every start pays.
	$(BIN)/python -m compileall -q -j 0 build/ >/dev/null
	touch $(STAMP)

# Test peers from npm, each pinned by its own lock and reinstalled only when that lock
# changes: the ProConnect stand-in OpenID provider (tests/oidc/, `oidc-provider`) and the
# independent OpenID4VCI client the issuer's interop test runs (tests/node/).
OIDC_STAMP := tests/oidc/node_modules/.installed
NODE_STAMP := tests/node/node_modules/.installed
BROWSER_STAMP := tests/browser/node_modules/.installed
# The independent OpenID4VP verifier the wallet's interop test answers (tests/node_verifier/).
NODE_VERIFIER_STAMP := tests/node_verifier/node_modules/.installed
# An OpenID4VCI issuer that is not ancre (tests/node_issuer/), for the wallet's interop test.
NODE_ISSUER_STAMP := tests/node_issuer/node_modules/.installed
# Digital Bazaar's Data Integrity stack (tests/node_di/), the cryptosuites' independent peer.
NODE_DI_STAMP := tests/node_di/node_modules/.installed
# The OpenWallet Foundation's SD-JWT library facing ancre's vc+sd-jwt, and Transmute's COSE
# library facing vc+cose (tests/node_sdjwt/).
NODE_SDJWT_STAMP := tests/node_sdjwt/node_modules/.installed

node-deps: $(OIDC_STAMP) $(NODE_STAMP) $(BROWSER_STAMP) $(NODE_VERIFIER_STAMP) $(NODE_ISSUER_STAMP) \
	$(NODE_DI_STAMP) $(NODE_SDJWT_STAMP)

tests/%/node_modules/.installed: tests/%/package.json tests/%/package-lock.json
	npm ci --prefix tests/$* --no-audit --no-fund --loglevel=error
	touch $@

test: install node-deps
	$(BIN)/python -m pytest --cov --cov-report=term $(PYTEST_ARGS)

# Development loop: everything but the tests marked `slow` (over ~1 s: browser, demo and
# README tours, interop peers). `make test` still runs them all.
test-fast: install
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy $(PKGS)
	# The examples and the docs generator are read as models: typed as strictly.
	$(BIN)/mypy --strict examples docs/gen_reference.py docs/hooks.py
	$(BIN)/mypy --strict bench/soak

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

demo: install
	$(BIN)/ancre demo

bench: install
	$(BIN)/python -m bench

# The documentation site (mkdocs.yml): strict, offline; the hook regenerates docs/reference/.
# Never with -q: mkdocs counts the warnings it logs, so a quiet strict build passes anything.
docs: install
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The CLI and HTTP reference pages, from the Typer app and the services' OpenAPI documents.
docs-reference: install
	$(BIN)/python docs/gen_reference.py

# sdist + wheel, twine check, the wheel installed in a fresh venv verifying the samples.
release-check: install
	.ci/release-check

# Coverage-guided fuzzing (atheris) of every parser, FUZZ_SECONDS each (tests/fuzz/
# atheris_run.py); a crashing input lands in fuzz-crashes/. `make fuzz-ci`: the short run CI
# does, every parser in one process (<= 60 s in all). The Hypothesis properties (tests/fuzz/)
# run with the tests; FUZZ_PROFILE=long runs them longer (docs/security.md).
FUZZ_SECONDS ?= 60
fuzz: install
	$(BIN)/python tests/fuzz/atheris_run.py --seconds $(FUZZ_SECONDS)

fuzz-ci: install
	$(BIN)/python tests/fuzz/atheris_run.py --seconds 35 --seed 1 all

# Load and fault campaign on loopback (bench/soak/, docs/security.md "Load and fault
# campaign"): registry, issuer and verifier as real processes on a throw-away PostgreSQL,
# SOAK_SECONDS of steady load each, a kill -9 of each mid-load, PostgreSQL restarted under
# load; prints the summary and exits non-zero when an invariant fails (SOAK_ARGS: e.g.
# --json soak.json). `make soak-ci`: the short form CI runs (under 2.5 min).
SOAK_SECONDS ?= 60
soak: install
	$(BIN)/python -m bench.soak --seconds $(SOAK_SECONDS) $(SOAK_ARGS)

soak-ci: install
	$(BIN)/python -m bench.soak --seconds 8 --fault-seconds 3 $(SOAK_ARGS)

# Known vulnerabilities in the pinned Python and npm dependencies (.ci/audit.py). A
# vulnerability service that cannot be reached is reported as NOT PERFORMED, a warning unless
# AUDIT_REQUIRED=1 (docs/security.md, "Fuzzing and supply chain"). Offline, against a snapshot of
# OSV records (a folder or a bare git clone of pypa/ or github/advisory-database):
# `make audit ADVISORY_DB=PATH`.
audit: install
	$(BIN)/python .ci/audit.py $(if $(ADVISORY_DB),--advisory-db $(ADVISORY_DB))

# Build deploy/Dockerfile for real and check the image (uid 10001, no compiler, no pip,
# `ancre verifier serve` answers /health). Needs Docker (or root + dockerd); by hand, not in
# CI (docs/deployment.md, "How the image is checked").
.PHONY: docker-check
docker-check:
	deploy/check-image

# Regenerate the exact pins from the ranges in pyproject.toml, each with its sha256 hashes
# (`make install` syncs with --require-hashes: a file not in the lock is refused). Resolved
# for CPython >= 3.11.5: pymdown-extensions 13 (docs) needs it, and only a latest release
# can be audited here (docs/security.md).
lock:
	test -x $(UV) || ($(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet "uv==0.13.9")
	$(UV) pip compile --quiet --generate-hashes --python-version 3.11.5 --extra dev --extra postgres --extra pkcs11 pyproject.toml -o $(LOCK)

clean:
	rm -rf $(VENV) build dist site *.egg-info .mypy_cache .ruff_cache .pytest_cache .coverage .hypothesis fuzz-crashes
