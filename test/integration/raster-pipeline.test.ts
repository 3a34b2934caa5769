/**
 * The raster pipeline end to end on the real stack: a GeoTIFF uploaded to the inbox bucket is routed to
 * the `raster` pipeline (analyzeRaster workflow) by the watcher and dispatcher, read by range requests on
 * the CPU worker, and becomes one row per chip (pixel window, WGS 84 footprint, scores) plus a summary
 * row with a heatmap and a GeoJSON in the results bucket. Bad rasters become failed rows or flagged
 * partial results. `lookout export --geojson` reads the chip rows back as a FeatureCollection.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { epsgGeoKeys, blocksFromBands, writeTiffBuffer, type TiffWriteOptions } from '../../media/tiff-writer';
import {
  bq,
  cfg,
  ensureBucket,
  SIDE_BUCKET,
  storage,
  uniqueRun,
  upload,
  VIEW,
  waitForRows,
  withTemporal,
} from './helpers';
import { query } from '../../io/query';
import { resolvePipeline } from '../../core/pipelines';
import type { AnalyzeRasterInput, AnalyzeRasterResult } from '../../core/workflows';
import type { RasterProgress } from '../../core/workflows';
import type { RasterRowFields } from '../../core/types';

interface Row {
  workflow_id: string;
  status: string;
  label: string | null;
  score: number | null;
  name: string;
  generation: string;
  error_class: string | null;
  error_message: string | null;
  pipeline: string;
  details: string | null;
  raster: RasterRowFields | null;
}

const W = 300;
const H = 200;
const UTM11 = { tiepoint: [0, 0, 0, 500000, 4000000, 0], pixelScale: [10, 10, 0], geoKeys: epsgGeoKeys(32611) };

/** A 4-band (R, G, B, NIR) uint16 scene: textured vegetation; `burn` puts a burn scar in chip (1, 0). */
function scene(
  opts: {
    burn?: boolean;
    geo?: TiffWriteOptions['geo'] | null;
    width?: number;
    height?: number;
    tile?: number;
    overrideTags?: Record<number, number[]>;
  } = {},
): Buffer {
  const w = opts.width ?? W;
  const h = opts.height ?? H;
  const bands = [0, 1, 2, 3].map(() => new Array<number>(w * h));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const t = ((x * 7 + y * 13) % 17) * 20 + ((x >> 4) % 2) * 150;
      const burnt = opts.burn && x >= 140 && x < 250 && y >= 10 && y < 120;
      const [r, g, b, n] = burnt ? [1600 + t, 1000 + t, 900 + t, 700 + t] : [500 + t, 800 + t, 400 + t, 3000 + t];
      const i = y * w + x;
      bands[0][i] = r;
      bands[1][i] = g;
      bands[2][i] = b;
      bands[3][i] = n;
    }
  }
  return writeTiffBuffer({
    width: w,
    height: h,
    bands: 4,
    type: 'uint16',
    tileSize: opts.tile ?? 64,
    compression: 'deflate',
    ...(opts.geo === null ? {} : { geo: opts.geo ?? UTM11 }),
    block: blocksFromBands(bands, w, h, 'uint16'),
    ...(opts.overrideTags ? { overrideTags: opts.overrideTags } : {}),
  });
}

const bucket = () => cfg.gcs.bucket;

async function chipsAndSummary(
  run: string,
  expected: number,
  timeoutMs = 300_000,
): Promise<{ chips: Row[]; summaries: Row[]; all: Row[] }> {
  const all = await waitForRows<Row>('run_tag = @run', { run }, expected, timeoutMs);
  return {
    all,
    chips: all.filter((r) => r.raster?.kind === 'chip'),
    summaries: all.filter((r) => r.raster?.kind === 'summary'),
  };
}

async function readGs(uri: string): Promise<Buffer> {
  const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
  expect(m).not.toBeNull();
  const [buf] = await storage.bucket(m![1]).file(m![2]).download();
  return buf;
}

