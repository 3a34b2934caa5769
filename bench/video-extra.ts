/**
 * Bench section (d), video beyond throughput, on the bench's own stack (issue 12):
 *  - serve: `lookout serve`'s frame API (createServeApi, in this process) answering POST /v1/frames one request
 *    at a time on a warm worker, each for a new triplet of vtest frames: p50/p99 per frame;
 *  - stream: ffmpeg serves vtest.avi (looped, paced at 10 fps) as HTTP MPEG-TS on loopback, `lookout stream`'s
 *    recorder (recordStream, in this process) cuts and uploads it, the usual path writes a row per frame:
 *    latency from each frame's capture time (details.captured_at) to its row (recorded_at), p50/p99;
 *  - long video: vtest.avi looped to N minutes, analysed in segments; the worker's RSS sampled every 2 s:
 *    start, peak, end, and the peak of each quarter (flat means no growth with length).
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import { freePort, startCamera } from '../demo/camera';
import path from 'node:path';
import type { LookoutConfig } from '../config';
import { bigqueryClient, storageClient, temporalClient } from '../io/clients';
import { query } from '../io/query';
import { runLatestSql, tableRef } from '../io/results';
import { WorkflowStarter } from '../io/starter';
import { createServeApi } from '../ingest/serve';
import { recordStream, STREAM_DEFAULTS } from '../ingest/stream';
import { probeVideo } from '../media/video';
import { extractFrames, VTEST } from '../demo/samples';
import { cutVideo, runFit } from '../cli/scene';
import { readPid } from '../infra/procs';
import { percentile } from './metrics';

const log = (s: string) => process.stderr.write(`${s}\n`);

function rssMb(pid: number | undefined): number | null {
  if (!pid) return null;
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : null;
  } catch {
    return null;
  }
}

/** Rows of a run, counted on the table (cheap), until `done` says enough or the time is up. */
async function waitRows(
  cfg: LookoutConfig,
  where: string,
  params: Record<string, unknown>,
  enough: (n: number) => boolean,
  timeoutMs: number,
): Promise<number> {
  const bq = bigqueryClient(cfg);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const [r] = await query<{ n: number }>(
      bq,
      `SELECT COUNT(DISTINCT workflow_id) AS n FROM ${tableRef(cfg)} WHERE ${where}`,
      params,
    );
    const n = Number(r?.n ?? 0);
    if (enough(n) || Date.now() > deadline) return n;
    await new Promise((res) => setTimeout(res, 3000));
  }
}

