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

.PHONY: install demo test check lint build clean dirs sandbox postgres slapd chromium office proxy hub wheelhouse labextension doc-images

# The course's bytecode, compiled as pip compiles an installed package's: with PYTHONDONTWRITEBYTECODE=1 (CI sets it)
# Python would compile every module of the checkout again on every start of `python -m course`.
install: $(STAMP) labextension dirs sandbox
	@$(PY) -m compileall -q course

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

# The hub's LDAP tests (tests/test_ldap.py) start their own throwaway OpenLDAP server on 127.0.0.1. The package is told
# (debconf) to skip its own server configuration, so installing it leaves no directory and no LDAP service running.
slapd:
	@[ -x /usr/sbin/slapd ] || [ "$$(id -u)" != 0 ] || ! command -v debconf-set-selections >/dev/null 2>&1 || \
	  echo "slapd slapd/no_configuration boolean true" | debconf-set-selections
	$(call apt_need,/usr/sbin/slapd,slapd)

# --- JupyterHub (deploy/, docs/hub.md) ---------------------------------------------------------------------------
# The hub tests drive Debian's chromium (apt; Playwright never downloads a browser) and need the proxy from npm,
# installed locally in deploy/node_modules from deploy/package-lock.json (never npm -g).
chromium:
	$(call apt_need,chromium,chromium)

# The print tests (tests/test_print.py) print HR's workbook with LibreOffice and read the PDFs with poppler.
office:
	$(call apt_need,soffice,libreoffice-calc-nogui)
	$(call apt_need,pdftotext,poppler-utils)

PROXY := deploy/node_modules/.bin/configurable-http-proxy
proxy: $(PROXY)
$(PROXY): deploy/package.json deploy/package-lock.json
	$(call apt_need,npm,npm)
	cd deploy && npm ci --no-audit --no-fund --loglevel=error
	touch $@

# A local trial hub on 127.0.0.1 with a few fictional staff (demo/roster.csv) and one instructor. Ctrl-C stops it.
HUB_PORT ?= 8000
hub: install proxy
	$(PY) deploy/hubctl.py --port $(HUB_PORT)

# Every wheel the course needs (with JupyterHub and the LDAP authenticator) for a closed network (LGWAN), plus the
# proxy's node_modules. Install there with:  python3 -m venv V && V/bin/pip install --no-index --find-links $(WHEELHOUSE) 'sano-dx-course[hub]'
# The wheels must suit the server's Python (Debian 12: /usr/bin/python3 3.11.2), so pip runs from that interpreter.
WHEELHOUSE ?= runtime/wheelhouse
WHEELHOUSE_PYTHON ?= $(shell command -v /usr/bin/python3 || echo $(PYTHON))
wheelhouse: proxy $(LABEXT)
	rm -rf $(WHEELHOUSE) $(WHEELHOUSE).venv && mkdir -p $(WHEELHOUSE)
	$(WHEELHOUSE_PYTHON) -m venv $(WHEELHOUSE).venv
	$(WHEELHOUSE).venv/bin/pip wheel --quiet --disable-pip-version-check --wheel-dir $(WHEELHOUSE) '.[hub]'
	rm -rf $(WHEELHOUSE).venv build  # build/: setuptools' in-tree scratch folder for the course's own wheel
	tar -czf $(WHEELHOUSE)/configurable-http-proxy.tar.gz -C deploy package.json package-lock.json node_modules
	@echo "$(WHEELHOUSE) に $$(ls $(WHEELHOUSE)/*.whl | wc -l) 個の wheel を用意しました（$$(du -sh $(WHEELHOUSE) | cut -f1)）。"

# --- the 研修 panel (labextension/, docs/panel.md) ---------------------------------------------------------------------
# A JupyterLab extension in TypeScript, built with JupyterLab's own tooling (@jupyter/builder through jupyter-builder,
# which comes with JupyterLab) from the committed lockfile, into course/labextension/ (git-ignored: generated). The
# wheel carries that folder as shared data (pyproject.toml), so a server installing from the wheelhouse needs no npm.
# Here the venv links to the folder, so a rebuild shows up at the next page load.
LABEXT_DIR := labextension
LABEXT_MODULES := $(LABEXT_DIR)/node_modules/.package-lock.json
LABEXT := course/labextension/package.json
LABEXT_LINK := $(VENV)/share/jupyter/labextensions/@sano-dx/kenshu
labextension: $(LABEXT) $(LABEXT_LINK)/package.json

$(LABEXT_MODULES): $(LABEXT_DIR)/package.json $(LABEXT_DIR)/package-lock.json
	$(call apt_need,npm,npm)
	cd $(LABEXT_DIR) && npm ci --no-audit --no-fund --loglevel=error
	touch $@

$(LABEXT): $(LABEXT_MODULES) $(STAMP) $(LABEXT_DIR)/tsconfig.json $(LABEXT_DIR)/install.json $(wildcard $(LABEXT_DIR)/src/*.ts $(LABEXT_DIR)/style/* $(LABEXT_DIR)/schema/*.json)
	rm -rf course/labextension $(LABEXT_DIR)/lib $(LABEXT_DIR)/tsconfig.tsbuildinfo
	cd $(LABEXT_DIR) && PATH="$(CURDIR)/$(VENV)/bin:$$PATH" npm run --silent build

$(LABEXT_LINK)/package.json: $(LABEXT)
	rm -rf $(LABEXT_LINK) && mkdir -p $(dir $(LABEXT_LINK))
	ln -s $(CURDIR)/course/labextension $(LABEXT_LINK)

dirs:
	@mkdir -p $(JUPYTER_CONFIG_DIR) $(JUPYTER_DATA_DIR) $(JUPYTER_RUNTIME_DIR) $(IPYTHONDIR) $(MPLCONFIGDIR)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	# rfc3987-syntax (an optional extra of jsonschema, via jupyter-events) compiles 38 Lark grammars at import and
	# doubles every nbgrader start-up (nbgrader --version: 4.8 s with it, 2.1 s without). pip check stays clean and
	# jsonschema only loses its "iri" format check; nothing here needs it.
	$(PY) -m pip uninstall --quiet --yes rfc3987-syntax
	touch $@

demo: install
	$(PY) -m course demo

# Everything: lint, types, unit tests, every notebook (source under nbval, student versions under nbgrader's
# Validator), the grading pipeline and sandbox, PostgreSQL, and the hub in Chromium.
test: install postgres slapd chromium proxy office lint
	$(PY) -m pytest

# The fast inner loop (about a minute on two cores): lint, types and the tests that run no notebook, no grading
# pipeline and no hub. One module's notebooks: COURSE_TEST_MODULES=B05 $(PY) -m pytest tests/test_notebooks.py source/b05
check: install lint
	$(PY) -m pytest -q -m "not notebook and not pipeline and not hub and not print" tests

# The staff's screens in README.md and docs/hub.md (docs/images/): the 研修 panel's browser test, run through the real
# records service, writes them when SANO_DOC_IMAGES=1 (about 3 minutes; root, as every hub test).
doc-images: install chromium proxy
	SANO_DOC_IMAGES=1 $(PY) -m pytest -q -m hub tests/test_panel.py -k journey

lint: install
	$(PY) -m ruff check course tests bench nbgrader_config.py deploy
	$(PY) -m ruff format --check course tests bench nbgrader_config.py deploy
	$(PY) -m mypy

build: install
	$(PY) -m course build

clean:
	rm -rf runtime .pytest_cache
