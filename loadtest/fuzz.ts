/**
 * Fuzzing through the pipeline: real JPEG, PNG, TIFF and MP4 files, mutated (bit flips, boundary bytes,
 * truncation, spliced or zeroed runs, header damage, trailing junk), uploaded with random metadata strings
 * (pipeline and scene names, long, control, prototype and path-like strings) and content types that may lie.
 * Every case must be accounted for by a row (a failed row with a stable error class is the right answer to
 * a broken file) or a dead letter naming it; no Lookout process may die, no workflow may stay running, and
 * the worker's peak memory (VmHWM) must stay under a stated cap. Deterministic for a given seed.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { BigQuery } from '@google-cloud/bigquery';
import type { Storage } from '@google-cloud/storage';
import type { Client } from '@temporalio/client';
import type { NatsConnection } from 'nats';
import type { LookoutConfig } from '../config';
import { PIPELINES } from '../core/pipelines';
import { query } from '../io/query';
import { tableRef } from '../io/results';
import { readDeadLetters } from '../io/streams';
import { isAlive, readPid } from '../infra/procs';
import { appsFor } from '../infra/stack';
import { mulberry32 } from '../core/random';

export type SeedKind = 'jpeg' | 'png' | 'tiff' | 'mp4';
export const MUTATIONS = [
  'none',
  'bitflip',
  'boundary',
  'truncate',
  'splice',
  'zero-run',
  'header',
  'junk-tail',
] as const;
export type Mutation = (typeof MUTATIONS)[number];

export interface Seed {
  kind: SeedKind;
  file: string;
  contentType: string;
}

export interface FuzzCase {
  /** Object name under the run's prefix. */
  name: string;
  kind: SeedKind;
  mutation: Mutation;
  contentType: string;
  metadata: Record<string, string>;
  data: Buffer;
}

/** The cases' seeded generator: core/random's mulberry32 (small, fast, seedable). */
export const rng = mulberry32;

