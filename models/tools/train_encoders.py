#!/usr/bin/env python3
"""Train the appearance and motion convolutional autoencoders of the object-centric anomaly detection
method (Ionescu et al., CVPR 2019) on vtest.avi frames 0-499 and export their ENCODERS to ONNX.

Called by models/tools/train-encoders.sh (which sets up the venv and the determinism environment).
See models/ae-appearance/README.md for the exact conventions; they mirror media/vision.ts (cropGray,
sobelMagnitude) so that training and serving see identical inputs.

Stages:
  1. data:   ffmpeg -> rgb24 frames; NanoDet (ONNX, onnxruntime) on frame t; crops of t-3, t, t+3 with
             the same boxes; cached in .lookout/encoders/crops.npz (keyed by the data settings)
  2. train:  two Keras autoencoders (Adam 1e-3, MSE, <= max epochs, early stop patience 2 on a
             temporal validation split, best weights restored)
  3. export: encoders only -> ONNX opset 13 (input 'input' [N,1,64,64] NCHW, output 'latent' [N,1024]);
             ONNX vs Keras max abs diff; manifests
"""
import argparse
import hashlib
import json
import math
import os
import subprocess
import sys
import time

import numpy as np

from onnx_canon import canonicalize_names  # models/tools/, this script's folder

# ---------------------------------------------------------------------------------------------
# constants

CROP = 64
LATENT = 8 * 8 * 16
GRAD_SCALE = 1.0 / (4.0 * math.sqrt(2.0))  # motion graph multiplies the raw Sobel magnitude by this
NANODET_IN = 416
STRIDES = (8, 16, 32)
REG_MAX = 10
PERSON_MIN = 0.4
OTHER_MIN = 0.5
IOU_NMS = 0.5
MAX_DET = 100
MIN_SIDE = 8.0
GRAY_W = (0.299, 0.587, 0.114)


def log(*a):
    print('[train-encoders]', *a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# video + image ops (mirror media/vision.ts)

def read_frames(video, n_frames, width, height):
    """yields (index, HxWx3 uint8 RGB) for frames 0..n_frames-1, decoded by ffmpeg (rgb24)."""
    cmd = ['ffmpeg', '-nostdin', '-loglevel', 'error', '-i', video, '-frames:v', str(n_frames),
           '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-']
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE)
    size = width * height * 3
    try:
        for k in range(n_frames):
            buf = p.stdout.read(size)
            if len(buf) != size:
                raise RuntimeError(f'ffmpeg returned {len(buf)} bytes for frame {k}, expected {size}')
            yield k, np.frombuffer(buf, np.uint8).reshape(height, width, 3)
    finally:
        p.stdout.close()
        p.wait()


def probe_size(video):
    out = subprocess.check_output(['ffprobe', '-v', 'error', '-select_streams', 'v:0', '-show_entries',
                                   'stream=width,height', '-of', 'csv=p=0', video], text=True)
    w, h = out.strip().split(',')[:2]
    return int(w), int(h)


def to_gray(rgb):
    """(0.299 R + 0.587 G + 0.114 B) / 255 in float64 (media/vision.ts cropGray px())."""
    r = rgb.astype(np.float64)
    return (GRAY_W[0] * r[..., 0] + GRAY_W[1] * r[..., 1] + GRAY_W[2] * r[..., 2]) / 255.0


def crop_gray(gray, box, size=CROP):
    """Exact port of media/vision.ts cropGray (on a precomputed float64 gray image).
    box = (x, y, w, h) floats in pixels. Returns size x size float32, row-major [row j][col i]."""
    H, W = gray.shape
    x, y, w, h = box
    x0 = max(0.0, min(W - 1.0, x))
    y0 = max(0.0, min(H - 1.0, y))
    bw = max(1.0, min(W - x0, w))
    bh = max(1.0, min(H - y0, h))
    k = np.arange(size, dtype=np.float64)
    sx = x0 + (k + 0.5) * bw / size - 0.5
    sy = y0 + (k + 0.5) * bh / size - 0.5
    xa = np.clip(np.floor(sx), 0, W - 1).astype(np.int64)
    xb = np.minimum(W - 1, xa + 1)
    fx = np.clip(sx - xa, 0.0, 1.0)
    ya = np.clip(np.floor(sy), 0, H - 1).astype(np.int64)
    yb = np.minimum(H - 1, ya + 1)
    fy = np.clip(sy - ya, 0.0, 1.0)
    fx = fx[None, :]
    fy = fy[:, None]
    top = gray[ya[:, None], xa[None, :]] * (1 - fx) + gray[ya[:, None], xb[None, :]] * fx
    bot = gray[yb[:, None], xa[None, :]] * (1 - fx) + gray[yb[:, None], xb[None, :]] * fx
    return (top * (1 - fy) + bot * fy).astype(np.float32)


