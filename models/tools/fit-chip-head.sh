#!/usr/bin/env bash
# Fits the example chip classifier models/burn-scar-head (a logistic-regression head over MobileNetV2 features,
# fitted on constructed burn scars in a raster the evaluation does not use) and writes its ONNX file and manifest.
#   bash models/tools/fit-chip-head.sh [--help]
# Needs bash bench/raster-data.sh first (the evaluation rasters and the deepforest wheel). Python venv:
# .lookout/modeltools/venv-head (numpy, onnx, onnxruntime; created on demand). Deterministic.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
log() { echo "[fit-chip-head] $*" >&2; }
if [[ "${1:-}" == "--help" || "${1:-}" == "-h" ]]; then sed -n 2,6p "$0"; exit 0; fi
# shellcheck source=models/tools/pyenv.sh
source "$REPO/models/tools/pyenv.sh"
PY_HEAD_REQS=("numpy==1.26.4" "onnx==1.17.0" "onnxruntime==1.20.1" "protobuf==5.29.5")
ensure_venv_at "$TOOLS/venv-head" "${PY_HEAD_REQS[@]}"
DATA="$REPO/.lookout/raster-data"
WHL="$(ls "$DATA"/.packages/deepforest-2.1.0-*.whl)"
PNG="$DATA/deepforest/2019_YELL_2_541000_4977000_image_crop.png"
[[ -s "$PNG" ]] || unzip -o -j -q "$WHL" deepforest/data/2019_YELL_2_541000_4977000_image_crop.png -d "$DATA/deepforest"
cd "$REPO"
log "features (MobileNetV2, as the raster pipeline computes them)"
node -r tsx/cjs models/tools/chip-head-features.ts --data "$DATA" --out "$REPO/.lookout/chip-head"
log "fit, export, check"
"$TOOLS/venv-head/bin/python" models/tools/fit_chip_head.py --features "$REPO/.lookout/chip-head" --out "$REPO/models/burn-scar-head"
