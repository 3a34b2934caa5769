/** The CCTV part of `lookout demo`. */
import type { LookoutConfig } from '../config';
import { everyNthFrame, Progress } from './args';
import { fitSceneFromCli } from './scene';

/** The CCTV part of `lookout demo`: fit scene vtest on frames 0-499, analyse frames 500-794, print the top frames. */
export async function runCctvDemo(
  cfg: LookoutConfig,
  o: { stamp: string; every: number; timeoutMs: number },
): Promise<number> {
  const path = require('node:path') as typeof import('node:path');
  const { vtestParts } = require('./scene') as typeof import('./scene');
  const { storageClient, bigqueryClient } = require('../io/clients') as typeof import('../io/clients');
  const { waitForRun } = require('../loadtest/loadtest') as typeof import('../loadtest/loadtest');
  const { probeVideo } = require('../media/video') as typeof import('../media/video');
  const { query } = require('../io/query') as typeof import('../io/query');
  const { runLatestSql } = require('../io/results') as typeof import('../io/results');
  const parts = vtestParts(path.join(cfg.home, 'samples'));
  console.log(`  fitting scene "vtest" on frames 0-${parts.split - 1} (${everyNthFrame(o.every)})`);
  // The default CCTV method's own fit settings (k, threshold quantile), as `lookout fit` uses them.
  const { methodOfPipeline } = require('../methods/registry') as typeof import('../methods/registry');
  const defaults = methodOfPipeline('cctv-anomaly').fit!.defaults;
  await fitSceneFromCli(cfg, 'vtest', [parts.normal], {
    pipeline: 'cctv-anomaly',
    every: o.every,
    k: defaults.k,
    seed: defaults.seed,
    quantile: defaults.quantile,
    parallelism: 4,
  });
  const run = `demo-cctv-${o.stamp}`;
  const info = await probeVideo(parts.test);
  // One row per analysed frame, plus the video's summary row.
  const framesExpected = Math.ceil(info.frames / o.every);
  const expected = framesExpected + 1;
  const name = `cctv/${run}/vtest-500-794.avi`;
  const [file] = await storageClient(cfg)
    .bucket(cfg.gcs.bucket)
    .upload(parts.test, {
      destination: name,
      resumable: false,
      contentType: 'video/x-msvideo',
      metadata: {
        metadata: {
          'lookout-run': run,
          'lookout-pipeline': 'cctv-anomaly',
          'lookout-scene': 'vtest',
          'lookout-video-every': String(o.every),
        },
      },
    });
  console.log(
    `  uploaded gs://${cfg.gcs.bucket}/${name} (frames ${parts.split}-794, ${info.frames} frames): ${framesExpected} frames to analyse`,
  );
  // Follow the video's workflow (started by the dispatcher when the watcher sees the object).
  const { temporalClient } = require('../io/clients') as typeof import('../io/clients');
  const { workflowIdFor } = require('../core/events') as typeof import('../core/events');
  const wf = workflowIdFor('cctv-anomaly', {
    bucket: cfg.gcs.bucket,
    name,
    generation: String(file.metadata.generation),
  });
  const { client, connection } = await temporalClient(cfg);
  const bar = new Progress('  analysing frames', framesExpected);
  let summary: import('../core/workflows').AnalyzeVideoResult | undefined;
  try {
    const deadline = Date.now() + o.timeoutMs;
    const handle = client.workflow.getHandle(wf);
    for (;;) {
      if (Date.now() > deadline) throw new Error(`video analysis ${wf} did not finish in ${o.timeoutMs / 1000}s`);
      const d = await handle.describe().catch(() => undefined);
      if (d && d.status.name !== 'RUNNING' && d.status.name !== 'CONTINUED_AS_NEW') {
        summary = (await handle.result()) as import('../core/workflows').AnalyzeVideoResult;
        break;
      }
      if (d) {
        const p = await handle.query<import('../core/workflows').VideoProgress>('progress').catch(() => undefined);
        if (p) bar.update(p.done + p.failed, p.phase === 'splitting' ? 'reading the video' : `${p.failed} failed`);
      }
      await new Promise((r) => setTimeout(r, 1000));
    }
  } finally {
    await connection.close();
  }
  bar.done(`  video analysed: ${summary.ok} frames ok, ${summary.failed} failed`);
  const got = await waitForRun(bigqueryClient(cfg), cfg, run, expected, { timeoutMs: 60_000 });
  const rows = await query<{
    name: string;
    status: string;
    score: number | null;
    label: string;
    n: number;
    details: string | null;
    error_class: string | null;
  }>(
    bigqueryClient(cfg),
    `SELECT name, status, score, label, ARRAY_LENGTH(objects) AS n, error_class, details
     FROM (${runLatestSql(cfg)}) WHERE JSON_VALUE(details, '$.kind') IS NULL ORDER BY CAST(JSON_VALUE(details, '$.smoothed') AS FLOAT64) DESC LIMIT 10`,
    { run },
  );
  console.log(
    `\nMost anomalous frames of vtest.avi 500-794 (scene vtest; ${got} rows for ${expected} expected: the frames and the video summary, plus one per alert episode), read back from BigQuery:\n`,
  );
  console.log('frame  time_s  score   flagged/objects  why');
  for (const r of rows) {
    const d = r.details
      ? (JSON.parse(r.details) as {
          frame?: number;
          smoothed?: number;
          threshold?: number;
          abnormal_objects?: number;
          reasons?: string;
          annotated?: string;
        })
      : {};
    const frame = d.frame !== undefined ? d.frame + parts.split : NaN;
    const why =
      r.status !== 'ok'
        ? String(r.error_class)
        : d.reasons
          ? `${d.reasons.slice(0, 140)}${d.annotated ? `\n${' '.repeat(42)}${d.annotated}` : ''}`
          : '(below threshold)';
    console.log(
      `${String(frame).padStart(5)}  ${(frame / info.fps || 0).toFixed(1).padStart(6)}  ${d.smoothed === undefined ? 'n/a'.padEnd(6) : d.smoothed.toFixed(2).padStart(6)}  ${`${d.abnormal_objects ?? 0}/${r.n}`.padStart(15)}  ${why}`,
    );
  }
  // Alerts as an operator sees them: one per episode. Frames 500-794 are normal footage: every alert here is a false one.
  const alerts = await query<{ details: string }>(
    bigqueryClient(cfg),
    `SELECT details FROM (${runLatestSql(cfg)}) WHERE label = 'alert' ORDER BY CAST(JSON_VALUE(details, '$.start_frame') AS INT64)`,
    { run },
  );
  console.log(
    `\nAlert episodes (what the review UI lists; this footage is normal, so each one is a false alert): ${alerts.length}`,
  );
  for (const a of alerts) {
    const d = JSON.parse(a.details) as {
      start_frame: number;
      end_frame: number;
      peak_frame: number;
      reasons: string;
      annotated?: string;
    };
    const at = (f: number) => `${f + parts.split} (${((f + parts.split) / info.fps).toFixed(1)} s)`;
    console.log(
      `  frames ${at(d.start_frame)} to ${at(d.end_frame)}, peak ${d.peak_frame + parts.split}: ${d.reasons.slice(0, 200)}${d.annotated ? `\n    ${d.annotated}` : ''}`,
    );
  }
  console.log(
    `\nFrames are flagged when their smoothed score passes the scene's threshold; annotated frames (red = flagged, with the reason) are in\ngs://${cfg.gcs.resultsBucket}/results/; with the stack up, fetch one with\n  curl -s "${cfg.gcs.url}/storage/v1/b/${cfg.gcs.resultsBucket}/o/<url-encoded name>?alt=media" -o frame.jpg`,
  );
  return got >= expected && summary.failed === 0 ? 0 : 4;
}
