/// <reference lib="dom" />
/**
 * Zones and rules end to end, in real Chromium on the real stack: a scene is fitted with `lookout fit`'s code on
 * vtest.avi frames 0-149; on the Zones page an operator draws a zone on the first frame of that footage (clicks on
 * the frame), names it, gives it two rules (no entry for person; loitering over 3 s) and saves it; then uploads
 * frames 200-259 of the same camera through the Upload page with that scene. The worker (cctv-anomaly =
 * cctv-attributes) evaluates the rules on its tracks and writes rule alert episodes; the Alerts page filtered by
 * reason "rule" lists them with their reasons. Checked with axe-core, screenshotted to .lookout/ui-screens.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromium, type Browser, type Page } from 'playwright-core';
import { axeViolations } from './axe';
import { startUi, type UiServer } from '../../ui/server';
import { cutVideo } from '../../cli/scene';
import { loadZones, zonesStore } from '../../io/zones';
import { VTEST } from '../../demo/samples';
import { cfg, rowsWhere, samplesDir, storage, uniqueRun, waitForRows, fitSceneOnVtestStart } from './helpers';

const CHROMIUM = process.env.LOOKOUT_CHROMIUM || '/usr/bin/chromium';
const SCREENS = path.join(cfg.projectRoot, '.lookout', 'ui-screens');
const scene = `zn${Date.now().toString(36)}`;
const RUN = uniqueRun('ui-zones');
/** The zone: most of the paved area (normalised corners, as clicked on the frame). */
const CORNERS: Array<[number, number]> = [
  [0.03, 0.2],
  [0.97, 0.2],
  [0.97, 0.99],
  [0.03, 0.99],
];

let ui: UiServer;
let browser: Browser;
let page: Page;

interface Row {
  workflow_id: string;
  label: string;
  status: string;
  details: string;
}

async function open(hash: string): Promise<void> {
  await page.goto(`${ui.url}/${hash}`);
  await page.waitForFunction((h) => document.body.dataset.ready === h, hash, { timeout: 60_000 });
}

beforeAll(async () => {
  fs.mkdirSync(SCREENS, { recursive: true });
  await fitSceneOnVtestStart(scene);
  ui = await startUi(cfg, { host: '127.0.0.1', port: 0 });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await ui?.close();
});

