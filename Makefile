# ScoreHOI node — two commands on a fresh machine: `make demo` and `make test`.
# The environment lives outside the clone (several clones and CI share it), keyed on the
# requirement files; override its location with SCOREHOI_ENV=/path.
SHELL := /bin/bash
REQ_HASH := $(shell cat requirements.txt requirements-nodeps.txt | sha256sum | cut -c1-12)
SCOREHOI_ENV ?= $(HOME)/.cache/scorehoi/env-$(REQ_HASH)
PY := $(SCOREHOI_ENV)/bin/python
export ANNY_CACHE_DIR ?= $(SCOREHOI_ENV)/anny-cache
export AMENT_PREFIX_PATH := $(SCOREHOI_ENV)$(if $(AMENT_PREFIX_PATH),:$(AMENT_PREFIX_PATH))
export PYTHONPATH := $(CURDIR)$(if $(PYTHONPATH),:$(PYTHONPATH))
export PYOPENGL_PLATFORM ?= osmesa
export YOLO_OFFLINE ?= 1
# the node's Fast DDS profile for every process of a run (tests, their cameras and nodes), as the
# launch file and `scorehoi node` give it; a transport choice of the caller's own is kept
ifeq ($(FASTDDS_DEFAULT_PROFILES_FILE)$(FASTRTPS_DEFAULT_PROFILES_FILE)$(FASTDDS_BUILTIN_TRANSPORTS),)
export FASTDDS_DEFAULT_PROFILES_FILE := $(CURDIR)/config/fastdds.xml
endif
# every test run gets its own DDS domain unless the caller pins one (0..101 are valid ids)
ROS_DOMAIN_ID ?= $(shell echo $$(( ($$$$ % 100) + 1 )))
export ROS_DOMAIN_ID
PYTEST_ARGS ?=
# what `make test` runs: the whole suite unless narrowed (make test TESTS=tests/core/stages)
TESTS ?= tests

.PHONY: setup demo test test-fast clean clean-env
setup:
	@scripts/setup_env.sh "$(SCOREHOI_ENV)"

demo: setup
	$(PY) -m scorehoi_node.cli demo --out demo_out

test: setup
	$(PY) -m pytest -q $(PYTEST_ARGS) $(TESTS)

test-fast: setup
	$(PY) -m pytest -q -m "not slow" $(PYTEST_ARGS) $(TESTS)

clean:
	rm -rf build install log demo_out .pytest_cache
	find . -name __pycache__ -prune -exec rm -rf {} +

clean-env:
	rm -rf "$(SCOREHOI_ENV)"