def sobel_magnitude(g):
    """Exact port of media/vision.ts sobelMagnitude: replicate borders, Gx = [[-1,0,1],[-2,0,2],[-1,0,1]]
    (x = column, increasing right), Gy = Gx^T (y = row, increasing down), sqrt(Gx^2+Gy^2), unscaled."""
    a = np.pad(g.astype(np.float64), 1, mode='edge')
    tl, tc, tr = a[:-2, :-2], a[:-2, 1:-1], a[:-2, 2:]
    ml, mr = a[1:-1, :-2], a[1:-1, 2:]
    bl, bc, br = a[2:, :-2], a[2:, 1:-1], a[2:, 2:]
    gx = tr + 2 * mr + br - tl - 2 * ml - bl
    gy = bl + 2 * bc + br - tl - 2 * tc - tr
    return np.sqrt(gx * gx + gy * gy).astype(np.float32)


def resize_bilinear_tf(rgb, out_w, out_h):
    """tf.image.resizeBilinear (align_corners=false, half_pixel_centers=false): src = dst * in/out."""
    H, W = rgb.shape[:2]
    sx = np.arange(out_w, dtype=np.float64) * (W / out_w)
    sy = np.arange(out_h, dtype=np.float64) * (H / out_h)
    xa = np.floor(sx).astype(np.int64); xb = np.minimum(W - 1, xa + 1); fx = (sx - xa)[None, :, None]
    ya = np.floor(sy).astype(np.int64); yb = np.minimum(H - 1, ya + 1); fy = (sy - ya)[:, None, None]
    f = rgb.astype(np.float32)
    top = f[ya][:, xa] * (1 - fx) + f[ya][:, xb] * fx
    bot = f[yb][:, xa] * (1 - fx) + f[yb][:, xb] * fx
    return top * (1 - fy) + bot * fy


# ---------------------------------------------------------------------------------------------
# detector (models/nanodet/README.md)

