# Two commands matter: `make demo` and `make test`. Both create .venv if missing,
# install the package (building the native core), then run. `make demo` runs the whole story
# (label, train, poison, detect, repair) at demo size and prints where its report is (runs/demo/report.md).
PY ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMP_DEPS := $(VENV)/.deps-installed
STAMP_PKG := $(VENV)/.pkg-installed
SOURCES := $(shell find csrc python -type f \( -name '*.cpp' -o -name '*.cu' -o -name '*.h' -o -name '*.cuh' \)) CMakeLists.txt pyproject.toml

.PHONY: demo test bench install clean fuzz sanitize

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

# Property-based fuzzing: the "fuzz" hypothesis profile (>= 10 000 cases; tests/conftest.py). docs/reliability.md
fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(VPY) -m pytest -q -p no:cacheprovider --hypothesis-show-statistics tests/test_fuzz.py

# ASan + UBSan build of the native core in build/sanitize (the .venv install is untouched), then the native
# tests against it: a copy of the package with the sanitized _core, the editable finder taken off sys.meta_path.
SAN_DIR := build/sanitize
SAN_TREE := $(SAN_DIR)/tree
SAN_TESTS := tests/test_mlp_kernel.py tests/test_monte_carlo.py tests/test_fuzz.py
sanitize: install
	cmake -S . -B $(SAN_DIR) -DSG_SANITIZE=ON -DSG_CUDA=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DPython_EXECUTABLE=$(abspath $(VPY)) -Dpybind11_DIR="$$($(VPY) -m pybind11 --cmakedir)"
	cmake --build $(SAN_DIR) -j2
	rm -rf $(SAN_TREE) && mkdir -p $(SAN_TREE)/surrogate_guard
	cp -r python/surrogate_guard/. $(SAN_TREE)/surrogate_guard/ && cp $(SAN_DIR)/_core*.so $(SAN_TREE)/surrogate_guard/
	LD_PRELOAD="$$(g++ -print-file-name=libasan.so) $$(g++ -print-file-name=libstdc++.so)" PYTHONPATH=$(SAN_TREE) HYPOTHESIS_PROFILE=ci \
	  ASAN_OPTIONS=detect_leaks=0:alloc_dealloc_mismatch=0:halt_on_error=1 \
	  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
	  $(VPY) -c 'import sys; sys.meta_path[:] = [f for f in sys.meta_path if "ScikitBuild" not in type(f).__name__]; \
	import surrogate_guard._core as c; assert "$(SAN_TREE)" in c.__file__, c.__file__; print("sanitized core:", c.__file__); \
	import pytest; sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *"$(SAN_TESTS)".split()]))'
