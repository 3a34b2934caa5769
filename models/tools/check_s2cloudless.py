"""Faithfulness check of models/s2cloudless/1/model.onnx against s2cloudless's own classifier.

Reference: s2cloudless 1.7.3 S2PixelCloudDetector(all_bands=True).classifier.image_predict_proba (LightGBM 4.5.0
Booster.predict, float64) on the same float32 inputs; onnxruntime 1.20.1 (Python, CPU) for the ONNX model.

Inputs:
  real   the Sentinel-2 L1C test scene that s2cloudless 1.0.0/1.1.0 shipped in their PyPI sdists
         (s2cloudless/TestInputs/input_arrays.npz: 's2_im' [1,856,512,13] TOA reflectance = DN/10000, float32,
         all 13 bands, plus that release's expected 'cl_probs' and 'cl_mask'); 438,272 pixels.
  synth  (labelled synthetic) 200,000 seeded uniform rows in [0, 0.8] per band (numpy default_rng(1)).
  edges  (labelled synthetic) 100,000 real pixels in which one band is set exactly to a split threshold of the
         model (as float32) or to its float32 neighbour above or below: the cases where a float32 threshold
         rounding would flip a decision.
Masks: threshold 0.4 on the raw probabilities, and s2cloudless's get_mask_from_prob post-processing (disk
averaging then threshold then disk dilation) with average_over/dilation_size 4/2 (Sentinel Hub's recommended
setting, the defaults of the old CloudMaskRequest) and 1/1 (the 1.7.3 S2PixelCloudDetector defaults).
--update-manifest writes the figures into models/s2cloudless/manifest.json provenance.faithfulness.
"""
import argparse
import json
import os
import sys

import numpy as np

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))


