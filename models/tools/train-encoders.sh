#!/usr/bin/env bash
# Train the appearance + motion autoencoders (object-centric anomaly detection, Ionescu et al. CVPR 2019)
# on vtest.avi frames 0-499 and export their encoders to ONNX. See --help.
set -euo pipefail

# ---- pinned versions (the Python ones, shared with convert-nanodet.sh, are in pyenv.sh) -----------
VIDEO_DEFAULT="/usr/share/doc/opencv-doc/examples/data/vtest.avi"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
source "$SCRIPT_DIR/pyenv.sh"   # PY_* pins, TOOLS, VENV, ensure_venv
OUT_APP="$REPO/models/ae-appearance/1/model.onnx"
OUT_MOT="$REPO/models/ae-motion/1/model.onnx"
FORCE=0
PY_ARGS=()

usage() {
  cat <<EOF
Usage: models/tools/train-encoders.sh [--force] [--help] [-- extra train_encoders.py options]

Trains the two convolutional autoencoders of the object-centric anomaly detector (appearance: 64x64
gray crops at frame t; motion: Sobel gradient magnitude of the crops at t-3 and t+3, same boxes)
and exports only their ENCODERS to ONNX (opset 13, input 'input' [N,1,64,64], output 'latent' [N,1024]):
  models/ae-appearance/1/model.onnx + manifest.json
  models/ae-motion/1/model.onnx     + manifest.json

Data: ${VIDEO_DEFAULT} (Debian opencv-doc), frames 0-499 only (500+ are
kept for evaluation); every 2nd frame t, 3 <= t <= 496; objects from models/nanodet/1/model.onnx
(onnxruntime; person >= 0.4, other classes >= 0.5, >= 8 px). Decoding with ffmpeg (rgb24).
Crops are cached in .lookout/encoders/crops.npz, the training log in .lookout/encoders/train-log.json.

Steps:
  1. Python venv .lookout/modeltools/venv (shared with convert-nanodet.sh; created if missing):
     ${PY_TENSORFLOW} ${PY_TF2ONNX} ${PY_ONNX} ${PY_ORT} ${PY_NUMPY}
  2. models/tools/train_encoders.py with PYTHONHASHSEED=0 TF_DETERMINISTIC_OPS=1, 1 TF/ORT thread,
     seed 1234 (numpy, python, tf via keras.utils.set_random_seed + enable_op_determinism)

Options:
  --force   retrain even if both model.onnx files exist (otherwise: nothing to do, exit 0)
  --help    this text
  -- ARGS   passed to train_encoders.py (e.g. -- --max-epochs 30 --seed 7; see its --help)

Requires: ffmpeg/ffprobe, apt-get install -y opencv-doc (for vtest.avi).
Details/conventions: models/ae-appearance/README.md
EOF
}

while [[ $# -gt 0 ]]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --force) FORCE=1; shift ;;
    --) shift; PY_ARGS=("$@"); break ;;
    *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "[train-encoders] $*" >&2; }

command -v ffmpeg >/dev/null || { log "ffmpeg not found (apt-get install -y ffmpeg)"; exit 1; }
[[ -f "$VIDEO_DEFAULT" ]] || { log "$VIDEO_DEFAULT missing (apt-get install -y opencv-doc)"; exit 1; }
[[ -f "$REPO/models/nanodet/1/model.onnx" ]] || { log "models/nanodet/1/model.onnx missing (models/tools/convert-nanodet.sh)"; exit 1; }

# ---- 1. python venv (models/tools/pyenv.sh) ------------------------------------------------------
ensure_venv

if [[ -f "$OUT_APP" && -f "$OUT_MOT" && "$FORCE" != 1 ]]; then
  log "encoders exist ($OUT_APP, $OUT_MOT); use --force to retrain"
  exit 0
fi

# ---- 2. train + export -----------------------------------------------------------------------
export PYTHONHASHSEED=0 TF_DETERMINISTIC_OPS=1 TF_CPP_MIN_LOG_LEVEL=2 \
       OMP_NUM_THREADS=1 TF_NUM_INTRAOP_THREADS=1 TF_NUM_INTEROP_THREADS=1
"$VENV/bin/python" "$SCRIPT_DIR/train_encoders.py" ${PY_ARGS[@]+"${PY_ARGS[@]}"}
for f in "$OUT_APP" "$OUT_MOT"; do
  if [[ -f "$f" ]]; then
    log "$(realpath --relative-to="$REPO" "$f"): $(stat -c %s "$f") bytes, sha256 $(sha256sum "$f" | cut -d' ' -f1)"
  fi
done