export async function serveBench(cfg: LookoutConfig, requests: number) {
  const { client, connection } = await temporalClient(cfg);
  const bucket = storageClient(cfg).bucket(cfg.gcs.bucket);
  try {
    // The triplet method needs its scene: fitted on frames 0-199 like the integration test (every 6th frame).
    const normal = cutVideo(VTEST, path.join(cfg.home, 'samples', 'bench-normal-0-199.avi'), 0, 200);
    await bucket.upload(normal, {
      destination: 'normal/bench-ocae/clip.avi',
      resumable: false,
      contentType: 'video/x-msvideo',
      metadata: { metadata: { 'lookout-derived': 'normal-footage' } },
    });
    const [md] = await bucket.file('normal/bench-ocae/clip.avi').getMetadata();
    const f0 = Date.now();
    await runFit(
      client,
      cfg,
      'bench-ocae',
      [
        {
          bucket: cfg.gcs.bucket,
          name: 'normal/bench-ocae/clip.avi',
          generation: String(md.generation),
          size: Number(md.size),
          timeCreated: String(md.timeCreated),
        },
      ],
      { pipeline: 'cctv-ocae', every: 6, k: 3, seed: 1, quantile: 0.95, parallelism: 2 },
    );
    log(`    fitted cctv-ocae scene bench-ocae in ${((Date.now() - f0) / 1000).toFixed(0)} s`);
    // Triplets of frames 300, 306, ...: every request a new analysis (a repeated key answers from the finished one).
    const warm = 3;
    const ts = Array.from({ length: requests + warm }, (_, i) => 300 + i * 6);
    const files = extractFrames(
      path.join(cfg.home, 'samples'),
      ts.flatMap((t) => [t - 3, t, t + 3]),
    );
    const run = `bench-serve-${Date.now().toString(36)}`;
    const byIndex = new Map(ts.flatMap((t) => [t - 3, t, t + 3]).map((n, i) => [n, files[i]]));
    for (const t of ts) {
      const key = `${run}/f${t}.jpg`;
      for (const [name, n] of [
        [key.replace('.jpg', '_d3.jpg'), t - 3],
        [key.replace('.jpg', '_p3.jpg'), t + 3],
        [key, t],
      ] as const) {
        await bucket.upload(byIndex.get(n)!, {
          destination: name,
          resumable: false,
          contentType: 'image/jpeg',
          metadata: { metadata: { 'lookout-derived': 'bench-triplet' } },
        });
      }
    }
    const server = createServeApi({
      cfg,
      starter: new WorkflowStarter(client, cfg),
      storage: storageClient(cfg),
      defaultScene: 'bench-ocae',
      timeoutMs: 60_000,
    });
    const port = await freePort();
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    const post = (key: string) =>
      new Promise<number>((resolve, reject) => {
        const body = JSON.stringify({ key, scene: 'bench-ocae' });
        const req = http.request(
          {
            host: '127.0.0.1',
            port,
            path: '/v1/frames',
            method: 'POST',
            headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
          },
          (res) => {
            res.resume();
            res.on('end', () => resolve(res.statusCode ?? 0));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    const lat: number[] = [];
    const statuses: Record<string, number> = {};
    try {
      for (const [i, t] of ts.entries()) {
        const s = performance.now();
        const code = await post(`${run}/f${t}.jpg`);
        const ms = performance.now() - s;
        statuses[code] = (statuses[code] ?? 0) + 1;
        if (i >= warm && code === 200) lat.push(ms);
      }
    } finally {
      await new Promise((r) => server.close(r));
    }
    const r = {
      requests,
      ok: lat.length,
      statuses,
      p50Ms: percentile(lat, 50),
      p99Ms: percentile(lat, 99),
      meanMs: lat.reduce((a, b) => a + b, 0) / Math.max(1, lat.length),
    };
    log(
      `    serve: ${r.ok}/${requests} answered 200 (one at a time, ${warm} warm-up requests left out): p50 ${r.p50Ms.toFixed(0)} ms, p99 ${r.p99Ms.toFixed(0)} ms per frame`,
    );
    return r;
  } finally {
    await connection.close();
  }
}

export async function streamBench(cfg: LookoutConfig, seconds: number, pipeline: string, scene: string | undefined) {
  const port = await freePort();
  // A camera: vtest.avi looped, paced in real time (10 fps), MPEG-2 in MPEG-TS over HTTP, a keyframe a second.
  const camera = startCamera(VTEST, port, { loop: true }).proc;
  const run = `bench-stream-${Date.now().toString(36)}`;
  const bucket = storageClient(cfg).bucket(cfg.gcs.bucket);
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), seconds * 1000);
  let stats;
  try {
    await new Promise((r) => setTimeout(r, 500));
    stats = await recordStream(
      {
        ...STREAM_DEFAULTS,
        url: `http://127.0.0.1:${port}/cam`,
        name: run,
        prefix: `${run}/`,
        segmentSeconds: 2,
        pipeline,
        scene,
        metadata: { 'lookout-run': run },
        minBackoffMs: 300,
        signal: ac.signal,
      },
      async (u) => {
        await bucket.upload(u.file, {
          destination: u.objectName,
          resumable: false,
          contentType: u.contentType,
          metadata: { metadata: u.metadata },
        });
      },
    );
  } finally {
    clearTimeout(timer);
    camera.kill('SIGKILL');
  }
  const summaries = await waitRows(
    cfg,
    `run_tag = @run AND JSON_VALUE(details, '$.kind') = 'video-summary'`,
    { run },
    (n) => n >= stats.segments,
    900_000,
  );
  const rows = await query<{ cap: string; rec: string }>(
    bigqueryClient(cfg),
    `SELECT JSON_VALUE(details, '$.captured_at') AS cap, recorded_at AS rec FROM (${runLatestSql(cfg)}) WHERE JSON_VALUE(details, '$.kind') IS NULL AND status = 'ok'`,
    { run },
  );
  const lat = rows.map((r) => Date.parse(r.rec) - Date.parse(r.cap)).filter((x) => Number.isFinite(x));
  const r = {
    seconds,
    pipeline,
    segments: stats.segments,
    summaries,
    frames: rows.length,
    p50Ms: percentile(lat, 50),
    p99Ms: percentile(lat, 99),
    maxMs: Math.max(...lat),
  };
  log(
    `    stream (${pipeline}, ${seconds} s of a 10 fps camera, ${r.segments} segments, ${r.frames} frame rows): capture -> row p50 ${(r.p50Ms / 1000).toFixed(2)} s, p99 ${(r.p99Ms / 1000).toFixed(2)} s`,
  );
  return r;
}

export async function longVideoBench(cfg: LookoutConfig, minutes: number, pipeline: string, scene: string | undefined) {
  const dir = path.join(cfg.home, 'samples');
  const info0 = await probeVideo(VTEST);
  const loops = Math.max(1, Math.ceil((minutes * 60) / (info0.frames / info0.fps)));
  const file = path.join(dir, `bench-long-${loops}x.avi`);
  if (!fs.existsSync(file))
    execFileSync('ffmpeg', ['-v', 'error', '-y', '-stream_loop', String(loops - 1), '-i', VTEST, '-c', 'copy', file], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  const info = await probeVideo(file);
  const run = `bench-long-${Date.now().toString(36)}`;
  const worker = readPid(cfg.home, 'worker-cpu');
  const samples: Array<{ t: number; mb: number }> = [];
  const sample = () => {
    const mb = rssMb(worker);
    if (mb !== null) samples.push({ t: Date.now(), mb });
    // A progress line every 30 s: a run cut short still says how far it got and what memory did.
    if (samples.length % 15 === 1)
      log(
        `      long video: ${((Date.now() - t0) / 1000).toFixed(0)} s, worker RSS ${mb} MiB (peak so far ${Math.max(...samples.map((x) => x.mb))})`,
      );
  };
  const t0 = Date.now();
  sample();
  const every = setInterval(sample, 2000);
  try {
    await storageClient(cfg)
      .bucket(cfg.gcs.bucket)
      .upload(file, {
        destination: `${run}/long.avi`,
        resumable: false,
        contentType: 'video/x-msvideo',
        metadata: {
          metadata: {
            'lookout-run': run,
            'lookout-pipeline': pipeline,
            'lookout-video-every': '1',
            ...(scene ? { 'lookout-scene': scene } : {}),
          },
        },
      });
    // The summary row ends the wait; so does a failed row of the whole video (e.g. ObjectTooLarge; frame rows have
    // `@<frame>` in their workflow id), which no summary would follow.
    await waitRows(
      cfg,
      `run_tag = @run AND (JSON_VALUE(details, '$.kind') = 'video-summary' OR (status = 'failed' AND STRPOS(workflow_id, '@') = 0))`,
      { run },
      (n) => n >= 1,
      4 * 3600_000,
    );
  } finally {
    clearInterval(every);
    sample();
  }
  const wallS = (Date.now() - t0) / 1000;
  const [summary] = await query<{
    details: string;
    status: string;
    error_class: string | null;
    error_message: string | null;
  }>(
    bigqueryClient(cfg),
    `SELECT details, status, error_class, error_message FROM (${runLatestSql(cfg)}) WHERE JSON_VALUE(details, '$.kind') = 'video-summary' OR (status = 'failed' AND STRPOS(workflow_id, '@') = 0) ORDER BY status DESC LIMIT 1`,
    { run },
  );
  if (summary?.status === 'failed' && summary.error_class)
    throw new Error(
      `long video failed: ${summary.error_class}: ${summary.error_message ?? ''} (a video over LOOKOUT_MAX_OBJECT_BYTES needs a higher limit)`,
    );
  const d = JSON.parse(summary?.details ?? '{}') as { frames?: number; frames_ok?: number; segments?: number };
  const q = (i: number) =>
    Math.max(...samples.filter((_, k) => Math.floor((k * 4) / samples.length) === i).map((s) => s.mb));
  const r = {
    minutes: info.frames / info.fps / 60,
    pipeline,
    frames: d.frames ?? 0,
    framesOk: d.frames_ok ?? 0,
    segments: d.segments ?? 0,
    status: summary?.status,
    wallS,
    framesPerSecond: (d.frames ?? 0) / wallS,
    rssStartMb: samples[0]?.mb,
    rssPeakMb: Math.max(...samples.map((s) => s.mb)),
    rssEndMb: samples[samples.length - 1]?.mb,
    rssQuarterPeaksMb: [0, 1, 2, 3].map(q),
    samples: samples.length,
  };
  log(
    `    long video (${r.minutes.toFixed(1)} min of vtest.avi looped, ${pipeline}): ${r.frames} frames in ${r.segments} segments, ${r.wallS.toFixed(0)} s (${r.framesPerSecond.toFixed(1)} frames/s), worker RSS start ${r.rssStartMb} / peak ${r.rssPeakMb} / end ${r.rssEndMb} MiB, quarter peaks ${r.rssQuarterPeaksMb.join(', ')} MiB`,
  );
  return r;
}
