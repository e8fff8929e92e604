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

.PHONY: install demo test lint build clean dirs sandbox postgres

install: $(STAMP) dirs sandbox

# Debian packages, installed here when we may (root with apt-get), otherwise asked of the administrator.
define apt_need
	@command -v $(1) >/dev/null 2>&1 || ls $(1) >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "$(2) を導入します (apt-get install $(2))"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(2) >/dev/null; \
	  else \
	    echo "$(2) がありません。管理者に apt-get install $(2) を依頼してください。" >&2; exit 1; \
	  fi; }
endef

# Autograding runs student code inside bubblewrap.
sandbox:
	$(call apt_need,bwrap,bubblewrap)

# The tests also run the gradebook on a throwaway PostgreSQL server.
postgres:
	$(call apt_need,/usr/lib/postgresql/*/bin/initdb,postgresql)

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

test: install postgres lint
	$(PY) -m pytest

lint: install
	$(PY) -m ruff check course tests nbgrader_config.py
	$(PY) -m ruff format --check course tests nbgrader_config.py
	$(PY) -m mypy

build: install
	$(PY) -m course build

clean:
	rm -rf runtime .pytest_cache
