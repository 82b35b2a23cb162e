# Two commands: `make up` runs the simulated compound, `make test` runs the whole suite.
# Both create .venv when missing and install what they need (Debian packages via apt-get for tests).

PY       ?= python3
VENV     := .venv
BIN      := $(VENV)/bin
ARGS     ?=
APT_PKGS := mosquitto mosquitto-clients nats-server victoria-metrics chromium fonts-wqy-microhei postgresql python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly
APT_BINS := /usr/sbin/mosquitto /usr/sbin/nats-server /usr/bin/victoria-metrics /usr/bin/chromium /usr/share/fonts/truetype/wqy/wqy-microhei.ttc /usr/bin/pg_ctlcluster /usr/lib/python3/dist-packages/gi/__init__.py /usr/lib/*/girepository-1.0/GstRtspServer-1.0.typelib /usr/lib/*/gstreamer-1.0/libgstrtp.so /usr/lib/*/gstreamer-1.0/libgstx264.so
PYTEST_ARGS ?=

.PHONY: up test lint imports typecheck pytest bench clean venv install install-test system-deps

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet 'torch==2.13.0' onnxscript
	touch $(VENV)/.installed $@

venv install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

system-deps:
	@missing=""; for b in $(APT_BINS); do [ -e $$b ] || missing=yes; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages: $(APT_PKGS)"; \
	  SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PKGS) >/dev/null; \
	fi

up: $(VENV)/.installed
	@$(BIN)/compound up $(ARGS)

lint: install-test
	$(BIN)/ruff check compound edge hub simulators models tests bench

# The package flow (README, "Layout"): contracts in pyproject.toml, [tool.importlinter].
imports: install-test
	$(BIN)/lint-imports --no-cache

typecheck: install-test
	$(BIN)/mypy

pytest: install-test system-deps
	$(BIN)/pytest $(PYTEST_ARGS)

test: system-deps install-test lint imports typecheck pytest

bench: install-test system-deps
	$(BIN)/python bench/edge_publish.py

clean:
	rm -rf $(VENV) .compound test-artifacts .pytest_cache .mypy_cache .ruff_cache
