#!/usr/bin/env bash
# GPU check of the fused MLP kernel (issue 5), for a machine with a GPU, nvcc and torch CUDA:
# build with CUDA, run the kernel tests (CUDA cases included), the GPU benches, print a table.
# Usage: bash bench/gpu_check_mlp.sh   (PY=python to choose the interpreter; logs under $OUT)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
OUT=${OUT:-/tmp/sg-gpu-check}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,driver_version,clocks.sm --format=csv,noheader | tee "$OUT/gpu.txt" || true
export CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-16}
if ! SG_CUDA=ON $PY -m pip install -q --no-build-isolation --no-deps -e . >"$OUT/build.log" 2>&1; then
  tail -40 "$OUT/build.log"; exit 1
fi
$PY -c "import surrogate_guard as sg; assert sg.has_cuda(), 'built, but no usable GPU'; print('has_cuda: True')"
$PY -m pytest -q -p no:cacheprovider tests/test_mlp_kernel.py >"$OUT/tests.txt" 2>&1 && rc=0 || rc=$?
tail -4 "$OUT/tests.txt"
$PY -m pytest -q -p no:cacheprovider bench/bench_mlp.py -k gpu --benchmark-only --benchmark-group-by=group \
  --benchmark-columns=min,median,rounds --benchmark-json "$OUT/bench_gpu.json" >"$OUT/bench.txt" 2>&1 || {
  tail -30 "$OUT/bench.txt"; exit 1; }
$PY bench/bench_mlp.py --table "$OUT/bench_gpu.json" | tee "$OUT/table.txt"
exit $rc
