"""Convert the s2cloudless LightGBM cloud classifier (PyPI s2cloudless 1.7.3,
s2cloudless/models/pixel_s2_cloud_detector_lightGBM_v0.1.txt) to ONNX: models/s2cloudless/1/model.onnx.
Run by convert-s2cloudless.sh inside .lookout/modeltools/venv-lgbm (see its --help).

Graph: input 'bands' float32 [pixels, 10] -> ai.onnx.ml TreeEnsembleClassifier (170 trees, LOGISTIC post-transform,
from onnxmltools convert_lightgbm) -> probabilities [pixels, 2] -> Gather column 1 -> 'cloud_probability' [pixels].

Exactness fix on top of onnxmltools: LightGBM compares the feature (float32 input widened to double) with a double
threshold, `x <= t`; ONNX TreeEnsemble stores float32 thresholds that onnxmltools rounds to nearest, so a float32 x
lying between t and its rounding would take the other branch. Every threshold is replaced by the largest float32
<= t, which makes `x <= t'` equal to `x <= t` for every float32 x. NaN: the model's splits have missing_type None
(LightGBM maps NaN to 0.0) and default_left, and all thresholds are > 0, so NaN and 0 both go left in both
runtimes (asserted below).
"""
import argparse
import hashlib
import os
import sys
from collections import defaultdict

import numpy as np
import onnx
from onnx import helper, numpy_helper, TensorProto

MODEL_FILE = 'pixel_s2_cloud_detector_lightGBM_v0.1.txt'


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def model_path():
    import s2cloudless
    return os.path.join(os.path.dirname(s2cloudless.__file__), 'models', MODEL_FILE)


def split_thresholds(booster):
    """{feature index: set of double thresholds} over all trees."""
    out = defaultdict(set)

    def walk(node):
        if 'split_index' not in node:
            return
        assert node['decision_type'] == '<=', node['decision_type']
        assert node['missing_type'] == 'None' and node['default_left'], node
        out[node['split_feature']].add(float(node['threshold']))
        walk(node['left_child'])
        walk(node['right_child'])

    for tree in booster.dump_model()['tree_info']:
        walk(tree['tree_structure'])
    return out


