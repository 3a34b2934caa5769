/**
 * The fuzzing corpus (made by `npm run fuzz -- --save-corpus`, see loadtest/fuzz.ts): each kept case — a mutated
 * JPEG/PNG/TIFF/MP4 with the metadata it was sent with — is uploaded again.
 *
 * Properties that hold for every input, whatever the code answers (these are the test's point):
 * - exactly one outcome: a row or a dead letter, never neither and never both;
 * - a JPEG or PNG sent as an image (no video or TIFF content type, no pipeline named) gives exactly one row;
 *   no input has two physical rows for one analysis;
 * - a failed row names its error class, one of the classes Lookout throws for bad input or a missing setup
 *   (KNOWN_FAILURES), never a generic Error / TypeError / timeout, and a dead letter says why;
 * - no workflow of the run is left running, no Lookout process dies, the worker's peak memory stays under a cap.
 * The manifest's outcome per case (which row status, which error class) is a regression record: it was written
 * from what the code answered when the case was found, so it is compared too, but it proves nothing alone.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BAD_INPUT_CLASSES } from '../../core/errors';
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

/**
 * Error classes a broken or oddly labelled input may end in: every bad-input class, and the setup classes that
 * random metadata can reach (a scene that was never fitted or does not fit the video, a pipeline of another kind).
 */
const KNOWN_FAILURES = new Set<string>([
  ...BAD_INPUT_CLASSES,
  'SceneModelMissing',
  'SceneModelInvalid',
  'SceneModelMismatch',
  'InvalidScene',
  'NotAVideoMethod',
  'NotAnObjectMethod',
  'NotARasterMethod',
]);
/** The worker's peak resident memory (VmHWM) must stay under this, as `npm run fuzz`'s default --rss-cap-mb. */
const RSS_CAP_MB = 3072;

const DIR = path.join(__dirname, '..', 'fixtures', 'fuzz');
const manifest = JSON.parse(fs.readFileSync(path.join(DIR, 'manifest.json'), 'utf8')) as Entry[];

describe('fuzz corpus', () => {
  it(`${manifest.length} kept cases each end as they did when found: same row status and error class, or a dead letter`, async () => {
    expect(manifest.length).toBeGreaterThan(0);
    const prefix = `fuzz-corpus/${uniqueRun('fz')}/`;
    const cases: FuzzCase[] = manifest.map((m) => ({
      name: `${prefix}${m.file}`,
      kind: m.kind,
      mutation: m.mutation,
      contentType: m.contentType,
      metadata: m.metadata,
      data: fs.readFileSync(path.join(DIR, m.file)),
    }));
    const worker = readPid(cfg.home, 'worker-cpu');
    const rep = await withNats((nc) =>
      withTemporal((temporal) =>
        runFuzz({ cfg, storage, bq, nc, temporal }, cases, prefix, {
          timeoutMs: 600_000,
          log: (l) => process.stderr.write(`[fuzz] ${l}\n`),
        }),
      ),
    );
    expect(rep.unaccounted).toBe(0);
    expect(rep.stuckWorkflows).toBe(0);
    expect(rep.crashed).toEqual([]);
    expect(readPid(cfg.home, 'worker-cpu')).toBe(worker);
    expect(rep.workerPeakRssMb).toBeDefined();
    expect(rep.workerPeakRssMb!).toBeLessThan(RSS_CAP_MB);
    // The properties, per input (a list of violations, so a failure names every case at once).
    const violations: string[] = [];
    for (const [i, o] of rep.outcomes.entries()) {
      const file = path.basename(o.name);
      const m = manifest[i];
      const stillImage =
        (m.kind === 'jpeg' || m.kind === 'png') &&
        !/^(video\/|image\/tiff)/.test(m.contentType) &&
        !m.metadata['lookout-pipeline'];
      if (o.outcome === 'none') violations.push(`${file}: neither a row nor a dead letter`);
      if (o.outcome === 'row' && o.deadLettered) violations.push(`${file}: a row and a dead letter`);
      if (o.outcome === 'row' && stillImage && o.rows !== 1)
        violations.push(`${file}: ${o.rows} rows for one still image`);
      if (o.outcome === 'row' && o.rows !== o.analyses)
        violations.push(`${file}: ${o.rows} rows for ${o.analyses} analyses`);
      if (o.outcome === 'row' && o.status !== 'ok' && !KNOWN_FAILURES.has(o.errorClass ?? ''))
        violations.push(`${file}: failed with error class ${o.errorClass ?? '(none)'}`);
      if (o.outcome === 'dead-letter' && !o.reason) violations.push(`${file}: dead letter without a reason`);
    }
    expect(violations).toEqual([]);
    // Cases saved as unaccounted ('none') must now be accounted for; the others must end exactly as they did.
    const got = rep.outcomes.map((o, i) =>
      manifest[i].outcome === 'none'
        ? { file: path.basename(o.name), accounted: o.outcome !== 'none' }
        : { file: path.basename(o.name), outcome: o.outcome, status: o.status, errorClass: o.errorClass ?? null },
    );
    const want = manifest.map((m) =>
      m.outcome === 'none'
        ? { file: m.file, accounted: true }
        : { file: m.file, outcome: m.outcome, status: m.status, errorClass: m.errorClass ?? null },
    );
    expect(got).toEqual(want);
  }, 900_000);
});
