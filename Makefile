# Fresh-machine entry points: `make demo` and `make test` install what they need first.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-heavy test-all lint format clean

install: $(STAMP)

# Re-run the install only when the dependency list changes; the editable install keeps src live.
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: install
	$(VENV)/bin/repoloom demo

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

format: install
	$(VENV)/bin/ruff check --fix src tests benchmarks
	$(VENV)/bin/ruff format src tests benchmarks

# `make test` (the README's test command) leaves out the tests marked `heavy`: reference-runtime
# parity checks (llama.cpp built from source, transformers 4 in its own venv, repeated exit loops)
# that need minutes of installs or runs. `.ci/run` runs them after `make test`; `make test-all` runs both.
test: lint
	$(VENV)/bin/pytest -q -m "not heavy"

# Exit 5 (no test selected) is not a failure here: a checkout may carry no heavy test yet.
test-heavy: install
	$(VENV)/bin/pytest -q -m heavy || [ $$? -eq 5 ]

test-all: test test-heavy

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