def r(x, digits=3):
    return float(f'{x:.{digits}g}')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--model', default=os.path.join(REPO, 'models/s2cloudless/1/model.onnx'))
    ap.add_argument('--data', required=True, help='input_arrays.npz from the s2cloudless 1.1.0 sdist')
    ap.add_argument('--update-manifest', action='store_true')
    args = ap.parse_args()

    import onnxruntime as ort
    from s2cloudless import S2PixelCloudDetector
    from s2cloudless.utils import MODEL_BAND_IDS, MODEL_BANDS
    assert MODEL_BANDS == ['B01', 'B02', 'B04', 'B05', 'B08', 'B8A', 'B09', 'B10', 'B11', 'B12'], MODEL_BANDS

    so = ort.SessionOptions()
    so.intra_op_num_threads = 2
    sess = ort.InferenceSession(args.model, so, providers=['CPUExecutionProvider'])
    det = S2PixelCloudDetector(all_bands=True)

    def onnx_prob(x):
        return sess.run(['cloud_probability'], {'bands': np.ascontiguousarray(x, np.float32)})[0]

    def ref_prob(x):  # s2cloudless's classifier, float64
        return det.classifier.image_predict_proba(x[None, :, None, :])[0, :, 0, 1]

    res = {}
    # ---- real L1C scene
    d = np.load(args.data)
    s2 = d['s2_im']
    assert s2.shape == (1, 856, 512, 13) and s2.dtype == np.float32, (s2.shape, s2.dtype)
    h, w = s2.shape[1:3]
    x = s2[0][..., MODEL_BAND_IDS].reshape(-1, 10)
    p_onnx = onnx_prob(x).reshape(1, h, w)
    p_ref = det.classifier.image_predict_proba(s2[..., MODEL_BAND_IDS])[..., 1]
    # the package's public API gives the same (float32) map
    assert np.array_equal(det.get_cloud_probability_maps(s2), p_ref.astype(np.float32))
    diff = np.abs(p_onnx - p_ref)
    real = {'pixels': int(x.shape[0]), 'maxAbsDiff': r(diff.max()), 'meanAbsDiff': r(diff.mean()),
            'cloudFractionAt0.4': r(float((p_ref > 0.4).mean()), 4),
            'rawMaskDisagreementsAt0.4': int(((p_onnx > 0.4) != (p_ref > 0.4)).sum())}
    for avg, dil in [(4, 2), (1, 1)]:
        pd = S2PixelCloudDetector(threshold=0.4, all_bands=True, average_over=avg, dilation_size=dil)
        mo = pd.get_mask_from_prob(p_onnx.astype(np.float32))
        mr = pd.get_mask_from_prob(p_ref.astype(np.float32))
        real[f'maskDisagreements_avg{avg}_dil{dil}'] = int((mo != mr).sum())
    # against the expected outputs shipped with s2cloudless 1.1.0 (its joblib-pickled copy of the same model)
    real['vsS2cloudless110ExpectedProbs'] = {'maxAbsDiff': r(np.abs(p_onnx - d['cl_probs']).max()),
                                             'referenceMaxAbsDiff': r(np.abs(p_ref - d['cl_probs']).max())}
    m11 = S2PixelCloudDetector(all_bands=True).get_mask_from_prob(p_onnx.astype(np.float32))
    real['vsS2cloudless110ExpectedMask_avg1_dil1_disagreements'] = int((m11 != d['cl_mask']).sum())
    res['real'] = real
    print('real L1C scene:', json.dumps(real))

    # ---- synthetic uniform
    xs = np.random.default_rng(1).uniform(0, 0.8, (200_000, 10)).astype(np.float32)
    ds = np.abs(onnx_prob(xs) - ref_prob(xs))
    res['synthUniform'] = {'rows': len(xs), 'maxAbsDiff': r(ds.max()),
                           'maskDisagreementsAt0.4': int(((onnx_prob(xs) > 0.4) != (ref_prob(xs) > 0.4)).sum())}
    print('synthetic uniform:', json.dumps(res['synthUniform']))

    # ---- threshold edges
    rng = np.random.default_rng(2)
    dump = det.classifier.classifier.dump_model()['tree_info']
    splits = []

    def walk(n):
        if 'split_index' in n:
            splits.append((n['split_feature'], n['threshold']))
            walk(n['left_child'])
            walk(n['right_child'])
    for t in dump:
        walk(t['tree_structure'])
    n = 100_000
    xe = x[rng.integers(0, len(x), n)].copy()
    pick = rng.integers(0, len(splits), n)
    which = rng.integers(-1, 2, n)
    for k in range(n):
        f, t = splits[pick[k]]
        v = np.float32(t)
        if which[k] < 0:
            v = np.nextafter(v, np.float32(-np.inf))
        elif which[k] > 0:
            v = np.nextafter(v, np.float32(np.inf))
        xe[k, f] = v
    pe_o, pe_r = onnx_prob(xe), ref_prob(xe)
    res['thresholdEdges'] = {'rows': n, 'maxAbsDiff': r(np.abs(pe_o - pe_r).max()),
                             'maskDisagreementsAt0.4': int(((pe_o > 0.4) != (pe_r > 0.4)).sum())}
    print('threshold edges:', json.dumps(res['thresholdEdges']))

    if args.update_manifest:
        mp = os.path.join(REPO, 'models/s2cloudless/manifest.json')
        m = json.load(open(mp))
        m['provenance']['faithfulness'] = {
            'checkScript': 'models/tools/check_s2cloudless.py',
            'maxAbsDiff': real['maxAbsDiff'],
            'inputs': ('real: the Sentinel-2 L1C test scene shipped in the PyPI sdist of s2cloudless 1.1.0 '
                       '(s2cloudless/TestInputs/input_arrays.npz, 856x512 pixels, 13 bands TOA reflectance); synthUniform: 200,000 seeded uniform rows in [0,0.8] (synthetic); '
                       'thresholdEdges: 100,000 real pixels with one band set to a split threshold (float32) or its '
                       'float32 neighbours (synthetic). Reference: s2cloudless 1.7.3 classifier (LightGBM 4.5.0 '
                       'Booster.predict, float64); ONNX in onnxruntime 1.20.1 (Python, CPU). maxAbsDiff = real scene.'),
            **res,
        }
        with open(mp, 'w') as fh:
            json.dump(m, fh, indent=2)
            fh.write('\n')
        print(f'updated {mp}')


if __name__ == '__main__':
    sys.exit(main())
