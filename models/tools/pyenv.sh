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
