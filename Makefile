# igcds — the two commands that matter: `make run` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8080

.PHONY: run test lint venv unit integration bench soak fuzz catalog clean

## make run: create .venv, install igcds, serve on 127.0.0.1:8080 (dev mode: no JWT, loopback only)
## make run FHIR_SERVER=http://127.0.0.1:8081/fhir: also fetch missing prefetch from that (dev) FHIR server
run: venv
	$(if $(FHIR_SERVER),IGCDS_FHIR__ALLOWED_SERVERS='["$(FHIR_SERVER)"]') \
	$(BIN)/igcds serve --dev --host $(HOST) --port $(PORT) $(if $(IGCDS_CONFIG),--config $(IGCDS_CONFIG),)

## make test: create every venv and server binary the suite needs, lint, then run the whole suite
test: venv venv-fhir postgres-bin browser redis-bin haproxy-bin lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

## make lint: ruff (B, E, F, I, UP, W) over everything, mypy --strict over the three packages (docs/architecture.md "Code style")
lint: venv
	$(BIN)/ruff check --no-cache .
	$(BIN)/mypy --cache-dir .test-run/mypy

## make unit: the package tests only (no FHIR server; some start igcds or PostgreSQL)
unit: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/cds_service tests/fhir_mappings tests/hooks

## make catalog: regenerate docs/clinical-rules.md from the code (default site policy: a clean environment)
catalog: venv
	env -i PATH="$$PATH" $(BIN)/igcds rules --format markdown --output docs/clinical-rules.md

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $@

## make bench: the benchmark suite (docs/performance.md explains the figures)
bench: venv venv-fhir
	$(BIN)/python bench/run.py

## make soak: 10 minutes at 80% of measured peak
soak: venv
	$(BIN)/python bench/soak.py

## make fuzz: the fuzzing and fault-injection tests alone
fuzz: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/cds_service/test_fuzz.py tests/integration/test_fuzz.py tests/integration/test_fault_injection.py

clean:
	rm -rf $(VENV) .venv-fhir *.egg-info .pytest_cache .test-run data

include mk/infra.mk
