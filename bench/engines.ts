/**
 * `npm run bench:engines`: the change backbone (MobileNetV2) in fp32, int8 and fp16 on the same chips, in one
 * run — seed 002/003's engine comparison, on Lookout's satellite change task.
 *
 * Chips come from real rasters (bench/raster-data.sh) with CONSTRUCTED changes (bench/raster-scenes.ts): each
 * chip pair (before, after) is preprocessed once and the very same tensors go to every variant, which run
 * one after the other per chip (rotating which goes first, so that machine load falls on all of them alike).
 * Per variant: embeddings/s and chip pairs/s, p50/p99 latency of one embedding (batch 1, the worker's session
 * options), and the accuracy deltas against fp32: max |change score - fp32 change score|, feature cosine to
 * fp32, agreement of the change decision (a chip is "changed" above the fp32 score that 5 % of the unchanged
 * chips of its construction exceed), and chip-level AUC on the constructed labels.
 *
 * `--bigquery` also writes one row per chip pair and variant to the table `engine_comparison` of the
 * configured dataset (the embedded stack of `lookout up`, or production), and prints the SQL report
 * infra/sql/engines.sql run over them; the same SQL runs in the BigQuery console.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { chipToRgb01, cosineDistance, percentileStretch, type Stretch } from '../methods/raster-change';
import { loadLocalModel, type LocalModel } from '../runtime/manifest';
import { createSession, onnxruntimeVersion, type LoadedSession } from '../runtime/session';
import { rocAucLabelled } from './metrics';
import { construct, KINDS, loadScenes, type Kind, type Scene } from './raster-scenes';
import {
  comparisonRows,
  decisionThreshold,
  ENGINE_TABLE,
  summariseVariant,
  type ChipPairResult,
  type VariantSummary,
} from './engines-report';

const USAGE = `Usage: npm run bench:engines -- [--data DIR] [--models DIR] [--variants LIST] [--seeds N] [--threads N] [--pool cpu|gpu] [--max-chips N] [--bigquery] [--json]

The change backbone in several precisions on the same real chips with constructed changes: speed (p50/p99 per
embedding, embeddings/s, chip pairs/s) and accuracy deltas against fp32. Needs bash bench/raster-data.sh first.
  --data DIR       rasters from bench/raster-data.sh (default .lookout/raster-data)
  --models DIR     model repository (default models/)
  --variants LIST  model names, the first is the reference (default mobilenetv2,mobilenetv2-int8,mobilenetv2-fp16)
  --seeds N        constructions per raster and change kind (default 1)
  --threads N      onnxruntime intra-op threads (default 1, as the CPU worker)
  --pool P         cpu (default) or gpu (CUDA execution provider: where fp16 pays off)
  --max-chips N    stop after N chip pairs (default: all)
  --bigquery       write rows to <dataset>.${'engine_comparison'} (LOOKOUT_* settings; \`lookout up\` first) and print infra/sql/engines.sql
  --json           print the summary as JSON`;

function parse() {
  return parseArgs({
    options: {
      data: { type: 'string' },
      models: { type: 'string' },
      variants: { type: 'string', default: 'mobilenetv2,mobilenetv2-int8,mobilenetv2-fp16' },
      seeds: { type: 'string', default: '1' },
      threads: { type: 'string', default: '1' },
      pool: { type: 'string', default: 'cpu' },
      'max-chips': { type: 'string' },
      bigquery: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}

let opt: ReturnType<typeof parse>['values'];
try {
  opt = parse().values;
} catch (err) {
  console.error(`${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
if (opt.help) {
  console.log(USAGE);
  process.exit(0);
}
const ROOT = path.resolve(__dirname, '..');
const DATA = path.resolve(opt.data ?? path.join(ROOT, '.lookout', 'raster-data'));
const REPO = path.resolve(opt.models ?? path.join(ROOT, 'models'));
const VARIANTS = opt.variants
  .split(',')
  .map((v) => v.trim())
  .filter(Boolean);
const SEEDS = Number(opt.seeds);
const THREADS = Number(opt.threads);
const MAX_CHIPS = opt['max-chips'] === undefined ? Infinity : Number(opt['max-chips']);
const POOL = opt.pool;
if (
  !(Number.isInteger(SEEDS) && SEEDS >= 1) ||
  !(Number.isInteger(THREADS) && THREADS >= 1) ||
  !(MAX_CHIPS > 0) ||
  VARIANTS.length < 2 ||
  (POOL !== 'cpu' && POOL !== 'gpu')
) {
  console.error(
    `--seeds, --threads and --max-chips need positive integers, --variants at least two models, --pool cpu or gpu\n\n${USAGE}`,
  );
  process.exit(2);
}
const log = (...a: unknown[]) => {
  if (!opt.json) console.error(...a);
};

interface Variant {
  model: LocalModel;
  session: LoadedSession;
  precision: string;
}

/** The model's input tensor for a chip: planar RGB in [0, 1] normalised with the manifest's mean / std. */
function normalise(rgb01: Float32Array, model: LocalModel): Float32Array {
  const pre = model.manifest.preprocessing;
  const mean = pre?.mean ?? [0.485, 0.456, 0.406];
  const std = pre?.std ?? [0.229, 0.224, 0.225];
  const plane = rgb01.length / 3;
  const x = new Float32Array(rgb01.length);
  for (let c = 0; c < 3; c++) for (let i = c * plane; i < (c + 1) * plane; i++) x[i] = (rgb01[i] - mean[c]) / std[c];
  return x;
}

