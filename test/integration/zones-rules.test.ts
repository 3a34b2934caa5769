/**
 * The `direction` and `speed-limit` rules end to end on the real stack, as a user sets them from the command line
 * (no browser: ui-zones.test.ts draws no-entry and loitering zones in Chromium). A scene is fitted with `lookout
 * fit`'s code on vtest.avi frames 0-149; `lookout zones set` stores two zones on the same stretch of the pavement;
 * then two clips of later vtest footage are uploaded with that scene and analysed by the worker (cctv-anomaly =
 * cctv-attributes), which judges the rules on its tracks and writes rule alert rows.
 *
 * The rules come from what the footage shows. In frames 200-259 the people walking on the pavement (foot points
 * at x 0..0.8, y 0.3..0.9 of the frame) all go left, at about 60-100 px/s (headings 210-300°, i.e. at most 60° off
 * due left; measured with the method's own tracks before this test was written). So:
 *  - zone 'walkway': direction allowed left (270°) ± 90° (the walkers' way) and a speed limit of 200 px/s (twice
 *    the fastest walker): on the normal-speed clip neither may raise anything (the negative check, after the
 *    video's summary row proves the analysis finished); on the same footage played 4× fast (every 4th frame of
 *    200-439: the same walkers at 200-300 px/s, and later ones walking right) both fire;
 *  - zone 'one-way-right' (the same polygon): direction allowed right (90°) ± 45°: the left-going walkers break it
 *    at normal speed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { zonesCommand } from '../../cli/commands/zones';
import { cutVideo } from '../../cli/scene';
import { VTEST } from '../../demo/samples';
import { loadZones, zonesStore } from '../../io/zones';
import { cfg, fastClip, fitSceneOnVtestStart, rowsWhere, samplesDir, storage, uniqueRun, waitForRows } from './helpers';

const scene = `zr${Date.now().toString(36)}`;
const RUN = uniqueRun('zones-rules');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-zones-rules-'));

/** The pavement where the walkers of frames 200-259 are (normalised corners). */
const PAVEMENT: Array<[number, number]> = [
  [0, 0.3],
  [0.8, 0.3],
  [0.8, 0.9],
  [0, 0.9],
];
const ZONES = {
  zones: [
    {
      name: 'walkway',
      points: PAVEMENT,
      rules: [
        { type: 'direction', angle: 270, tolerance: 90, classes: ['person'] },
        { type: 'speed-limit', max: 200, unit: 'px/s', classes: ['person'] },
      ],
    },
    {
      name: 'one-way-right',
      points: PAVEMENT,
      rules: [{ type: 'direction', angle: 90, tolerance: 45, classes: ['person'] }],
    },
  ],
};

interface Row {
  workflow_id: string;
  label: string;
  status: string;
  name: string;
  details: string;
}
type Parsed = Row & { d: Record<string, string | number> };

/** Uploads a clip with the scene and waits for its summary row (written after every frame and alert row). */
async function analyse(file: string, name: string): Promise<Parsed[]> {
  const object = `${RUN}/${name}`;
  await storage.bucket(cfg.gcs.bucket).upload(file, {
    destination: object,
    resumable: false,
    contentType: 'video/x-msvideo',
    metadata: { metadata: { 'lookout-run': RUN, 'lookout-scene': scene, 'lookout-pipeline': 'cctv-anomaly' } },
  });
  await waitForRows(
    "run_tag = @run AND name = @name AND JSON_VALUE(details, '$.kind') = 'video-summary'",
    { run: RUN, name: object },
    1,
    600_000,
  );
  return (await rowsWhere<Row>('run_tag = @run AND name = @name', { run: RUN, name: object })).map((r) => ({
    ...r,
    d: JSON.parse(r.details) as Record<string, string | number>,
  }));
}

const ruleAlerts = (rows: Parsed[], zone: string, rule: string) =>
  rows.filter((r) => r.label === 'alert' && r.d.reason_kind === 'rule' && r.d.zone === zone && r.d.rule === rule);

