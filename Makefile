# ipcoord developer commands. `make dev` brings the system up; `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
KAFKA := deploy/local/kafka/kafka.sh
# Not exported: tests start the local broker only when KAFKA_BOOTSTRAP_SERVERS is unset.
BROKER_SHOWN := $(or $(KAFKA_BOOTSTRAP_SERVERS),localhost:9092)

.PHONY: help install doctor kafka-up kafka-down kafka-fetch topics dev down test test-unit \
        lint format clean bench test-faults asyncapi manifests

help:
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(BIN)/ipcoord: pyproject.toml hatch_build.py deploy/install.sh $(wildcard protos/ipcoord/v1/*.proto)
	PYTHON=$(PYTHON) bash deploy/install.sh $(VENV) --dev
	touch $@

install: $(BIN)/ipcoord ## create .venv and install ipcoord with dev tools (regenerates protobuf code)

doctor: ## check Java, Maven, Python and say what is missing
	@bash deploy/local/doctor.sh

kafka-fetch: ## download the Kafka broker jars into the cache (once)
	@bash $(KAFKA) fetch

kafka-up: ## start the local Kafka broker (no-op if it is running)
	@bash $(KAFKA) up

kafka-down: ## stop the local Kafka broker (no-op if it is not running)
	@bash $(KAFKA) down

topics: install kafka-up ## create the registry's topics
	$(BIN)/ipcoord topics create

dev: install kafka-up topics ## bring the system up and run the demo (Ctrl-C stops the services)
	@bash deploy/local/dev.sh

down: ## stop everything `make dev` started (services, then the broker)
	@bash deploy/local/services.sh down
	@bash $(KAFKA) down

test: install ## run the whole test suite, kill -9 fault tests included (starts the local broker when none is configured)
	$(BIN)/pytest -q

test-faults: install ## only the fault tests: kill -9 under load with the production store
	$(BIN)/pytest -q -s tests/faults

test-unit: install ## run the unit tests only (no broker)
	$(BIN)/pytest -q tests/unit

lint: install ## ruff, buf lint, buf breaking against the previous commit
	$(BIN)/ruff check services tests bench hatch_build.py
	$(BIN)/ruff format --check services tests bench hatch_build.py
	$(BIN)/buf lint
	@if git rev-parse --verify -q HEAD~1 >/dev/null && \
	    git cat-file -e HEAD~1:buf.yaml 2>/dev/null; then \
	  echo "$(BIN)/buf breaking --against '.git#ref=HEAD~1'"; \
	  $(BIN)/buf breaking --against '.git#ref=HEAD~1'; \
	else echo "buf breaking: no previous commit with protos to compare against"; fi

format: install ## apply ruff's formatting and fixes
	$(BIN)/ruff check --fix services tests bench hatch_build.py
	$(BIN)/ruff format services tests bench hatch_build.py

clean: ## remove the venv, caches and generated code (not the Kafka jar cache)
	rm -rf $(VENV) .pytest_cache .ruff_cache services/ipcoord/v1 var

asyncapi: install ## regenerate docs/asyncapi.yaml from the topic registry and the protos
	$(BIN)/python -m ipcoord.platform.asyncapi > docs/asyncapi.yaml

manifests: install ## regenerate the Strimzi KafkaTopics and KafkaUsers under deploy/k8s from the topic registry
	$(BIN)/python -m ipcoord.k8s deploy/k8s

bench: install kafka-up ## benchmarks (not part of the tests): each service vs its baselines, same run
	@# ghz loads gRPC servers with far less CPU than a Python client (bench/harness.py).
	@command -v ghz >/dev/null || test -x $(HOME)/go/bin/ghz || \
	  (command -v go >/dev/null && go install github.com/bojand/ghz/cmd/ghz@v0.93.0) || \
	  echo "no Go to install ghz: the credit bench uses a Python load generator instead"
	$(BIN)/python bench/intake_bench.py --count 10000
	$(BIN)/python bench/intake_workers_bench.py --count 20000
	$(BIN)/python bench/credit_bench.py --count 100000
	$(BIN)/python bench/notifications_bench.py --count 20000 --seconds 20
	$(BIN)/python bench/pipeline_bench.py --count 300 --seconds 20
