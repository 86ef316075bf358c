#!/usr/bin/env bash
# One-shot GPU check for the Monte Carlo oracle (issue 3), for a session with a GPU:
# build with CUDA, run the CUDA tests, run the GPU benches, print a short table last.
# Usage: bash bench/gpu_check.sh   (from the repository root; writes logs under ${OUT:-/tmp/mc_gpu})
set -uo pipefail
OUT_DIR="${OUT:-/tmp/mc_gpu}"
mkdir -p "$OUT_DIR"
PY=.venv/bin/python
[ -x "$PY" ] || PY=python3
nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv > "$OUT_DIR/gpu.txt" 2>&1 || true

echo "== build (SG_CUDA=ON)"
if ! SG_CUDA=ON "$PY" -m pip install -q --no-build-isolation --no-deps -e . > "$OUT_DIR/build.log" 2>&1; then
  tail -30 "$OUT_DIR/build.log"; echo "BUILD FAILED"; exit 1
fi
"$PY" -c "import surrogate_guard as sg; print('has_cuda =', sg.has_cuda())"

echo "== CUDA tests"
"$PY" -m pytest -q -m cuda tests/test_monte_carlo.py -p no:cacheprovider > "$OUT_DIR/tests.log" 2>&1
TEST_RC=$?
tail -5 "$OUT_DIR/tests.log"

echo "== GPU benches"
"$PY" -m pytest -q bench/bench_mc.py -k "gpu" --benchmark-only -s -p no:cacheprovider \
  --benchmark-json="$OUT_DIR/bench_gpu.json" > "$OUT_DIR/bench.log" 2>&1
BENCH_RC=$?

echo "== summary"
cat "$OUT_DIR/gpu.txt"
"$PY" - "$OUT_DIR/bench_gpu.json" <<'PYEOF'
import json, sys
try:
    data = json.load(open(sys.argv[1]))
except Exception as exc:  # noqa: BLE001
    print("no benchmark json:", exc); sys.exit(0)
targets = {"float64": 1.5e11, "float32": 6e11}
print(f"{'benchmark':40s} {'min ms':>9s} {'path-steps/s':>13s} {'target':>9s}")
for b in data["benchmarks"]:
    rate = b.get("extra_info", {}).get("path_steps_per_s", float("nan"))
    prec = "float32" if "float32" in b["name"] else "float64"
    tgt = f"{targets[prec]:.1e}" if "ours" in b["name"] else "-"
    print(f"{b['name']:40s} {b['stats']['min'] * 1e3:9.2f} {rate:13.3e} {tgt:>9s}")
PYEOF
echo "tests rc=$TEST_RC bench rc=$BENCH_RC (logs in $OUT_DIR)"
exit $(( TEST_RC != 0 || BENCH_RC != 0 ))
