# mmadpd — the two commands a newcomer needs:  make demo   and   make test
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmadpd-installed
FORCE ?= 0
PYTEST_ARGS ?=

.PHONY: install test demo clean-venv

# Re-runs the install script only when a requirement, setup.py or the script changed;
# a second `make install` is a no-op taking well under a second.
$(STAMP): requirements/*.txt setup.py tools/install_deps.sh
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "[install] installing the pinned stack into $(VENV) (first time: ~4-6 min with a prebuilt mmcv wheel, +15-30 min to build mmcv ops)"
	tools/install_deps.sh $(PY)
	@touch $(STAMP)

install: $(STAMP)

test: install
	$(PY) -m pytest tests $(PYTEST_ARGS)

demo: install
	$(PY) tools/demo.py --work-dir work_dirs/demo $(if $(filter 1,$(FORCE)),--force,)

clean-venv:
	rm -rf $(VENV)

.PHONY: table1
# Paper Table 1 on the phantom set: every row trained (or reused) and tested, then
# work_dirs/table1/table1.md and table1.json (README "Table 1"); FORCE=1 retrains.
table1: install
	$(PY) tools/analysis_tools/table1.py --work-dir work_dirs/table1 $(if $(filter 1,$(FORCE)),--force,)
