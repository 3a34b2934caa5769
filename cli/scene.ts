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
import type { FitSceneInput, VideoProgress } from '../core/workflows';

/** Cuts frames [from, to) of a video into a new MJPEG AVI (near-lossless, quick to decode). */
export function cutVideo(src: string, dst: string, from: number, to: number): string {
  if (!fs.existsSync(dst)) {
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-i', src, '-vf', `select=between(n\\,${from}\\,${to - 1}),setpts=PTS-STARTPTS`, '-fps_mode', 'passthrough', '-c:v', 'mjpeg', '-q:v', '2', '-an', dst], { stdio: ['ignore', 'ignore', 'pipe'] });
  }
  return dst;
}

/** vtest.avi split: frames 0-499 are the normal footage the scene is fitted on, 500-794 are analysed. */
export function vtestParts(dir: string): { normal: string; test: string; split: number } {
  if (!fs.existsSync(VTEST)) throw new Error(`${VTEST} not found: install Debian's opencv-doc (infra/install.sh does)`);
  return { normal: cutVideo(VTEST, path.join(dir, 'vtest-normal-0-499.avi'), 0, 500), test: cutVideo(VTEST, path.join(dir, 'vtest-test-500-794-v2.avi'), 500, 795), split: 500 };
}

/** Resolves gs:// URIs or local files (uploaded under normal/<scene>/, marked derived so they are not analysed) to object refs. */
export async function resolveSources(storage: Storage, cfg: LookoutConfig, scene: string, sources: string[], metadata: Record<string, string> = {}): Promise<ObjectRef[]> {
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
      await storage.bucket(bucket).upload(src, { destination: name, resumable: false, contentType: 'video/x-msvideo', metadata: { metadata: { 'lookout-derived': 'normal-footage', ...metadata } } });
    }
    const [md] = await storage.bucket(bucket).file(name).getMetadata().catch((err: { code?: number }) => {
      throw new Error(err.code === 404 ? `gs://${bucket}/${name} does not exist` : String(err));
    });
    refs.push({ bucket, name, generation: String(md.generation), size: Number(md.size), contentType: md.contentType, timeCreated: String(md.timeCreated) });
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

export async function runFit(client: Client, cfg: LookoutConfig, scene: string, videos: ObjectRef[], opts: FitOptions): Promise<FitSceneResult & { frames: number; framesFailed: number }> {
  checkScene(scene);
  const pipeline = resolvePipeline(opts.pipeline ?? 'cctv-anomaly', cfg.pipelines);
  if (!methodOfPipeline(pipeline.name).fit) throw new Error(`pipeline ${pipeline.name} (method ${pipeline.method}) has no scene model to fit`);
  const now = new Date().toISOString();
  const input: FitSceneInput = { scene, pipeline, videos, every: opts.every, parallelism: opts.parallelism, k: opts.k, seed: opts.seed, quantile: opts.quantile, trace: { source: 'backfill', publishedAt: now, dispatchedAt: now } };
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

/** `lookout fit`: resolves the sources, runs the fit workflow with a progress bar, prints the new version. */
export async function fitSceneFromCli(cfg: LookoutConfig, scene: string, sources: string[], o: Omit<FitOptions, 'onProgress'>) {
  const { storageClient, temporalClient } = require('../io/clients') as typeof import('../io/clients');
  const refs = await resolveSources(storageClient(cfg), cfg, scene, sources);
  const { client, connection } = await temporalClient(cfg);
  try {
    let bar: Progress | undefined;
    const r = await runFit(client, cfg, scene, refs, {
      ...o,
      onProgress: (p) => {
        if (p.phase === 'analysing' || p.phase === 'fitting') {
          bar ??= new Progress(`fitting scene ${scene}: frames`, p.total);
          bar.update(p.done + p.failed, p.phase === 'fitting' ? 'fitting the scene model' : `${p.failed} failed`);
        }
      },
    });
    bar?.done();
    console.log(`scene ${r.scene} v${r.version}: ${r.samples} objects from ${r.frames} frames (${r.framesFailed} skipped), k=${r.k}, threshold ${r.threshold.toFixed(4)}, fitted in ${(r.fitMs / 1000).toFixed(1)}s -> ${r.uri}`);
    return r;
  } finally {
    await connection.close();
  }
}
