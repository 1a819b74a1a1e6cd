# The two commands of the README: `make demo` and `make test`. Both install what is
# missing first: the virtualenv with the project, and a MariaDB server binary.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint docs install db-server clean

$(STAMP): pyproject.toml
	./infra/bootstrap/ensure-venv.sh $(PYTHON) $(VENV)
	touch $(STAMP)

db-server:
	./infra/bootstrap/ensure-db-server.sh

install: $(STAMP) db-server

demo: install
	$(BIN)/aurora-events demo

# Two test processes, a test file's tests in one of them (its module fixtures are built
# once); TEST_WORKERS=0 runs the suite in this process.
TEST_WORKERS ?= 2

test: install
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadfile

bench: install
	$(BIN)/python -m infra.bench

lint: $(STAMP)
	$(BIN)/ruff check .

# The documentation site (docs/, mkdocs.yml) on http://127.0.0.1:8000, rebuilt on each
# edit; `make test` builds it with --strict (tests/test_docs.py).
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs serve

clean:
	rm -rf $(VENV) .stack
