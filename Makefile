# Two entry points: `make pipeline` (set up, then run the pipeline) and `make test` (set up, then run the tests).
# Both build a local virtual environment from nothing, at the versions constraints.txt records; it is rebuilt only
# when pyproject.toml or constraints.txt changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Raw datasets are read from DQREC_DATA_HOME. When unset, a `shared/datasets` folder beside the checkout is
# used if there is one, else data/raw (where missing MovieLens files are acquired automatically).
DQREC_DATA_HOME ?= $(if $(wildcard ../shared/datasets),$(abspath ../shared/datasets),data/raw)
export DQREC_DATA_HOME

.PHONY: setup pipeline test lint lock clean
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --constraint constraints.txt -e '.[dev]'
	touch $@

# Re-resolve pyproject.toml's ranges in a scratch environment and record the result in constraints.txt (torch
# stays out: pyproject.toml pins it, and a local build's version carries a suffix such as +cpu).
LOCK_VENV := .venv-lock
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --quiet -e '.[dev]'
	{ sed -n '/^#/p' constraints.txt; $(LOCK_VENV)/bin/python -m pip freeze --exclude-editable | grep -v '^torch=='; } \
		> constraints.txt.tmp
	mv constraints.txt.tmp constraints.txt
	rm -rf $(LOCK_VENV)

pipeline: setup
	$(BIN)/dqrec run

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src flows tests benchmarks tools

clean:
	rm -rf $(VENV) $(LOCK_VENV)
