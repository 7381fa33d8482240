#!/usr/bin/env bash
# GPU check: the CUDA tests (single-process CUDA, a one-GPU NCCL TorchTrainer, a Tune sweep packing
# GPU trials), then a 2-epoch Beer GRU training with bf16 on the GPU beside the same run on CPU
# (examples/s). Run from the repository root on a GPU machine:
#   benchmarks/gpu_check.sh [DATA_DIR] [OUT_DIR]     (DATA_DIR holds beer/; default ../shared/data)
# Every line goes to OUT_DIR/gpu_check.log as it is written, each step runs under its own time
# limit (STEP_TIMEOUT, default 300 s; a hanging pytest prints every thread's stack after
# FAULT_TIMEOUT, default 150 s, before the limit kills it), and OUT_DIR.tar.gz bundles the log,
# the JUnit XML and Ray's worker logs — so a failure or a hang still leaves its text behind.
set -uo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="${1:-../shared/data}"
OUT="${2:-/tmp/gpu_check}"
PY="${PYTHON:-.venv/bin/python}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 RAY_AUTH_MODE=disabled PYTHONUNBUFFERED=1
mkdir -p "$OUT"
touch "$OUT/.started"
exec > >(tee -a "$OUT/gpu_check.log") 2>&1
status=0
step() {            # step NAME COMMAND…: run under the time limit, report its exit status
  local name="$1"; shift
  echo "=== $(date -u +%H:%M:%S) $name: $*"
  timeout -k 15 "${STEP_TIMEOUT:-300}" "$@"
  local rc=$?
  [ "$rc" = 124 ] && echo "=== $name: TIMED OUT after ${STEP_TIMEOUT:-300} s"
  echo "=== $(date -u +%H:%M:%S) $name: exit $rc"
  [ "$rc" = 0 ] || status=1
}
step gpu nvidia-smi --query-gpu=name,memory.total,driver_version,utilization.gpu,memory.used --format=csv
step torch "$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
step cuda-tests "$PY" -m pytest -v -rs -p no:cacheprovider -o faulthandler_timeout="${FAULT_TIMEOUT:-150}" \
  --junitxml "$OUT/cuda-tests.xml" tests/n2r/test_devices.py tests/pipelines/test_train.py tests/pipelines/test_sweep.py \
  -k "cuda or use_gpu"
step throughput "$PY" benchmarks/device_throughput.py --data-dir "$DATA_DIR" --epochs 2
if [ -d /tmp/ray/session_latest/logs ]; then          # the workers' own output (NCCL and CUDA errors land here)
  mkdir -p "$OUT/ray-logs"
  find /tmp/ray/session_latest/logs -maxdepth 1 \( -name "worker-*.err" -o -name "worker-*.out" -o -name "*.log" \) \
    -size -2M -newer "$OUT/.started" -exec cp {} "$OUT/ray-logs/" \; 2>/dev/null
fi
tar czf "$OUT.tar.gz" -C "$(dirname "$OUT")" "$(basename "$OUT")" && echo "=== bundle: $OUT.tar.gz"
exit "$status"
