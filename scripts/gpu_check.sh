#!/usr/bin/env bash
# GPU check in one command, on a machine with an NVIDIA GPU and the project environment:
#   scripts/gpu_check.sh [OUT_DIR]
# 1. the pipeline and refinement tests with every device-aware stage on CUDA
#    (SCOREHOI_TEST_DEVICE=cuda: the prior, a copy of the body model, the guidance and the
#    states and the learned contact predictor live there; the keypoint body fit and the
#    object ICP stay on the CPU);
# 2. `scorehoi bench --device cuda` (per-stage ms, end-to-end frames/s, node latency) into
#    OUT_DIR/bench.json (default gpu_check_out), beside a CPU bench of the same frames for the
#    side-by-side ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-gpu_check_out}"
make setup
# shellcheck disable=SC1091
source scripts/activate
python - <<'PY'
import sys, torch
if not torch.cuda.is_available():
    sys.exit("gpu_check: torch sees no CUDA device")
print("gpu_check:", torch.cuda.get_device_name(0), "torch", torch.__version__)
PY
mkdir -p "$OUT"
SCOREHOI_TEST_DEVICE=cuda python -m pytest -q tests/core/stages/test_refinement.py \
    tests/core/test_pipeline.py "tests/core/estimate/test_contact_net.py::test_output_shape_dtype_and_device_follow_the_reconstruction" \
    2>&1 | tee "$OUT/tests.log"
scorehoi bench --out "$OUT/cuda" --device cuda
scorehoi bench --out "$OUT/cpu" --device cpu
echo "gpu_check: $OUT/cuda/bench.json and $OUT/cpu/bench.json"
