/// <reference lib="dom" />
/**
 * The map page (docs/map.md) in real headless Chromium, on rows the real pipeline wrote: GeoTIFFs uploaded
 * to the inbox bucket go through watcher -> NATS -> dispatcher -> Temporal -> raster worker -> BigQuery, and
 * the page draws those rows. Checks: each chip is drawn at its footprint's longitude/latitude (the page's own
 * pointer readout at the drawn polygon's centre and corner, against the row); an area of interest drawn with
 * the mouse (leaflet-draw rectangle, real pointer events) selects as many chips as the README's SQL returns
 * for the drawn area on the same rows; the GeoJSON download is a valid FeatureCollection of exactly those
 * chips; a raster without a georeference stays on its pixel grid with a note. Screens go to
 * .lookout/ui-screens (map-geo.png, map-pixels.png) and axe-core finds no serious or critical violation.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { axeViolations } from './axe';
import { startUi, type UiServer } from '../../ui/server';
import { blocksFromBands, epsgGeoKeys, writeTiffBuffer, type TiffWriteOptions } from '../../media/tiff-writer';
import { query } from '../../io/query';
import type { RasterRowFields } from '../../core/types';
import { bq, cfg, uniqueRun, upload, VIEW, waitForRows } from './helpers';

const CHROMIUM = process.env.LOOKOUT_CHROMIUM || '/usr/bin/chromium';
const SCREENS = path.join(cfg.projectRoot, '.lookout', 'ui-screens');

// 384 x 256 px at 30 m in UTM 11N: 11.5 x 7.7 km at Imperial Beach, where the US-Mexico border meets the
// Pacific (top-left 32.58 N, 117.17 W): the basemap's coast and border run through the view.
const W = 384;
const H = 256;
const UTM11: TiffWriteOptions['geo'] = {
  tiepoint: [0, 0, 0, 484040, 3604740, 0],
  pixelScale: [30, 30, 0],
  geoKeys: epsgGeoKeys(32611),
};

/** R, G, B, NIR uint16: fields of varying vegetation, a river; `burn` scars chip (1, 0). */
function scene(opts: { burn?: boolean; geo: TiffWriteOptions['geo'] | null; width?: number; height?: number }): Buffer {
  const w = opts.width ?? W;
  const h = opts.height ?? H;
  const bands = [0, 1, 2, 3].map(() => new Array<number>(w * h));
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const field = (((x >> 5) * 7 + (y >> 5) * 11) % 5) * 120;
      const t = ((x * 7 + y * 13) % 17) * 15;
      const river = Math.abs(y - (170 + 30 * Math.sin(x / 40))) < 6;
      const burnt = opts.burn && x >= 140 && x < 250 && y >= 10 && y < 120;
      const [r, g, b, n] = river
        ? [300 + t, 500 + t, 800 + t, 200 + t]
        : burnt
          ? [1600 + t, 1000 + t, 900 + t, 700 + t]
          : [450 + field + t, 900 + field + t, 400 + t, 2800 + field + t];
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
    tileSize: 64,
    compression: 'deflate',
    ...(opts.geo ? { geo: opts.geo } : {}),
    block: blocksFromBands(bands, w, h, 'uint16'),
  });
}

interface Row {
  workflow_id: string;
  status: string;
  name: string;
  generation: string;
  raster: RasterRowFields;
}

let ui: UiServer;
let browser: Browser;
let page: Page;
const RUN = uniqueRun('ui-map');
const folder = `map-${RUN}`;
const after = `${folder}/coast_after.tif`;
const nogeo = `${folder}/nogeo.tif`;
let afterChips: Row[] = [];

async function open(hash: string): Promise<void> {
  await page.goto(`${ui.url}/${hash}`);
  await page.waitForFunction((h) => document.body.dataset.ready === h, hash, { timeout: 60_000 });
}

