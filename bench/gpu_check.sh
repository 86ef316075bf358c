#!/usr/bin/env bash
# The one GPU check, for a session lent a GPU (issues 9 and 14). Run from the repository root on
# the GPU machine; it uses that machine's own python3 (CUDA torch; nothing is installed), builds
# the extension there into $OUT/pkg, and works in tiers, each writing its results to $OUT as it
# finishes, so a run cut short still reports:
#   1. build + every CUDA test (fails if any CUDA test skips)
#   2. compute-sanitizer memcheck over the CUDA tests, then racecheck at small sizes
#   3. the GPU benchmarks (Monte Carlo and the MLP step), a short table last
set -uo pipefail
OUT="${OUT:-/tmp/sg_gpu}"
mkdir -p "$OUT"
PY=python3
export PYTHONPATH="$OUT/pkg${PYTHONPATH:+:$PYTHONPATH}"
nvidia-smi --query-gpu=name,memory.total,compute_cap,driver_version --format=csv > "$OUT/gpu.txt" 2>&1 || true
cat "$OUT/gpu.txt"

echo "== tier 1: build"
if ! SG_CUDA=ON "$PY" -m pip install -q --no-build-isolation --no-deps --target "$OUT/pkg" . > "$OUT/build.log" 2>&1; then
  tail -30 "$OUT/build.log"; echo "BUILD FAILED" | tee "$OUT/summary.txt"; exit 1
fi
"$PY" -c "import surrogate_guard as sg, surrogate_guard._core as c; print('has_cuda', sg.has_cuda()); print(c.cuda_status())" \
  | tee "$OUT/cuda_status.txt"

CUDA_TESTS="tests/test_cuda_paths.py tests/test_monte_carlo.py tests/test_mc_grad.py tests/test_mlp_kernel.py"
echo "== tier 1: CUDA tests"
"$PY" -m pytest -q -m cuda -rs -p no:cacheprovider $CUDA_TESTS > "$OUT/tests.log" 2>&1
TEST_RC=$?
tail -5 "$OUT/tests.log"
SKIPS=$(grep -cE "^SKIPPED" "$OUT/tests.log" || true)
if [ "$SKIPS" != "0" ]; then echo "CUDA tests skipped: $SKIPS (a GPU run must skip none)"; TEST_RC=1; fi
echo "tier1 tests rc=$TEST_RC skips=$SKIPS" > "$OUT/summary.txt"

echo "== tier 2: compute-sanitizer"
if command -v compute-sanitizer > /dev/null; then
  compute-sanitizer --tool memcheck --error-exitcode 9 "$PY" -m pytest -q -x -m cuda -p no:cacheprovider \
    tests/test_cuda_paths.py > "$OUT/memcheck.log" 2>&1
  MEM_RC=$?
  compute-sanitizer --tool racecheck --error-exitcode 9 "$PY" -m pytest -q -x -p no:cacheprovider \
    "tests/test_cuda_paths.py::test_a_later_plan_does_not_lower_an_earlier_plans_shared_memory" \
    "tests/test_cuda_paths.py::test_every_mc_kernel_instance_matches_the_cpu" > "$OUT/racecheck.log" 2>&1
  RACE_RC=$?
  tail -3 "$OUT/memcheck.log" "$OUT/racecheck.log"
else
  MEM_RC=127; RACE_RC=127; echo "compute-sanitizer not found"
fi
echo "tier2 memcheck rc=$MEM_RC racecheck rc=$RACE_RC" >> "$OUT/summary.txt"

echo "== tier 3: GPU benchmarks"
"$PY" -m pytest -q bench/bench_mc.py bench/bench_mlp.py -k "gpu or cuda" --benchmark-only -p no:cacheprovider \
  --benchmark-json="$OUT/bench_gpu.json" > "$OUT/bench.log" 2>&1
BENCH_RC=$?
"$PY" - "$OUT/bench_gpu.json" <<'PYEOF' | tee "$OUT/bench_table.txt"
import json, sys
try:
    data = json.load(open(sys.argv[1]))
except Exception as exc:  # noqa: BLE001
    print("no benchmark json:", exc); sys.exit(0)
print(f"{'benchmark':50s} {'min ms':>9s} {'path-steps/s':>13s}")
for b in data["benchmarks"]:
    rate = b.get("extra_info", {}).get("path_steps_per_s", float("nan"))
    print(f"{b['group'] or '':20.20s} {b['name']:30.30s} {b['stats']['min'] * 1e3:9.3f} {rate:13.3e}")
PYEOF
"$PY" bench/bench_mlp.py --table "$OUT/bench_gpu.json" 2>&1 | tee -a "$OUT/bench_table.txt" || true
echo "tier3 bench rc=$BENCH_RC" >> "$OUT/summary.txt"
cat "$OUT/summary.txt"
exit $(( TEST_RC != 0 || MEM_RC != 0 || RACE_RC != 0 || BENCH_RC != 0 ))