async function embed(v: Variant, x: Float32Array, size: number): Promise<{ features: Float32Array; ms: number }> {
  const input = v.model.manifest.inputs[0].name;
  const output = v.model.manifest.outputs[0].name;
  const t = performance.now();
  const out = await v.session.session.run({ [input]: new ort.Tensor('float32', x, [1, 3, size, size]) });
  const ms = performance.now() - t;
  return { features: (out[output] as ort.Tensor).data as Float32Array, ms };
}

function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function chipBands(scene: Scene, bands: Float64Array[], w: { x: number; y: number; width: number; height: number }) {
  return {
    width: w.width,
    height: w.height,
    bands: bands.map((b) => {
      const out = new Float64Array(w.width * w.height);
      for (let y = 0; y < w.height; y++)
        out.set(b.subarray((w.y + y) * scene.width + w.x, (w.y + y) * scene.width + w.x + w.width), y * w.width);
      return out;
    }),
    nodata: null,
  };
}

async function main(): Promise<void> {
  const variants: Variant[] = [];
  for (const name of VARIANTS) {
    const model = loadLocalModel(REPO, name);
    const session = await createSession(model.modelPath, { pool: POOL as 'cpu' | 'gpu', threads: THREADS });
    // The manifest's provenance names the precision in words; the table wants a short key.
    const described = String((model.manifest.provenance as { precision?: string }).precision ?? '');
    const precision = /int8/i.test(name + described)
      ? 'int8'
      : /fp16|float16/i.test(name + described)
        ? 'fp16'
        : 'fp32';
    variants.push({ model, session, precision });
  }
  const size = variants[0].model.manifest.inputs[0].dims[2];
  for (const v of variants) {
    const d = v.model.manifest.inputs[0].dims;
    if (d[1] !== 3 || d[2] !== size || d[3] !== size)
      throw new Error(
        `${v.model.manifest.name}: input [${d.join(',')}] differs from the reference's [N,3,${size},${size}]`,
      );
  }
  const scenes = await loadScenes(DATA);
  log(
    `variants: ${variants.map((v) => `${v.model.manifest.name} (${v.precision}, ${v.session.executionProvider})`).join(', ')}; ${scenes.length} scenes, ${SEEDS} seed(s), ${THREADS} thread(s)`,
  );

  const results: ChipPairResult[] = [];
  const t0 = Date.now();
  let turn = 0;
  outer: for (const scene of scenes) {
    for (const kind of KINDS) {
      for (let s = 0; s < SEEDS; s++) {
        const seed = 20261201 + 7919 * s + 104729 * KINDS.indexOf(kind) + scenes.indexOf(scene);
        const c = construct(scene, kind as Kind, seed);
        const stretch = (bands: Float64Array[]): Stretch =>
          percentileStretch([bands[scene.rgb[0]], bands[scene.rgb[1]], bands[scene.rgb[2]]]);
        const [sb, sa] = [stretch(scene.bands), stretch(c.after)];
        const construction = `${scene.name}/${kind}/${s}`;
        for (let y = 0, idx = 0; y < scene.height; y += scene.chip) {
          for (let x = 0; x < scene.width; x += scene.chip, idx++) {
            if (results.length / variants.length >= MAX_CHIPS) break outer;
            const w = {
              x,
              y,
              width: Math.min(scene.chip, scene.width - x),
              height: Math.min(scene.chip, scene.height - y),
            };
            let m = 0;
            for (let yy = w.y; yy < w.y + w.height; yy++)
              for (let xx = w.x; xx < w.x + w.width; xx++) m += c.mask[yy * scene.width + xx];
            const frac = m / (w.width * w.height);
            const label = frac >= 0.1 ? 1 : frac === 0 ? 0 : -1;
            const rgbBefore = chipToRgb01(chipBands(scene, scene.bands, w), scene.rgb, sb, size);
            const rgbAfter = chipToRgb01(chipBands(scene, c.after, w), scene.rgb, sa, size);
            const out: Array<{ before: Float32Array; after: Float32Array; msBefore: number; msAfter: number }> =
              new Array(variants.length);
            // Rotate which variant runs first so that load on the shared machine is spread over all of them.
            for (let k = 0; k < variants.length; k++) {
              const vi = (k + turn) % variants.length;
              const v = variants[vi];
              const b = await embed(v, normalise(rgbBefore, v.model), size);
              const a = await embed(v, normalise(rgbAfter, v.model), size);
              out[vi] = { before: b.features, after: a.features, msBefore: b.ms, msAfter: a.ms };
            }
            turn++;
            const ref = out[0];
            const refScore = cosineDistance(ref.before, ref.after);
            variants.forEach((v, vi) => {
              const o = out[vi];
              results.push({
                variant: v.model.manifest.name,
                precision: v.precision,
                construction,
                scene: scene.name,
                kind,
                seed: s,
                chip: idx,
                label,
                score: cosineDistance(o.before, o.after),
                referenceScore: refScore,
                featureMaxAbsDiff: Math.max(maxAbsDiff(o.before, ref.before), maxAbsDiff(o.after, ref.after)),
                featureCosine: 1 - Math.max(cosineDistance(o.before, ref.before), cosineDistance(o.after, ref.after)),
                msBefore: o.msBefore,
                msAfter: o.msAfter,
              });
            });
          }
        }
        log(`  ${construction}: ${results.length / variants.length} chip pairs so far`);
      }
    }
  }
  const seconds = (Date.now() - t0) / 1000;
  for (const v of variants) await v.session.session.release();

  const thresholds = decisionThreshold(results.filter((r) => r.variant === variants[0].model.manifest.name));
  const summaries: VariantSummary[] = variants.map((v) =>
    summariseVariant(
      results.filter((r) => r.variant === v.model.manifest.name),
      thresholds,
      rocAucLabelled,
    ),
  );
  const machine = {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism(),
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    onnxruntime: onnxruntimeVersion(),
    threads: THREADS,
    pool: POOL,
    loadAverage: os.loadavg().map((l) => Math.round(l * 10) / 10),
  };
  const runId = `engines-${new Date()
    .toISOString()
    .replace(/[-:.TZ]/g, '')
    .slice(0, 14)}-${crypto.randomBytes(2).toString('hex')}`;
  const summary = {
    runId,
    evaluation: 'real rasters with CONSTRUCTED changes (bench/raster-scenes.ts); not a labelled dataset',
    reference: variants[0].model.manifest.name,
    chipPairs: results.length / variants.length,
    seconds: Math.round(seconds),
    machine,
    variants: summaries,
    at: new Date().toISOString(),
  };

  if (opt.bigquery) {
    const { loadConfig } = await import('../config');
    const { bigqueryClient } = await import('../io/clients');
    const { ensureEngineTable, insertEngineRows, engineReportSql } = await import('./engines-report');
    const cfg = loadConfig(process.env);
    const bq = bigqueryClient(cfg);
    await ensureEngineTable(bq, cfg);
    const rows = comparisonRows(runId, results, thresholds, machine);
    await insertEngineRows(bq, cfg, rows);
    const [report] = await bq.query({ query: engineReportSql(cfg), params: { run: runId } });
    log(
      `wrote ${rows.length} rows to ${cfg.bigquery.dataset}.${ENGINE_TABLE}; infra/sql/engines.sql for run ${runId}:`,
    );
    if (!opt.json) console.table(report);
    (summary as Record<string, unknown>).sqlReport = report;
  }

  const outDir = path.join(ROOT, '.lookout', 'bench-engines');
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(path.join(outDir, `${runId}.json`), JSON.stringify(summary, null, 2) + '\n');
  if (opt.json) {
    console.log(JSON.stringify(summary, null, 2));
    return;
  }
  console.log(
    `\n${summary.chipPairs} chip pairs x ${variants.length} variants in ${summary.seconds} s; machine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, Node ${machine.node}, onnxruntime ${machine.onnxruntime} (${POOL}, ${THREADS} thread), load ${machine.loadAverage.join(' ')}`,
  );
  console.log(
    'variant              precision  emb/s  pairs/s  p50 ms  p99 ms  max|dscore|  min feat cos  decision agree  AUC burn/flood/clearing',
  );
  for (const s of summaries) {
    const a = KINDS.map((k) => (typeof s.auc[k] === 'number' ? s.auc[k]!.toFixed(3) : '-')).join('/');
    console.log(
      `${s.variant.padEnd(20)} ${s.precision.slice(0, 9).padEnd(9)} ${s.embeddingsPerSecond.toFixed(1).padStart(6)} ${s.chipPairsPerSecond.toFixed(1).padStart(8)} ${s.p50Ms.toFixed(2).padStart(7)} ${s.p99Ms.toFixed(2).padStart(7)} ${s.maxScoreAbsDiff.toFixed(4).padStart(12)} ${s.minFeatureCosine.toFixed(4).padStart(13)} ${(100 * s.decisionAgreement).toFixed(1).padStart(14)}%  ${a}`,
    );
  }
  console.log(
    `(latency: one embedding, batch 1, wall time of session.run; wrote .lookout/bench-engines/${runId}.json)`,
  );
}

main().catch((err) => {
  console.error(`bench:engines: ${(err as Error).stack ?? String(err)}`);
  process.exit(1);
});
