#!/usr/bin/env bash
# GPU check: the CUDA tests, then a 2-epoch Beer GRU training with bf16 on the GPU beside the same
# run on CPU (examples/s). Run from the repository root on a GPU machine:
#   benchmarks/gpu_check.sh [DATA_DIR]        (DATA_DIR holds beer/; default ../shared/data)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA_DIR="${1:-../shared/data}"
PY="${PYTHON:-.venv/bin/python}"
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 RAY_AUTH_MODE=disabled
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || echo "nvidia-smi: no GPU"
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, 'available', torch.cuda.is_available())"
"$PY" -m pytest -q -rs tests/n2r/test_devices.py
"$PY" benchmarks/device_throughput.py --data-dir "$DATA_DIR" --epochs 2
