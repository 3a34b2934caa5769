/** Commands of the cctv-anomaly pipeline: fit, serve, and the CCTV part of the demo. */
import type { LookoutConfig } from '../config';
import { Progress } from './args';
import { command, markReady } from './main';

command(
  {
    name: 'fit',
    summary: 'fit a scene model (cctv-anomaly) on normal footage, as a Temporal workflow on the workers',
    usage: 'fit --scene NAME [--pipeline cctv-anomaly] [--every N] [--k K] SOURCE...',
    positionals: { min: 1, max: 1000, name: 'SOURCE... (gs://bucket/video or local video files)' },
    description: `Each video is split into frame triplets (t-3, t, t+3) every N frames; detection and feature extraction fan out
over the workers; k-means + one-vs-rest classifiers are fitted in an activity and stored as a new version at
gs://<results bucket>/models/scenes/<NAME>/<version>/scene.lksm (LATEST points at it). Analyses whose object
metadata says lookout-scene=<NAME> use it from then on.`,
    options: {
      scene: { type: 'string', help: 'scene name (lowercase letters, digits, - and _)' },
      pipeline: { type: 'string', default: 'cctv-anomaly', help: 'pipeline (only cctv-anomaly fits scenes)' },
      every: { type: 'number', default: 5, help: 'use every Nth frame' },
      k: { type: 'number', default: 10, help: 'normality clusters' },
      seed: { type: 'number', default: 7, help: 'random seed of k-means and the classifiers' },
      quantile: { type: 'number', default: 0.99, help: 'threshold = this quantile of held-out normal scores' },
      parallelism: { type: 'number', default: 4, help: 'frames analysed at once' },
    },
  },
  async (cfg, { opts, positionals }) => {
    if (!opts.scene) throw new Error('--scene is required');
    if (opts.pipeline !== 'cctv-anomaly') throw new Error(`pipeline ${opts.pipeline} has no scene models (only cctv-anomaly)`);
    await fitScene(cfg, String(opts.scene), positionals, { every: Number(opts.every), k: Number(opts.k), seed: Number(opts.seed), quantile: Number(opts.quantile), parallelism: Number(opts.parallelism) });
  },
);

