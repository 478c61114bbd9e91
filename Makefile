# Two entry points: `make pipeline` (set up, then run the pipeline) and `make test` (set up, then run the tests).
# Both build a local virtual environment from nothing; it is rebuilt only when pyproject.toml changes.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

# Raw datasets are read from DQREC_DATA_HOME. When unset, a `shared/datasets` folder beside the checkout is
# used if there is one, else data/raw (where missing MovieLens files are acquired automatically).
DQREC_DATA_HOME ?= $(if $(wildcard ../shared/datasets),$(abspath ../shared/datasets),data/raw)
export DQREC_DATA_HOME

.PHONY: setup pipeline test lint clean
setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

pipeline: setup
	$(BIN)/python -m flows.pipeline

test: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check src flows tests benchmarks tools

clean:
	rm -rf $(VENV)
