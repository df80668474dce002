# The two commands of the README are `make run` and `make test`; both install what they need
# (a virtual environment, the Kafka jars), start the local broker if none is configured, and are
# safe to run again.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PEERS := .venv-peers
KAFKACTL := deploy/kafka/kafkactl
ARGS ?=
PYTEST_ARGS ?=

.PHONY: run test bench mutate peers fuzz broker broker-stop broker-reset worker topics clean help

help:
	@echo "make run     - the main job on local defaults (broker, SQLite, generated contacts)"
	@echo "make test    - the test suite against the real local broker"
	@echo "make bench   - throughput and latency of each processor path vs a raw consumer"
	@echo "make mutate  - mutation testing of the metric and reliability logic (docs/testing.md)"
	@echo "make fuzz    - fuzz the C decoder under ASan/UBSan (FUZZ_SECONDS=600), keep new coverage"
	@echo "make broker | broker-stop | broker-reset - the local Kafka broker"

$(STAMP): pyproject.toml setup.py streams/codec/_native.c streams/engine/_partition.c
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

# Branch coverage of the run, worker processes included (pyproject.toml); the engine's and the
# processors' uncovered lines are printed at the end.
test: $(STAMP) broker
	$(BIN)/python -m coverage erase
	$(BIN)/python -m coverage run -m pytest $(PYTEST_ARGS); status=$$?; \
	  $(BIN)/python -m coverage combine -q >/dev/null 2>&1; \
	  $(BIN)/python -m coverage report --include='streams/engine/*,streams/processors/*,streams/sinks/*' \
	    --show-missing --skip-covered || true; \
	  $(BIN)/python -m coverage report --format=total | sed 's/^/total branch coverage of streams\/: /;s/$$/ %/' || true; \
	  exit $$status

bench: $(STAMP) broker $(PEERS)/.installed
	$(BIN)/python -m tests.bench $(ARGS)

# The peers of the benchmark (tests/peers/): quix-streams in a virtual environment of its own, its
# dependencies (confluent-kafka, rocksdict, pydantic) are not firstline's.
$(PEERS)/.installed: pyproject.toml
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install -q "quixstreams==3.28.1" "kafka-python>=3.0.12,<4" "avro>=1.12.2,<1.13" \
	  "fastavro>=1.13,<2" "orjson>=3.13,<4"
	$(PEERS)/bin/python -m pip install -q --no-deps -e .
	touch $@

peers: $(PEERS)/.installed

# mutmut in a virtual environment of its own: it wants a newer click than faust allows, and the
# pure logic it mutates needs no faust.
MUTATE := .venv-mutate
$(MUTATE)/.installed: pyproject.toml
	test -x $(MUTATE)/bin/python || $(PYTHON) -m venv $(MUTATE)
	$(MUTATE)/bin/python -m pip install -q "mutmut==3.8.1" "kafka-python>=3.0.12,<4" "avro>=1.12.2,<1.13" \
	  "fastavro>=1.13,<2" "orjson>=3.13,<4" "psycopg[binary]>=3.3,<4" "pytest>=9,<10" \
	  "datasketch>=2.0,<3" "numpy>=2.0,<3" "scikit-learn>=1.6,<2" "hypothesis>=6.170,<7"
	$(MUTATE)/bin/python -m pip install -q --no-deps -e .
	touch $@

mutate: $(MUTATE)/.installed
	$(MUTATE)/bin/mutmut run --max-children 2 || true
	$(MUTATE)/bin/python -m tests.mutation_scores

# The C decoder under atheris with AddressSanitizer and UndefinedBehaviorSanitizer (needs clang):
# a copy of the corpus is fuzzed, and what adds coverage is merged back into tests/fuzz/corpus.
FUZZ_SECONDS ?= 600
fuzz: $(STAMP)
	rm -rf .local/fuzz/corpus && mkdir -p .local/fuzz && cp -r tests/fuzz/corpus .local/fuzz/corpus
	FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_CORPUS=.local/fuzz/corpus tests/fuzz/run
	FUZZ_MERGE=.local/fuzz/corpus tests/fuzz/run

topics: $(STAMP) broker
	$(BIN)/firstline topics create

worker: $(STAMP) broker topics
	$(BIN)/firstline worker

clean:
	-$(KAFKACTL) stop
	rm -rf $(VENV) $(MUTATE) mutants .local