export async function fitScene(cfg: LookoutConfig, scene: string, sources: string[], o: { every: number; k: number; seed: number; quantile: number; parallelism: number }) {
  const { storageClient, temporalClient } = require('../io/clients') as typeof import('../io/clients');
  const { resolveSources, runFit } = require('./scene') as typeof import('./scene');
  const refs = await resolveSources(storageClient(cfg), cfg, scene, sources);
  const { client, connection } = await temporalClient(cfg);
  try {
    let bar: Progress | undefined;
    const r = await runFit(client, cfg, scene, refs, {
      ...o,
      onProgress: (p) => {
        if (p.phase === 'analysing' || p.phase === 'fitting') {
          bar ??= new Progress(`fitting scene ${scene}: frames`, p.total);
          bar.update(p.done + p.failed, p.phase === 'fitting' ? 'fitting k-means + classifiers' : `${p.failed} failed`);
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

command(
  {
    name: 'serve',
    summary: 'synchronous HTTP API for one frame triplet: POST /v1/frames {"key": ...} -> frame score and abnormal boxes',
    usage: 'serve [--port N] [--scene NAME]',
    description: `The client uploads KEY, KEY_d3 (frame t-3) and KEY_p3 (frame t+3) to the bucket, then:
  curl -s -X POST localhost:<port>/v1/frames -d '{"key":"cam1/f0100.jpg","scene":"vtest"}'
Answers 200 {status, frameScore, threshold, abnormal:[boxes], objects, annotated}; 400 for a bad request or a
missing neighbour frame; 404 when KEY does not exist; 422 when the object is not a usable image; 503 when the
stack is unavailable. The analysis runs through Temporal on the workers and is recorded in BigQuery as usual.`,
    options: {
      port: { type: 'number', help: 'listen port (default: port base + 41)' },
      host: { type: 'string', default: '127.0.0.1', help: 'listen address' },
      scene: { type: 'string', default: 'default', help: 'scene when the request names none' },
      'timeout-s': { type: 'number', default: 60, help: 'answer 504 after this long' },
    },
  },
  async (cfg, { opts }) => {
    const { temporalClient, storageClient } = require('../io/clients') as typeof import('../io/clients');
    const { createServeApi } = require('../ingest/serve') as typeof import('../ingest/serve');
    const { PORT_OFFSETS } = require('../config') as typeof import('../config');
    const { client, connection } = await temporalClient(cfg);
    const server = createServeApi({ cfg, client, storage: storageClient(cfg), defaultScene: String(opts.scene), timeoutMs: Number(opts['timeout-s']) * 1000 });
    const port = (opts.port as number | undefined) ?? cfg.portBase + PORT_OFFSETS.serve;
    await new Promise<void>((resolve) => server.listen(port, String(opts.host), resolve));
    console.log(`serve: http://${opts.host}:${port}/v1/frames (POST {"key": "...", "scene": "..."})`);
    markReady();
    await new Promise<void>((resolve) => {
      const stop = () => server.close(() => resolve());
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
    await connection.close();
  },
);

/** The CCTV part of `lookout demo`: fit scene vtest on frames 0-499, analyse frames 500-794, print the top frames. */
export async function runCctvDemo(cfg: LookoutConfig, o: { stamp: string; every: number; timeoutMs: number }): Promise<number> {
  const path = require('node:path') as typeof import('node:path');
  const { vtestParts } = require('./scene') as typeof import('./scene');
  const { storageClient, bigqueryClient } = require('../io/clients') as typeof import('../io/clients');
  const { waitForRun } = require('../loadtest/loadtest') as typeof import('../loadtest/loadtest');
  const { sampleTriplets, probeVideo } = require('../media/video') as typeof import('../media/video');
  const { query } = require('../io/query') as typeof import('../io/query');
  const { runLatestSql } = require('../io/results') as typeof import('../io/results');
  const parts = vtestParts(path.join(cfg.home, 'samples'));
  console.log(`  fitting scene "vtest" on frames 0-${parts.split - 1} (every ${o.every}th frame)`);
  await fitScene(cfg, 'vtest', [parts.normal], { every: o.every, k: 10, seed: 7, quantile: 0.99, parallelism: 4 });
  const run = `demo-cctv-${o.stamp}`;
  const info = await probeVideo(parts.test);
  const expected = sampleTriplets(info.frames, Number(process.env.LOOKOUT_VIDEO_EVERY ?? o.every)).length;
  const name = `cctv/${run}/vtest-500-794.avi`;
  const [file] = await storageClient(cfg)
    .bucket(cfg.gcs.bucket)
    .upload(parts.test, { destination: name, resumable: false, contentType: 'video/x-msvideo', metadata: { metadata: { 'lookout-run': run, 'lookout-pipeline': 'cctv-anomaly', 'lookout-scene': 'vtest' } } });
  console.log(`  uploaded gs://${cfg.gcs.bucket}/${name} (frames ${parts.split}-794, ${info.frames} frames): ${expected} frames to analyse`);
  // Follow the video's workflow (started by the dispatcher when the watcher sees the object).
  const { temporalClient } = require('../io/clients') as typeof import('../io/clients');
  const { workflowIdFor } = require('../core/events') as typeof import('../core/events');
  const wf = workflowIdFor('cctv-anomaly', { bucket: cfg.gcs.bucket, name, generation: String(file.metadata.generation) });
  const { client, connection } = await temporalClient(cfg);
  const bar = new Progress('  analysing frames', expected);
  let summary: import('../workflows/video').AnalyzeVideoResult | undefined;
  try {
    const deadline = Date.now() + o.timeoutMs;
    const handle = client.workflow.getHandle(wf);
    for (;;) {
      if (Date.now() > deadline) throw new Error(`video analysis ${wf} did not finish in ${o.timeoutMs / 1000}s`);
      const d = await handle.describe().catch(() => undefined);
      if (d && d.status.name !== 'RUNNING') {
        summary = (await handle.result()) as import('../workflows/video').AnalyzeVideoResult;
        break;
      }
      if (d) {
        const p = await handle.query<import('../workflows/video').VideoProgress>('progress').catch(() => undefined);
        if (p) bar.update(p.done + p.failed, p.phase === 'splitting' ? 'splitting the video into frame triplets' : `${p.failed} failed`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    await connection.close();
  }
  bar.done(`  video analysed: ${summary.ok} frames ok, ${summary.failed} failed`);
  const got = await waitForRun(bigqueryClient(cfg), cfg, run, summary.ok + summary.failed, { timeoutMs: 60_000 });
  const rows = await query<{ name: string; status: string; score: number | null; label: string; n: number; abnormal: number; details: string | null; error_class: string | null }>(
    bigqueryClient(cfg),
    `SELECT name, status, score, label, ARRAY_LENGTH(objects) AS n, error_class, details,
       (SELECT COUNT(*) FROM UNNEST(objects) o WHERE o.anomaly_score > CAST(JSON_VALUE(details, '$.threshold') AS FLOAT64)) AS abnormal
     FROM (${runLatestSql(cfg)}) ORDER BY score DESC LIMIT 10`,
    { run },
  );
  console.log(`\nMost anomalous frames of vtest.avi 500-794 (scene vtest; ${got}/${expected} frames analysed), read back from BigQuery:\n`);
  console.log('frame  time_s  score     abnormal/objects  annotated image');
  for (const r of rows) {
    const d = r.details ? (JSON.parse(r.details) as { frame?: number; time_s?: number; annotated?: string }) : {};
    const frame = d.frame !== undefined ? d.frame + parts.split : NaN;
    console.log(`${String(frame).padStart(5)}  ${((frame / info.fps) || 0).toFixed(1).padStart(6)}  ${r.score === null ? 'n/a'.padEnd(8) : Number(r.score).toFixed(4).padStart(8)}  ${`${r.abnormal}/${r.n}`.padStart(16)}  ${r.status === 'ok' ? d.annotated : `${r.error_class}`}`);
  }
  console.log(`\nAnnotated frames (red = abnormal) are in gs://${cfg.gcs.resultsBucket}/results/; with the stack up, fetch one with\n  curl -s "${cfg.gcs.url}/storage/v1/b/${cfg.gcs.resultsBucket}/o/<url-encoded name>?alt=media" -o frame.jpg`);
  return got >= expected && summary.failed === 0 ? 0 : 4;
}