/** What every rule alert row carries: its rule, zone, zones version, frames and the annotated peak frame. */
async function checkRuleAlert(r: Parsed, zone: string, rule: string, key: string, ruleText: string): Promise<void> {
  expect(r.status).toBe('ok');
  expect(r.workflow_id).toMatch(new RegExp(`@alert\\d+-rule${key.replace('.', '\\.')}$`));
  expect(r.d).toMatchObject({
    kind: 'alert-episode',
    reason_kind: 'rule',
    scene,
    zone,
    rule,
    rule_text: ruleText,
    zones_version: 1,
    attributes: `rule,rule:${rule}`,
  });
  expect(Number(r.d.start_frame)).toBeLessThanOrEqual(Number(r.d.end_frame));
  expect(r.d.peak_frame).toBe(r.d.start_frame);
  expect(Number(r.d.hit_frames)).toBeGreaterThanOrEqual(1);
  const [, bucket, obj] = /^gs:\/\/([^/]+)\/(.+)$/.exec(String(r.d.annotated))!;
  expect(obj).toMatch(new RegExp(`alert-f\\d{7}-rule${key.replace('.', '\\.')}\\.peak\\.jpg$`));
  expect((await storage.bucket(bucket).file(obj).exists())[0]).toBe(true);
}

/** Degrees between two headings (0..180), written out here rather than taken from the code under test. */
const off = (a: number, b: number) => {
  const d = Math.abs(a - b) % 360;
  return d > 180 ? 360 - d : d;
};

/** A direction alert's reasons: each a track moving more than `tolerance` off `allowed`, the furthest off first. */
function checkDirectionReasons(r: Parsed, zone: string, allowed: number, tolerance: number): void {
  const reasons = String(r.d.reasons).split(' | ');
  const re = new RegExp(
    `^person #(\\d+) moving (?:up|up-right|right|down-right|down|down-left|left|up-left) \\((\\d+)°\\) in zone '${zone}' \\(allowed ${allowed}° ± ${tolerance}°\\)$`,
  );
  const parsed = reasons.map((s) => {
    const m = re.exec(s);
    expect(m, s).not.toBeNull();
    return { track: m![1], offBy: off(Number(m![2]), allowed) };
  });
  expect(new Set(parsed.map((p) => p.track)).size).toBe(parsed.length); // one reason per track
  // The heading in the text is rounded to a degree: beyond the tolerance by at least the rounding.
  for (const p of parsed) expect(p.offBy).toBeGreaterThan(tolerance - 0.5);
  for (let i = 1; i < parsed.length; i++) expect(parsed[i].offBy).toBeLessThanOrEqual(parsed[i - 1].offBy + 1);
}

beforeAll(async () => {
  await fitSceneOnVtestStart(scene);
}, 900_000);

