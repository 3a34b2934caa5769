#!/usr/bin/env bash
# Convert the s2cloudless LightGBM pixel cloud classifier (PyPI s2cloudless) to ONNX:
# models/s2cloudless/1/model.onnx, and check it against s2cloudless on the real Sentinel-2 L1C test scene that
# the s2cloudless 1.1.0 sdist ships. See --help.
set -euo pipefail

S2C_VERSION="1.7.3"   # the model file below, and the reference implementation
MODEL_SHA256="0f92b6822cc0ad42982f55bab9b1688329e119451ad9a9e0a56384b9f37bc61d"   # pixel_s2_cloud_detector_lightGBM_v0.1.txt
DATA_VERSION="1.1.0"  # its sdist ships s2cloudless/TestInputs/input_arrays.npz (real S2 L1C scene + expected output)
DATA_SDIST="s2cloudless-${DATA_VERSION}.tar.gz"
DATA_SDIST_SHA256="4afb8f2de27cf2264c2f33d53fd7f2171f0cf3ed971805382fe878b9ceccc780"
DATA_NPZ_SHA256="4dda48a18ecff6026f35a28d6ff615acfe12dab4a6eec34c6e42927a8e5d0553"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
source "$SCRIPT_DIR/pyenv.sh"   # TOOLS, PY_LGBM_REQS, VENV_LGBM, ensure_venv_at
OUT="$REPO/models/s2cloudless/1/model.onnx"
FORCE=0

usage() {
  cat <<EOF
Usage: models/tools/convert-s2cloudless.sh [--force] [--help]

Converts s2cloudless==${S2C_VERSION} s2cloudless/models/pixel_s2_cloud_detector_lightGBM_v0.1.txt (LightGBM,
170 trees, binary) into
  models/s2cloudless/1/model.onnx   input 'bands' float32 [pixels,10] (B01,B02,B04,B05,B08,B8A,B09,B10,B11,B12
                                    L1C TOA reflectance = DN/10000), output 'cloud_probability' float32 [pixels]
and writes the faithfulness figures into models/s2cloudless/manifest.json.

Steps (tooling in the git-ignored .lookout/modeltools/):
  1. Python venv .lookout/modeltools/venv-lgbm: ${PY_LGBM_REQS[*]}
  2. check the sha256 of the installed LightGBM model file
  3. pip download the s2cloudless==${DATA_VERSION} sdist (sha256 checked) into .lookout/modeltools/wheels and
     extract its TestInputs/input_arrays.npz (a real Sentinel-2 L1C scene, 856x512 px, 13 bands)
  4. convert_s2cloudless.py: onnxmltools convert_lightgbm, float32 thresholds made exact (see the script), only
     P(cloud) kept as output; onnx checker, sanity run
  5. check_s2cloudless.py --update-manifest: ONNX vs s2cloudless's classifier (LightGBM) on that scene, on
     synthetic rows and on threshold-edge rows; cloud-mask agreement at threshold 0.4 (a model failing the
     check is removed)

Options:
  --force   re-run the conversion even if model.onnx exists
  --help    this text
EOF
}

for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    --force) FORCE=1 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "[convert-s2cloudless] $*" >&2; }

if [[ -f "$OUT" && "$FORCE" != 1 ]]; then
  log "$OUT exists (use --force to regenerate)"
  exit 0
fi

# ---- 1. venv -----------------------------------------------------------------------------------
ensure_venv_at "$VENV_LGBM" "${PY_LGBM_REQS[@]}"

# ---- 2. source model ---------------------------------------------------------------------------
SRC="$("$VENV_LGBM/bin/python" -c 'import os, s2cloudless; print(os.path.join(os.path.dirname(s2cloudless.__file__), "models", "pixel_s2_cloud_detector_lightGBM_v0.1.txt"))')"
echo "$MODEL_SHA256  $SRC" | sha256sum -c --quiet
log "source model sha256 ok"

# ---- 3. real Sentinel-2 L1C test scene (fetched before converting: the check needs it) ---------
WHEELS="$TOOLS/wheels"
DATA_DIR="$TOOLS/s2cloudless-$DATA_VERSION"
NPZ="$DATA_DIR/input_arrays.npz"
mkdir -p "$WHEELS" "$DATA_DIR"
if [[ ! -f "$WHEELS/$DATA_SDIST" ]]; then
  log "downloading the s2cloudless==$DATA_VERSION sdist (test scene)"
  "$VENV_LGBM/bin/pip" download -q --disable-pip-version-check --no-deps --no-binary :all: \
    -d "$WHEELS" "s2cloudless==$DATA_VERSION"
fi
echo "$DATA_SDIST_SHA256  $WHEELS/$DATA_SDIST" | sha256sum -c --quiet
if [[ ! -f "$NPZ" ]]; then
  tar -xzf "$WHEELS/$DATA_SDIST" -O "s2cloudless-$DATA_VERSION/s2cloudless/TestInputs/input_arrays.npz" > "$NPZ.tmp"
  mv "$NPZ.tmp" "$NPZ"
fi
echo "$DATA_NPZ_SHA256  $NPZ" | sha256sum -c --quiet
log "test scene sha256 ok"

# ---- 4. convert --------------------------------------------------------------------------------
cd "$REPO"
PYTHONHASHSEED=0 "$VENV_LGBM/bin/python" "$SCRIPT_DIR/convert_s2cloudless.py" --out "$OUT" --model-sha256 "$MODEL_SHA256" --force

# ---- 5. faithfulness (a model that fails it is removed, so a rerun does not skip it) -------------
if ! "$VENV_LGBM/bin/python" "$SCRIPT_DIR/check_s2cloudless.py" --model "$OUT" --data "$NPZ" --update-manifest; then
  rm -f "$OUT"; log "faithfulness check failed; removed $OUT"; exit 1
fi
log "$(stat -c %s "$OUT") bytes  sha256 $(sha256sum "$OUT" | cut -d' ' -f1)  ${OUT#$REPO/}"
