#!/usr/bin/env bash
# Wheels the project needs on the lent GPU node beyond the GPU kit (../shared/gpu, whose wheels.lock
# this project cannot change): added to .gpu/wheels/, which .gpu/setup.sh installs with the rest.
# Run after the kit's build, from the repository root, on a machine with PyPI access:
#   bash ../shared/gpu/build.sh && benchmarks/gpu/kit_extras.sh
# The versions are the exact pins of pyproject.toml (torchmetrics and its lightning-utilities).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ -d .gpu/wheels ] || { echo "kit_extras: no .gpu/wheels: build the kit first (bash ../shared/gpu/build.sh)" >&2; exit 2; }
PY="${PYTHON:-python3}"
pins=$("$PY" - <<'PYEOF'
import re, tomllib
deps = tomllib.load(open("pyproject.toml", "rb"))["project"]["dependencies"]
wanted = ("torchmetrics", "lightning-utilities")
found = [d for d in deps if re.split(r"[=<>\[]", d)[0] in wanted]
assert len(found) == len(wanted), f"pyproject.toml lacks an exact pin of one of {wanted}"
print(" ".join(found))
PYEOF
)
"$PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 -d .gpu/wheels $pins
ls -l .gpu/wheels | grep -E "torchmetrics|lightning_utilities"
