# The two commands of the README: `make demo` and `make test`. Both install what is
# missing first: the virtualenv with the project, and a MariaDB server binary.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint install db-server clean

$(STAMP): pyproject.toml
	./infra/bootstrap/ensure-venv.sh $(PYTHON) $(VENV)
	touch $(STAMP)

db-server:
	./infra/bootstrap/ensure-db-server.sh

install: $(STAMP) db-server

demo: install
	$(BIN)/aurora-events demo

test: install
	$(BIN)/python -m pytest -q

bench: install
	$(BIN)/python -m infra.bench

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) .stack