const pick = <T>(r: () => number, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
const int = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

/** Applies one mutation. The result may be empty or carry impossible header fields; never longer than the seed + 64 KiB. */
export function mutate(src: Buffer, m: Mutation, r: () => number): Buffer {
  const b = Buffer.from(src);
  const n = b.length;
  if (n === 0) return b;
  switch (m) {
    case 'none':
      return b;
    case 'bitflip':
      for (let i = int(r, 1, 32); i > 0; i--) {
        const at = int(r, 0, n - 1);
        b[at] ^= 1 << int(r, 0, 7);
      }
      return b;
    case 'boundary':
      // Values that break length and size fields: 0, 1, 0x7f, 0x80, 0xff.
      for (let i = int(r, 1, 8); i > 0; i--) b[int(r, 0, n - 1)] = pick(r, [0x00, 0x01, 0x7f, 0x80, 0xff]);
      return b;
    case 'truncate':
      return b.subarray(0, int(r, 0, n - 1));
    case 'splice': {
      const from = int(r, 0, n - 1);
      const len = int(r, 1, Math.min(4096, n - from));
      const at = int(r, 0, n);
      return Buffer.concat([b.subarray(0, at), b.subarray(from, from + len), b.subarray(at)]);
    }
    case 'zero-run': {
      const from = int(r, 0, n - 1);
      b.fill(0, from, Math.min(n, from + int(r, 16, 8192)));
      return b;
    }
    case 'header':
      // The first 64 bytes hold magic numbers, dimensions, box sizes and IFD offsets in all four formats.
      for (let i = int(r, 1, 6); i > 0; i--) b[int(r, 0, Math.min(63, n - 1))] = int(r, 0, 255);
      return b;
    case 'junk-tail': {
      const junk = Buffer.alloc(int(r, 1, 65536));
      for (let i = 0; i < junk.length; i++) junk[i] = int(r, 0, 255);
      return Buffer.concat([b, junk]);
    }
  }
}

/** Hostile strings for metadata values (GCS keeps metadata as strings; NUL is not allowed in headers). */
const NASTY = [
  '',
  ' ',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  '../../../etc/passwd',
  'objects; DROP TABLE analyses; --',
  '\'"`',
  '${jndi:ldap://x}',
  '%s%s%s%n',
  'ümlaut-ß-日本語-🙂',
  '\u202eevil',
  'a'.repeat(1024),
  'A-Z_UPPER',
  '-leading-dash',
  'cctv-anomaly',
  'objects',
  'cctv-ocae',
  'no-such-pipeline',
  '0',
  '-1',
  'NaN',
  '1e309',
  'null',
  'undefined',
  'true',
  '[]',
  '{}',
];

function randomString(r: () => number): string {
  if (r() < 0.6) return pick(r, NASTY);
  const len = int(r, 1, 64);
  let s = '';
  for (let i = 0; i < len; i++) {
    const c = r() < 0.8 ? int(r, 0x20, 0x7e) : pick(r, [0x09, 0xe9, 0x4e2d, 0x1f600, 0x200b, 0xfeff]);
    s += String.fromCodePoint(c);
  }
  return s;
}

const TYPES: Record<SeedKind, string> = { jpeg: 'image/jpeg', png: 'image/png', tiff: 'image/tiff', mp4: 'video/mp4' };
const EXT: Record<SeedKind, string> = { jpeg: 'jpg', png: 'png', tiff: 'tif', mp4: 'mp4' };

/** Random metadata: pipeline, scene and free keys; sometimes none at all. */
export function randomMetadata(r: () => number): Record<string, string> {
  const md: Record<string, string> = {};
  if (r() < 0.15) md['lookout-pipeline'] = randomString(r);
  if (r() < 0.25) md['lookout-scene'] = randomString(r);
  if (r() < 0.1) md['lookout-run'] = randomString(r);
  if (r() < 0.2) md[pick(r, ['x-note', 'camera', 'constructor', '__proto__', 'lookout-unknown'])] = randomString(r);
  return md;
}

/** Makes `count` cases from the seeds, round-robin over kinds, each with a mutation and random metadata. */
export function makeCases(seeds: Seed[], count: number, seed: number, runPrefix: string): FuzzCase[] {
  const r = rng(seed);
  const datas = seeds.map((s) => ({ ...s, data: fs.readFileSync(s.file) }));
  const out: FuzzCase[] = [];
  for (let i = 0; i < count; i++) {
    const s = datas[i % datas.length];
    const mutation = i < datas.length ? 'none' : pick(r, MUTATIONS.slice(1));
    // One in eight lies about its type (a PNG sent as image/jpeg, a video as an image...).
    const contentType =
      r() < 0.125 ? pick(r, [...Object.values(TYPES), 'application/octet-stream', 'text/plain']) : TYPES[s.kind];
    out.push({
      name: `${runPrefix}${String(i).padStart(5, '0')}-${s.kind}-${mutation}.${EXT[s.kind]}`,
      kind: s.kind,
      mutation,
      contentType,
      metadata: randomMetadata(r),
      data: mutate(s.data, mutation, r),
    });
  }
  return out;
}

/**
 * Real seed files: JPEG frames of the OpenCV sample video, PNGs of OpenCV's sample data, a TIFF and a short
 * MP4 made from them with ffmpeg. Small on purpose (hundreds of cases must pass on two cores).
 */
export function makeSeeds(dir: string, opencvData = '/usr/share/doc/opencv-doc/examples/data'): Seed[] {
  fs.mkdirSync(dir, { recursive: true });
  const video = path.join(opencvData, 'vtest.avi');
  const ff = (args: string[]) => execFileSync('ffmpeg', ['-v', 'error', '-y', ...args], { stdio: 'pipe' });
  const seeds: Seed[] = [];
  for (const [i, t] of [1, 9, 21].entries()) {
    const f = path.join(dir, `frame${i}.jpg`);
    if (!fs.existsSync(f))
      ff(['-ss', String(t), '-i', video, '-frames:v', '1', '-vf', 'scale=384:288', '-q:v', '4', f]);
    seeds.push({ kind: 'jpeg', file: f, contentType: TYPES.jpeg });
  }
  for (const name of ['pic1.png', 'templ.png', 'opencv-logo-white.png']) {
    const f = path.join(opencvData, name);
    if (fs.existsSync(f)) seeds.push({ kind: 'png', file: f, contentType: TYPES.png });
  }
  const tif = path.join(dir, 'frame.tif');
  if (!fs.existsSync(tif)) ff(['-ss', '5', '-i', video, '-frames:v', '1', '-vf', 'scale=256:192', tif]);
  seeds.push({ kind: 'tiff', file: tif, contentType: TYPES.tiff });
  const mp4 = path.join(dir, 'clip.mp4');
  if (!fs.existsSync(mp4))
    ff([
      '-ss',
      '3',
      '-t',
      '1',
      '-i',
      video,
      '-vf',
      'scale=320:240',
      '-an',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-movflags',
      '+faststart',
      mp4,
    ]);
  seeds.push({ kind: 'mp4', file: mp4, contentType: TYPES.mp4 });
  return seeds;
}

/** Peak resident memory of a process (VmHWM), MiB; undefined if it cannot be read. */
export function peakRssMb(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

export interface FuzzClients {
  cfg: LookoutConfig;
  storage: Storage;
  bq: BigQuery;
  nc: NatsConnection;
  temporal: Client;
}

export interface CaseOutcome {
  name: string;
  kind: SeedKind;
  mutation: Mutation;
  /** 'row' (with status and error class), 'dead-letter', 'refused-upload' (GCS would not take it), or 'none'. */
  outcome: 'row' | 'dead-letter' | 'refused-upload' | 'none';
  /** Rows in the table for this input (raw, every physical row), and the distinct analyses (workflow ids) among them. */
  rows: number;
  analyses?: number;
  /** Whether a dead letter names this input (with a row as well, the input was both analysed and dead-lettered). */
  deadLettered?: boolean;
  status?: string;
  errorClass?: string | null;
  reason?: string;
}

export interface FuzzReport {
  cases: number;
  uploaded: number;
  refusedUploads: number;
  rowsOk: number;
  rowsFailed: number;
  deadLetters: number;
  unaccounted: number;
  /** Workflows still running once every case was accounted for (or at the deadline). */
  stuckWorkflows: number;
  /** Lookout processes that died or were replaced during the run. */
  crashed: string[];
  workerPeakRssMb: number | undefined;
  errorClasses: Record<string, number>;
  outcomes: CaseOutcome[];
  minutes: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Uploads the cases and waits until each is accounted for and no workflow runs; see the module comment. */
export async function runFuzz(
  c: FuzzClients,
  cases: FuzzCase[],
  prefix: string,
  opts: { timeoutMs: number; log?: (l: string) => void },
): Promise<FuzzReport> {
  const { cfg } = c;
  const log = opts.log ?? (() => {});
  const t0 = Date.now();
  // The stack's long-running apps: the ingest app `lookout up` chose (Pub/Sub subscriber or watcher), dispatcher, worker.
  const apps = appsFor(cfg);
  const pids = Object.fromEntries(apps.map((a) => [a, readPid(cfg.home, a)]));
  const workerPid = pids['worker-cpu'];
  let peak: number | undefined;
  const sampler = setInterval(() => {
    if (workerPid) peak = peakRssMb(workerPid) ?? peak;
  }, 1000);
  const outcomes = new Map<string, CaseOutcome>(
    cases.map((k) => [k.name, { name: k.name, kind: k.kind, mutation: k.mutation, outcome: 'none' as const, rows: 0 }]),
  );
  const bucket = c.storage.bucket(cfg.gcs.bucket);
  let next = 0;
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      for (;;) {
        const k = cases[next++];
        if (!k) return;
        try {
          await bucket
            .file(k.name)
            .save(k.data, { resumable: false, contentType: k.contentType, metadata: { metadata: k.metadata } });
        } catch (err) {
          Object.assign(outcomes.get(k.name)!, {
            outcome: 'refused-upload',
            reason: String((err as Error).message).slice(0, 200),
          });
        }
      }
    }),
  );
  log(`fuzz: ${cases.length} cases uploaded in ${((Date.now() - t0) / 1000).toFixed(0)} s`);
  const deadline = Date.now() + opts.timeoutMs;
  let running: number | undefined;
  for (;;) {
    try {
      const rows = await query<{
        name: string;
        n: number;
        analyses: number;
        status: string;
        error_class: string | null;
      }>(
        c.bq,
        `SELECT name, COUNT(*) AS n, COUNT(DISTINCT workflow_id) AS analyses, MIN(status) AS status, MIN(error_class) AS error_class FROM ${tableRef(cfg)} WHERE STARTS_WITH(name, @prefix) GROUP BY name`,
        { prefix },
      );
      // A video analysed frame by frame (cctv-ocae) has its rows under its frames' names,
      // frames/<bucket>/<video name>#<generation>/f<t>.jpg: count them for the video.
      const frameRows = await query<{
        name: string;
        n: number;
        analyses: number;
        status: string;
        error_class: string | null;
      }>(
        c.bq,
        `SELECT REGEXP_EXTRACT(name, r'^frames/[^/]+/(.*)#[0-9]+/f[0-9]+[.]jpg$') AS name, COUNT(*) AS n, COUNT(DISTINCT workflow_id) AS analyses, MIN(status) AS status, MIN(error_class) AS error_class FROM ${tableRef(cfg)} WHERE STARTS_WITH(name, @framePrefix) GROUP BY 1`,
        { framePrefix: `frames/${cfg.gcs.bucket}/${prefix}` },
      );
      for (const r of [...rows, ...frameRows]) {
        const o = outcomes.get(r.name);
        if (o && o.outcome !== 'refused-upload')
          Object.assign(o, {
            outcome: 'row',
            rows: Number(r.n),
            analyses: Number(r.analyses),
            status: r.status,
            errorClass: r.error_class,
          });
      }
      for (const d of await readDeadLetters(c.nc, cfg)) {
        for (const o of outcomes.values()) {
          if (!d.payload.includes(o.name)) continue;
          o.deadLettered = true;
          if (o.outcome === 'none') Object.assign(o, { outcome: 'dead-letter', reason: d.reason.slice(0, 200) });
        }
      }
    } catch (err) {
      log(`fuzz: counting failed (${(err as Error).message}); again`);
    }
    const open = [...outcomes.values()].filter((o) => o.outcome === 'none').length;
    // This run's workflows only (any pipeline: the metadata may name one), so other work on a shared stack does not count.
    const mine = [...PIPELINES.keys()]
      .map((p) => `WorkflowId STARTS_WITH "${p}:${cfg.gcs.bucket}/${prefix}"`)
      .join(' OR ');
    running = await c.temporal.workflow.count(`ExecutionStatus="Running" AND (${mine})`).then(
      (x) => x.count,
      () => undefined,
    );
    if ((open === 0 && running === 0) || Date.now() > deadline) break;
    log(`fuzz: ${cases.length - open}/${cases.length} accounted, ${running ?? '?'} workflows running`);
    await sleep(5000);
  }
  clearInterval(sampler);
  if (workerPid) peak = peakRssMb(workerPid) ?? peak;
  const all = [...outcomes.values()];
  const errorClasses: Record<string, number> = {};
  for (const o of all)
    if (o.outcome === 'row' && o.status !== 'ok')
      errorClasses[o.errorClass ?? '(none)'] = (errorClasses[o.errorClass ?? '(none)'] ?? 0) + 1;
  return {
    cases: cases.length,
    uploaded: all.filter((o) => o.outcome !== 'refused-upload').length,
    refusedUploads: all.filter((o) => o.outcome === 'refused-upload').length,
    rowsOk: all.filter((o) => o.outcome === 'row' && o.status === 'ok').length,
    rowsFailed: all.filter((o) => o.outcome === 'row' && o.status !== 'ok').length,
    deadLetters: all.filter((o) => o.outcome === 'dead-letter').length,
    unaccounted: all.filter((o) => o.outcome === 'none').length,
    stuckWorkflows: running ?? -1,
    crashed: apps.filter((a) => readPid(cfg.home, a) !== pids[a] || !isAlive(pids[a])),
    workerPeakRssMb: peak === undefined ? undefined : Math.round(peak),
    errorClasses,
    outcomes: all,
    minutes: Number(((Date.now() - t0) / 60_000).toFixed(1)),
  };
}
