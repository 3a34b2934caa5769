/** The raster pipeline's pure parts: chip blocks and ids, band guesses, before pairing, routing, rows, schema update, GeoJSON from rows. */
import { describe, expect, it } from 'vitest';
import { rasterSummaryRecord } from '../../activities/raster';
import type { RasterPlan } from '../../core/types';
import { loadConfig } from '../../config';
import { isGeoTiff, isRasterSidecar, pipelineFor, routeEvent } from '../../dispatch/dispatcher';
import { addMissingColumns, buildRow, loadSchema, mergeFields } from '../../io/results';
import { rasterInput } from '../../io/starter';
import { chipGrid } from '../../media/raster';
import { featureCollectionFromRows, ringFromWkt } from '../../methods/raster-change/geojson';
import { PreviewBuilder } from '../../methods/raster-change/heatmap';
import { bandNames, beforeCandidate, blockWindows, chipWorkflowId, rolesOf } from '../../methods/raster-change/method';
import { methodOfPipeline } from '../../methods/registry';
import type { ObjectEvent } from '../../core/events';

const plan = (over: Partial<RasterPlan> = {}): RasterPlan => ({
  format: 'geotiff',
  width: 1000,
  height: 700,
  bands: 4,
  dtype: 'uint16',
  crs: 'EPSG:32611',
  georef: 'geotiff',
  georefNote: null,
  chipSize: 128,
  overlap: 0,
  cols: 8,
  rows: 6,
  chips: 48,
  blockChips: 3,
  blocksAcross: 3,
  blocks: 6,
  before: null,
  archive: 'b/a',
  prefix: 'p',
  rgb: [0, 1, 2],
  cloudBands: null,
  roles: { red: 0, green: 1, blue: 2, nir: 3 },
  notes: [],
  footprint: { wkt: 'POLYGON((0 0, 1 0, 1 1, 0 1, 0 0))', west: 0, south: 0, east: 1, north: 1 },
  stretch: null,
  stretchBefore: null,
  ...over,
});

describe('raster pipeline: chips and blocks', () => {
  it('blocks cover the chip grid exactly once, row-major, with clipped edge chips', () => {
    const p = plan();
    const seen = new Map<number, number>();
    for (let b = 0; b < p.blocks; b++)
      for (const w of blockWindows(p, b)) seen.set(w.index, (seen.get(w.index) ?? 0) + 1);
    const grid = chipGrid(p.width, p.height, 128, 0);
    expect(seen.size).toBe(grid.count);
    expect([...seen.values()].every((n) => n === 1)).toBe(true);
    expect(blockWindows(p, 5)).toHaveLength(2 * 3); // last block: cols 6-7, rows 3-5
    const edge = blockWindows(p, 5).find((w) => w.col === 7 && w.row === 5)!;
    expect([edge.width, edge.height, edge.clipped]).toEqual([1000 - 7 * 128, 700 - 5 * 128, true]);
    for (const w of grid.windows())
      expect(blockWindows(p, Math.floor(w.row / 3) * 3 + Math.floor(w.col / 3)).some((x) => x.index === w.index)).toBe(
        true,
      );
  });

  it('with overlap the windows match chipGrid', () => {
    const p = plan({ overlap: 32, cols: chipGrid(1000, 700, 128, 32).cols, rows: chipGrid(1000, 700, 128, 32).rows });
    const g = chipGrid(1000, 700, 128, 32);
    expect(blockWindows(p, 0)[4]).toEqual(g.window(1, 1));
  });

  it("each chip has its own workflow id under the raster's", () => {
    expect(chipWorkflowId('raster:b/x.tif#1', 3, 7)).toBe('raster:b/x.tif#1@c3r7');
  });
});