describe('direction and speed-limit rules on vtest footage through the real stack', () => {
  it('lookout zones set stores the two zones and their rules as version 1', async () => {
    const file = path.join(dir, 'zones.json');
    fs.writeFileSync(file, JSON.stringify(ZONES));
    const log = vi.spyOn(console, 'log').mockImplementation(() => {});
    let code;
    let out: { scene: string; version: number; zones: unknown[] };
    try {
      code = await zonesCommand.run(cfg, {
        opts: { file, json: true },
        positionals: ['set', scene],
      } as unknown as Parameters<typeof zonesCommand.run>[1]);
      out = JSON.parse(String(log.mock.calls[0][0]));
    } finally {
      log.mockRestore();
    }
    expect(code).toBe(0);
    expect(out).toMatchObject({ scene, version: 1, zones: ZONES.zones });
    const stored = await loadZones(zonesStore(storage, cfg.gcs.resultsBucket), scene);
    expect(stored?.version).toBe(1);
    expect(stored?.doc.zones).toEqual(ZONES.zones);
  });

  it('normal-speed walkers going left: one-way-right fires; walkway (left allowed, 200 px/s) raises nothing', async () => {
    const rows = await analyse(cutVideo(VTEST, path.join(samplesDir, 'ui-zones-200-260.avi'), 200, 260), 'normal.avi');
    const frames = rows.filter((r) => r.label !== 'alert' && r.d.kind !== 'video-summary');
    expect(frames).toHaveLength(60);

    // Positive: the walkers break the one-way-right rule, with their headings as reasons.
    const wrongWay = ruleAlerts(rows, 'one-way-right', 'direction');
    expect(wrongWay.length).toBeGreaterThanOrEqual(1);
    for (const r of wrongWay) {
      await checkRuleAlert(r, 'one-way-right', 'direction', '1.0', 'direction 90° ± 45° (person)');
      checkDirectionReasons(r, 'one-way-right', 90, 45);
    }
    // Several walkers are judged in the zone (the negative below is not for want of people there).
    const tracks = new Set(
      wrongWay.flatMap((r) => [...String(r.d.reasons).matchAll(/person #(\d+)/g)].map((m) => m[1])),
    );
    expect(tracks.size).toBeGreaterThanOrEqual(3);
    expect(
      frames.filter((r) => String(r.d.rule_hits ?? '').includes("in zone 'one-way-right'")).length,
    ).toBeGreaterThan(20);

    // Negative (the summary row above proves the analysis finished): the same people in the same polygon go the
    // walkway's allowed way at walking speed, far under its limit: no alert, not even one frame's hit.
    expect(ruleAlerts(rows, 'walkway', 'direction')).toEqual([]);
    expect(ruleAlerts(rows, 'walkway', 'speed-limit')).toEqual([]);
    expect(frames.filter((r) => String(r.d.rule_hits ?? '').includes("zone 'walkway'"))).toEqual([]);
    // In SQL too: this video's rule alerts are the one-way-right ones only.
    const sql = await rowsWhere<Row>(
      "run_tag = @run AND name = @name AND label = 'alert' AND JSON_VALUE(details, '$.reason_kind') = 'rule'",
      { run: RUN, name: `${RUN}/normal.avi` },
    );
    expect(sql.map((r) => r.workflow_id).sort()).toEqual(wrongWay.map((r) => r.workflow_id).sort());
  }, 900_000);

  it('the same footage 4× fast: walkway speed-limit alerts with the speeds over 200 px/s as reasons', async () => {
    const rows = await analyse(fastClip(path.join(samplesDir, 'ui-alerts-fast-200-440.avi'), 200, 440), 'fast.avi');
    const speeding = ruleAlerts(rows, 'walkway', 'speed-limit');
    expect(speeding.length).toBeGreaterThanOrEqual(1);
    for (const r of speeding) {
      await checkRuleAlert(r, 'walkway', 'speed-limit', '0.1', 'speed limit 200 px/s (person)');
      const speeds = String(r.d.reasons)
        .split(' | ')
        .map((s) => {
          const m = /^person #\d+ at (\d+\.\d) px\/s in zone 'walkway' \(limit 200 px\/s\)$/.exec(s);
          expect(m, s).not.toBeNull();
          return Number(m![1]);
        });
      for (const s of speeds) expect(s).toBeGreaterThan(200);
      expect(speeds).toEqual([...speeds].sort((a, b) => b - a)); // fastest first
    }
    // The frames name the speeding in SQL's rule_hits.
    expect(rows.some((r) => /at \d+\.\d px\/s in zone 'walkway'/.test(String(r.d.rule_hits ?? '')))).toBe(true);
    // The walkway's direction rule, silent on the left-going walkers above, fires on the people of frames 300-439
    // who walk right: the negative check above is of a rule that can fire.
    const against = ruleAlerts(rows, 'walkway', 'direction');
    expect(against.length).toBeGreaterThanOrEqual(1);
    for (const r of against) {
      await checkRuleAlert(r, 'walkway', 'direction', '0.0', 'direction 270° ± 90° (person)');
      checkDirectionReasons(r, 'walkway', 270, 90);
    }
  }, 900_000);
});