/** The page's pointer readout ("32.55000° N, 117.10000° W") with the mouse at (x, y) of the viewport. */
async function lonLatAt(x: number, y: number): Promise<{ lon: number; lat: number }> {
  await page.mouse.move(x, y);
  const t = (await page.locator('#map-coords').textContent()) ?? '';
  const m = /([\d.]+)° ([NS]), ([\d.]+)° ([EW])/.exec(t);
  expect(m, t).not.toBeNull();
  return { lat: Number(m![1]) * (m![2] === 'S' ? -1 : 1), lon: Number(m![3]) * (m![4] === 'W' ? -1 : 1) };
}

/** The selection panel's text once it changed from `before` and is no longer waiting for the server. */
async function selectionState(before: string): Promise<string> {
  try {
    await page.waitForFunction(
      (prev) => {
        const state = document.getElementById('aoi-state')?.textContent ?? '';
        return state !== prev && state !== 'Selecting…';
      },
      before,
      { timeout: 30_000 },
    );
  } catch (err) {
    await page.screenshot({ path: path.join(SCREENS, 'map-no-selection.png'), fullPage: true });
    throw new Error(
      `no selection answer (panel: ${JSON.stringify(await page.locator('#aoi-state').textContent())}, screen map-no-selection.png)`,
      { cause: err },
    );
  }
  return (await page.locator('#aoi-state').textContent()) ?? '';
}

async function chipBox(key: string): Promise<{ x: number; y: number; width: number; height: number }> {
  const b = await page.locator(`path[data-chip="${key}"]`).boundingBox();
  expect(b, key).not.toBeNull();
  return b!;
}

beforeAll(async () => {
  fs.mkdirSync(SCREENS, { recursive: true });
  // Through the real pipeline: a before / after pair (change scores) and a raster without a georeference.
  await upload(cfg.gcs.bucket, `${folder}/coast_before.tif`, scene({ geo: UTM11 }), 'image/tiff', {
    'lookout-run': `${RUN}-before`,
  });
  await upload(cfg.gcs.bucket, nogeo, scene({ geo: null, width: 256, height: 128 }), 'image/tiff', {
    'lookout-run': `${RUN}-nogeo`,
  });
  await waitForRows('run_tag = @run', { run: `${RUN}-before` }, 7, 300_000);
  await upload(cfg.gcs.bucket, after, scene({ geo: UTM11, burn: true }), 'image/tiff', {
    'lookout-run': `${RUN}-after`,
  });
  const rows = await waitForRows<Row>('run_tag = @run', { run: `${RUN}-after` }, 7, 300_000);
  afterChips = rows.filter((r) => r.raster?.kind === 'chip');
  await waitForRows('run_tag = @run', { run: `${RUN}-nogeo` }, 3, 300_000);
  ui = await startUi(cfg, { host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 }, acceptDownloads: true });
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await ui?.close();
});