class Nanodet:
    def __init__(self, path, threads):
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])

    def detect(self, rgb):
        H, W = rgb.shape[:2]
        x = resize_bilinear_tf(rgb, NANODET_IN, NANODET_IN) / 255.0
        x = x.transpose(2, 0, 1)[None].astype(np.float32)
        names = [f'{k}_s{s}' for s in STRIDES for k in ('scores', 'dist')]
        outs = dict(zip(names, self.sess.run(names, {'input': x})))
        cands = []  # (score, class, x1, y1, x2, y2) in 416-input pixels
        thr = min(PERSON_MIN, OTHER_MIN)
        for S in STRIDES:
            G = NANODET_IN // S
            sc = outs[f'scores_s{S}'][0]
            ds = outs[f'dist_s{S}'][0].astype(np.float64)
            cells, classes = np.nonzero(sc > thr)
            if len(cells) == 0:
                continue
            d = ds[cells].reshape(-1, 4, REG_MAX + 1)
            d = d - d.max(axis=2, keepdims=True)
            p = np.exp(d)
            p /= p.sum(axis=2, keepdims=True)
            dist = (p * np.arange(REG_MAX + 1)).sum(axis=2) * S  # [n, 4] l, t, r, b
            cx = (cells % G + 0.5) * S
            cy = (cells // G + 0.5) * S
            x1 = np.maximum(0, cx - dist[:, 0]); y1 = np.maximum(0, cy - dist[:, 1])
            x2 = np.minimum(NANODET_IN, cx + dist[:, 2]); y2 = np.minimum(NANODET_IN, cy + dist[:, 3])
            for k in range(len(cells)):
                cands.append((float(sc[cells[k], classes[k]]), int(classes[k]), x1[k], y1[k], x2[k], y2[k]))
        cands.sort(key=lambda c: -c[0])
        kept = []
        for c in cands:
            if len(kept) >= MAX_DET:
                break
            if any(k[1] == c[1] and iou(k[2:], c[2:]) > IOU_NMS for k in kept):
                continue
            kept.append(c)
        boxes = []
        sx, sy = W / NANODET_IN, H / NANODET_IN
        for score, cls, x1, y1, x2, y2 in kept:
            if score < (PERSON_MIN if cls == 0 else OTHER_MIN):
                continue
            bx1, by1 = max(0.0, x1 * sx), max(0.0, y1 * sy)
            bx2, by2 = min(float(W), x2 * sx), min(float(H), y2 * sy)
            if bx2 - bx1 < MIN_SIDE or by2 - by1 < MIN_SIDE:
                continue
            boxes.append((bx1, by1, bx2 - bx1, by2 - by1, cls, score))
        return boxes


def iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    u = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / u if u > 0 else 0.0


# ---------------------------------------------------------------------------------------------
# stage 1: dataset

def build_dataset(args, repo):
    W, H = probe_size(args.video)
    targets = [t for t in range(args.t_min, args.t_max + 1, args.t_step)]
    need = {}
    for t in targets:
        for f in (t - args.delta, t, t + args.delta):
            need[f] = need.get(f, 0) + 1
    last = max(need)
    assert last < args.train_frames, 'targets must only use the fitting part of the video'
    det = Nanodet(os.path.join(repo, 'models/nanodet/1/model.onnx'), args.threads)
    window = {}
    app, mot_prev, mot_next, meta = [], [], [], []
    t0 = time.time()
    target_set = set(targets)
    for k, rgb in read_frames(args.video, last + 1, W, H):
        if k in need:
            window[k] = (rgb, to_gray(rgb))
        t = k - args.delta  # frame t is complete once t + delta has arrived
        if t in target_set:
            boxes = det.detect(window[t][0])
            for (x, y, w, h, cls, score) in boxes:
                b = (x, y, w, h)
                app.append(crop_gray(window[t][1], b))
                mot_prev.append(sobel_magnitude(crop_gray(window[t - args.delta][1], b)))
                mot_next.append(sobel_magnitude(crop_gray(window[t + args.delta][1], b)))
                meta.append((t, cls, score, x, y, w, h))
            for f in list(window):
                if f < t + args.t_step - args.delta:  # no later target needs it
                    del window[f]
    log(f'dataset: {len(targets)} frames t in [{targets[0]}, {targets[-1]}] step {args.t_step}, '
        f'{len(app)} objects, {time.time() - t0:.1f}s')
    return (np.stack(app), np.stack(mot_prev), np.stack(mot_next), np.array(meta, np.float64))


def dataset_key(args, repo):
    h = hashlib.sha256()
    with open(os.path.join(repo, 'models/nanodet/1/model.onnx'), 'rb') as f:
        h.update(hashlib.sha256(f.read()).digest())
    with open(__file__, 'rb') as f:  # conventions live in this file
        src = f.read()
    h.update(src[:src.index(b'# stage 2')])
    h.update(json.dumps([os.path.basename(args.video), os.path.getsize(args.video), args.train_frames,
                         args.t_min, args.t_max, args.t_step, args.delta]).encode())
    return h.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------
# stage 2: models + training

def make_autoencoder(tf, name, input_scale):
    """Keras AE. Input [N,1,64,64] (NCHW, channel dim 1) -> reshape to NHWC (exact for 1 channel).
    Returns (autoencoder, encoder); encoder output = Flatten of NHWC [8,8,16] (index (y*8+x)*16+c)."""
    L = tf.keras.layers
    inp = tf.keras.Input(shape=(1, CROP, CROP), name='input')
    x = L.Reshape((CROP, CROP, 1), name='to_nhwc')(inp)
    if input_scale != 1.0:
        x = L.Rescaling(input_scale, name='scale')(x)
    for i, f in enumerate((32, 32, 16)):
        x = L.Conv2D(f, 3, padding='same', activation='relu', name=f'enc_conv{i + 1}')(x)
        x = L.MaxPooling2D(2, name=f'enc_pool{i + 1}')(x)
    latent = L.Flatten(name='latent')(x)
    y = L.Reshape((8, 8, 16), name='dec_reshape')(latent)
    for i, f in enumerate((16, 32, 32)):
        y = L.UpSampling2D(2, interpolation='nearest', name=f'dec_up{i + 1}')(y)
        y = L.Conv2D(f, 3, padding='same', activation='relu', name=f'dec_conv{i + 1}')(y)
    out = L.Conv2D(1, 3, padding='same', activation='sigmoid', name='dec_out')(y)
    ae = tf.keras.Model(inp, out, name=f'{name}_ae')
    enc = tf.keras.Model(inp, latent, name=f'{name}_encoder')
    return ae, enc


def train(tf, name, x, target, val_mask, args, input_scale):
    ae, enc = make_autoencoder(tf, name, input_scale)
    xt, yt = x[~val_mask], target[~val_mask]
    xv, yv = x[val_mask], target[val_mask]
    # Output-bias init = logit(mean training target): the sigmoid starts at the data mean instead of 0.5.
    # Without it the motion AE (targets mean ~0.05) collapses in the first epoch (all decoder ReLUs die,
    # constant ~0 output, val loss frozen). Architecture/optimizer unchanged; applied to both AEs.
    m = float(np.clip(yt.mean(), 1e-3, 1 - 1e-3))
    bias = ae.get_layer('dec_out').bias
    bias.assign(np.full(bias.shape, math.log(m / (1 - m)), np.float32))
    ae.compile(optimizer=tf.keras.optimizers.Adam(learning_rate=1e-3), loss='mse')
    es = tf.keras.callbacks.EarlyStopping(monitor='val_loss', patience=2, restore_best_weights=True)

    class Log(tf.keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.t = time.time()

        def on_epoch_end(self, epoch, logs=None):
            log(f'{name} epoch {epoch + 1}: loss {logs["loss"]:.6f} val_loss {logs["val_loss"]:.6f} '
                f'({time.time() - self.t:.1f}s)')

    t0 = time.time()
    h = ae.fit(xt, yt, batch_size=args.batch, epochs=args.max_epochs, shuffle=True,
               validation_data=(xv, yv), callbacks=[es, Log()], verbose=0)
    hist = {k: [float(v) for v in vs] for k, vs in h.history.items()}
    best = int(np.argmin(hist['val_loss']))
    # losses of the restored (best) weights, evaluated without dropout/shuffle effects
    train_loss = float(ae.evaluate(xt, yt, batch_size=256, verbose=0))
    val_loss = float(ae.evaluate(xv, yv, batch_size=256, verbose=0))
    info = {'epochsRun': len(hist['loss']), 'bestEpoch': best + 1, 'trainLoss': train_loss, 'valLoss': val_loss,
            'history': hist, 'seconds': round(time.time() - t0, 1), 'nTrain': int(len(xt)), 'nVal': int(len(xv)),
            'stoppedEarly': len(hist['loss']) < args.max_epochs}
    log(f'{name}: {info["epochsRun"]} epochs (best {best + 1}), train {train_loss:.6f}, val {val_loss:.6f}, '
        f'{info["seconds"]}s')
    return ae, enc, info


# ---------------------------------------------------------------------------------------------
# stage 3: export

def export_encoder(tf, enc, path, opset):
    import onnx
    import tf2onnx
    from onnx import helper, TensorProto
    spec = (tf.TensorSpec((None, 1, CROP, CROP), tf.float32, name='input'),)
    model_proto, _ = tf2onnx.convert.from_keras(enc, input_signature=spec, opset=opset)
    g = model_proto.graph
    assert len(g.input) == 1 and len(g.output) == 1

    def rename(old, new):
        for n in g.node:
            for k, v in enumerate(n.input):
                if v == old:
                    n.input[k] = new
            for k, v in enumerate(n.output):
                if v == old:
                    n.output[k] = new

    rename(g.input[0].name, 'input')
    rename(g.output[0].name, 'latent')
    del g.input[:]
    g.input.append(helper.make_tensor_value_info('input', TensorProto.FLOAT, ['batch', 1, CROP, CROP]))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info('latent', TensorProto.FLOAT, ['batch', LATENT]))
    del g.value_info[:]
    canonicalize_names(g, {'input', 'latent'})  # byte-stable output
    g.name = enc.name
    model_proto.producer_name = 'lookout train_encoders.py (tf2onnx %s)' % tf2onnx.__version__
    model_proto.doc_string = ('Encoder of the %s autoencoder (Ionescu et al. CVPR 2019 object-centric AE), '
                              'trained by the Lookout project; see models/ae-appearance/README.md' % enc.name)
    model_proto = onnx.shape_inference.infer_shapes(model_proto, strict_mode=True)
    onnx.checker.check_model(model_proto, full_check=True)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + '.tmp'
    onnx.save(model_proto, tmp)
    os.replace(tmp, path)


def onnx_vs_keras(enc, path, xs):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=['CPUExecutionProvider'])
    assert [i.name for i in s.get_inputs()] == ['input'] and [o.name for o in s.get_outputs()] == ['latent']
    ref = enc.predict(xs, batch_size=64, verbose=0)
    got = s.run(['latent'], {'input': xs})[0]
    assert got.shape == (len(xs), LATENT), got.shape
    one = s.run(['latent'], {'input': xs[:1]})[0]
    diff = float(np.abs(ref - got).max())
    diff_b1 = float(np.abs(one[0] - got[0]).max())
    return max(diff, diff_b1), float(np.abs(ref).max())