describe('raster pipeline: bands and pairing', () => {
  it('band names from metadata or from the count; roles by naming family', () => {
    expect(bandNames(13, undefined).names[10]).toBe('B10');
    expect(rolesOf(bandNames(13, undefined).names)).toMatchObject({
      blue: 1,
      green: 2,
      red: 3,
      nir: 7,
      swir1: 11,
      swir2: 12,
    });
    expect(rolesOf(bandNames(6, undefined).names)).toMatchObject({ red: 2, nir: 3, swir2: 5 });
    expect(rolesOf(bandNames(4, undefined).names)).toEqual({ red: 0, green: 1, blue: 2, nir: 3 });
    expect(rolesOf(bandNames(2, { 'lookout-bands': 'nir, red' }).names)).toEqual({ nir: 0, red: 1 });
    expect(() => bandNames(3, { 'lookout-bands': 'red,green' })).toThrow(
      expect.objectContaining({ errorClass: 'BadBandNames' }),
    );
  });

  it('before: metadata first, else *_after.* -> *_before.*', () => {
    expect(beforeCandidate({ bucket: 'b', name: 'a/x_after.tif', metadata: { 'lookout-before': 'y.tif' } })).toEqual({
      bucket: 'b',
      name: 'y.tif',
      explicit: true,
    });
    expect(beforeCandidate({ bucket: 'b', name: 'a/x.tif', metadata: { 'lookout-before': 'gs://c/z.tif' } })).toEqual({
      bucket: 'c',
      name: 'z.tif',
      explicit: true,
    });
    expect(beforeCandidate({ bucket: 'b', name: 'a/x_after.tif' })).toEqual({
      bucket: 'b',
      name: 'a/x_before.tif',
      explicit: false,
    });
    expect(beforeCandidate({ bucket: 'b', name: 'a/X-AFTER.TIF' })).toEqual({
      bucket: 'b',
      name: 'a/X-BEFORE.TIF',
      explicit: false,
    });
    expect(beforeCandidate({ bucket: 'b', name: 'a/hereafter.tif' })).toBeNull();
  });
});