describe('zones drawn in the review UI raise rule alerts on uploaded footage', () => {
  it('draws a zone on a frame of the camera, gives it rules, refuses a bad one with its reason, saves a version', async () => {
    await open(`#/zones?scene=${scene}`);
    // The frame is the first frame of the scene's normal footage, decoded by the server.
    const img = page.locator('img#zone-img');
    await img.waitFor();
    expect(await img.evaluate((i: HTMLImageElement) => i.naturalWidth)).toBe(768);
    // Saving a zone without corners is refused with the validator's words, and nothing is stored.
    await page.locator('#zone-save').click();
    await page.locator('[data-testid=zone-problems]').waitFor();
    expect(await page.locator('[data-testid=zone-problems]').textContent()).toContain(
      "zone 'zone 1': a zone needs at least 3 points, got 0",
    );
    expect(await loadZones(zonesStore(storage, cfg.gcs.resultsBucket), scene)).toBeUndefined();

    await page.locator('#z0-name').fill('walkway');
    const box = (await page.locator('#zone-svg').boundingBox())!;
    for (const [x, y] of CORNERS) await page.mouse.click(box.x + x * box.width, box.y + y * box.height);
    const typed = (await page.locator('#z0-points').inputValue()).split(' ').map((p) => p.split(',').map(Number));
    expect(typed).toHaveLength(4);
    typed.forEach(([x, y], i) => {
      expect(x).toBeCloseTo(CORNERS[i][0], 2);
      expect(y).toBeCloseTo(CORNERS[i][1], 2);
    });
    expect(await page.locator('#zone-svg polygon').count()).toBe(1);
    // Rule 1 is the default (no entry for person); rule 2: loitering over 3 s.
    expect(await page.locator('#z0-r0-type').inputValue()).toBe('no-entry');
    expect(await page.locator('#z0-r0-classes').inputValue()).toBe('person');
    await page.locator('fieldset[data-zone="0"] .rule-add').click();
    await page.locator('#z0-r1-type').selectOption('loitering');
    await page.locator('#z0-r1-seconds').fill('3');
    await page.locator('#z0-r1-classes').fill('person');
    await page.locator('#zone-save').click();
    await page.locator('[data-testid=zone-saved]').waitFor();
    expect(await page.locator('[data-testid=zone-saved]').textContent()).toContain('Saved version 1 (1 zones)');
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: path.join(SCREENS, 'zones.png'), fullPage: true });

    const saved = await loadZones(zonesStore(storage, cfg.gcs.resultsBucket), scene);
    expect(saved?.version).toBe(1);
    expect(saved?.doc.zones).toHaveLength(1);
    expect(saved?.doc.zones[0]).toMatchObject({
      name: 'walkway',
      rules: [
        { type: 'no-entry', classes: ['person'] },
        { type: 'loitering', seconds: 3, classes: ['person'] },
      ],
    });
    // The page shows what is stored when opened again.
    await open(`#/zones?scene=${scene}`);
    expect(await page.locator('#z0-name').inputValue()).toBe('walkway');
    expect(await page.locator('#z0-r1-seconds').inputValue()).toBe('3');
  });

  it("footage uploaded on the Upload page: rule alert rows with the rule as reason, listed under the reason filter 'rule'", async () => {
    const clip = cutVideo(VTEST, path.join(samplesDir, 'ui-zones-200-260.avi'), 200, 260);
    await open('#/upload');
    await page.locator('#files').setInputFiles(clip);
    await page.locator('#pipeline').selectOption('cctv-anomaly');
    await page.locator('#scene').fill(scene);
    await page.locator('#run').fill(RUN);
    await page.locator('#upload-form button[type=submit]').click();
    // The summary row is written after the last segment (which writes the episodes still open): a positive end signal.
    await waitForRows("run_tag = @run AND JSON_VALUE(details, '$.kind') = 'video-summary'", { run: RUN }, 1, 500_000);
    const rows = (await rowsWhere<Row>('run_tag = @run', { run: RUN })).map((r) => ({
      ...r,
      d: JSON.parse(r.details) as Record<string, string | number>,
    }));
    // Rule alerts are told apart from learned ones in SQL by reason_kind.
    const ruleRows = await rowsWhere<Row>(
      "run_tag = @run AND label = 'alert' AND JSON_VALUE(details, '$.reason_kind') = 'rule'",
      { run: RUN },
    );
    const rules = rows.filter((r) => r.label === 'alert' && r.d.reason_kind === 'rule');
    expect(ruleRows.map((r) => r.workflow_id).sort()).toEqual(rules.map((r) => r.workflow_id).sort());
    expect(
      rows.filter((r) => r.label === 'alert' && r.d.reason_kind !== 'rule').every((r) => r.d.reason_kind === 'learned'),
    ).toBe(true);

    const noEntry = rules.filter((r) => r.d.rule === 'no-entry');
    const loitering = rules.filter((r) => r.d.rule === 'loitering');
    expect(noEntry.length).toBeGreaterThanOrEqual(1);
    expect(loitering.length).toBeGreaterThanOrEqual(1);
    for (const r of rules) {
      expect(r.status).toBe('ok');
      expect(r.workflow_id).toMatch(/@alert\d+-rule0\.[01]$/);
      expect(r.d).toMatchObject({ kind: 'alert-episode', scene, zone: 'walkway', zones_version: 1 });
      expect(Number(r.d.start_frame)).toBeLessThanOrEqual(Number(r.d.end_frame));
      expect(r.d.peak_frame).toBe(r.d.start_frame);
      // The annotated peak frame (the zone drawn, the objects that broke the rule marked) is in the bucket.
      const [, bucket, obj] = /^gs:\/\/([^/]+)\/(.+)$/.exec(String(r.d.annotated))!;
      expect((await storage.bucket(bucket).file(obj).exists())[0]).toBe(true);
    }
    for (const r of noEntry)
      for (const reason of String(r.d.reasons).split(' | '))
        expect(reason).toMatch(/^person #\d+ in zone 'walkway' \(no entry for person\)$/);
    for (const r of loitering)
      for (const reason of String(r.d.reasons).split(' | '))
        expect(reason).toMatch(/^person #\d+ loitering \d+ s in zone 'walkway' \(limit 3 s\)$/);
    // The frames name their rule hits for SQL.
    expect(rows.some((r) => String(r.d.rule_hits ?? '').includes("in zone 'walkway'"))).toBe(true);

    await open(`#/alerts?scene=${scene}&reason=rule`);
    const cards = page.locator('article.card');
    expect(await cards.count()).toBe(rules.length);
    for (const r of rules) {
      const card = page.locator(`article[data-workflow-id="${r.workflow_id}"]`);
      expect(await card.locator('[data-testid=reasons] li').allTextContents()).toEqual(
        String(r.d.reasons).split(' | '),
      );
      expect(await card.locator('[data-testid=rule]').textContent()).toContain(`walkway`);
    }
    expect(await page.locator('#filter-reason option').allTextContents()).toEqual(
      expect.arrayContaining(['rule', 'rule:no-entry', 'rule:loitering']),
    );
    await page.locator('article.card canvas').first().waitFor();
    expect(await axeViolations(page)).toEqual([]);
    await page.screenshot({ path: path.join(SCREENS, 'alerts-rules.png'), fullPage: true });
    // Only one rule's alerts.
    await open(`#/alerts?scene=${scene}&reason=rule:loitering`);
    expect(await page.locator('article.card').count()).toBe(loitering.length);
  });
});
