/**
 * The default CCTV pipeline's per-frame cost without the stack: the cctv-attributes method exactly as a worker
 * loads it (CachingModelLoader, the cctv-anomaly detector profile, MobileNetV2 appearance), fitted on vtest.avi
 * frames 0-199 and run over frames 500-794 in segments of 100 frames (the bench's video workload), with an
 * in-memory object store instead of GCS. It prints the main thread's CPU per frame by step (runtime/steps.ts)
 * and what no step covers, and writes every emitted row's outputs (scores, labels, reasons, objects, uploaded
 * files' hashes) so that two commits can be compared on the same footage:
 *
 *   node -r tsx/cjs bench/cctv-frame-cost.ts --out .lookout/cctv-before.json
 *   node -r tsx/cjs bench/cctv-frame-cost.ts --out .lookout/cctv-after.json --compare .lookout/cctv-before.json
 *
 * With `node --cpu-prof` in front it is the profile the CPU ledger's "outside any step" line needs
 * (bench/profile-summary.ts summarises it).
 */
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { cutVideo } from '../cli/scene';
import type { ObjectRef } from '../core/types';
import { VTEST } from '../demo/samples';
import type { ObjectStore } from '../io/objectstore';
import type { SceneFormat, SceneStore } from '../io/scenes';
import { probeVideo, readSegment } from '../media/video';
import { cctvAttributesMethod } from '../methods/cctv-attributes';
import type { FrameAnalysis, MethodContext } from '../methods/method';
import { OnnxDetector } from '../runtime/detector';
import { RgbCropEmbedder } from '../runtime/embedder';
import { CachingModelLoader } from '../runtime/loader';
import { machineInfo } from '../runtime/machine';
import { defaultModelRepo } from '../runtime/manifest';
import { stepTotals, threadCpuNs } from '../runtime/steps';

const USAGE = `Usage: node -r tsx/cjs bench/cctv-frame-cost.ts [--out FILE.json] [--compare EARLIER.json] [--json]
    [--segment-frames N] [--threads N]

Fits the cctv-attributes method on vtest.avi frames 0-199 and analyses frames 500-794 in segments (default 100
frames), in this process, without the stack. Prints main-thread CPU ms per frame by step and the rest;
--out writes the rows' outputs and the timings; --compare checks the outputs against an earlier --out file
(exit 1 when a score differs by more than 1e-6 or anything else differs).`;

const ROOT = path.resolve(__dirname, '..');

/** Process CPU (ms, all threads) inside each model's calls: the analyzer awaits them one at a time here. */
const spent = { detector: 0, appearance: 0, crops: 0 };
function meter<A extends unknown[], R>(
  proto: { [k: string]: unknown },
  name: string,
  book: (ms: number, args: A) => void,
): void {
  const orig = proto[name] as (...a: A) => Promise<R>;
  proto[name] = async function (this: unknown, ...a: A): Promise<R> {
    const c0 = process.cpuUsage();
    try {
      return await orig.apply(this, a);
    } finally {
      const c = process.cpuUsage(c0);
      book((c.user + c.system) / 1000, a);
    }
  };
}
meter(OnnxDetector.prototype as never, 'detect', (ms) => (spent.detector += ms));
meter(RgbCropEmbedder.prototype as never, 'embedCrops', (ms, a: unknown[]) => {
  spent.appearance += ms;
  spent.crops += (a[1] as unknown[]).length;
});

type Rows = Array<Omit<FrameAnalysis, 'ms'>>;

interface Out {
  machine: ReturnType<typeof machineInfo>;
  commit: string;
  at: string;
  frames: number;
  fit: { version: number; samples: number; threshold: number };
  timing: {
    wallMsPerFrame: number;
    mainCpuMsPerFrame: number;
    processCpuMsPerFrame: number;
    steps: Record<string, { cpuMsPerFrame: number; wallMsPerFrame: number; calls: number }>;
    outsideStepsCpuMsPerFrame: number;
    /** Process CPU (all threads: onnxruntime's pool included) inside the detector's and the appearance embedder's calls. */
    detectorCpuMsPerFrame: number;
    appearanceCpuMsPerFrame: number;
    cropsPerFrame: number;
  };
  /** sha256 of the rows' JSON: equal hashes, bit-identical rows. The rows themselves: FILE.rows.json beside --out. */
  rowsSha256: string;
  rows?: Rows;
  uploads: Record<string, string>;
}

