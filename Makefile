# mmadpd — the two commands a newcomer needs:  make demo   and   make test
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.mmadpd-installed
FORCE ?= 0
PYTEST_ARGS ?=

.PHONY: install test demo clean-venv fuzz

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

# The viewer's page in headless Chromium. Debian's chromium + chromium-driver are system
# packages (apt-get as root, ~380 MB installed), so `make test` does not install them and
# skips this test, with the reason, when they are missing.
.PHONY: test-browser
test-browser: install
	tools/install_browser.sh
	$(PY) -m pytest tests/tools/test_serve.py $(PYTEST_ARGS)

# The fuzz tests (tests/**/test_*fuzz*.py) with 10x their `make test` examples and a printed
# seed; replay a run with `make fuzz FUZZ_SEED=<seed>`.
ifndef FUZZ_SEED
FUZZ_SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif
fuzz: install
	@echo "fuzz seed: $(FUZZ_SEED) (replay: make fuzz FUZZ_SEED=$(FUZZ_SEED))"
	MMADPD_FUZZ_SCALE=10 MMADPD_FUZZ_SEED=$(FUZZ_SEED) $(PY) -m pytest -s \
		--hypothesis-seed=$(FUZZ_SEED) $$(find tests -name 'test_*fuzz*.py' | sort) $(PYTEST_ARGS)

.PHONY: table1
# Paper Table 1 on the phantom set: every row trained (or reused) and tested, then
# work_dirs/table1/table1.md and table1.json (README "Table 1"); FORCE=1 retrains.
table1: install
	$(PY) tools/analysis_tools/table1.py --work-dir work_dirs/table1 $(if $(filter 1,$(FORCE)),--force,)
