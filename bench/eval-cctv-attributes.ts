/**
 * `node -r tsx/cjs bench/eval-cctv-attributes.ts`: offline evaluation of the cctv-attributes method
 * (and, side by side on the same frames, the seed's cctv-ocae baseline) on a constructed anomaly set
 * made from real footage. See USAGE and the evaluation.md this writes for the exact recipe.
 */
import path from 'node:path';
import fs from 'node:fs';
import v8 from 'node:v8';
import type { DetectorOptions } from '../runtime/detector';
import { benchCommandLine, usageFail } from './args';
import { evaluate, KINDS, rescoreFromDump, type EvalResults, type ObsDump } from './cctv-attributes-eval';
import { recordRead, setId } from './split-reads';

const ROOT = path.resolve(__dirname, '..');
const USAGE = `Usage: node -r tsx/cjs bench/eval-cctv-attributes.ts [options]

Constructed-anomaly evaluation of the cctv-attributes method and the cctv-ocae baseline on vtest.avi
(Debian opencv-doc), in-process with the project's runtime code; no stack needed.

  --split test|validation|shift
                           test (default): fit frames 0-399, calibrate on 400-499, evaluate on 500-794.
                           validation: fit 0-249, calibrate 250-349, evaluate on 350-499 (anomalies with
                           another seed): for tuning the method without touching frames >= 500.
                           shift: fit 0-149, calibrate 150-199, evaluate on 200-499 (a third seed): a second
                           tuning split whose evaluated frames hold people and places the fit never saw.
                           With the default cross-fitting the method is fitted and calibrated on the fit and
                           calibration frames together (5 time blocks); people to paste are cut from the fit frames.
  --out DIR                output folder (default .lookout/eval-attributes[-validation]): results.json,
                           evaluation.md, roc.png, embedding-<scene>.png, examples/*.jpg
  --appearance PATH|none   MobileNetV2 model folder with manifest.json + 1/model.onnx (default: models/mobilenetv2
                           if its model.onnx is there, else none); none = the method without its appearance attribute
  --detector method|manifest
                           method (default): the detection profile the cctv-attributes pipeline runs in production
                           (models/nanodet detectionProfiles.cctv-anomaly), at the same pixel scale on the scene crops;
                           manifest: the model manifest's own decoding (score 0.3, 416x416), as every figure
                           before 2026-12-03 used
  --detection JSON         with --detector method: detector options merged over the profile, for tuning (for
                           example '{"classScoreThresholds":{"truck":0.4}}')
  --pose                   also run the optional pose step (models/movenet on person crops at the appearance
                           cadence; the pose attribute, off in production by default); its cost goes into the dump
  --no-baseline            skip the cctv-ocae baseline
  --threads N              onnxruntime intra-op threads per model (default 1)
  --limit N                smoke test: N-frame ranges and one short episode per anomaly kind (figures not comparable)
  --dump-obs FILE          also write all observations (clean passes, anomaly clips, pasted boxes) to FILE
                           for offline comparison of fit options (bench/tune-cctv-attributes.ts)
  --rescore RESULTS.json OBS.v8
                           no detection: re-score a finished run from the observations it dumped (--dump-obs)
                           with the method's current defaults and rewrite results.json, evaluation.md, roc.png
                           and the embedding plots in --out (baseline scores and episodes kept from RESULTS.json;
                           example images not redrawn)
  --json                   print results.json to stdout instead of the summary
  --help                   this text

Scenes: two non-overlapping 384x576 crops of the 768x576 view, "left" (x 0-383: footpath, car park with
cones, grass) and "right" (x 384-767: paved area and road, parked van, grass). Anomalies (per scene, seeded):
objects cut from real frames (people: background-difference masks with soft edges; the parked van: its box
with feathered edges), scaled to the local person height, blended along paths on the footpath or grass.`;

// ---------------------------------------------------------------------------------------------
// Arguments

interface Args {
  split: 'test' | 'validation' | 'shift';
  detector: 'method' | 'manifest';
  detectionOverride?: DetectorOptions;
  out: string;
  appearance: string | null;
  baseline: boolean;
  threads: number;
  limit: number | null;
  json: boolean;
  dumpObs: string | null;
  pose: boolean;
  rescore: { results: string; obs: string } | null;
}