/** A bucket in memory: what the method uploads (annotated JPEGs, clips, observations) and reads back. */
class MemoryStore implements ObjectStore {
  readonly objects = new Map<string, Buffer>();
  async download(ref: Pick<ObjectRef, 'bucket' | 'name' | 'generation'>): Promise<Buffer> {
    const b = this.objects.get(`${ref.bucket}/${ref.name}`);
    if (!b) throw new Error(`no object ${ref.bucket}/${ref.name}`);
    return b;
  }
  async upload(bucket: string, name: string, data: Buffer): Promise<void> {
    this.objects.set(`${bucket}/${name}`, Buffer.from(data));
  }
}

/** One scene, in memory, in the method's format (save → parse, as the real store round-trips it). */
function memoryScenes<T>(format: SceneFormat<T>): SceneStore<T> {
  const versions: T[] = [];
  return {
    async load() {
      if (!versions.length) throw new Error('no scene fitted');
      return { model: versions[versions.length - 1], version: versions.length };
    },
    // The method asks for the newest version of its scene's zones (none here: no zone, no rule).
    async latestVersion() {
      return versions.length || undefined;
    },
    async save(_scene: string, bytes: Buffer) {
      versions.push(format.parse(bytes, 'memory'));
      return { version: versions.length, uri: `memory://${versions.length}` };
    },
  } as unknown as SceneStore<T>;
}

function segments(frames: number, size: number): Array<{ start: number; end: number }> {
  const out = [];
  for (let s = 0; s < frames; s += size) out.push({ start: s, end: Math.min(frames, s + size) });
  return out;
}