describe('map page on rows the raster pipeline wrote', () => {
  it('draws each chip at its footprint in longitude/latitude, over the basemap, coloured by its score', async () => {
    expect(afterChips).toHaveLength(6);
    for (const c of afterChips)
      expect([c.status, c.raster.georef, c.raster.crs]).toEqual(['ok', 'geotiff', 'EPSG:32611']);
    await open('#/map');
    await page.selectOption('#raster', { label: `${after} (6 chips)` });
    await page.waitForSelector(`main[data-map-raster="${after}"][data-map-mode="geo"]`);
    await expect.poll(() => page.locator('path[data-chip]').count(), { timeout: 30_000 }).toBe(6);
    // The basemap (Natural Earth from world-atlas, drawn on a canvas) and the raster image are there.
    await page.waitForSelector('.leaflet-basemap-pane canvas');
    await page.waitForFunction(() =>
      Array.from(document.querySelectorAll('img.lookout-affine-image')).some(
        (i) =>
          (i as HTMLImageElement).complete &&
          (i as HTMLImageElement).naturalWidth > 0 &&
          (i as HTMLImageElement).style.transform.startsWith('matrix'),
      ),
    );
    await expect(page.locator('.leaflet-control-attribution').textContent()).resolves.toContain('Natural Earth');
    await expect(page.locator('[data-testid=map-note]').textContent()).resolves.toContain('EPSG:32611');

    // Placement: the readout at each drawn polygon's centre lies in the row's footprint bounds, and the
    // polygon's top-left corner reads as the row's north-west corner, within 3 screen pixels.
    const a = await chipBox('0,0');
    const b = await chipBox('2,1');
    const pa = await lonLatAt(a.x + a.width / 2, a.y + a.height / 2);
    const pb = await lonLatAt(b.x + b.width / 2, b.y + b.height / 2);
    const degPerPx = {
      lon: Math.abs(pb.lon - pa.lon) / Math.abs(b.x + b.width / 2 - (a.x + a.width / 2)),
      lat: Math.abs(pb.lat - pa.lat) / Math.abs(b.y + b.height / 2 - (a.y + a.height / 2)),
    };
    expect(degPerPx.lon).toBeGreaterThan(0);
    for (const c of afterChips) {
      const r = c.raster;
      const box = await chipBox(`${r.chip_col},${r.chip_row}`);
      const centre = await lonLatAt(box.x + box.width / 2, box.y + box.height / 2);
      expect(centre.lon).toBeGreaterThan(r.west!);
      expect(centre.lon).toBeLessThan(r.east!);
      expect(centre.lat).toBeGreaterThan(r.south!);
      expect(centre.lat).toBeLessThan(r.north!);
      const corner = await lonLatAt(box.x + 0.5, box.y + 0.5);
      expect(Math.abs(corner.lon - r.west!)).toBeLessThan(3 * degPerPx.lon);
      expect(Math.abs(corner.lat - r.north!)).toBeLessThan(3 * degPerPx.lat);
    }
    // The heatmap: the most changed chip (the burn scar, chip 1,0) has the ramp's darkest colour.
    const top = afterChips.reduce((m, c) => (c.raster.change_score! > m.raster.change_score! ? c : m));
    expect([top.raster.chip_col, top.raster.chip_row]).toEqual([1, 0]);
    expect(await page.locator('path[data-chip="1,0"]').getAttribute('fill')).toBe('#800026');
    // A chip click shows its row.
    await page.locator('path[data-chip="1,0"]').click();
    expect(JSON.parse((await page.locator('[data-testid=chip-row]').textContent()) ?? '{}')).toMatchObject({
      workflow_id: top.workflow_id,
      raster: { chip_col: 1, chip_row: 0 },
    });
    // The layer switch hides and shows the heatmap; the chips are keyboard buttons again afterwards.
    const toggle = page.getByRole('checkbox', { name: 'Chip heatmap' });
    await toggle.uncheck();
    expect(await page.locator('path[data-chip]').count()).toBe(0);
    await toggle.check();
    await page.focus('path[data-chip="0,1"]');
    await page.keyboard.press('Enter');
    await expect
      .poll(
        async () => JSON.parse((await page.locator('[data-testid=chip-row]').textContent()) ?? '{}').raster?.chip_row,
      )
      .toBe(1);
  });

  it('an area drawn with the mouse selects what the README SQL selects; the GeoJSON download holds exactly those chips', async () => {
    const p = await chipBox('1,0');
    const q = await chipBox('2,1');
    // From 40 % into chip (1,0) to 60 % into chip (2,1): chips (1,0), (2,0), (1,1), (2,1).
    const from = { x: p.x + 0.4 * p.width, y: p.y + 0.4 * p.height };
    const to = { x: q.x + 0.6 * q.width, y: q.y + 0.6 * q.height };
    const geoFrom = await lonLatAt(from.x, from.y);
    const geoTo = await lonLatAt(to.x, to.y);
    const stateBefore = (await page.locator('#aoi-state').textContent()) ?? '';
    await page.locator('.leaflet-draw-draw-rectangle').click();
    await page.mouse.move(from.x, from.y);
    await page.mouse.down();
    await page.mouse.move((from.x + to.x) / 2, (from.y + to.y) / 2, { steps: 5 });
    await page.mouse.move(to.x, to.y, { steps: 5 });
    await page.mouse.up();
    expect(await selectionState(stateBefore)).toMatch(/^\d+ of 6 chips intersect/);
    const count = Number(await page.locator('[data-testid=aoi-count]').textContent());

    const [dl] = await Promise.all([page.waitForEvent('download'), page.locator('#aoi-download').click()]);
    const file = path.join(SCREENS, 'map-selection.geojson');
    await dl.saveAs(file);
    const fc = JSON.parse(fs.readFileSync(file, 'utf8')) as {
      type: string;
      bbox: number[];
      features: Array<{
        type: string;
        geometry: { type: string; coordinates: number[][][] };
        properties: Record<string, unknown>;
      }>;
      lookout: { aoi: { type: string; coordinates: number[][][] }; selected: number };
    };
    // The drawn area is where the mouse went (the readouts), to 5 decimals of the readout.
    const lons = fc.lookout.aoi.coordinates[0].map((c) => c[0]);
    const lats = fc.lookout.aoi.coordinates[0].map((c) => c[1]);
    const bounds = {
      west: Math.min(...lons),
      east: Math.max(...lons),
      south: Math.min(...lats),
      north: Math.max(...lats),
    };
    expect(bounds.west).toBeCloseTo(geoFrom.lon, 4);
    expect(bounds.east).toBeCloseTo(geoTo.lon, 4);
    expect(bounds.north).toBeCloseTo(geoFrom.lat, 4);
    expect(bounds.south).toBeCloseTo(geoTo.lat, 4);

    // The README's emulator SQL with the drawn area's bounds written in, as a user would, on the same rows.
    const sql = await query<{ chip_col: number; chip_row: number }>(
      bq,
      `SELECT name, raster.chip_col, raster.chip_row, raster.change_score, raster.novelty_score, raster.footprint_wkt
FROM ${VIEW()}
WHERE run_tag = @run AND raster.kind = 'chip'
  AND raster.east >= ${bounds.west} AND raster.west <= ${bounds.east} AND raster.north >= ${bounds.south} AND raster.south <= ${bounds.north}
ORDER BY raster.change_score DESC
LIMIT 20`,
      { run: `${RUN}-after` },
    );
    expect(sql.map((r) => `${r.chip_col},${r.chip_row}`).sort()).toEqual(['1,0', '1,1', '2,0', '2,1']);
    expect(count).toBe(sql.length);
    expect(await page.locator('path[data-chip].selected').count()).toBe(sql.length);

    // A valid RFC 7946 FeatureCollection of exactly those chips, with the rows' properties.
    expect(fc.type).toBe('FeatureCollection');
    expect(fc.lookout.selected).toBe(sql.length);
    expect(fc.features.map((f) => `${f.properties.chip_col},${f.properties.chip_row}`).sort()).toEqual(
      sql.map((r) => `${r.chip_col},${r.chip_row}`).sort(),
    );
    for (const f of fc.features) {
      expect(f.type).toBe('Feature');
      expect(f.geometry.type).toBe('Polygon');
      const ring = f.geometry.coordinates[0];
      expect(ring.length).toBeGreaterThanOrEqual(4);
      expect(ring[0]).toEqual(ring[ring.length - 1]);
      for (const [lon, lat] of ring) {
        expect(lon).toBeGreaterThanOrEqual(-180);
        expect(lon).toBeLessThanOrEqual(180);
        expect(Math.abs(lat)).toBeLessThanOrEqual(90);
      }
      // Exterior ring counter-clockwise (RFC 7946 section 3.1.6): positive shoelace area.
      let area = 0;
      for (let i = 0; i + 1 < ring.length; i++) area += ring[i][0] * ring[i + 1][1] - ring[i + 1][0] * ring[i][1];
      expect(area).toBeGreaterThan(0);
      const row = afterChips.find(
        (c) => c.raster.chip_col === f.properties.chip_col && c.raster.chip_row === f.properties.chip_row,
      )!;
      expect(f.properties).toMatchObject({
        workflow_id: row.workflow_id,
        raster: after,
        change_score: row.raster.change_score,
        west: row.raster.west,
        north: row.raster.north,
      });
      expect(ring.map((c) => `${c[0]} ${c[1]}`).join(', ')).toBe(
        row.raster.footprint_wkt!.replace(/^POLYGON\(\(|\)\)$/g, ''),
      );
    }
    expect(fc.bbox[0]).toBeCloseTo(Math.min(...fc.features.map((f) => f.properties.west as number)), 9);

    await page.mouse.move(5, 5);
    await page.screenshot({ path: path.join(SCREENS, 'map-geo.png'), fullPage: true });
    expect(await axeViolations(page)).toEqual([]);
  });

  it('a polygon drawn with the mouse selects by the footprints themselves, not by their bounds', async () => {
    const centre = async (k: string) => {
      const b = await chipBox(k);
      return { x: b.x + b.width / 2, y: b.y + b.height / 2 };
    };
    // A triangle through the centres of chips (0,0), (2,0) and (2,1): its bounds cover all six chips, the
    // triangle itself misses chip (0,1) (its long edge passes a quarter chip above that chip's top).
    const pts = [await centre('0,0'), await centre('2,0'), await centre('2,1')];
    const previous = (await page.locator('#aoi-state').textContent()) ?? '';
    const geo = [];
    for (const p of pts) geo.push(await lonLatAt(p.x, p.y));
    await page.locator('.leaflet-draw-draw-polygon').click();
    for (const p of pts) {
      await page.mouse.move(p.x, p.y, { steps: 4 });
      await page.mouse.down();
      await page.mouse.up();
    }
    await page.locator('.leaflet-draw-actions a', { hasText: 'Finish' }).click();
    expect(await selectionState(previous)).toMatch(/^5 of 6 chips intersect/);
    expect(
      await page
        .locator('path[data-chip].selected')
        .evaluateAll((els) => els.map((e) => e.getAttribute('data-chip')).sort()),
    ).toEqual(['0,0', '1,0', '1,1', '2,0', '2,1']);
    // The README's bounds SQL over the triangle's bounds keeps all six: step 1 is a superset, step 2 decides.
    const bounds = {
      west: Math.min(...geo.map((g) => g.lon)),
      east: Math.max(...geo.map((g) => g.lon)),
      south: Math.min(...geo.map((g) => g.lat)),
      north: Math.max(...geo.map((g) => g.lat)),
    };
    const sql = await query<{ chip_col: number }>(
      bq,
      `SELECT raster.chip_col FROM ${VIEW()} WHERE run_tag = @run AND raster.kind = 'chip' AND raster.east >= ${bounds.west} AND raster.west <= ${bounds.east} AND raster.north >= ${bounds.south} AND raster.south <= ${bounds.north}`,
      { run: `${RUN}-after` },
    );
    expect(sql).toHaveLength(6);
  });

  it('an area off the globe is refused with the reason', async () => {
    const r = afterChips[0];
    const bad = await fetch(
      `${ui.url}/api/raster/select?${new URLSearchParams({
        bucket: cfg.gcs.bucket,
        name: r.name,
        generation: r.generation,
        aoi: JSON.stringify({
          type: 'Polygon',
          coordinates: [
            [
              [170, 0],
              [190, 0],
              [190, 1],
              [170, 0],
            ],
          ],
        }),
      })}`,
    );
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/off the globe/);
  });

  it('a raster without a georeference stays on its pixel grid, with a note saying why', async () => {
    await page.selectOption('#raster', { label: `${nogeo} (2 chips)` });
    await page.waitForSelector(`main[data-map-raster="${nogeo}"][data-map-mode="pixels"]`);
    await expect.poll(() => page.locator('path[data-chip]').count(), { timeout: 30_000 }).toBe(2);
    await page.waitForFunction(() =>
      Array.from(document.querySelectorAll('.leaflet-image-layer')).some(
        (i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0,
      ),
    );
    const note = (await page.locator('[data-testid=map-note]').textContent()) ?? '';
    expect(note).toContain('Pixel coordinates');
    expect(note).toContain('georef none');
    expect(await page.locator('.leaflet-draw-draw-rectangle').count()).toBe(0);
    expect(await page.locator('.leaflet-basemap-pane canvas').count()).toBe(0);
    await page.screenshot({ path: path.join(SCREENS, 'map-pixels.png'), fullPage: true });
    expect(await axeViolations(page)).toEqual([]);
  });
});
