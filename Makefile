# Two targets a user needs: `make run` (install, then start the daemon on the default
# config) and `make test` (install with the test extras and plugins, then lint, type-check
# and run every test suite).
#
# Installs happen only when a pyproject.toml (or this file) changed since the last one:
# a stamp file in the venv records each install, and pip's output goes to
# $(VENV)/install.log (shown only when the install fails).
VENV ?= .venv
PYTHON ?= python3
BIN = $(VENV)/bin
PIP = $(BIN)/python -m pip
INSTALL_LOG = $(VENV)/install.log

PLUGIN_DIRS = plugins/daily_report plugins/daily_stats plugins/mail_notify
TEST_PLUGIN_DIRS = tests/plugins_pkgs/bingo-test-plugin tests/plugins_pkgs/bingo-broken-plugin
PLUGINS = $(foreach p,$(PLUGIN_DIRS),-e $(p))
TEST_PLUGINS = $(foreach p,$(PLUGIN_DIRS),-e '$(p)[test]') $(foreach p,$(TEST_PLUGIN_DIRS),-e $(p))
TEST_EXTRAS = '.[test,lint,embedded]'
PROJECTS = Makefile pyproject.toml $(addsuffix /pyproject.toml,$(PLUGIN_DIRS))

# pip quietly into the log; on failure print the log and stop.
pip_install = @echo "installing $(1) into $(VENV) (log: $(INSTALL_LOG))"; \
	$(PIP) install $(2) >$(INSTALL_LOG) 2>&1 || { cat $(INSTALL_LOG); exit 1; }

# The suite on two processes: files with slow-marked tests run one after another in one
# of them (tests/conftest.py groups them), everything else beside them.
# `make test PYTEST_PARALLEL=` runs it in one process.
PYTEST_PARALLEL ?= -n 2 --dist loadgroup

.PHONY: run test test-oldest install install-test lint bench docs

$(BIN)/python:
	@$(PYTHON) -m venv $(VENV)
	$(call pip_install,the latest pip,--upgrade pip)

$(VENV)/.installed: $(PROJECTS) | $(BIN)/python
	$(call pip_install,bingo-scheduler and its plugins,-e '.[embedded]' $(PLUGINS))
	@touch $@

$(VENV)/.installed-test: $(PROJECTS) $(addsuffix /pyproject.toml,$(TEST_PLUGIN_DIRS)) | $(BIN)/python
	$(call pip_install,bingo-scheduler with test extras and plugins,-e $(TEST_EXTRAS) $(TEST_PLUGINS))
	@touch $@

$(VENV)/.installed-bench: $(PROJECTS) | $(BIN)/python
	$(call pip_install,bingo-scheduler with bench extras,-e '.[bench]' $(PLUGINS))
	@touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

run: $(VENV)/.installed
	$(BIN)/bingo-scheduler -c config/bingo-scheduler.yaml

# Every step runs even when an earlier one failed, so one run shows all problems; the
# target fails if any step failed. Any non-zero exit is a failure, pytest's 5 ("no tests
# collected") included. Each plugin's suite runs from the plugin's own folder, with its
# own pytest settings.
test: $(VENV)/.installed-test
	@failed=""; \
	step() { name="$$1"; shift; echo "==> $$name"; "$$@" || failed="$$failed; $$name (exit $$?)"; }; \
	step "ruff check" $(BIN)/ruff check bingo_core tests bench plugins; \
	step "ruff format --check" $(BIN)/ruff format --check bingo_core; \
	step "mypy" $(BIN)/mypy; \
	step "pytest" $(BIN)/pytest $(PYTEST_PARALLEL); \
	for p in $(PLUGIN_DIRS); do \
	  step "pytest $$p" sh -c 'cd "$$1" && exec "$$2"' sh "$$p" "$(abspath $(BIN))/pytest"; \
	done; \
	if [ -n "$$failed" ]; then echo "make test FAILED: $${failed#; }"; exit 1; fi; \
	echo "make test: every step passed"

# The same suite on the oldest release of every core dependency pyproject.toml allows
# (ci/oldest.txt), in a venv of its own, so each lower bound is a tested promise; the
# test tools themselves are the newest. `.ci/run` runs it after `make test`.
OLDEST = .venv-oldest
$(OLDEST)/.installed-test: $(PROJECTS) ci/oldest.txt
	@test -x $(OLDEST)/bin/python || $(PYTHON) -m venv $(OLDEST)
	@echo "installing the oldest allowed dependencies into $(OLDEST) (log: $(OLDEST)/install.log)"
	@$(OLDEST)/bin/python -m pip install --upgrade pip >$(OLDEST)/install.log 2>&1 && \
	  $(OLDEST)/bin/python -m pip install -c ci/oldest.txt -e '.[test,lint,embedded]' $(TEST_PLUGINS) \
	  >>$(OLDEST)/install.log 2>&1 || { cat $(OLDEST)/install.log; exit 1; }
	@touch $@

test-oldest: $(OLDEST)/.installed-test
	@$(OLDEST)/bin/python -m pip list --format=freeze 2>/dev/null | \
	  grep -iE "^($$(grep -vE '^#|^$$' ci/oldest.txt | cut -d= -f1 | paste -sd'|'))==" | \
	  paste -sd' ' | sed 's/^/==> pytest on /'
	$(OLDEST)/bin/pytest $(PYTEST_PARALLEL)

lint: $(VENV)/.installed-test
	$(BIN)/ruff check bingo_core tests bench plugins
	$(BIN)/ruff format --check bingo_core
	$(BIN)/mypy

bench: $(VENV)/.installed-bench
	$(BIN)/python bench/throughput.py

# The option table of docs/plugins.md is generated from bingo_core/options.py
# (tests/test_option_table.py fails when it differs).
docs: $(VENV)/.installed
	$(BIN)/python -c 'from pathlib import Path; from bingo_core.options import with_table; \
	page = Path("docs/plugins.md"); page.write_text(with_table(page.read_text()))'
