/**
 * The fuzzing corpus as regression tests (made by `npm run fuzz -- --save-corpus`, see loadtest/fuzz.ts):
 * each kept case — a mutated JPEG/PNG/TIFF/MP4 with the metadata it was sent with — is uploaded again and
 * must be accounted for as it was when saved: a row with the same status and error class, or a dead letter.
 * No Lookout process may die and no workflow may be left running.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { readPid } from '../../infra/procs';
import { runFuzz, type FuzzCase, type Mutation, type SeedKind } from '../../loadtest/fuzz';
import { bq, cfg, storage, uniqueRun, withNats, withTemporal } from './helpers';

interface Entry {
  file: string;
  kind: SeedKind;
  mutation: Mutation;
  contentType: string;
  metadata: Record<string, string>;
  outcome: string;
  status?: string;
  errorClass?: string | null;
}

const DIR = path.join(__dirname, '..', 'fixtures', 'fuzz');
const manifest = JSON.parse(fs.readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as Entry[];

describe('fuzz corpus', () => {
  it(`${manifest.length} kept cases each end as they did when found: same row status and error class, or a dead letter`, async () => {
    expect(manifest.length).toBeGreaterThan(0);
    const prefix = `fuzz-corpus/${uniqueRun('fz')}/`;
    const cases: FuzzCase[] = manifest.map((m) => ({ name: `${prefix}${m.file}`, kind: m.kind, mutation: m.mutation, contentType: m.contentType, metadata: m.metadata, data: fs.readFileSync(path.join(DIR, m.file)) }));
    const worker = readPid(cfg.home, 'worker-cpu');
    const rep = await withNats((nc) => withTemporal((temporal) => runFuzz({ cfg, storage, bq, nc, temporal }, cases, prefix, { timeoutMs: 600_000, log: (l) => process.stderr.write(`[fuzz] ${l}\n`) })));
    expect(rep.unaccounted).toBe(0);
    expect(rep.stuckWorkflows).toBe(0);
    expect(rep.crashed).toEqual([]);
    expect(readPid(cfg.home, 'worker-cpu')).toBe(worker);
    // Cases saved as unaccounted ('none') must now be accounted for; the others must end exactly as they did.
    const got = rep.outcomes.map((o, i) => (manifest[i].outcome === 'none' ? { file: path.basename(o.name), accounted: o.outcome !== 'none' } : { file: path.basename(o.name), outcome: o.outcome, status: o.status, errorClass: o.errorClass ?? null }));
    const want = manifest.map((m) => (m.outcome === 'none' ? { file: m.file, accounted: true } : { file: m.file, outcome: m.outcome, status: m.status, errorClass: m.errorClass ?? null }));
    expect(got).toEqual(want);
  }, 900_000);
});