describe('raster pipeline', () => {
  const folder = `archive-${uniqueRun('r')}`;
  const runBefore = uniqueRun('raster-before');
  const runAfter = uniqueRun('raster-after');

  it('a GeoTIFF upload becomes one georeferenced row per chip and a summary row with a heatmap and GeoJSON', async () => {
    const name = `${folder}/scene_before.tif`;
    const generation = await upload(bucket(), name, scene(), 'image/tiff', { 'lookout-run': runBefore });
    const { chips, summaries, all } = await chipsAndSummary(runBefore, 7);
    expect(all).toHaveLength(7);
    expect(summaries).toHaveLength(1);
    expect(chips).toHaveLength(6);
    // One workflow_id per chip, so the _latest view keeps exactly one row per chip.
    expect(new Set(chips.map((c) => c.workflow_id)).size).toBe(6);
    for (const c of chips) {
      expect(c.status).toBe('ok');
      expect(c.pipeline).toBe('raster');
      const r = c.raster!;
      expect(c.workflow_id).toBe(`raster:${bucket()}/${name}#${generation}@c${r.chip_col}r${r.chip_row}`);
      expect([r.raster_width, r.raster_height, r.crs, r.georef]).toEqual([W, H, 'EPSG:32611', 'geotiff']);
      expect(r.x).toBe(r.chip_col! * 128);
      expect(r.y).toBe(r.chip_row! * 128);
      // Edge chips are clipped, not padded, and say so.
      expect(r.width).toBe(r.chip_col === 2 ? 44 : 128);
      expect(r.height).toBe(r.chip_row === 1 ? 72 : 128);
      expect(r.edge).toBe(r.chip_col === 2 || r.chip_row === 1);
      expect(r.footprint_wkt).toMatch(/^POLYGON\(\(/);
      expect(r.west!).toBeGreaterThan(-117.001);
      expect(r.east!).toBeGreaterThan(r.west!);
      expect(r.north!).toBeGreaterThan(r.south!);
      // No before image: change and index deltas are null; no archive bank yet: no novelty; no S2 bands: no cloud.
      expect([r.change_score, r.ndvi_delta, r.novelty_score, r.cloud_fraction, r.before_name]).toEqual([
        null,
        null,
        null,
        null,
        null,
      ]);
      const d = JSON.parse(c.details!) as Record<string, number>;
      expect(d.ndvi).toBeGreaterThan(0.5); // vegetation: NIR >> red
    }
    const top = chips.find((c) => c.raster!.chip_col === 0 && c.raster!.chip_row === 0)!.raster!;
    expect(top.west!).toBeCloseTo(-117, 2);
    const s = summaries[0];
    expect(s.workflow_id).toBe(`raster:${bucket()}/${name}#${generation}`);
    expect(s.status).toBe('ok');
    expect(s.raster).toMatchObject({
      kind: 'summary',
      chips: 6,
      chips_failed: 0,
      chip_size: 128,
      chip_overlap: 0,
      bands: 4,
      width: W,
      height: H,
      georef: 'geotiff',
    });
    expect(s.raster!.footprint_wkt).toMatch(/^POLYGON/);
    const png = await readGs(s.raster!.heatmap_uri!);
    const meta = await sharp(png).metadata();
    expect([meta.format, meta.width! > 0, meta.height! > 0]).toEqual(['png', true, true]);
    const fc = JSON.parse((await readGs(s.raster!.geojson_uri!)).toString()) as {
      type: string;
      features: Array<{ geometry: unknown }>;
    };
    expect(fc.type).toBe('FeatureCollection');
    expect(fc.features).toHaveLength(6);
    expect(fc.features.every((f) => f.geometry !== null)).toBe(true);
    // Progress is visible through the workflow's query.
    const progress = await withTemporal((c) => c.workflow.getHandle(s.workflow_id).query<RasterProgress>('progress'));
    expect(progress).toMatchObject({ phase: 'done', chips: 6, chipsDone: 6, chipsFailed: 0, blocks: 1, blocksDone: 1 });
  });

  it('an after acquisition pairs with its before: change scores, index deltas and novelty against the archive', async () => {
    const name = `${folder}/scene_after.tif`;
    await upload(bucket(), name, scene({ burn: true }), 'image/tiff', { 'lookout-run': runAfter });
    const { chips, summaries } = await chipsAndSummary(runAfter, 7);
    expect(chips).toHaveLength(6);
    for (const c of chips) {
      expect(c.raster!.before_name).toBe(`${folder}/scene_before.tif`);
      expect(c.raster!.change_score).not.toBeNull();
      // The before raster's chips are in the archive's bank now.
      expect(c.raster!.novelty_score).not.toBeNull();
    }
    const burnt = chips.find((c) => c.raster!.chip_col === 1 && c.raster!.chip_row === 0)!.raster!;
    const others = chips.filter((c) => !(c.raster!.chip_col === 1 && c.raster!.chip_row === 0)).map((c) => c.raster!);
    // The burn scar: NDVI and NBR drop, and it is the most changed chip by both measures.
    expect(burnt.ndvi_delta!).toBeLessThan(-0.3);
    // R, G, B, NIR: no SWIR band, so no NBR; NDWI rises where vegetation became bare (green over NIR).
    expect(burnt.nbr_delta).toBeNull();
    expect(burnt.ndwi_delta!).toBeGreaterThan(0.3);
    expect(burnt.change_score!).toBeGreaterThan(Math.max(...others.map((o) => o.change_score!)));
    expect(burnt.novelty_score!).toBeGreaterThan(Math.min(...others.map((o) => o.novelty_score!)));
    for (const o of others.filter((x) => x.chip_col === 0)) expect(Math.abs(o.ndvi_delta!)).toBeLessThan(0.01);
    expect(summaries[0].raster!.change_score).toBeCloseTo(burnt.change_score!, 5);
    expect(summaries[0].raster!.before_name).toBe(`${folder}/scene_before.tif`);
  });

  it("the README's emulator SQL: chips of a run inside a bounding box, most changed first", async () => {
    const rows = await query<{ chip_col: number; chip_row: number; change_score: number }>(
      bq,
      `SELECT name, raster.chip_col, raster.chip_row, raster.change_score, raster.novelty_score, raster.footprint_wkt
FROM ${VIEW()}
WHERE run_tag = @run AND raster.kind = 'chip'
  AND raster.east >= -117.0 AND raster.west <= -116.99 AND raster.north >= 36.12 AND raster.south <= 36.13
ORDER BY raster.change_score DESC
LIMIT 20`,
      { run: runAfter },
    );
    // The same box applied to every chip row of the run, in JS: the SQL selects exactly those, most changed first.
    const all = await chipsAndSummary(runAfter, 7);
    const inBox = all.chips
      .map((c) => c.raster!)
      .filter((r) => r.east! >= -117.0 && r.west! <= -116.99 && r.north! >= 36.12 && r.south! <= 36.13);
    expect(inBox.length).toBeGreaterThan(0);
    expect(inBox.length).toBeLessThan(6);
    expect(rows.map((r) => [r.chip_col, r.chip_row]).sort()).toEqual(inBox.map((r) => [r.chip_col, r.chip_row]).sort());
    for (let i = 1; i < rows.length; i++) expect(rows[i - 1].change_score).toBeGreaterThanOrEqual(rows[i].change_score);
  });

  it('lookout export --geojson RUN writes the chips as a FeatureCollection from the rows', () => {
    const out = path.join(cfg.home, `export-${runAfter}.geojson`);
    const bin = path.resolve(__dirname, '..', '..', 'bin', 'lookout');
    const line = execFileSync('node', [bin, 'export', '--geojson', runAfter, '--out', out, '--json'], {
      encoding: 'utf8',
      env: process.env,
    });
    const summary = JSON.parse(line.trim().split('\n').pop()!) as { features: number; placed: number; bbox: number[] };
    expect([summary.features, summary.placed]).toEqual([6, 6]);
    expect(summary.bbox[0]).toBeCloseTo(-117, 2);
    const fc = JSON.parse(fs.readFileSync(out, 'utf8')) as {
      features: Array<{ geometry: { type: string; coordinates: number[][][] }; properties: Record<string, unknown> }>;
    };
    expect(fc.features).toHaveLength(6);
    const f = fc.features.find((x) => x.properties.chip_col === 1 && x.properties.chip_row === 0)!;
    expect(f.geometry.type).toBe('Polygon');
    expect(f.geometry.coordinates[0][0]).toEqual(f.geometry.coordinates[0][f.geometry.coordinates[0].length - 1]);
    expect(typeof f.properties.change_score).toBe('number');
  });

  it('bad rasters: failed rows with their class, pixel windows without a georeference, a partial result for a corrupt tile', async () => {
    const run = uniqueRun('raster-bad');
    const meta = { 'lookout-run': run };
    const constant = Buffer.alloc(512 * 512, 7);
    const huge = writeTiffBuffer({
      width: 100_000,
      height: 100_000,
      bands: 1,
      type: 'uint8',
      tileSize: 512,
      compression: 'deflate',
      geo: UTM11,
      shareRepeatedBlocks: true,
      block: () => constant,
    });
    const small = (overrideTags: Record<number, number[]>) => scene({ width: 32, height: 32, tile: 16, overrideTags });
    const cube = writeTiffBuffer({
      width: 4,
      height: 4,
      bands: 300,
      type: 'uint8',
      tileSize: 16,
      compression: 'deflate',
      block: (_x, _y, w, h) => Buffer.alloc(w * h * 300, 1),
    });
    const corrupt = Buffer.from(scene({ width: 256, height: 256, tile: 32 }));
    // Garbage over tile 1's deflate stream: the chip over it cannot be decoded, its neighbours can.
    const tileOffsets = (() => {
      const ifd = corrupt.readUInt32LE(4);
      const n = corrupt.readUInt16LE(ifd);
      for (let i = 0; i < n; i++) {
        const e = ifd + 2 + i * 12;
        if (corrupt.readUInt16LE(e) === 324) return corrupt.readUInt32LE(e + 8);
      }
      throw new Error('no TileOffsets');
    })();
    const at = corrupt.readUInt32LE(tileOffsets + 4);
    corrupt.fill(0xab, at, at + 40);
    const uploads: Array<[string, Buffer, Record<string, string>]> = [
      ['nogeo.tif', scene({ geo: null }), {}],
      [
        'brokengeo.tif',
        scene({ geo: { tiepoint: [0, 0, 0, 500000, 4000000, 0], pixelScale: [0, 0, 0], geoKeys: epsgGeoKeys(32611) } }),
        {},
      ],
      ['lying.tif', huge.subarray(0, 4096), {}],
      ['jpeg2000.tif', small({ 259: [34712] }), {}],
      ['twelve-bit.tif', small({ 258: [12, 12, 12, 12] }), {}],
      ['zero-bands.tif', small({ 277: [0] }), {}],
      ['cube.tif', cube, {}],
      ['corrupt.tif', corrupt, { 'lookout-chip-size': '64' }],
    ];
    for (const [n, data, m] of uploads) await upload(bucket(), `${run}/${n}`, data, 'image/tiff', { ...meta, ...m });
    // nogeo 6+1, brokengeo 6+1, five failed rasters 1 each, corrupt 16+1.
    const { all } = await chipsAndSummary(run, 7 + 7 + 5 + 17);
    const of = (n: string) => all.filter((r) => r.name === `${run}/${n}`);
    for (const [n, cls] of [
      ['lying.tif', 'TruncatedRaster'],
      ['jpeg2000.tif', 'UnsupportedRaster'],
      ['twelve-bit.tif', 'UnsupportedRaster'],
      ['zero-bands.tif', 'BadBandCount'],
      ['cube.tif', 'BadBandCount'],
    ] as const) {
      const rows = of(n);
      expect(rows, n).toHaveLength(1);
      expect([rows[0].status, rows[0].error_class, rows[0].pipeline], n).toEqual(['failed', cls, 'raster']);
      expect(rows[0].error_message!.length).toBeGreaterThan(10);
    }
    expect(of('jpeg2000.tif')[0].error_message).toMatch(/JPEG 2000/);
    expect(of('cube.tif')[0].error_message).toMatch(/300 bands/);
    for (const [n, georef] of [
      ['nogeo.tif', 'none'],
      ['brokengeo.tif', 'broken'],
    ] as const) {
      const rows = of(n);
      expect(rows).toHaveLength(7);
      for (const r of rows) {
        expect(r.status).toBe('ok');
        expect(r.raster!.georef).toBe(georef);
        expect(r.raster!.georef_note!.length).toBeGreaterThan(5);
        expect([r.raster!.footprint_wkt, r.raster!.west]).toEqual([null, null]);
      }
      // Pixel windows are kept.
      expect(
        rows
          .filter((r) => r.raster!.kind === 'chip')
          .map((r) => r.raster!.width)
          .sort((a, b) => a - b),
      ).toEqual([44, 44, 128, 128, 128, 128]);
    }
    const c = of('corrupt.tif');
    const failedChips = c.filter((r) => r.raster?.kind === 'chip' && r.status === 'failed');
    const okChips = c.filter((r) => r.raster?.kind === 'chip' && r.status === 'ok');
    expect(failedChips.map((r) => [r.raster!.chip_col, r.raster!.chip_row, r.error_class])).toEqual([
      [0, 0, 'CorruptRaster'],
    ]);
    expect(okChips).toHaveLength(15);
    const sum = c.find((r) => r.raster?.kind === 'summary')!;
    expect([sum.status, sum.label, sum.raster!.chips, sum.raster!.chips_failed]).toEqual([
      'ok',
      'raster-partial',
      16,
      1,
    ]);
  });

  it('JPEG and PNG with lookout-pipeline: raster, with a world file and without', async () => {
    const run = uniqueRun('raster-plain');
    const jpg = await sharp({ create: { width: 300, height: 200, channels: 3, background: { r: 40, g: 140, b: 60 } } })
      .jpeg({ quality: 90 })
      .toBuffer();
    const png = await sharp({ create: { width: 100, height: 100, channels: 3, background: { r: 90, g: 90, b: 200 } } })
      .png()
      .toBuffer();
    // The world file first (a sidecar: skipped by the dispatcher, read with its image).
    await upload(bucket(), `${run}/aerial.jgw`, Buffer.from('0.5\n0\n0\n-0.5\n500000.25\n4000000.25\n'), 'text/plain', {
      'lookout-run': run,
    });
    await upload(
      bucket(),
      `${run}/aerial.prj`,
      Buffer.from('PROJCS["WGS 84 / UTM zone 11N",AUTHORITY["EPSG","32611"]]'),
      'text/plain',
      { 'lookout-run': run },
    );
    await upload(bucket(), `${run}/aerial.jpg`, jpg, 'image/jpeg', {
      'lookout-run': run,
      'lookout-pipeline': 'raster',
    });
    await upload(bucket(), `${run}/plain.png`, png, 'image/png', { 'lookout-run': run, 'lookout-pipeline': 'raster' });
    const { all } = await chipsAndSummary(run, 7 + 2);
    expect(all).toHaveLength(9);
    const jp = all.filter((r) => r.name.endsWith('aerial.jpg'));
    expect(
      jp.every((r) => r.status === 'ok' && r.raster!.georef === 'world-file' && r.raster!.footprint_wkt !== null),
    ).toBe(true);
    expect(jp.find((r) => r.raster!.kind === 'summary')!.raster!.west).toBeCloseTo(-117, 2);
    const pn = all.filter((r) => r.name.endsWith('plain.png'));
    expect(pn.map((r) => [r.raster!.kind, r.raster!.georef, r.raster!.footprint_wkt]).sort()).toEqual([
      ['chip', 'none', null],
      ['summary', 'none', null],
    ]);
  });

  it('lookout upload scene.tif --wait and lookout backfill gs://…/archive/ produce georeferenced chip rows', async () => {
    const bin = path.resolve(__dirname, '..', '..', 'bin', 'lookout');
    const run = uniqueRun('raster-cli');
    const file = path.join(cfg.home, `${run}-scene.tif`);
    fs.writeFileSync(file, scene());
    // --wait counts analyses (a raster's summary row), not its chip rows.
    execFileSync('node', [bin, 'upload', file, '--prefix', `${run}/`, '--run', run, '--wait', '--timeout-s', '240'], {
      encoding: 'utf8',
      env: process.env,
    });
    const up = await chipsAndSummary(run, 7);
    expect([up.chips.length, up.summaries.length]).toEqual([6, 1]);
    expect(up.chips.every((c) => c.raster!.footprint_wkt !== null && c.raster!.crs === 'EPSG:32611')).toBe(true);
    // An archive already in a bucket (not the watched inbox): backfill publishes an event per object.
    await ensureBucket(SIDE_BUCKET);
    const bfRun = uniqueRun('raster-backfill');
    for (const n of ['t1.tif', 't2.tif'])
      await upload(SIDE_BUCKET, `${bfRun}/archive/${n}`, scene({ width: 200, height: 100 }), 'image/tiff');
    execFileSync('node', [bin, 'backfill', `gs://${SIDE_BUCKET}/${bfRun}/archive/`, '--run', bfRun], {
      encoding: 'utf8',
      env: process.env,
    });
    const bf = await chipsAndSummary(bfRun, 2 * (2 + 1));
    expect([bf.chips.length, bf.summaries.length]).toEqual([4, 2]);
    expect(
      bf.chips.every((c) => c.status === 'ok' && c.raster!.footprint_wkt !== null && c.pipeline === 'raster'),
    ).toBe(true);
  });

  it('a raster of many blocks continues as new runs, and its progress counts every block', async () => {
    const run = uniqueRun('raster-can');
    const name = `${run}/blocks.tif`;
    await ensureBucket(SIDE_BUCKET);
    const generation = await upload(SIDE_BUCKET, name, scene(), 'image/tiff');
    const input: AnalyzeRasterInput = {
      pipeline: resolvePipeline('raster', cfg.pipelines),
      object: { bucket: SIDE_BUCKET, name, generation, size: 0, timeCreated: new Date().toISOString() },
      trace: { source: 'backfill', publishedAt: new Date().toISOString(), dispatchedAt: new Date().toISOString() },
      runTag: run,
      chipSize: 128,
      chipOverlap: 0,
      blockChips: 1,
      parallelism: 2,
      blocksPerRun: 2,
    };
    const workflowId = `raster:${SIDE_BUCKET}/${name}#${generation}`;
    const result = await withTemporal(async (c) => {
      const h = await c.workflow.start('analyzeRaster', {
        taskQueue: cfg.temporal.workflowQueue,
        workflowId,
        args: [input],
      });
      return (await h.result()) as AnalyzeRasterResult;
    });
    expect(result).toMatchObject({ status: 'ok', chips: 6, ok: 6, failed: 0 });
    const progress = await withTemporal((c) => c.workflow.getHandle(workflowId).query<RasterProgress>('progress'));
    // 6 blocks of one chip, 2 per run: 3 runs.
    expect(progress).toMatchObject({ phase: 'done', blocks: 6, blocksDone: 6, chipsDone: 6, runs: 3 });
    const { chips, summaries } = await chipsAndSummary(run, 7);
    expect([chips.length, summaries.length]).toEqual([6, 1]);
    expect(JSON.parse(summaries[0].details!)).toMatchObject({ kind: 'raster-summary', runs: 3, blocks: 6 });
  });
});
