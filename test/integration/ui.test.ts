/// <reference lib="dom" />
/**
 * The review UI (`lookout ui`) in real headless Chromium (Debian's chromium through playwright-core's
 * executablePath) against the embedded stack: upload -> row, failure ->
 * retry -> new row, map -> chip click -> its row, live frame with boxes, runs and a run's report. Every page
 * is screenshotted to .lookout/ui-screens and checked with axe-core (no serious or critical violations).
 *
 * The alerts page is tested on rows the real pipeline wrote, in ui-alerts.test.ts, and the map page in
 * ui-map.test.ts. Rows the stack cannot make quickly here (satellite chips for the older map check) are written
 * through the real results writer (io/results.ts buildRow + bigquerySink), with real images in the buckets; the
 * live page's come from a camera recorded by `lookout stream`'s recorder and analysed by the stack.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { axeViolations } from './axe';
import sharp from 'sharp';
import { startUi, type UiServer } from '../../ui/server';
import { bigquerySink, buildRow } from '../../io/results';
import { spawn } from 'node:child_process';
import { freePort, startCamera } from '../../demo/camera';
import { recordStream, STREAM_DEFAULTS } from '../../ingest/stream';
import { VTEST } from '../../demo/samples';
import { summary } from '../unit/fixtures';
import {
  bq,
  cfg,
  ensureBucket,
  rowsWhere,
  sampleFrame,
  storage,
  TABLE,
  uniqueRun,
  upload,
  waitForRows,
} from './helpers';

export const CHROMIUM = process.env.LOOKOUT_CHROMIUM || '/usr/bin/chromium';
const SCREENS = path.join(cfg.projectRoot, '.lookout', 'ui-screens');

let ui: UiServer;
let browser: Browser;
let page: Page;
const RUN = uniqueRun('ui');
const sink = bigquerySink(bq, cfg);

/** A row written by the real writer: the fixture's analysis, with the fields a test needs. */
function row(over: Record<string, unknown>) {
  const base = buildRow(summary(), Date.now());
  return { ...base, run_tag: RUN, recorded_at: new Date().toISOString(), ...over } as typeof base;
}

async function open(hash: string): Promise<void> {
  await page.goto(`${ui.url}/${hash}`);
  await page.waitForFunction((h) => document.body.dataset.ready === h, hash, { timeout: 60_000 });
}

async function shoot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SCREENS, `${name}.png`), fullPage: true });
}

beforeAll(async () => {
  fs.mkdirSync(SCREENS, { recursive: true });
  await ensureBucket(cfg.gcs.resultsBucket);
  ui = await startUi(cfg, { host: '127.0.0.1', port: cfg.ui.port });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
});

