#!/usr/bin/env bash
# One visit to a lent GPU machine for the parity issue: start the parity runs (parity_runs.sh), let
# them train for MINUTES, then bundle every curve so far into OUT_DIR.tar.gz (the logs hold one row
# per epoch, so runs cut off by the visit's end still bring back their curves up to there).
#
#   source .gpu/setup.sh
#   PYTHON=python3 benchmarks/gpu/parity_visit.sh "$N2R_GPU_DATA" "$PWD/.reference" /tmp/parity 8
#
# The default set bisects the engine's switches on N2R: the authors' code, the engine in
# reference-compatible mode, in default mode, and compatible but for one switch at a time
# (padding in the penalties, the BiGRU reading padding), seeds 1 and 2 — 10 runs at once. Narrow
# or widen it with OBJECTIVES, MODES, SEEDS and EPOCHS as in parity_runs.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA_DIR="$1"; REFERENCE="$2"; OUT="$3"; MINUTES="${4:-8}"
export OBJECTIVES="${OBJECTIVES:-n2r}"
export MODES="${MODES:-compatible default without-padding_in_penalties without-gru_reads_padding}"
bash benchmarks/gpu/parity_runs.sh "$DATA_DIR" "$REFERENCE" "$OUT" "${EPOCHS:-300}" "${SEEDS:-1 2}"
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv > "$OUT/nvidia-smi.csv" 2>&1 || true
end=$(( $(date +%s) + MINUTES * 60 ))
while [ "$(date +%s)" -lt "$end" ] && pgrep -f "parity.py|epoch_curve.py" > /dev/null; do
  sleep 20
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader >> "$OUT/nvidia-smi.csv" 2>&1 || true
done
for log in "$OUT"/*.log; do        # the last epoch each run reached
  printf '%s: %s\n' "$(basename "$log")" "$(grep -E '^\| [0-9]+ \|' "$log" | tail -n 1)"
done | tee "$OUT/progress.txt"
tar czf "$OUT.tar.gz" --exclude='*.pt' -C "$(dirname "$OUT")" "$(basename "$OUT")"
echo "bundle: $OUT.tar.gz ($(du -h "$OUT.tar.gz" | cut -f1)); runs still going: $(pgrep -fc 'parity.py|epoch_curve.py' || true)"