def convert(dst, expected_sha, threshold_fix=True):
    import lightgbm as lgb
    from onnxmltools import convert_lightgbm
    from onnxmltools.convert.common.data_types import FloatTensorType

    src = model_path()
    got = sha256(src)
    assert expected_sha in (None, got), f'{src}: sha256 {got}, expected {expected_sha}'
    booster = lgb.Booster(model_file=src)
    assert booster.num_feature() == 10 and booster.num_trees() == 170, (booster.num_feature(), booster.num_trees())
    m = convert_lightgbm(booster, initial_types=[('bands', FloatTensorType([None, 10]))], zipmap=False)
    g = m.graph
    tree = [n for n in g.node if n.op_type == 'TreeEnsembleClassifier']
    assert len(tree) == 1, [n.op_type for n in g.node]
    tree = tree[0]
    attrs = {a.name: a for a in tree.attribute}
    assert helper.get_attribute_value(attrs['post_transform']) == b'LOGISTIC'
    assert set(helper.get_attribute_value(attrs['nodes_modes'])) <= {b'BRANCH_LEQ', b'LEAF'}

    # --- exact thresholds for float32 inputs
    thr = split_thresholds(booster)
    assert min(min(v) for v in thr.values()) > 0, 'a threshold <= 0 would make NaN and 0 differ'
    lookup = {}
    for f, ts in thr.items():
        for t in ts:
            key = (f, float(np.float32(t)))
            assert key not in lookup or lookup[key] == t, f'two thresholds of feature {f} round to {key[1]}'
            lookup[key] = t
    modes = helper.get_attribute_value(attrs['nodes_modes'])
    feats = helper.get_attribute_value(attrs['nodes_featureids'])
    vals = np.array(helper.get_attribute_value(attrs['nodes_values']), np.float32)
    adjusted = 0
    for k, (mode, f) in enumerate(zip(modes, feats)):
        if mode != b'BRANCH_LEQ':
            continue
        t = lookup[(f, float(vals[k]))]
        if float(vals[k]) > t and threshold_fix:
            vals[k] = np.nextafter(vals[k], np.float32(-np.inf))
            adjusted += 1
        assert not threshold_fix or float(vals[k]) <= t < float(np.nextafter(vals[k], np.float32(np.inf))), (k, vals[k], t)
    attrs['nodes_values'].floats[:] = vals.tolist()
    n_splits = sum(m == b'BRANCH_LEQ' for m in modes)
    print(f'[convert_s2cloudless] {n_splits} splits, {adjusted} float32 thresholds lowered by one ulp '
          f'(rounded above their double threshold)', file=sys.stderr)
    # hit rates are optional and all 1.0: drop them (1 MB)
    tree.attribute.remove(attrs['nodes_hitrates'])

    # --- outputs: only P(cloud), as a 1-D tensor
    prob = tree.output[1]
    del g.node[:]
    tree.output[0] = 'label_unused'
    g.node.append(tree)
    g.initializer.append(numpy_helper.from_array(np.array(1, np.int64), 'cloud_column'))
    g.node.append(helper.make_node('Gather', [prob, 'cloud_column'], ['cloud_probability'], axis=1, name='cloud_column_gather'))
    del g.initializer[:-1]
    del g.output[:]
    g.output.append(helper.make_tensor_value_info('cloud_probability', TensorProto.FLOAT, ['pixels']))
    del g.input[:]
    g.input.append(helper.make_tensor_value_info('bands', TensorProto.FLOAT, ['pixels', 10]))
    del g.value_info[:]
    del m.opset_import[:]
    m.opset_import.extend([helper.make_opsetid('', 13), helper.make_opsetid('ai.onnx.ml', 1)])
    tree.name = 'lightgbm_trees'
    g.name = 's2cloudless'
    m.doc_string = ('s2cloudless (Sentinel Hub) pixel cloud classifier, LightGBM v0.1, from PyPI s2cloudless 1.7.3, '
                    'converted with onnxmltools; see models/s2cloudless/README.md')
    g.value_info.append(helper.make_tensor_value_info(prob, TensorProto.FLOAT, ['pixels', 2]))
    g.value_info.append(helper.make_tensor_value_info('label_unused', TensorProto.INT64, ['pixels']))
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, dst)

    # --- sanity: ONNX vs LightGBM on seeded inputs inside the features' ranges
    import onnxruntime as ort
    s = ort.InferenceSession(dst, providers=['CPUExecutionProvider'])
    x = np.random.default_rng(0).uniform(0, 0.8, (4096, 10)).astype(np.float32)
    p = s.run(['cloud_probability'], {'bands': x})[0]
    ref = booster.predict(x)
    d = float(np.abs(p - ref).max())
    assert p.shape == (4096,) and d < 1e-4, (p.shape, d)
    print(f'[convert_s2cloudless] sanity: max abs diff vs LightGBM on 4096 seeded rows {d:.3g}', file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out', default='models/s2cloudless/1/model.onnx')
    ap.add_argument('--model-sha256', default=None, help='expected sha256 of the LightGBM model file')
    ap.add_argument('--force', action='store_true')
    ap.add_argument('--no-threshold-fix', action='store_true', help='keep onnxmltools\' nearest-rounded float32 '
                    'thresholds (for demonstrating the fix only)')
    args = ap.parse_args()
    if os.path.exists(args.out) and not args.force:
        print(f'[convert_s2cloudless] {args.out} exists (use --force to regenerate)', file=sys.stderr)
        return
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + '.tmp'
    convert(tmp, args.model_sha256, threshold_fix=not args.no_threshold_fix)
    os.replace(tmp, args.out)
    print(f'[convert_s2cloudless] wrote {args.out} ({os.path.getsize(args.out)} bytes, sha256 {sha256(args.out)})', file=sys.stderr)


if __name__ == '__main__':
    main()