describe('raster pipeline: routing', () => {
  const cfg = loadConfig({});
  const ev = (name: string, metadata?: Record<string, string>, contentType = 'application/octet-stream') =>
    ({
      bucket: 'b',
      name,
      generation: '1',
      size: '10',
      contentType,
      timeCreated: '2026-01-01T00:00:00Z',
      metadata,
      source: 'watcher',
      publishedAt: '2026-01-01T00:00:00Z',
    }) as unknown as ObjectEvent;
  it('.tif/.tiff go to the raster pipeline and its workflow; JPEG/PNG when their metadata says so; sidecars are skipped', () => {
    expect([isGeoTiff('a/b.TIF'), isGeoTiff('a/b.tiff'), isGeoTiff('x', 'image/tiff'), isGeoTiff('a.jpg')]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    expect(pipelineFor(ev('s.tif'), cfg)).toBe('raster');
    expect(pipelineFor(ev('s.tif', { 'lookout-pipeline': 'objects' }), cfg)).toBe('objects');
    expect(pipelineFor(ev('s.jpg'), cfg)).toBe(cfg.pipeline);
    expect(routeEvent(ev('s.tif'), cfg)).toEqual({ workflowType: 'analyzeRaster' });
    expect(routeEvent(ev('s.png', { 'lookout-pipeline': 'raster' }), cfg)).toEqual({ workflowType: 'analyzeRaster' });
    expect(routeEvent(ev('s.jpg'), cfg)).toEqual({ workflowType: 'analyzeObject' });
    for (const n of ['s.jgw', 's.tfw', 's.prj', 's.tif.aux.xml', 's.pgw', 's.wld'])
      expect('skip' in routeEvent(ev(n), cfg), n).toBe(true);
    expect(isRasterSidecar('s.tif')).toBe(false);
    expect(methodOfPipeline('raster').accepts.rasters).toBe(true);
  });

  it('the workflow input carries the configured chip grid (overlap below the chip size)', () => {
    const i = rasterInput({} as never, { raster: { chipSize: 64, chipOverlap: 200, blockChips: 4, parallelism: 3 } });
    expect([i.chipSize, i.chipOverlap, i.blockChips, i.parallelism]).toEqual([64, 63, 4, 3]);
  });
});

describe('raster pipeline: rows', () => {
  it('the summary record aggregates and names the outputs; buildRow carries the record', () => {
    const rec = rasterSummaryRecord(
      plan(),
      {
        heatmapUri: 'gs://r/h.png',
        geojsonUri: 'gs://r/c.geojson',
        chips: 48,
        chipsFailed: 2,
        bankSize: 10,
        summary: {
          cloud_fraction: null,
          change_score: 0.4,
          novelty_score: 0.2,
          ndvi_delta: -0.1,
          nbr_delta: null,
          ndwi_delta: 0.05,
        },
      },
      { ok: 46, failed: 2 },
    );
    expect(rec).toMatchObject({
      kind: 'summary',
      chips: 48,
      chips_failed: 2,
      heatmap_uri: 'gs://r/h.png',
      geojson_uri: 'gs://r/c.geojson',
      change_score: 0.4,
      width: 1000,
      height: 700,
      chip_size: 128,
      bands: 4,
      west: 0,
      north: 1,
    });
    const row = buildRow(
      {
        input: {
          pipeline: { name: 'raster' },
          object: { bucket: 'b', name: 'n', generation: '1', size: 1, timeCreated: '2026-01-01T00:00:00Z' },
          trace: { source: 'watcher', publishedAt: '2026-01-01T00:00:00Z', dispatchedAt: '2026-01-01T00:00:00Z' },
        } as never,
        workflowId: 'w',
        runId: 'r',
        workflowStartedAt: 0,
        raster: rec,
      },
      0,
    );
    expect(row.raster).toBe(rec);
    const names = loadSchema()
      .find((f) => f.name === 'raster')!
      .fields!.map((f) => f.name);
    for (const k of Object.keys(rec)) expect(names, k).toContain(k);
    expect(names).toHaveLength(Object.keys(rec).length);
  });

  it('an older table gets the missing columns appended as NULLABLE by a schema patch', async () => {
    const old = loadSchema().filter((f) => f.name !== 'raster');
    let patched: { schema: { fields: Array<{ name: string; mode?: string }> } } | undefined;
    const table = {
      getMetadata: async () => [{ schema: { fields: old } }],
      setMetadata: async (m: object) => void (patched = m as typeof patched),
    };
    expect(await addMissingColumns(table)).toEqual(['raster']);
    expect(patched!.schema.fields.map((f) => f.name)).toEqual(loadSchema().map((f) => f.name));
    expect(patched!.schema.fields.at(-1)!.mode).toBe('NULLABLE');
    const current = {
      getMetadata: async () => [{ schema: { fields: loadSchema() } }],
      setMetadata: async () => {
        throw new Error('no patch expected');
      },
    };
    expect(await addMissingColumns(current)).toEqual([]);
    expect(
      mergeFields(
        [{ name: 'r', type: 'RECORD', fields: [{ name: 'a', type: 'STRING' }] }],
        [
          {
            name: 'r',
            type: 'RECORD',
            fields: [
              { name: 'a', type: 'STRING' },
              { name: 'b', type: 'INT64' },
            ],
          },
        ],
      ).added,
    ).toEqual(['r.b']);
  });
});

describe('raster pipeline: outputs', () => {
  it('GeoJSON from chip rows: polygons from the WKT, null geometry without a footprint', () => {
    expect(ringFromWkt('POLYGON((1 2, 3 2, 3 4, 1 2))')).toEqual([
      [1, 2],
      [3, 2],
      [3, 4],
      [1, 2],
    ]);
    expect(ringFromWkt('POINT(1 2)')).toBeNull();
    const fc = featureCollectionFromRows([
      {
        name: 'n',
        generation: '1',
        status: 'ok',
        score: 0.5,
        raster: { chip_col: 0, chip_row: 0, footprint_wkt: 'POLYGON((1 2, 3 2, 3 4, 1 4, 1 2))', change_score: 0.5 },
      },
      {
        name: 'n',
        generation: '1',
        status: 'ok',
        score: null,
        raster: { chip_col: 1, chip_row: 0, footprint_wkt: null, georef_note: 'no crs' },
      },
    ]);
    expect(fc.bbox).toEqual([1, 2, 3, 4]);
    expect(fc.features[0].geometry?.type).toBe('Polygon');
    expect(fc.features[0].properties).toMatchObject({ chip_col: 0, change_score: 0.5, score: 0.5 });
    expect(fc.features[1]).toMatchObject({ geometry: null, properties: { georef_note: 'no crs' } });
  });

  it('preview regions of blocks add up to the whole preview', () => {
    const whole = new PreviewBuilder(300, 200, 1, 64);
    const merged = new PreviewBuilder(300, 200, 1, 64);
    for (const w of chipGrid(300, 200, 100).windows()) {
      const band = Array.from(
        { length: w.width * w.height },
        (_, i) => (w.x + (i % w.width)) * 3 + (w.y + Math.floor(i / w.width)),
      );
      const part = new PreviewBuilder(300, 200, 1, 64);
      part.add(w, [band]);
      whole.add(w, [band]);
      merged.addRegion(part.region(w));
    }
    expect(Buffer.from(merged.toImage().data).equals(Buffer.from(whole.toImage().data))).toBe(true);
  });
});