function parseCommandLine(): Args {
  const { values: v, positionals } = benchCommandLine(
    {
      split: { type: 'string', default: 'test' },
      detector: { type: 'string', default: 'method' },
      detection: { type: 'string' },
      out: { type: 'string' },
      appearance: { type: 'string' },
      'no-baseline': { type: 'boolean', default: false },
      pose: { type: 'boolean', default: false },
      threads: { type: 'string', default: '1' },
      limit: { type: 'string' },
      json: { type: 'boolean', default: false },
      'dump-obs': { type: 'string' },
      rescore: { type: 'string' },
    },
    USAGE,
    true,
  );
  const fail = (msg: string) => usageFail(msg, USAGE);
  const posInt = (x: string, name: string) => {
    const n = Number(x);
    if (!Number.isInteger(n) || n < 1) fail(`${name} needs a positive integer, got ${JSON.stringify(x)}`);
    return n;
  };
  // --rescore takes two values (RESULTS.json OBS.v8): the second is the one positional argument allowed.
  if (positionals.length > (v.rescore !== undefined ? 1 : 0))
    fail(`unknown argument ${positionals[v.rescore !== undefined ? 1 : 0]}`);
  if (v.rescore !== undefined && positionals.length !== 1) fail('--rescore needs two values: RESULTS.json OBS.v8');
  if (v.split !== 'test' && v.split !== 'validation' && v.split !== 'shift')
    fail(`--split must be test, validation or shift, got ${JSON.stringify(v.split)}`);
  if (v.detector !== 'method' && v.detector !== 'manifest')
    fail(`--detector must be method or manifest, got ${JSON.stringify(v.detector)}`);
  let detectionOverride: DetectorOptions | undefined;
  if (v.detection !== undefined) {
    try {
      detectionOverride = JSON.parse(v.detection) as DetectorOptions;
    } catch (err) {
      fail(`--detection needs JSON detector options: ${(err as Error).message}`);
    }
  }
  const split = v.split as Args['split'];
  const def = path.join(ROOT, 'models', 'mobilenetv2');
  return {
    split,
    detector: v.detector as Args['detector'],
    detectionOverride,
    out: v.out
      ? path.resolve(v.out)
      : path.join(ROOT, '.lookout', split === 'test' ? 'eval-attributes' : `eval-attributes-${split}`),
    appearance:
      v.appearance === 'none'
        ? null
        : v.appearance
          ? path.resolve(v.appearance)
          : fs.existsSync(path.join(def, '1', 'model.onnx'))
            ? def
            : null,
    baseline: !v['no-baseline'],
    threads: posInt(v.threads, '--threads'),
    limit: v.limit !== undefined ? posInt(v.limit, '--limit') : null,
    json: v.json,
    dumpObs: v['dump-obs'] ? path.resolve(v['dump-obs']) : null,
    pose: v.pose,
    rescore: v.rescore !== undefined ? { results: path.resolve(v.rescore), obs: path.resolve(positionals[0]) } : null,
  };
}

async function main() {
  const args = parseCommandLine();
  const command = `node -r tsx/cjs bench/eval-cctv-attributes.ts ${process.argv.slice(2).join(' ')}`.trim();
  if (args.rescore) fs.mkdirSync(args.out, { recursive: true });
  const res = args.rescore
    ? await rescoreFromDump(
        JSON.parse(fs.readFileSync(args.rescore.results, 'utf8')) as EvalResults,
        v8.deserialize(fs.readFileSync(args.rescore.obs)) as ObsDump,
        {},
        args.out,
        command,
      )
    : await evaluate({
        ...args,
        command,
        log: (s) => process.stderr.write(`${s}\n`),
      });
  // Every scoring of a split counts as a read of it (smoke runs use other frames).
  const reads = args.limit === null ? recordRead(setId(res.ranges.seed as number, KINDS), args.split, command) : null;
  if (args.json) {
    console.log(JSON.stringify(res, null, 2));
    return;
  }
  console.log(`cctv-attributes evaluation (${args.split}) — ${res.machine}`);
  console.log('kind               pos   AUC new  AUC base  flagged new  detected');
  for (const [k, v] of Object.entries(res.auc)) {
    console.log(
      `${k.padEnd(17)} ${String(v.positives).padStart(5)}   ${String(v.auc).padEnd(6)}   ${String(v.baseline?.auc ?? 'n/a').padEnd(7)}   ${String(v.framesFlagged).padEnd(10)}   ${v.injectedDetected}`,
    );
  }
  const nf = res.normalFramesFlagged;
  console.log(
    `normal frames flagged: new ${(100 * nf.new).toFixed(1)} %, baseline ${Number.isFinite(nf.baseline) ? (100 * nf.baseline).toFixed(1) + ' %' : 'n/a'} (of ${nf.of})`,
  );
  const ep = res.alertEpisodes?.overall;
  if (ep)
    console.log(
      `alert episodes: ${ep.caught} of ${ep.anomalyEpisodes} caught, median time to alert ${Number(ep.medianTimeToAlertS).toFixed(1)} s, ${ep.falseAlerts} false alerts in ${ep.normalSeconds} s of normal footage (${Number(ep.falseAlertsPer10Min).toFixed(2)} per 10 min)`,
    );
  if (reads !== null)
    console.log(
      `the ${args.split} split of this set has now been read ${reads} time(s) (docs/eval/cctv-attributes/split-reads.json)`,
    );
  console.log(`wrote ${args.out}/results.json, evaluation.md, roc.png`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
