# Two commands on a fresh clone: `make demo` and `make test`.
# The virtualenv is reused while requirements/ and pyproject.toml are unchanged.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements/*.txt pyproject.toml | sha1sum | cut -c1-12)
PORT ?= 6006
# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
CHROMIUM := /usr/bin/chromium

.PHONY: demo test test-python test-js lint format bench clean

$(STAMP):
	rm -f $(VENV)/.installed-*
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/test.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

demo: $(STAMP)
	rm -rf runs/demo
	$(PY) demo/train_demo.py runs/demo
	@echo
	@echo "LR tab: http://127.0.0.1:$(PORT)/#lr   (Ctrl-C to stop TensorBoard)"
	$(VENV)/bin/tensorboard --logdir runs/demo --host 127.0.0.1 --port $(PORT)

test: lint test-js test-python

test-python: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest

test-js:
	node --test frontend/test/

$(CHROMIUM):
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: $(STAMP)
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

bench: $(STAMP) $(CHROMIUM)
	$(PY) bench/overhead.py --steps-per-execution 1
	$(PY) bench/overhead.py --steps-per-execution 16
	$(PY) bench/series_latency.py
	$(PY) bench/frontend_render.py

clean:
	rm -rf $(VENV) runs build dist *.egg-info
