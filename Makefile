# Two targets a user needs: `make run` (install, then start the daemon on the default
# config) and `make test` (install with the test extras and plugins, then run the suite).
VENV ?= .venv
PYTHON ?= python3
PIP = $(VENV)/bin/python -m pip
PLUGINS = -e plugins/daily_report -e plugins/daily_stats -e plugins/mail_notify
TEST_PLUGINS = -e tests/plugins_pkgs/bingo-test-plugin -e tests/plugins_pkgs/bingo-broken-plugin

.PHONY: run test install install-test lint bench

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

install: $(VENV)/bin/python
	$(PIP) install -q -e '.[mysql,dashboard]' $(PLUGINS)

install-test: $(VENV)/bin/python
	$(PIP) install -q -e '.[test,lint]' $(PLUGINS) $(TEST_PLUGINS)

run: install
	$(VENV)/bin/bingo-scheduler -c config/bingo-scheduler.yaml

test: install-test
	$(VENV)/bin/pytest

lint: install-test
	$(VENV)/bin/ruff check bingo_core tests bench
	$(VENV)/bin/mypy

bench: $(VENV)/bin/python
	$(PIP) install -q -e '.[bench]' $(PLUGINS)
	$(VENV)/bin/python bench/throughput.py
