# The two commands of the README are `make run` and `make test`; both install what they need
# (a virtual environment, the Kafka jars), start the local broker if none is configured, and are
# safe to run again.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
KAFKACTL := deploy/kafka/kafkactl
ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test bench broker broker-stop broker-reset worker topics clean help

help:
	@echo "make run     - the main job on local defaults (broker, SQLite, generated contacts)"
	@echo "make test    - the test suite against the real local broker"
	@echo "make bench   - throughput and latency of each processor path vs a raw consumer"
	@echo "make broker | broker-stop | broker-reset - the local Kafka broker"

$(STAMP): pyproject.toml setup.py streams/codec/_native.c
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

# With KAFKA_BOOTSTRAP_SERVERS set, the project uses that cluster and starts nothing.
broker:
	@if [ -z "$$KAFKA_BOOTSTRAP_SERVERS" ]; then $(KAFKACTL) start; \
	else echo "using KAFKA_BOOTSTRAP_SERVERS=$$KAFKA_BOOTSTRAP_SERVERS"; fi

broker-stop:
	$(KAFKACTL) stop

broker-reset:
	$(KAFKACTL) reset

run: $(STAMP) broker
	$(BIN)/firstline run $(ARGS)

test: $(STAMP) broker
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(STAMP) broker
	$(BIN)/python -m tests.bench $(ARGS)

topics: $(STAMP) broker
	$(BIN)/firstline topics create

worker: $(STAMP) broker topics
	$(BIN)/firstline worker

clean:
	-$(KAFKACTL) stop
	rm -rf $(VENV) .local
