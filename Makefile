# The README's two commands: `make demo` (the main job against the bundled local archive) and `make test`.
# Both create .venv and install raycollect with its extras on first use; nothing else is needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp

.PHONY: install demo test unit integration lint bench bench-plan bench-seed bench-collect bench-convert bench-manifest bench-faults bench-scale bench-silver bench-raydata clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[mirror,dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/raycollect demo

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

lint: $(STAMP)
	$(BIN)/ruff check .

bench-plan: $(STAMP)
	$(BIN)/python tests/bench/bench_plan.py

bench-seed: $(STAMP)
	$(BIN)/python tests/bench/bench_seed.py

bench-collect: $(STAMP)
	$(BIN)/python tests/bench/bench_collect.py

bench-convert: $(STAMP)
	$(BIN)/python -m pip install --quiet pandas  # the baseline only: raycollect itself does not use pandas
	$(BIN)/python tests/bench/bench_convert.py

bench-manifest: $(STAMP)
	$(BIN)/python tests/bench/bench_manifest.py

bench-faults: $(STAMP)
	$(BIN)/python tests/bench/bench_faults.py

bench-scale: $(STAMP)
	$(BIN)/python tests/bench/bench_scale.py

bench-silver: $(STAMP)
	$(BIN)/python tests/bench/bench_silver.py

bench-raydata: $(STAMP)
	$(BIN)/python tests/bench/bench_raydata.py

bench: bench-plan bench-seed bench-collect bench-convert bench-manifest bench-faults bench-silver

clean:
	rm -rf $(VENV) demo-output .pytest_cache .ruff_cache
