/**
 * Client side of the cctv-anomaly pipeline: fitting a scene from normal
 * footage, analysing a video and waiting for its frame rows, and the demo
 * data cut from vtest.avi.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { Storage } from '@google-cloud/storage';
import type { FitSceneResult } from '../activities/types';
import { Progress } from './args';
import { WorkflowStarter } from '../io/starter';
import type { LookoutConfig } from '../config';
import { resolvePipeline } from '../core/pipelines';
import { methodOfPipeline } from '../methods/registry';
import { checkScene } from '../io/scenes';
import type { ObjectRef } from '../core/types';
import { VTEST } from '../demo/samples';
import type { FitSceneInput, RefitScenesInput, RefitScenesResult, VideoProgress } from '../core/workflows';

/** Cuts frames [from, to) of a video into a new MJPEG AVI (near-lossless, quick to decode). */
export function cutVideo(src: string, dst: string, from: number, to: number): string {
  if (!fs.existsSync(dst)) {
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    execFileSync(
      'ffmpeg',
      [
        '-v',
        'error',
        '-y',
        '-i',
        src,
        '-vf',
        `select=between(n\\,${from}\\,${to - 1}),setpts=PTS-STARTPTS`,
        '-fps_mode',
        'passthrough',
        '-c:v',
        'mjpeg',
        '-q:v',
        '2',
        '-an',
        dst,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
  }
  return dst;
}

/** vtest.avi split: frames 0-499 are the normal footage the scene is fitted on, 500-794 are analysed. */
export function vtestParts(dir: string): { normal: string; test: string; split: number } {
  if (!fs.existsSync(VTEST)) throw new Error(`${VTEST} not found: install Debian's opencv-doc (infra/install.sh does)`);
  return {
    normal: cutVideo(VTEST, path.join(dir, 'vtest-normal-0-499.avi'), 0, 500),
    test: cutVideo(VTEST, path.join(dir, 'vtest-test-500-794-v2.avi'), 500, 795),
    split: 500,
  };
}

/** Resolves gs:// URIs or local files (uploaded under normal/<scene>/, marked derived so they are not analysed) to object refs. */
export async function resolveSources(
  storage: Storage,
  cfg: LookoutConfig,
  scene: string,
  sources: string[],
  metadata: Record<string, string> = {},
): Promise<ObjectRef[]> {
  const refs: ObjectRef[] = [];
  for (const src of sources) {
    let bucket: string;
    let name: string;
    if (src.startsWith('gs://')) {
      const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(src);
      if (!m) throw new Error(`not a gs://bucket/object URI: ${src}`);
      [bucket, name] = [m[1], m[2]];
    } else {
      if (!fs.existsSync(src)) throw new Error(`no such file: ${src}`);
      bucket = cfg.gcs.bucket;
      name = `normal/${scene}/${path.basename(src)}`;
      await storage.bucket(bucket).upload(src, {
        destination: name,
        resumable: false,
        contentType: 'video/x-msvideo',
        metadata: { metadata: { 'lookout-derived': 'normal-footage', ...metadata } },
      });
    }
    const [md] = await storage
      .bucket(bucket)
      .file(name)
      .getMetadata()
      .catch((err: { code?: number }) => {
        throw new Error(err.code === 404 ? `gs://${bucket}/${name} does not exist` : String(err));
      });
    refs.push({
      bucket,
      name,
      generation: String(md.generation),
      size: Number(md.size),
      contentType: md.contentType,
      timeCreated: String(md.timeCreated),
    });
  }
  return refs;
}

export interface FitOptions {
  /** Pipeline whose method is fitted (default cctv-anomaly, the default CCTV method). */
  pipeline?: string;
  /** Every Nth frame (unset: the method's default). */
  every?: number;
  k: number;
  seed: number;
  quantile: number;
  parallelism: number;
  onProgress?: (p: VideoProgress) => void;
}

export async function runFit(
  client: Client,
  cfg: LookoutConfig,
  scene: string,
  videos: ObjectRef[],
  opts: FitOptions,
): Promise<FitSceneResult & { frames: number; framesFailed: number }> {
  checkScene(scene);
  const pipeline = resolvePipeline(opts.pipeline ?? 'cctv-anomaly', cfg.pipelines);
  if (!methodOfPipeline(pipeline.name).fit)
    throw new Error(`pipeline ${pipeline.name} (method ${pipeline.method}) has no scene model to fit`);
  const now = new Date().toISOString();
  const input: FitSceneInput = {
    scene,
    pipeline,
    videos,
    every: opts.every,
    parallelism: opts.parallelism,
    k: opts.k,
    seed: opts.seed,
    quantile: opts.quantile,
    trace: { source: 'backfill', publishedAt: now, dispatchedAt: now },
  };
  const handle = await new WorkflowStarter(client, cfg).startFit(input);
  // Progress is polled one query at a time, and the last query is awaited before returning: a query still in
  // flight when the caller closes the connection failed with grpc-js "Channel has been shut down" (exit 1 after
  // the scene had been stored).
  let polling = true;
  const poller = (async () => {
    while (polling) {
      await new Promise((r) => setTimeout(r, 1000));
      if (!polling) break;
      const p = await handle.query<VideoProgress>('progress').catch(() => undefined);
      if (p && polling) opts.onProgress?.(p);
    }
  })();
  try {
    return (await handle.result()) as FitSceneResult & { frames: number; framesFailed: number };
  } finally {
    polling = false;
    await poller;
  }
}

/** Where `lookout fit` writes a fit's report unless told: under the stack's home, per scene and version. */
export function defaultFitReportDir(cfg: LookoutConfig, scene: string, version: number): string {
  return path.join(cfg.home, 'fit-reports', scene, `v${version}`);
}

export interface FitCliOptions extends Omit<FitOptions, 'onProgress'> {
  /** Folder for fit.json and the method's figures (default: defaultFitReportDir). */
  reportDir?: string;
  /** Print the result as JSON on stdout instead of the text lines. */
  json?: boolean;
}

/**
 * `lookout fit`: resolves the sources, runs the fit workflow with a progress bar, then shows the fit report —
 * the method's own lines (bank and cluster sizes, conditional entropy, threshold) and files (the embedding
 * plot) — and writes it with the whole result (fit.json) into the report folder.
 */
export async function fitSceneFromCli(cfg: LookoutConfig, scene: string, sources: string[], o: FitCliOptions) {
  const { storageClient, temporalClient } = require('../io/clients') as typeof import('../io/clients');
  const { reportDir, json, ...fitOptions } = o;
  const refs = await resolveSources(storageClient(cfg), cfg, scene, sources);
  const { client, connection } = await temporalClient(cfg);
  let r: Awaited<ReturnType<typeof runFit>>;
  try {
    let bar: Progress | undefined;
    r = await runFit(client, cfg, scene, refs, {
      ...fitOptions,
      onProgress: (p) => {
        if (p.phase === 'analysing' || p.phase === 'fitting') {
          bar ??= new Progress(`fitting scene ${scene}: frames`, p.total);
          bar.update(p.done + p.failed, p.phase === 'fitting' ? 'fitting the scene model' : `${p.failed} failed`);
        }
      },
    });
    bar?.done();
  } finally {
    await connection.close();
  }
  const method = methodOfPipeline(resolvePipeline(fitOptions.pipeline ?? 'cctv-anomaly', cfg.pipelines).name);
  const view = (await method.fit?.describeReport?.(r)) ?? { lines: [], files: {} };
  const dir = path.resolve(reportDir ?? defaultFitReportDir(cfg, r.scene, r.version));
  fs.mkdirSync(dir, { recursive: true });
  const written = [path.join(dir, 'fit.json'), ...Object.keys(view.files).map((f) => path.join(dir, f))];
  fs.writeFileSync(written[0], JSON.stringify(r, null, 2) + '\n');
  for (const [name, bytes] of Object.entries(view.files)) fs.writeFileSync(path.join(dir, name), bytes);
  console.log(fitOutput({ ...r, reportFiles: written }, view.lines, json === true));
  return { ...r, reportFiles: written };
}

/** What `lookout fit` prints: the whole result as JSON, or a line about the new version and the report's lines. */
export function fitOutput(
  r: Awaited<ReturnType<typeof runFit>> & { reportFiles: string[] },
  lines: string[],
  json: boolean,
): string {
  if (json) return JSON.stringify(r, null, 2);
  return [
    `scene ${r.scene} v${r.version}: ${r.samples} objects from ${r.frames} frames (${r.framesFailed} skipped), k=${r.k}, threshold ${r.threshold.toFixed(4)}, fitted in ${(r.fitMs / 1000).toFixed(1)}s -> ${r.uri}`,
    ...lines.map((l) => `  ${l}`),
    `  report: ${r.reportFiles.join(', ')}`,
  ].join('\n');
}

/** Frames either side of a dismissed alert frame that go into its clip (about two seconds at 25 fps). */
export const DISMISSED_CLIP_HALF = 25;

/**
 * The frame ranges [from, to) to cut around dismissed alert frames of one video: each frame ± `half`,
 * clamped at 0, overlapping or touching ranges merged so that no frame is added twice.
 */
export function clipWindows(
  frames: ReadonlyArray<number | readonly [number, number]>,
  half = DISMISSED_CLIP_HALF,
): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  // A frame, or an alert episode's [first, last] frames (the whole episode is normal footage once dismissed).
  const spans = frames.map((f): [number, number] => (typeof f === 'number' ? [f, f] : [f[0], f[1]]));
  const ok = spans
    .filter(([a, b]) => Number.isInteger(a) && Number.isInteger(b) && a >= 0 && b >= a)
    .sort((x, y) => x[0] - y[0] || x[1] - y[1]);
  for (const [f, e] of ok) {
    const w: [number, number] = [Math.max(0, f - half), e + half + 1];
    const last = out[out.length - 1];
    if (last && w[0] <= last[1]) last[1] = Math.max(last[1], w[1]);
    else out.push(w);
  }
  return out;
}

/**
 * `lookout fit --with-dismissed`: the review UI's dismissed alerts of a scene (io/feedback.ts), as short local
 * clips cut around each dismissed frame from its video, to be fitted as normal footage with the other sources.
 * So a false alarm an operator dismissed becomes part of what the scene's model calls normal.
 */
export async function dismissedClips(cfg: LookoutConfig, scene: string, dir: string): Promise<string[]> {
  const { bigqueryClient, storageClient } = require('../io/clients') as typeof import('../io/clients');
  const { dismissedAlerts } = require('../io/feedback') as typeof import('../io/feedback');
  const rows = (await dismissedAlerts(bigqueryClient(cfg), cfg, scene)).filter(
    (r) => r.bucket && r.name && r.generation && r.frame !== null,
  );
  // Alert episodes: their whole span of frames, from the alert row (the verdict names its peak frame).
  const { alertSpans } = require('../io/review') as typeof import('../io/review');
  const spans = await alertSpans(
    bigqueryClient(cfg),
    cfg,
    rows.map((r) => r.workflow_id),
  );
  const byVideo = new Map<string, typeof rows>();
  for (const r of rows) {
    const k = `${r.bucket}/${r.name}#${r.generation}`;
    byVideo.set(k, [...(byVideo.get(k) ?? []), r]);
  }
  const storage = storageClient(cfg);
  const clips: string[] = [];
  fs.mkdirSync(dir, { recursive: true });
  for (const [k, rs] of byVideo) {
    const { bucket, name, generation } = rs[0];
    const safe = k.replace(/[^\w.-]+/g, '_');
    const src = path.join(dir, `${safe}.src`);
    try {
      await storage
        .bucket(bucket!)
        .file(name!, { generation: Number(generation) })
        .download({ destination: src });
    } catch (err) {
      // The video was deleted or replaced since the verdict: its alerts cannot be fitted; the others can.
      if ((err as { code?: number }).code === 404) continue;
      throw err;
    }
    for (const [from, to] of clipWindows(rs.map((r) => spans.get(r.workflow_id) ?? r.frame!)))
      clips.push(cutVideo(src, path.join(dir, `dismissed-${safe}-${from}-${to}.avi`), from, to));
    fs.rmSync(src, { force: true });
  }
  return clips;
}

export interface RefitCliOptions {
  pipeline?: string;
  minAgeS: number;
  maxFrames: number;
  seed: number;
}

/** `lookout refit`: one refitScenes workflow for the scenes (none: all of the pipeline's method), awaited. */
export async function runRefit(cfg: LookoutConfig, scenes: string[], o: RefitCliOptions): Promise<RefitScenesResult> {
  const { temporalClient } = require('../io/clients') as typeof import('../io/clients');
  const input = refitInput(cfg, scenes, o);
  const { client, connection } = await temporalClient(cfg);
  try {
    const handle = await new WorkflowStarter(client, cfg).startRefit(input);
    return (await handle.result()) as RefitScenesResult;
  } finally {
    await connection.close();
  }
}

/** The refitScenes input of `lookout refit` (checked: scene names, a method that learns normal online). */
export function refitInput(cfg: LookoutConfig, scenes: string[], o: RefitCliOptions): RefitScenesInput {
  for (const s of scenes) checkScene(s);
  const pipeline = resolvePipeline(o.pipeline ?? 'cctv-anomaly', cfg.pipelines);
  if (!methodOfPipeline(pipeline.name).fit?.refits)
    throw new Error(`pipeline ${pipeline.name} (method ${pipeline.method}) does not learn normal as footage flows`);
  return { pipeline, scenes, minAgeS: o.minAgeS, maxFrames: o.maxFrames, seed: o.seed };
}