describe('lookout ui in Chromium', () => {
  it('upload page: a file uploaded with the objects pipeline becomes a row on the page', async () => {
    await open('#/upload');
    await page.setInputFiles(
      '#files',
      [100, 110, 120].map((n) => ({ name: `frame${n}.jpg`, mimeType: 'image/jpeg', buffer: sampleFrame(n) })),
    );
    await page.selectOption('#pipeline', 'objects');
    await page.fill('#run', RUN + '-upload');
    await page.click('#upload-form button[type=submit]');
    await page.waitForSelector('#upload-rows >> text=3 of 3 rows', { timeout: 120_000 });
    expect(await page.locator('#upload-rows tbody tr').count()).toBe(3);
    const rows = await rowsWhere<{ status: string; pipeline: string; label: string; name: string }>('run_tag = @run', {
      run: RUN + '-upload',
    });
    expect(rows.map((r) => r.name.split('/').pop()).sort()).toEqual(['frame100.jpg', 'frame110.jpg', 'frame120.jpg']);
    for (const r of rows) expect(r).toMatchObject({ status: 'ok', pipeline: 'objects', label: 'person' });
    // The page shows what the rows say.
    expect(await page.locator('#upload-rows tbody .ok').count()).toBe(3);
    await shoot('upload');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('runs page lists the run; its page shows the report of infra/sql and the charts', async () => {
    await open('#/runs');
    await page.waitForSelector(`a:has-text("${RUN}-upload")`);
    // The listing's figures are the rows' own: 3 analyses, 3 ok, and a median end-to-end among the rows' values.
    const line = page.locator('tr', { has: page.locator(`a:has-text("${RUN}-upload")`) });
    const cells = (await line.locator('td').allTextContents()).map((t) => t.trim());
    expect(cells.slice(2, 5)).toEqual(['3', '3', '0']);
    const e2e = (await rowsWhere<{ end_to_end_ms: number }>('run_tag = @run', { run: RUN + '-upload' })).map((r) =>
      Math.round(r.end_to_end_ms),
    );
    expect(e2e).toContain(Number(cells[8]));
    await shoot('runs');
    expect(await axeViolations(page)).toEqual([]);
    await open(`#/run/${encodeURIComponent(RUN + '-upload')}`);
    await page.waitForSelector('#c-lat svg');
    await page.waitForSelector('#c-hops svg');
    const text = await page.locator('#report').textContent();
    expect(text).toContain('Summary (ms)');
    expect(text).toContain('frame100.jpg');
    await shoot('run');
    expect(await axeViolations(page)).toEqual([]);
  });

  it('failures page: retrying a failed analysis shows its new row', async () => {
    const run = RUN + '-fail';
    await upload(cfg.gcs.bucket, `${run}/broken.jpg`, Buffer.from('not an image'), 'image/jpeg', {
      'lookout-run': run,
    });
    const [failed] = await waitForRows<{ workflow_id: string; run_id: string; status: string; error_class: string }>(
      'run_tag = @run',
      { run },
      1,
    );
    expect(failed.status).toBe('failed');
    await open('#/failures');
    const button = page.locator(`button[data-retry="${failed.workflow_id}"]`);
    await shoot('failures');
    expect(await axeViolations(page)).toEqual([]);
    await button.click();
    const state = button.locator('xpath=..').locator('.retry-state');
    await state.locator('text=new row').waitFor({ timeout: 90_000 });
    await expect(state.textContent()).resolves.toContain(`failed ${failed.error_class}`);
    const raw = await rowsWhere<{ run_id: string }>('run_tag = @run', { run }, TABLE());
    expect(raw).toHaveLength(2);
    expect(new Set(raw.map((r) => r.run_id)).size).toBe(2);
  });

  it('map page: the raster with its chip heatmap; a chip click shows its row; layers and area of interest', async () => {
    // A real image as the raster (vtest frame 200), cut into 4 x 3 chips of 192 px.
    const name = `ui-test/${RUN}/scene.png`;
    const png = await sharp(sampleFrame(200)).png().toBuffer();
    await storage.bucket(cfg.gcs.resultsBucket).file(name).save(png, { resumable: false, contentType: 'image/png' });
    const [md] = await storage.bucket(cfg.gcs.resultsBucket).file(name).getMetadata();
    const chips = [];
    for (let r = 0; r < 3; r++)
      for (let c = 0; c < 4; c++)
        chips.push(
          row({
            workflow_id: `raster-change:${cfg.gcs.resultsBucket}/${name}#1@chip${c},${r}`,
            analysis_id: `raster-change:${cfg.gcs.resultsBucket}/${name}#1@chip${c},${r}/r1`,
            pipeline: 'raster-change',
            bucket: cfg.gcs.resultsBucket,
            name,
            generation: String(md.generation),
            label: c === 2 && r === 1 ? 'changed' : 'unchanged',
            score: (c + r) / 6,
            raster: {
              kind: 'chip',
              chip_col: c,
              chip_row: r,
              x: c * 192,
              y: r * 192,
              width: 192,
              height: 192,
              edge: r === 2,
              raster_width: 768,
              raster_height: 576,
              crs: null,
              georef: 'none',
              georef_note: 'pixel grid only',
              footprint_wkt: null,
              west: null,
              south: null,
              east: null,
              north: null,
              cloud_fraction: r === 0 ? 0.6 : 0.05,
              change_score: c === 2 && r === 1 ? 0.9 : 0.1 * c,
              novelty_score: 0.2 * r,
              ndvi_delta: -0.1,
              nbr_delta: 0.02,
              ndwi_delta: 0.01,
              before_name: 'before.tif',
            },
          }),
        );
    await sink.insert(chips);
    await open('#/map');
    await page.selectOption('#raster', { label: `${name} (12 chips)` });
    // Other rasters of the suite's stack (the raster pipeline's tests) may be drawn first, until this one's rows arrive.
    await expect.poll(() => page.locator('path[data-chip]').count(), { timeout: 30_000 }).toBe(12);
    await page.waitForFunction(() =>
      Array.from(document.querySelectorAll('.leaflet-image-layer')).some(
        (i) => (i as HTMLImageElement).complete && (i as HTMLImageElement).naturalWidth > 0,
      ),
    );
    await page.locator('path[data-chip="2,1"]').click();
    const chip = await page.locator('[data-testid=chip-row]').textContent();
    expect(JSON.parse(chip ?? '{}')).toMatchObject({
      name,
      label: 'changed',
      raster: { chip_col: 2, chip_row: 1, change_score: 0.9 },
    });
    await shoot('map');
    expect(await axeViolations(page)).toEqual([]);
    // Keyboard: a chip takes focus and Enter shows its row.
    await page.focus('path[data-chip="0,2"]');
    await page.keyboard.press('Enter');
    await expect
      .poll(
        async () => JSON.parse((await page.locator('[data-testid=chip-row]').textContent()) ?? '{}').raster?.chip_row,
      )
      .toBe(2);
    // The novelty layer colours by novelty_score; an area of interest keeps the chips it overlaps.
    await page.check('#layer-novelty');
    await page.fill('#aoi', '0,0,383,191');
    await page.click('#map-form button[type=submit]');
    await expect.poll(() => page.locator('path[data-chip]').count()).toBe(2);
  });

  it('live page: the newest frame of a stream the real pipeline analysed, decoded from its segment, with its boxes', async () => {
    // A camera (vtest.avi at 10 fps, MPEG-TS over HTTP on loopback) recorded by `lookout stream`'s recorder into two
    // 1 s segments; the stack's watcher, dispatcher and worker turn them into frame rows, as in production.
    const port = await freePort();
    const camera = startCamera(VTEST, port).proc;
    const stream = `cam-${RUN}`;
    const liveRun = `${RUN}-live`;
    let stats: Awaited<ReturnType<typeof recordStream>>;
    try {
      await new Promise((r) => setTimeout(r, 300));
      stats = await recordStream(
        {
          ...STREAM_DEFAULTS,
          url: `http://127.0.0.1:${port}/cam`,
          name: stream,
          prefix: `ui-test/${RUN}/live/`,
          segmentSeconds: 1,
          maxSegments: 2,
          minBackoffMs: 200,
          maxBackoffMs: 800,
          metadata: { 'lookout-run': liveRun, 'lookout-pipeline': 'objects' },
        },
        async (u) => {
          await storage.bucket(cfg.gcs.bucket).upload(u.file, {
            destination: u.objectName,
            resumable: false,
            contentType: u.contentType,
            metadata: { metadata: u.metadata },
          });
        },
      );
    } finally {
      camera.kill('SIGKILL');
    }
    expect(stats.segments).toBe(2);
    await waitForRows(
      `run_tag = @run AND JSON_VALUE(details, '$.kind') = 'video-summary'`,
      { run: liveRun },
      stats.segments,
      300_000,
    );
    // The newest frame row of the stream, read off the rows themselves.
    type LiveRow = { details: string; objects: Array<{ x: number; y: number; w: number; h: number }> };
    const frames = (
      await rowsWhere<LiveRow>(`run_tag = @run AND status = 'ok' AND JSON_VALUE(details, '$.stream') = @stream`, {
        run: liveRun,
        stream,
      })
    )
      .map((r) => ({ ...r, d: JSON.parse(r.details) as { frame: number; captured_at: string } }))
      .sort((x, y) => x.d.captured_at.localeCompare(y.d.captured_at));
    expect(frames.length).toBeGreaterThan(10);
    const newest = frames[frames.length - 1];
    expect(newest.objects.length).toBeGreaterThan(0); // vtest.avi's walkers

    await open('#/live');
    const card = page.locator(`article[data-stream="${stream}"]`);
    await card.waitFor({ timeout: 30_000 });
    await expect(card.textContent()).resolves.toContain(`frame ${newest.d.frame} · captured ${newest.d.captured_at}`);
    const canvas = card.locator('canvas');
    await canvas.waitFor();
    await expect.poll(() => canvas.evaluate((c) => (c as HTMLCanvasElement).width)).toBe(768); // decoded from the 768x576 segment
    // Each box is drawn where the row says: along one of its four edges, most pixels have the box colour
    // (teal; red for an abnormal object) — labels or a neighbour may cover parts of the others.
    const edgeShares = await canvas.evaluate((c, boxes) => {
      const g = (c as HTMLCanvasElement).getContext('2d')!;
      const { width, height } = c as HTMLCanvasElement;
      const px = g.getImageData(0, 0, width, height).data;
      const boxish = (x: number, y: number) => {
        const i =
          4 *
          (Math.min(height - 1, Math.max(0, Math.round(y))) * width + Math.min(width - 1, Math.max(0, Math.round(x))));
        return [
          [46, 196, 182],
          [230, 57, 70],
        ].some((col) => col.every((v, k) => Math.abs(v - px[i + k]) <= 40));
      };
      const share = (pts: Array<[number, number]>) =>
        pts.filter(([x, y]) => boxish(x, y)).length / Math.max(1, pts.length);
      const line = (n: number, f: (t: number) => [number, number]) =>
        Array.from({ length: n }, (_, k) => f((k + 1) / (n + 1)));
      return boxes.map((b) =>
        Math.max(
          share(line(20, (t) => [b.x + t * b.w, b.y])),
          share(line(20, (t) => [b.x + t * b.w, b.y + b.h])),
          share(line(20, (t) => [b.x, b.y + t * b.h])),
          share(line(20, (t) => [b.x + b.w, b.y + t * b.h])),
        ),
      );
    }, newest.objects);
    for (const [i, share] of edgeShares.entries())
      expect(share, `box ${i} of ${JSON.stringify(newest.objects[i])}`).toBeGreaterThanOrEqual(0.6);
    await shoot('live');
    expect(await axeViolations(page)).toEqual([]);
  }, 400_000);

  it('`lookout ui` serves the page on the port it prints and stops on SIGTERM', async () => {
    const child = spawn(process.execPath, [path.join(cfg.projectRoot, 'bin', 'lookout'), 'ui', '--port', '0'], {
      env: process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /ui: (http:\/\/\S+?)\/?(\s|$)/.exec(out);
        if (m) resolve(m[1]);
      });
      child.once('exit', (code) => reject(new Error(`lookout ui exited ${code}: ${out}`)));
    });
    const html = await (await fetch(`${url}/`)).text();
    expect(html).toContain('<title>Lookout review</title>');
    expect((await (await fetch(`${url}/api/info`)).json()) as { bucket: string }).toMatchObject({
      bucket: cfg.gcs.bucket,
    });
    const code = await new Promise<number | null>((resolve) => {
      child.once('exit', (c) => resolve(c));
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
  });

  it('writes need the bearer token when one is configured; reads do not', async () => {
    const locked = await startUi({ ...cfg, ui: { ...cfg.ui, token: 's3cret' } }, { host: '127.0.0.1', port: 0 });
    try {
      const noToken = await fetch(`${locked.url}/api/retry`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"workflowId":"x"}',
      });
      expect(noToken.status).toBe(401);
      const wrong = await fetch(`${locked.url}/api/feedback`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer nope' },
        body: '{}',
      });
      expect(wrong.status).toBe(401);
      const right = await fetch(`${locked.url}/api/retry`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer s3cret' },
        body: '{"workflowId":"no-such"}',
      });
      expect(right.status).toBe(404);
      expect((await fetch(`${locked.url}/api/info`)).status).toBe(200);
    } finally {
      await locked.close();
    }
    await expect(
      startUi({ ...cfg, ui: { ...cfg.ui, token: undefined } }, { host: '0.0.0.0', port: 0 }),
    ).rejects.toThrow(/LOOKOUT_UI_TOKEN/);
  });
});
