/// <reference lib="dom" />
/**
 * The review UI's alerts page on alerts the real pipeline wrote: a scene is fitted with `lookout fit`'s code on
 * vtest.avi frames 0-149 (normal footage), then a clip of later vtest frames played 4× fast (every 4th frame:
 * everyone in it moves at four times walking speed, a constructed anomaly made of real footage) is uploaded to
 * the bucket and analysed by the worker (cctv-anomaly = cctv-attributes). Its alert episode rows are listed on
 * the page with their reasons, filtered by scene, reason and verdict, and dismissed; the dismissed alert becomes
 * normal footage for `lookout fit --with-dismissed`. Checked with axe-core, screenshotted to .lookout/ui-screens.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { axeViolations } from './axe';
import { startUi, type UiServer } from '../../ui/server';
import { latestFeedback } from '../../io/feedback';
import { dismissedClips } from '../../cli/scene';
import { probeVideo } from '../../media/video';
import {
  bq,
  cfg,
  fastClip,
  rowsWhere,
  samplesDir,
  storage,
  uniqueRun,
  waitForRows,
  fitSceneOnVtestStart,
} from './helpers';
const CHROMIUM = process.env.LOOKOUT_CHROMIUM || '/usr/bin/chromium';

const SCREENS = path.join(cfg.projectRoot, '.lookout', 'ui-screens');
const scene = `ui${Date.now().toString(36)}`;
const RUN = uniqueRun('ui-alerts');

let ui: UiServer;
let browser: Browser;
let page: Page;

interface Row {
  workflow_id: string;
  analysis_id: string;
  label: string;
  name: string;
  status: string;
  details: string;
}
let alerts: Array<Row & { d: Record<string, unknown> }> = [];
let frameRows: Array<Row & { d: Record<string, unknown> }> = [];

async function open(hash: string): Promise<void> {
  await page.goto(`${ui.url}/${hash}`);
  await page.waitForFunction((h) => document.body.dataset.ready === h, hash, { timeout: 60_000 });
}

beforeAll(async () => {
  fs.mkdirSync(SCREENS, { recursive: true });
  await fitSceneOnVtestStart(scene);
  const clip = fastClip(path.join(samplesDir, 'ui-alerts-fast-200-440.avi'), 200, 440);
  expect((await probeVideo(clip)).frames).toBe(60);
  await storage.bucket(cfg.gcs.bucket).upload(clip, {
    destination: `${RUN}/cam-fast.avi`,
    resumable: false,
    contentType: 'video/x-msvideo',
    metadata: { metadata: { 'lookout-run': RUN, 'lookout-scene': scene, 'lookout-pipeline': 'cctv-anomaly' } },
  });
  // The summary row is written after the last segment (whose activity writes the episodes still open): a positive end signal.
  await waitForRows("run_tag = @run AND JSON_VALUE(details, '$.kind') = 'video-summary'", { run: RUN }, 1, 500_000);
  const rows = (await rowsWhere<Row>('run_tag = @run', { run: RUN })).map((r) => ({
    ...r,
    d: JSON.parse(r.details) as Record<string, unknown>,
  }));
  alerts = rows.filter((r) => r.label === 'alert');
  frameRows = rows.filter((r) => r.label !== 'alert' && r.d.kind !== 'video-summary');
  ui = await startUi(cfg, { host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await ui?.close();
});

describe("alerts page on the pipeline's own alert episodes", () => {
  it('the pipeline wrote frame rows and at least one alert episode row, each with its reasons, span, peak and annotated peak frame', async () => {
    expect(frameRows).toHaveLength(60);
    expect(alerts.length).toBeGreaterThanOrEqual(1);
    // Episodes, not frames: one alert row per episode the frame rows name (by its first frame), no other.
    const starts = new Set(frameRows.filter((r) => r.d.alert_start !== undefined).map((r) => r.d.alert_start));
    expect(new Set(alerts.map((a) => a.d.start_frame))).toEqual(starts);
    expect(frameRows.filter((r) => r.d.alert_start !== undefined).length).toBeGreaterThanOrEqual(alerts.length);
    for (const a of alerts) {
      expect(a.status).toBe('ok');
      expect(a.workflow_id).toMatch(/@alert\d+$/);
      const d = a.d as {
        kind: string;
        scene: string;
        start_frame: number;
        end_frame: number;
        alert_frame: number;
        peak_frame: number;
        reasons: string;
        annotated: string;
      };
      expect(d).toMatchObject({ kind: 'alert-episode', scene });
      expect(d.start_frame).toBeLessThanOrEqual(d.alert_frame);
      expect(d.start_frame).toBeLessThanOrEqual(d.peak_frame);
      expect(d.peak_frame).toBeLessThanOrEqual(d.end_frame);
      expect(d.reasons.trim().length).toBeGreaterThan(10);
      const [, bucket, obj] = /^gs:\/\/([^/]+)\/(.+)$/.exec(d.annotated)!;
      expect((await storage.bucket(bucket).file(obj).exists())[0]).toBe(true);
      // The frames of the span are there for SQL, each naming the episode it belongs to.
      const inside = frameRows.filter(
        (r) => (r.d.frame as number) >= d.alert_frame && (r.d.frame as number) <= d.end_frame,
      );
      expect(inside.length).toBe(d.end_frame - d.alert_frame + 1);
      for (const r of inside) expect(r.d.alert_start).toBe(d.start_frame);
    }
  });

  it('lists the episodes with their reasons; filters by scene, reason and verdict; a dismissal is a feedback row and normal footage for the next fit', async () => {
    const a = alerts[0];
    const d = a.d as { reasons: string; attributes: string; peak_frame: number };
    await open(`#/alerts?scene=${scene}`);
    const card = page.locator(`article[data-workflow-id="${a.workflow_id}"]`);
    await card.waitFor();
    // Only this scene's alerts, every one with its reasons.
    expect(await page.locator('article.card').count()).toBe(alerts.length);
    const shown = await card.locator('[data-testid=reasons] li').allTextContents();
    expect(shown).toEqual(d.reasons.split(' | '));
    for (const c of await page.locator('article.card [data-testid=reasons]').all())
      expect((await c.locator('li').count()) > 0).toBe(true);
    await card.locator('canvas').waitFor();
    await page.screenshot({ path: path.join(SCREENS, 'alerts.png'), fullPage: true });
    expect(await axeViolations(page)).toEqual([]);

    // Reason filter: the alert's first attribute keeps it; an attribute it lacks (if the page offers one) drops it.
    const attr = d.attributes.split(',')[0];
    await open(`#/alerts?scene=${scene}&reason=${attr}`);
    await card.waitFor();
    const other = (await page.locator('#filter-reason option').allTextContents()).find(
      (x) => x !== 'all' && !d.attributes.split(',').includes(x),
    );
    if (other) {
      await open(`#/alerts?scene=${scene}&reason=${other}`);
      expect(await page.locator(`article[data-workflow-id="${a.workflow_id}"]`).count()).toBe(0);
    }
    // Another scene: none of these.
    await open(`#/alerts?scene=no-such-${scene}`);
    expect(await page.locator('article.card').count()).toBe(0);

    await open(`#/alerts?scene=${scene}`);
    await card.locator('button[data-verdict=dismissed]').click();
    await card.locator('.verdict >> text=dismissed').waitFor();
    const fb = await latestFeedback(bq, cfg, 't.workflow_id = @wf', { wf: a.workflow_id });
    expect(fb).toHaveLength(1);
    expect(fb[0]).toMatchObject({ verdict: 'dismissed', scene, frame: d.peak_frame, analysis_id: a.analysis_id });
    // Verdict filter: the dismissed alert is under "dismissed", not under "not reviewed".
    await open(`#/alerts?scene=${scene}&verdict=dismissed`);
    await card.waitFor();
    await open(`#/alerts?scene=${scene}&verdict=none`);
    expect(await page.locator(`article[data-workflow-id="${a.workflow_id}"]`).count()).toBe(0);
    // The fit side: the dismissed alert's frames become a clip of normal footage.
    const clips = await dismissedClips(cfg, scene, path.join(samplesDir, `dismissed-${RUN}`));
    expect(clips).toHaveLength(1);
    // The whole episode (widened by the clip margin, clamped to the video), not only its peak frame.
    const span = a.d as { start_frame: number; end_frame: number };
    expect((await probeVideo(clips[0])).frames).toBe(
      Math.min(60, span.end_frame + 26) - Math.max(0, span.start_frame - 25),
    );
  });
});
