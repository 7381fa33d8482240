#!/usr/bin/env bash
# The parity runs of the N2R parity issue on one GPU: the authors' code and this project's engine
# (reference-compatible mode and default mode) side by side on the same Beer data and coefficients,
# every run in the background at once, each printing dev accuracy and test P/R/F1 per epoch.
#
#   benchmarks/gpu/parity_runs.sh DATA_DIR REFERENCE_DIR OUT_DIR [EPOCHS] [SEEDS]
#
# DATA_DIR holds beer/; REFERENCE_DIR the authors' repository (git-ignored .reference/); logs go to
# OUT_DIR/<engine>-<objective>-seed<N>.log (written as they run, so a cut-off run keeps its curve);
# the engine's runs also leave their run folder (OUT_DIR/n2r-<mode>-<objective>-seed<N>/: checkpoint.pt, the last
# epoch's state — not brought back by parity_visit.sh — and, if they finish, the bundle).
# EPOCHS defaults to 300, SEEDS to "1 2 3"; OBJECTIVES (default "n2r rnp+n2r") and MODES (default
# "compatible default") narrow the set to fit a device budget; every mode runs every seed.
# A mode "without-SWITCH" (SWITCH one of padding_in_penalties, gru_reads_padding, pad_to,
# bucket_window) is reference-compatible but for that one switch, to bisect which one matters.
# RUN_REFERENCE=0 leaves the authors' code out (e.g. when a visit only bisects the engine's switches).
# DEVICE=cpu runs the same on CPU (for a dry run).
# Returns at once; `pgrep -f "parity.py|epoch_curve.py"` tells whether runs are still going.
set -euo pipefail
cd "$(dirname "$0")/../.."
DATA_DIR="$(cd "$1" && pwd)"; REFERENCE="$(cd "$2" && pwd)"; OUT="$3"
EPOCHS="${4:-300}"; SEEDS="${5:-1 2 3}"
DEVICE="${DEVICE:-cuda}"; PY="${PYTHON:-python3}"
OBJECTIVES="${OBJECTIVES:-n2r rnp+n2r}"; MODES="${MODES:-compatible default}"
mkdir -p "$OUT/configs"
OUT="$(cd "$OUT" && pwd)"

config() {   # config MODE OBJECTIVE SEED -> path of a run file derived from n2r/configs/beer-reference.yaml
  local file="$OUT/configs/$1-$2-seed$3.yaml"
  "$PY" - "$1" "$2" "$3" "$DATA_DIR/beer" "$file" <<'EOF'
import sys, yaml
mode, objective, seed, data, out = sys.argv[1:]
cfg = yaml.safe_load(open("n2r/configs/beer-reference.yaml"))
cfg["data"]["path"] = data
cfg["objective"]["name"] = objective
cfg["train"]["seed"] = int(seed)
switches = {"padding_in_penalties": "objective", "gru_reads_padding": "model", "pad_to": "train",
            "bucket_window": "train"}
if mode == "default":          # the project's defaults for every reference switch
    for key, section in switches.items():
        cfg[section].pop(key)
elif mode.startswith("without-"):   # reference-compatible but for one switch, at the project's default
    key = mode.removeprefix("without-")   # (modes were checked before anything started)
    cfg[switches[key]].pop(key)
yaml.safe_dump(cfg, open(out, "w"), sort_keys=False)
EOF
  echo "$file"
}

for mode in $MODES; do       # refuse a bad mode before anything starts
  case "$mode" in
    compatible|default|without-padding_in_penalties|without-gru_reads_padding|without-pad_to|without-bucket_window) ;;
    *) echo "MODES: unknown mode '$mode' (compatible, default, without-SWITCH)" >&2; exit 2 ;;
  esac
done
started=0
for seed in $SEEDS; do
  for objective in $OBJECTIVES; do
    name="$(echo "$objective" | tr + -)-seed$seed"
    if [ "${RUN_REFERENCE:-1}" != 0 ]; then
      setsid nohup "$PY" benchmarks/parity.py --reference "$REFERENCE" --data-dir "$DATA_DIR/beer" \
        --objective "$objective" --seed "$seed" --curve "$EPOCHS" --device "$DEVICE" --threads 1 \
        > "$OUT/reference-$name.log" 2>&1 < /dev/null &
      started=$((started + 1))
    fi
    for mode in $MODES; do
      setsid nohup "$PY" benchmarks/epoch_curve.py "$(config "$mode" "$objective" "$seed")" --epochs "$EPOCHS" \
        --device "$DEVICE" --json "$OUT/n2r-$mode-$name.json" --out "$OUT/n2r-$mode-$name" \
        > "$OUT/n2r-$mode-$name.log" 2>&1 < /dev/null &
      started=$((started + 1))
    done
  done
done
echo "started: $started runs, logs in $OUT"