def write_manifest(out_root, name, info, n_crops, diff, args, motion, size):
    meaning_in = ('64x64 grayscale object crop in [0,1]' if not motion else
                  'raw (unscaled) Sobel gradient magnitude sqrt(Gx^2+Gy^2) of a 64x64 grayscale crop in [0,1] '
                  '(0..2*sqrt(5)=4.472 at most); the graph multiplies it by 1/(4*sqrt(2)) = %.17g internally, so the '
                  'encoder sees values in [0, 0.79]; do NOT scale it yourself' % GRAD_SCALE)
    m = {
        'name': name, 'version': 1, 'task': 'embedding', 'platform': 'onnxruntime', 'file': 'model.onnx',
        'inputs': [{'name': 'input', 'dtype': 'float32', 'dims': [-1, 1, CROP, CROP], 'layout': 'NCHW',
                    'meaning': meaning_in}],
        'outputs': [{'name': 'latent', 'dtype': 'float32', 'dims': [-1, LATENT],
                     'meaning': ('%s autoencoder latent (after the 3rd ReLU+max-pool, >= 0), 8x8x16 flattened in '
                                 'row-major HWC order: index = (y*8 + x)*16 + c (y = row, x = column of the 8x8 grid, '
                                 'c = filter 0..15)' % ('appearance' if not motion else 'motion'))}],
        'preprocessing': {'width': CROP, 'height': CROP, 'resize': 'fill', 'channels': 'GRAY',
                          'scale': 1 / 255, 'mean': [0], 'std': [1],
                          'crop': 'media/vision.ts cropGray: box (x,y,w,h) floats clamped x0=clamp(x,0,W-1), '
                                  'bw=max(1,min(W-x0,w)) (same for y/h); src = x0 + (i+0.5)*bw/64 - 0.5; bilinear '
                                  'between floor and floor+1 clamped to the image; gray = (0.299R+0.587G+0.114B)/255'},
        'maxBatchSize': 64, 'dynamicBatching': {'maxBatchSize': 64, 'maxQueueDelayMs': 2},
        'provenance': {
            'trainingScript': 'models/tools/train-encoders.sh',
            'data': 'vtest.avi frames 0-499 (opencv-doc 4.6.0)',
            'crops': n_crops, 'epochs': info['epochsRun'], 'bestEpoch': info['bestEpoch'],
            'trainLoss': round(info['trainLoss'], 7), 'valLoss': round(info['valLoss'], 7),
            'trainCrops': info['nTrain'], 'valCrops': info['nVal'],
            'seed': args.seed,
            'framework': 'tensorflow-cpu 2.15.1 / tf2onnx 1.17.0 opset %d' % args.opset,
            'onnxVsKerasMaxAbsDiff': float('%.3g' % diff),
            'sizeBytes': size,
        },
        'license': 'Apache-2.0 (trained by the Lookout project)',
    }
    if motion:
        m['preprocessing']['gradient'] = {
            'operator': 'sobel3x3', 'gx': [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], 'gy': [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
            'border': 'replicate', 'magnitude': 'sqrt(gx^2+gy^2)', 'inputScaledByCaller': False,
            'scaleInGraph': GRAD_SCALE,
            'frames': 'crop frames t-3 and t+3 with the boxes detected on frame t; each gives one latent'}
    p = os.path.join(out_root, name, 'manifest.json')
    with open(p, 'w') as f:
        json.dump(m, f, indent=2)
        f.write('\n')


# ---------------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--video', default='/usr/share/doc/opencv-doc/examples/data/vtest.avi')
    ap.add_argument('--train-frames', type=int, default=500)
    ap.add_argument('--t-min', type=int, default=3)
    ap.add_argument('--t-max', type=int, default=496)
    ap.add_argument('--t-step', type=int, default=2)
    ap.add_argument('--delta', type=int, default=3)
    ap.add_argument('--max-crops', type=int, default=6000)
    ap.add_argument('--val-fraction', type=float, default=0.15)
    ap.add_argument('--max-epochs', type=int, default=100)
    ap.add_argument('--batch', type=int, default=64)
    ap.add_argument('--seed', type=int, default=1234)
    ap.add_argument('--opset', type=int, default=13)
    ap.add_argument('--threads', type=int, default=1)
    ap.add_argument('--only-data', action='store_true')
    ap.add_argument('--out-root', default=None, help='write <root>/<name>/... instead of models/ (testing)')
    args = ap.parse_args()
    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
    cache_dir = os.path.join(repo, '.lookout', 'encoders')
    os.makedirs(cache_dir, exist_ok=True)
    T0 = time.time()
    out_root = os.path.abspath(args.out_root) if args.out_root else os.path.join(repo, 'models')

    key = dataset_key(args, repo)
    cache = os.path.join(cache_dir, 'crops.npz')
    data = None
    if os.path.exists(cache):
        z = np.load(cache)
        if str(z['key']) == key:
            data = (z['app'], z['prev'], z['next'], z['meta'])
            log(f'dataset from cache {cache} ({len(data[0])} objects)')
    if data is None:
        data = build_dataset(args, repo)
        np.savez(cache + '.tmp.npz', key=key, app=data[0], prev=data[1], next=data[2], meta=data[3])
        os.replace(cache + '.tmp.npz', cache)
    app, prev, nxt, meta = data
    t_data = time.time() - T0
    if args.only_data:
        return

    # deterministic subsample if over the cap (keeps temporal order)
    if len(app) > args.max_crops:
        idx = np.sort(np.random.default_rng(args.seed).choice(len(app), args.max_crops, replace=False))
        app, prev, nxt, meta = app[idx], prev[idx], nxt[idx], meta[idx]
    frames = meta[:, 0]
    # temporal validation split: objects of the last val-fraction of the sampled frames
    uniq = np.unique(frames)
    cut = uniq[int(round(len(uniq) * (1 - args.val_fraction)))]
    val = frames >= cut
    log(f'{len(app)} objects ({int((meta[:, 1] == 0).sum())} person), validation = frames t >= {int(cut)} '
        f'({int(val.sum())} objects)')

    import tensorflow as tf
    tf.keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(1)

    # appearance: crops at t, target = input
    xa = app[:, None]
    # motion: gradient images of t-3 and t+3 crops (interleaved per object so both land in the same split)
    xm = np.stack([prev, nxt], axis=1).reshape(-1, 1, CROP, CROP)
    vm = np.repeat(val, 2)
    results = {}
    for name, x, vmask, scale, motion in (('ae-appearance', xa, val, 1.0, False),
                                          ('ae-motion', xm, vm, GRAD_SCALE, True)):
        tf.keras.utils.set_random_seed(args.seed)
        target = (x * scale).transpose(0, 2, 3, 1).astype(np.float32)  # NHWC target in [0,1]
        ae, enc, info = train(tf, name, x, target, vmask, args, scale)
        out_name = name
        path = os.path.join(out_root, out_name, '1', 'model.onnx')
        export_encoder(tf, enc, path, args.opset)
        check = x[np.linspace(0, len(x) - 1, 256).astype(int)]
        rng = np.random.default_rng(args.seed)
        rnd = (rng.random((16, 1, CROP, CROP), dtype=np.float32) * (1.0 if not motion else 1 / GRAD_SCALE)).astype(np.float32)
        diff, mag = onnx_vs_keras(enc, path, np.concatenate([check, rnd]))
        size = os.path.getsize(path)
        log(f'{out_name}: wrote {path} ({size} bytes), onnx vs keras max abs diff {diff:.3g} (latent max {mag:.3g})')
        write_manifest(out_root, out_name, info, int(len(x)), diff, args, motion, size)
        results[out_name] = dict(info, crops=int(len(x)), onnxVsKerasMaxAbsDiff=diff, sizeBytes=size,
                                 sha256=hashlib.sha256(open(path, 'rb').read()).hexdigest())
    total = time.time() - T0
    results['timing'] = {'dataSeconds': round(t_data, 1), 'totalSeconds': round(total, 1)}
    results['dataset'] = {'objects': int(len(app)), 'persons': int((meta[:, 1] == 0).sum()),
                          'classes': {str(int(c)): int((meta[:, 1] == c).sum()) for c in np.unique(meta[:, 1])},
                          'valFromFrame': int(cut), 'key': key}
    rp = os.path.join(cache_dir, 'train-log.json' if args.out_root is None else 'train-log-test.json')
    with open(rp, 'w') as f:
        json.dump(results, f, indent=1)
    log(f'done in {total:.0f}s; log {rp}')


if __name__ == '__main__':
    main()
