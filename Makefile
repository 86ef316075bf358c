# Two commands matter: `make demo` and `make test`. Both create .venv if missing,
# install the package (building the native core), then run. `make demo` runs the whole story
# (label, train, poison, detect, repair) at demo size and prints where its report is (runs/demo/report.md).
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP_DEPS := $(VENV)/.deps-installed
STAMP_PKG := $(VENV)/.pkg-installed
SOURCES := $(shell find csrc python -type f \( -name '*.cpp' -o -name '*.cu' -o -name '*.h' -o -name '*.cuh' \)) CMakeLists.txt pyproject.toml

.PHONY: demo test bench install clean

$(VPY):
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip

$(STAMP_DEPS): requirements-dev.txt | $(VPY)
	$(VPY) -m pip install -q -r requirements-dev.txt
	touch $@

# Editable install: Python files are used in place, the native core is rebuilt when its sources change.
$(STAMP_PKG): $(STAMP_DEPS) $(SOURCES)
	$(VPY) -m pip install -q --no-build-isolation --no-deps -e .
	touch $@

install: $(STAMP_PKG)

demo: install
	$(VENV)/bin/surrogate-guard demo

test: install
	$(VPY) -m mypy
	$(VPY) -m pytest -q -m "not slow" tests

bench: install
	$(VPY) -m pytest -q bench --benchmark-only --benchmark-group-by=group --benchmark-columns=min,median,mean,stddev,rounds

clean:
	rm -rf build $(VENV) python/surrogate_guard/__pycache__
