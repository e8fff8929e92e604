# 佐野市デジタル人材育成 e-ラーニング: one command each for the README's jobs.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Keep Jupyter's per-user state inside the checkout, so nothing is written to the home folder.
export JUPYTER_CONFIG_DIR := $(CURDIR)/runtime/jupyter/config
export JUPYTER_DATA_DIR := $(CURDIR)/runtime/jupyter/data
export JUPYTER_RUNTIME_DIR := $(CURDIR)/runtime/jupyter/runtime
export IPYTHONDIR := $(CURDIR)/runtime/jupyter/ipython
export MPLCONFIGDIR := $(CURDIR)/runtime/jupyter/matplotlib
export PYTHONUTF8 := 1
export PYDEVD_DISABLE_FILE_VALIDATION := 1

.PHONY: install demo test lint build clean dirs sandbox

install: $(STAMP) dirs sandbox

# Autograding runs student code inside bubblewrap (Debian package "bubblewrap"). Installed here when we may.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "bubblewrap を導入します (apt-get install bubblewrap)"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
	  else \
	    echo "採点用のサンドボックス bubblewrap がありません。管理者に apt-get install bubblewrap を依頼してください。" >&2; exit 1; \
	  fi; }

dirs:
	@mkdir -p $(JUPYTER_CONFIG_DIR) $(JUPYTER_DATA_DIR) $(JUPYTER_RUNTIME_DIR) $(IPYTHONDIR) $(MPLCONFIGDIR)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	# rfc3987-syntax (an optional extra of jsonschema, via jupyter-events) compiles 38 grammars at import and
	# doubles every nbgrader start-up (shared/research/nbgrader_baseline.md §1); nothing here needs it.
	$(PY) -m pip uninstall --quiet --yes rfc3987-syntax
	touch $@

demo: install
	$(PY) -m course demo

test: install lint
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check course tests nbgrader_config.py
	$(PY) -m ruff format --check course tests nbgrader_config.py
	$(PY) -m mypy

build: install
	$(PY) -m course build

clean:
	rm -rf runtime .pytest_cache