/** Differences between two runs' rows: scores within 1e-6, everything else equal. */
export function compareRows(a: Rows, b: Rows, tol = 1e-6): string[] {
  const diffs: string[] = [];
  if (a.length !== b.length) diffs.push(`${a.length} rows vs ${b.length}`);
  const close = (x: unknown, y: unknown, where: string): void => {
    if (typeof x === 'number' && typeof y === 'number') {
      if (!(Math.abs(x - y) <= tol || (Number.isNaN(x) && Number.isNaN(y)))) diffs.push(`${where}: ${x} vs ${y}`);
    } else if (Array.isArray(x) && Array.isArray(y)) {
      if (x.length !== y.length) diffs.push(`${where}: ${x.length} items vs ${y.length}`);
      else x.forEach((v, i) => close(v, y[i], `${where}[${i}]`));
    } else if (x && y && typeof x === 'object' && typeof y === 'object') {
      const keys = new Set([...Object.keys(x), ...Object.keys(y)]);
      for (const k of keys)
        close((x as Record<string, unknown>)[k], (y as Record<string, unknown>)[k], `${where}.${k}`);
    } else if (x !== y) diffs.push(`${where}: ${JSON.stringify(x)} vs ${JSON.stringify(y)}`);
  };
  for (let i = 0; i < Math.min(a.length, b.length); i++) close(a[i], b[i], `row ${i} (frame ${a[i].frame})`);
  return diffs;
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(USAGE);
    return;
  }
  const opt = (flag: string) => (argv.indexOf(flag) >= 0 ? argv[argv.indexOf(flag) + 1] : undefined);
  const known = ['--out', '--compare', '--json', '--segment-frames', '--threads'];
  const bad = argv.filter((a) => a.startsWith('--') && !known.includes(a));
  if (bad.length) {
    console.error(`unknown option ${bad.join(', ')}\n${USAGE}`);
    process.exit(2);
  }
  const json = argv.includes('--json');
  const segFrames = Number(opt('--segment-frames') ?? 100);
  const threads = opt('--threads') ? Number(opt('--threads')) : undefined;
  if (!(Number.isInteger(segFrames) && segFrames >= 1) || (threads !== undefined && !(threads >= 1))) {
    console.error(`bad --segment-frames or --threads\n${USAGE}`);
    process.exit(2);
  }
  const log = (s: string) => process.stderr.write(`${s}\n`);
  const work = path.join(ROOT, '.lookout', 'cctv-frame-cost');
  const normal = cutVideo(VTEST, path.join(work, 'normal-0-199.avi'), 0, 200);
  const clip = cutVideo(VTEST, path.join(work, 'clip-500-794.avi'), 500, 795);

  const store = new MemoryStore();
  const models = new CachingModelLoader({ repo: defaultModelRepo(ROOT), pool: 'cpu', threads });
  const ctx: MethodContext = {
    models,
    store,
    sceneStore: memoryScenes,
    resultsBucket: 'results',
    maxObjectBytes: 1 << 30,
    loadImage: async () => {
      throw new Error('no images here');
    },
    heartbeat: () => {},
  };
  const m = await cctvAttributesMethod.load(ctx);
  const ref = (name: string): ObjectRef => ({
    bucket: 'inbox',
    name,
    generation: '1',
    size: fs.statSync(path.join(work, name)).size,
    contentType: 'video/x-msvideo',
    timeCreated: '2026-01-01T00:00:00Z',
  });

  // Fit: the bench's `lookout fit` (every frame, k 8, seed 7, quantile 0.97), observed in segments.
  const t0 = performance.now();
  const nInfo = await probeVideo(normal);
  const refs = [];
  let state: unknown;
  for (const [i, r] of segments(nInfo.frames, segFrames).entries()) {
    const seg = { ...r, stride: 1 };
    const o = await m.observeSegment!(
      {
        video: ref('normal-0-199.avi'),
        scene: 'bench',
        fps: nInfo.fps,
        width: nInfo.width,
        height: nInfo.height,
        segment: seg,
      },
      readSegment(normal, seg, nInfo),
      state,
      `bench/s${i}`,
    );
    state = o.state;
    refs.push(o.ref);
  }
  const fit = await m.fitScene!('bench', refs, { k: 8, seed: 7, quantile: 0.97 });
  log(`fitted on ${nInfo.frames} frames: ${fit.samples} objects in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // Analyse: as the worker's analyzeSegment activity does, segment after segment with the carried state.
  const info = await probeVideo(clip);
  const before = new Set(store.objects.keys());
  const rows: Rows = [];
  const m0 = { ...spent };
  const s0 = stepTotals();
  const c0 = threadCpuNs();
  const p0 = process.cpuUsage();
  const w0 = performance.now();
  state = undefined;
  for (const r of segments(info.frames, segFrames)) {
    const seg = { ...r, stride: 1 };
    const res = await m.analyzeSegment!(
      {
        video: ref('clip-500-794.avi'),
        scene: 'bench',
        fps: info.fps,
        width: info.width,
        height: info.height,
        segment: seg,
        totalFrames: info.frames,
      },
      readSegment(clip, seg, info),
      state,
      async (f) => {
        const { ms: _ms, ...rest } = f;
        rows.push(JSON.parse(JSON.stringify(rest)));
      },
    );
    state = JSON.parse(JSON.stringify(res.state)); // it travels through Temporal as JSON
  }
  const wall = performance.now() - w0;
  const mainCpu = (threadCpuNs() - c0) / 1e6;
  const p1 = process.cpuUsage(p0);
  const s1 = stepTotals();
  const n = rows.filter((r) => r.rowKind !== 'alert').length;
  const steps: Out['timing']['steps'] = {};
  let inSteps = 0;
  for (const [k, v] of Object.entries(s1)) {
    const was = s0[k as keyof typeof s0];
    const cpu = ((v.cpuS - was.cpuS) * 1000) / n;
    inSteps += cpu;
    steps[k] = { cpuMsPerFrame: cpu, wallMsPerFrame: ((v.wallS - was.wallS) * 1000) / n, calls: v.calls - was.calls };
  }
  const uploads: Record<string, string> = {};
  for (const [k, v] of store.objects)
    if (!before.has(k) && !k.endsWith('.mp4')) uploads[k] = crypto.createHash('sha256').update(v).digest('hex');
  // Clips: libx264's bytes can vary with its threads' timing; their names are compared instead.
  for (const [k, v] of store.objects)
    if (!before.has(k) && k.endsWith('.mp4')) uploads[k] = `mp4, ${v.length > 0 ? 'not empty' : 'empty'}`;
  const out: Out = {
    machine: machineInfo(),
    commit: (() => {
      try {
        return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT }).toString().trim();
      } catch {
        return 'unknown';
      }
    })(),
    at: new Date().toISOString(),
    frames: n,
    fit: { version: fit.version, samples: fit.samples, threshold: fit.threshold },
    timing: {
      wallMsPerFrame: wall / n,
      mainCpuMsPerFrame: mainCpu / n,
      processCpuMsPerFrame: (p1.user + p1.system) / 1000 / n,
      steps,
      outsideStepsCpuMsPerFrame: mainCpu / n - inSteps,
      detectorCpuMsPerFrame: (spent.detector - m0.detector) / n,
      appearanceCpuMsPerFrame: (spent.appearance - m0.appearance) / n,
      cropsPerFrame: (spent.crops - m0.crops) / n,
    },
    rowsSha256: crypto.createHash('sha256').update(JSON.stringify(rows)).digest('hex'),
    uploads,
  };
  const f2 = (x: number) => x.toFixed(2);
  log(
    `${n} frames (+${rows.length - n} alert rows): ${f2(out.timing.wallMsPerFrame)} ms wall, ${f2(out.timing.processCpuMsPerFrame)} ms process CPU, ${f2(out.timing.mainCpuMsPerFrame)} ms main-thread CPU per frame`,
  );
  for (const [k, v] of Object.entries(steps))
    log(
      `  step ${k.padEnd(22)} main-thread CPU ${f2(v.cpuMsPerFrame).padStart(7)}  wall ${f2(v.wallMsPerFrame).padStart(7)}  calls ${v.calls}`,
    );
  log(`  outside the steps        main-thread CPU ${f2(out.timing.outsideStepsCpuMsPerFrame).padStart(7)}`);
  log(
    `  process CPU (all threads) while a detection was pending ${f2(out.timing.detectorCpuMsPerFrame)}, while an embedding was ${f2(out.timing.appearanceCpuMsPerFrame)} (${f2(out.timing.cropsPerFrame)} crops per frame; the next frame's detection overlaps this frame's embedding, so the two overlap)`,
  );
  const file = opt('--out');
  if (file) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
    fs.writeFileSync(file, JSON.stringify(out, null, 1));
    fs.writeFileSync(file.replace(/\.json$/, '') + '.rows.json', JSON.stringify(rows));
    log(`wrote ${file}`);
  }
  if (json) console.log(JSON.stringify(out));
  await models.close();
  const cmp = opt('--compare');
  if (cmp) {
    const was = JSON.parse(fs.readFileSync(cmp, 'utf8')) as Out;
    was.rows ??= JSON.parse(fs.readFileSync(cmp.replace(/\.json$/, '') + '.rows.json', 'utf8')) as Rows;
    const diffs = compareRows(was.rows!, rows);
    for (const [k, v] of Object.entries(was.uploads))
      if (uploads[k] !== v) diffs.push(`upload ${k}: ${v} vs ${uploads[k] ?? 'missing'}`);
    for (const k of Object.keys(uploads)) if (!(k in was.uploads)) diffs.push(`upload ${k}: new`);
    if (was.fit.samples !== fit.samples || Math.abs(was.fit.threshold - fit.threshold) > 1e-6)
      diffs.push(`fit ${JSON.stringify(was.fit)} vs ${JSON.stringify(out.fit)}`);
    if (diffs.length) {
      log(`outputs differ from ${cmp} (${diffs.length}):\n  ${diffs.slice(0, 30).join('\n  ')}`);
      process.exit(1);
    }
    const exact = JSON.stringify(was.rows) === JSON.stringify(rows);
    log(
      `outputs identical to ${cmp}: ${rows.length} rows (${exact ? 'bit-identical' : 'scores within 1e-6'}), ${Object.keys(uploads).length} uploads, the fit`,
    );
  }
}

if (require.main === module)
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
