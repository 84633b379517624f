# Two commands on a fresh machine:  make demo  ·  make test
PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
CHAOS  := $(VENV)/bin/chaos
STAMP  := $(VENV)/.installed-stamp
DEMO_EXPERIMENT ?= experiments/lab-store-outage-load.yaml
DEMO_VARIANT    ?= resilient
DEMO_REPORT     ?= reports/demo.html

.PHONY: install demo test lint bench schema clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]' --config-settings editable_mode=compat
	touch $(STAMP)

install: $(STAMP)

## Start the lab, run one real experiment against it, print the verdict, write its HTML
## report, stop the lab.
demo: $(STAMP)
	$(CHAOS) lab up --lab demo --variant $(DEMO_VARIANT)
	status=0; $(CHAOS) run $(DEMO_EXPERIMENT) --lab demo --html $(DEMO_REPORT) || status=$$?; \
	  $(CHAOS) lab down --lab demo; exit $$status

## Lint, import contracts and the whole test suite.
test: $(STAMP) lint
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check chaos tests bench
	$(VENV)/bin/ruff format --check chaos tests bench
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) bench/cli_startup.py

## Regenerate experiments/schema.json from the models.
schema: $(STAMP)
	$(CHAOS) schema --output experiments/schema.json

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
