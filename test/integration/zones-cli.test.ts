/**
 * `lookout zones get|set|clear` as a user runs them, against the test stack's bucket (fake-gcs-server): each
 * version stored beside the scene's models, what the worker reads (io/zones.ts loadZones), bad files refused
 * with every problem named and exit 1, usage errors exit 2.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadZones, zonesStore } from '../../io/zones';
import { cfg, storage } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = path.join(ROOT, 'bin', 'lookout');
const scene = `zones${Date.now().toString(36)}`;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-zones-'));

/** Runs the binary without blocking the test process (a synchronous spawn starves vitest's own messages). */
function lookout(...args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    execFile('node', [BIN, ...args], { encoding: 'utf8', env: process.env, cwd: ROOT }, (err, out, stderr) =>
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out, err: stderr }),
    );
  });
}

function file(name: string, content: unknown): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, typeof content === 'string' ? content : JSON.stringify(content));
  return p;
}

const GOOD = {
  zones: [
    {
      name: 'loading bay',
      points: [
        [0.1, 0.5],
        [0.6, 0.5],
        [0.6, 0.95],
        [0.1, 0.95],
      ],
      rules: [
        { type: 'no-entry', classes: ['person'] },
        { type: 'loitering', seconds: 20 },
      ],
    },
  ],
};

describe('lookout zones', () => {
  it('set stores a version the worker reads; get prints it as text and JSON', async () => {
    const set = await lookout('zones', 'set', scene, '--file', file('good.json', GOOD));
    expect(set.err).toBe('');
    expect(set.code).toBe(0);
    expect(set.out).toMatch(new RegExp(`scene ${scene}: 1 zone\\(s\\) saved as version 1 \\(gs://`));
    const text = await lookout('zones', 'get', scene);
    expect(text.code).toBe(0);
    expect(text.out).toContain('"loading bay"  4 points  no entry for person; loitering over 20 s');
    const json = await lookout('zones', 'get', scene, '--json');
    expect(json.code).toBe(0);
    const got = JSON.parse(json.out) as { version: number; zones: unknown[] };
    expect(got.version).toBe(1);
    expect(got.zones).toEqual(GOOD.zones);
    // What a cctv-attributes worker loads at each segment.
    const loaded = await loadZones(zonesStore(storage, cfg.gcs.resultsBucket), scene);
    expect(loaded?.version).toBe(1);
    expect(loaded?.doc.zones[0].name).toBe('loading bay');
  });

  it('a bad file is refused with every problem and exit 1, and nothing is stored', async () => {
    const bad = {
      zones: [
        {
          name: 'x',
          points: [
            [0.1, 0.1],
            [0.9, 0.9],
            [0.9, 0.1],
            [0.1, 0.9],
          ],
          rules: [{ type: 'no-entry', classes: ['unicorn'] }],
        },
      ],
    };
    const r = await lookout('zones', 'set', scene, '--file', file('bad.json', bad));
    expect(r.code).toBe(1);
    expect(r.err).toContain('is not a valid zones file');
    expect(r.err).toContain("zone 'x': the polygon crosses itself");
    expect(r.err).toContain(`zone 'x', rule 1 (no-entry): unknown class "unicorn"`);
    const notJson = await lookout('zones', 'set', scene, '--file', file('broken.json', '{"zones": ['));
    expect(notJson.code).toBe(1);
    expect(notJson.err).toMatch(/is not JSON/);
    const missing = await lookout('zones', 'set', scene, '--file', path.join(dir, 'nope.json'));
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/cannot read/);
    expect(JSON.parse((await lookout('zones', 'get', scene, '--json')).out).version).toBe(1);
  });

  it('clear stores an empty version; a scene never given zones has none; usage errors exit 2', async () => {
    const c = await lookout('zones', 'clear', scene, '--json');
    expect(c.code).toBe(0);
    expect(JSON.parse(c.out)).toMatchObject({ scene, version: 2, zones: [] });
    expect(JSON.parse((await lookout('zones', 'get', scene, '--json')).out)).toMatchObject({ version: 2, zones: [] });
    const none = await lookout('zones', 'get', `${scene}-none`);
    expect(none.code).toBe(0);
    expect(none.out).toContain('no zones');
    expect((await lookout('zones', 'set', scene)).code).toBe(2);
    expect((await lookout('zones', 'move', scene)).code).toBe(2);
    expect((await lookout('zones')).code).toBe(2);
    expect((await lookout('zones', '--help')).code).toBe(0);
    // A scene name the store refuses is a failure with the reason.
    const badName = await lookout('zones', 'get', 'Bad Scene');
    expect(badName.code).toBe(1);
    expect(badName.err).toMatch(/must be lowercase letters/);
  });
});
