# Two commands on a fresh clone: `make demo` and `make test`.
# The virtualenv is reused while requirements/ and pyproject.toml are unchanged.

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat requirements/runtime.txt requirements/test.txt pyproject.toml | sha1sum | cut -c1-12)
PORT ?= 6006
# Debian's Chromium for the browser tests (Playwright drives it; it downloads no browser).
CHROMIUM := /usr/bin/chromium

# The declared version range, proven: every writer test (exactness, in-layer,
# internals, distribution, crashes) runs again on the oldest supported
# Keras/TensorFlow pair; the exactness, in-layer and internals tests on
# keras-nightly, as a report. Those virtualenvs hold no install of this checkout
# (the tests import it from here), so they are kept across clones, keyed by what
# they install; nightly's by date too, for each day's build.
OLDEST_TESTS := tests/writer tb_lr_plugin/writer
NIGHTLY_TESTS := tests/writer/test_fit_exactness.py tests/writer/test_in_layer.py \
	tests/writer/test_gradient_accumulation.py tests/writer/test_keras_internals.py
# Every backend: the backend-neutral writer tests and the writer's doctests run
# again on JAX and on PyTorch, each in a virtualenv without TensorFlow (the
# backend is chosen per process by KERAS_BACKEND). This checkout is installed
# into them at each run (no build isolation, nothing downloaded), so
# TensorBoard finds the plugin by its entry point as a user's would.
BACKEND_TESTS := tests/backends tests/writer/test_range_test.py tests/test_readme.py tb_lr_plugin/writer
VENV_CACHE ?= $(HOME)/.cache/tb-lr-plugin
JAX := $(VENV_CACHE)/jax-$(shell cat requirements/jax.txt | sha1sum | cut -c1-12)
TORCH := $(VENV_CACHE)/torch-$(shell cat requirements/torch.txt | sha1sum | cut -c1-12)
OLDEST := $(VENV_CACHE)/oldest-$(shell cat requirements/oldest.txt | sha1sum | cut -c1-12)
NIGHTLY := $(VENV_CACHE)/nightly-$(shell date -u +%Y%m%d)-$(shell cat requirements/nightly.txt requirements/runtime.txt | sha1sum | cut -c1-12)
REPORTS := test-artifacts

.PHONY: demo test test-python test-js test-oldest test-nightly test-jax test-torch lint format \
	bench clean

$(STAMP):
	rm -f $(VENV)/.installed-*
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/test.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

$(OLDEST)/.installed:
	rm -rf $(OLDEST)
	$(PYTHON) -m venv $(OLDEST)
	$(OLDEST)/bin/python -m pip install --quiet --upgrade pip
	$(OLDEST)/bin/python -m pip install --quiet -r requirements/oldest.txt
	touch $@

$(JAX)/.installed $(TORCH)/.installed: $(VENV_CACHE)/%/.installed:
	rm -rf $(VENV_CACHE)/$(firstword $(subst -, ,$*))-*
	$(PYTHON) -m venv $(VENV_CACHE)/$*
	$(VENV_CACHE)/$*/bin/python -m pip install --quiet --upgrade pip
	$(VENV_CACHE)/$*/bin/python -m pip install --quiet -r requirements/$(firstword $(subst -, ,$*)).txt
	touch $@

$(NIGHTLY)/.installed:
	rm -rf $(VENV_CACHE)/nightly-*
	$(PYTHON) -m venv $(NIGHTLY)
	$(NIGHTLY)/bin/python -m pip install --quiet --upgrade pip
	$(NIGHTLY)/bin/python -m pip install --quiet -r requirements/nightly.txt
	$(NIGHTLY)/bin/python -m pip uninstall --quiet --yes keras
	$(NIGHTLY)/bin/python -m pip install --quiet --no-deps keras-nightly
	touch $@

# `KERAS_BACKEND=jax make demo` (or torch) trains the same runs on that backend,
# in its TensorFlow-free virtualenv; TensorBoard serves them from .venv.
KERAS_BACKEND ?= tensorflow
DEMO_VENV_tensorflow := $(VENV)
DEMO_VENV_jax := $(JAX)
DEMO_VENV_torch := $(TORCH)
DEMO_VENV := $(DEMO_VENV_$(KERAS_BACKEND))

demo: $(STAMP) $(if $(filter-out tensorflow,$(KERAS_BACKEND)),$(DEMO_VENV)/.installed)
	rm -rf runs/demo
	KERAS_BACKEND=$(KERAS_BACKEND) PYTHONPATH=$(CURDIR) $(DEMO_VENV)/bin/python demo/train_demo.py \
		runs/demo
	@echo
	@echo "LR tab: http://127.0.0.1:$(PORT)/#lr   (Ctrl-C to stop TensorBoard)"
	$(VENV)/bin/tensorboard --logdir runs/demo --host 127.0.0.1 --port $(PORT)

# Nightly first and the full suite last: the last test summary printed is the suite's.
test: lint test-js test-nightly test-oldest test-jax test-torch test-python

# tests/backends runs in the JAX and PyTorch virtualenvs; on TensorFlow,
# tests/writer asserts the same and more.
test-python: $(STAMP) $(CHROMIUM)
	$(PY) -m pytest --ignore=tests/backends

test-js:
	node --test frontend/test/

test-oldest: $(OLDEST)/.installed
	PYTHONPATH=$(CURDIR) $(OLDEST)/bin/python -m pytest -p no:cacheprovider $(OLDEST_TESTS)

test-jax: $(JAX)/.installed
	$(JAX)/bin/python -m pip install --quiet --no-deps --no-build-isolation .
	KERAS_BACKEND=jax PYTHONPATH=$(CURDIR) $(JAX)/bin/python -m pytest -p no:cacheprovider \
		$(BACKEND_TESTS)

test-torch: $(TORCH)/.installed
	$(TORCH)/bin/python -m pip install --quiet --no-deps --no-build-isolation .
	KERAS_BACKEND=torch PYTHONPATH=$(CURDIR) $(TORCH)/bin/python -m pytest -p no:cacheprovider \
		$(BACKEND_TESTS)

# A report, never a failure: tomorrow's Keras may break what today's supports.
test-nightly:
	@mkdir -p $(REPORTS)
	@if ! $(MAKE) --no-print-directory $(NIGHTLY)/.installed > $(REPORTS)/nightly.log 2>&1; then \
		echo "keras-nightly report: could not be installed today ($(REPORTS)/nightly.log)"; \
	else \
		version=$$($(NIGHTLY)/bin/python -c \
			'import importlib.metadata as m; print(m.version("keras-nightly"))'); \
		if PYTHONPATH=$(CURDIR) $(NIGHTLY)/bin/python -m pytest -p no:cacheprovider \
				$(NIGHTLY_TESTS) >> $(REPORTS)/nightly.log 2>&1; then \
			echo "keras-nightly report: $$version passes the writer's exactness, in-layer" \
				"and internals tests"; \
		else \
			echo "keras-nightly report: $$version FAILS these writer tests" \
				"(reported, not a failure of make test; $(REPORTS)/nightly.log):"; \
			grep -E '^(FAILED|ERROR) ' $(REPORTS)/nightly.log | sed 's/^/    /' || true; \
		fi; \
	fi

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
	rm -rf $(VENV) runs build dist *.egg-info $(REPORTS)
