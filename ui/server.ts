/**
 * `lookout ui`: the review web application. A Fastify server that reads through Lookout's own functions
 * (io/review.ts, io/query.ts, loadtest/report.ts: the SQL of `lookout report`; dispatch/retry.ts: the code of
 * `lookout retry`; io/uploads.ts: the metadata of `lookout upload`; io/feedback.ts: review verdicts) and
 * serves a plain HTML/JS front end (ui/public) with Vega-Lite charts and a Leaflet map, every library
 * from node_modules (no CDN, no internet tiles).
 *
 * Writes (retry, feedback, upload) need `Authorization: Bearer <LOOKOUT_UI_TOKEN>` whenever a token is
 * set, and the server refuses to listen beyond loopback without one.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Fastify, { type FastifyInstance, type FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { NatsConnection } from 'nats';
import type { Client, Connection } from '@temporalio/client';
import type { LookoutConfig } from '../config';
import { LookoutError } from '../core/errors';
import { pipelineNames } from '../core/pipelines';
import { bigqueryClient, natsConnect, storageClient, temporalClient } from '../io/clients';
import { failedAnalyses } from '../io/query';
import {
  alertView,
  analysisRow,
  failuresByRun,
  filterAlerts,
  listAlerts,
  listFailures,
  listRasters,
  listRuns,
  liveFrames,
  rasterRows,
  runHops,
  runRows,
  videoFrames,
} from '../io/review';
import { latestFeedback, writeFeedback } from '../io/feedback';
import { uploadMetadata, defaultUploadRun } from '../io/uploads';
import { readDeadLetters, ensureStreams } from '../io/streams';
import { buildReport } from '../loadtest/report';
import { retryAnalysis, retryAnalyses } from '../dispatch/retry';
import { readFrames } from '../media/video';
import { parseAoi, rasterPreviewPng, selectChips } from './map';
import { loadZones, saveZones, sceneNames, sceneVideo, zonesStore } from '../io/zones';
import { detectorLabels } from '../methods/registry';
import { RULE_TYPES, ZonesError } from '../runtime/zones';
import { checkScene } from '../io/scenes';

const NODE_MODULES = path.join(__dirname, '..', 'node_modules');
const PUBLIC = path.join(__dirname, 'public');

/** The libraries the front end loads, each from its package's own build (served under /lib/). */
export const LIBS: Record<string, string> = {
  'vega.min.js': 'vega/build/vega.min.js',
  'vega-lite.min.js': 'vega-lite/build/vega-lite.min.js',
  'vega-embed.min.js': 'vega-embed/build/vega-embed.min.js',
  'leaflet.js': 'leaflet/dist/leaflet.js',
  'leaflet.css': 'leaflet/dist/leaflet.css',
  // The map page (docs/map.md): drawing an area of interest, and an offline basemap (Natural Earth through
  // world-atlas' TopoJSON, decoded in the browser by topojson-client) instead of a tile server.
  'leaflet.draw.js': 'leaflet-draw/dist/leaflet.draw.js',
  'leaflet.draw.css': 'leaflet-draw/dist/leaflet.draw.css',
  'topojson-client.min.js': 'topojson-client/dist/topojson-client.min.js',
  'countries-110m.json': 'world-atlas/countries-110m.json',
  'countries-50m.json': 'world-atlas/countries-50m.json',
  'countries-10m.json': 'world-atlas/countries-10m.json',
};

const LIB_TYPES: Record<string, string> = { '.css': 'text/css', '.json': 'application/json', '.js': 'text/javascript' };

/** Bound beyond loopback without a token: writes would be open to the network. */
export class UiAuthConfigError extends LookoutError {
  constructor(host: string) {
    super(
      'UiAuthConfig',
      `lookout ui: listening on ${host} (beyond loopback) needs LOOKOUT_UI_TOKEN: retry, feedback and upload would be open to anyone who can reach it`,
      { retryable: false },
    );
  }
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

/** Constant-time comparison of the Authorization header with the configured token. */
export function authorized(header: string | undefined, token: string | undefined): boolean {
  if (!token) return true;
  const m = /^Bearer\s+(.+)$/i.exec(header ?? '');
  if (!m) return false;
  const a = crypto.createHash('sha256').update(m[1].trim()).digest();
  const b = crypto.createHash('sha256').update(token).digest();
  return crypto.timingSafeEqual(a, b);
}

/** gs://bucket/name of a bucket this deployment owns (the inbox or the results bucket), else undefined. */
function ownObject(cfg: LookoutConfig, uri: string): { bucket: string; name: string } | undefined {
  const m = /^gs:\/\/([^/]+)\/(.+)$/.exec(uri);
  if (!m || ![cfg.gcs.bucket, cfg.gcs.resultsBucket].includes(m[1])) return undefined;
  return { bucket: m[1], name: m[2] };
}

const CONTENT_TYPES: Record<string, string> = {
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.mp4': 'video/mp4',
  '.avi': 'video/x-msvideo',
  '.tif': 'image/tiff',
  '.tiff': 'image/tiff',
};

export interface UiServer {
  app: FastifyInstance;
  url: string;
  close(): Promise<void>;
}

export interface UiOptions {
  port?: number;
  host?: string;
  log?: boolean;
}

export async function startUi(cfg: LookoutConfig, opts: UiOptions = {}): Promise<UiServer> {
  const host = opts.host ?? cfg.ui.host;
  const port = opts.port ?? cfg.ui.port;
  const token = cfg.ui.token;
  if (!isLoopback(host) && !token) throw new UiAuthConfigError(host);
  const bq = bigqueryClient(cfg);
  const storage = storageClient(cfg);
  // Connections to NATS and Temporal are made on first use and kept: most pages need neither.
  let nc: Promise<NatsConnection> | undefined;
  let temporal: Promise<{ client: Client; connection: Connection }> | undefined;
  const nats = () => (nc ??= natsConnect(cfg, 'lookout-ui').then(async (c) => (await ensureStreams(c, cfg), c)));
  const tclient = () => (temporal ??= temporalClient(cfg));

  const app = Fastify({ logger: opts.log ? { level: 'info' } : false, bodyLimit: cfg.limits.maxObjectBytes });
  app.addContentTypeParser(/^(application\/octet-stream|image\/|video\/)/, { parseAs: 'buffer' }, (_req, body, done) =>
    done(null, body),
  );

  app.addHook('onRequest', async (req, reply) => {
    if (req.method === 'GET' || req.method === 'HEAD') return;
    if (!authorized(req.headers.authorization, token)) {
      await reply
        .code(401)
        .header('www-authenticate', 'Bearer')
        .send({ error: 'this write needs Authorization: Bearer <LOOKOUT_UI_TOKEN>' });
    }
  });
  app.setErrorHandler(async (err: Error & { statusCode?: number }, _req, reply) => {
    const code = err.statusCode ?? (err instanceof LookoutError && !err.retryable ? 400 : 500);
    await reply.code(code).send({ error: err.message, error_class: err.name });
  });

  await app.register(fastifyStatic, { root: PUBLIC, prefix: '/', index: 'index.html' });
  app.get('/lib/:file', async (req, reply) => {
    const rel = LIBS[(req.params as { file: string }).file];
    if (!rel) return reply.code(404).send({ error: 'no such library' });
    return reply
      .type(LIB_TYPES[path.extname(rel)] ?? 'application/octet-stream')
      .send(fs.createReadStream(path.join(NODE_MODULES, rel)));
  });
  // Leaflet's CSS refers to its marker images relative to itself; leaflet-draw's to its toolbar sprites.
  app.get('/lib/images/:file', async (req, reply) => {
    const f = path.basename((req.params as { file: string }).file);
    const pkg = f.startsWith('spritesheet') ? 'leaflet-draw' : 'leaflet';
    return reply
      .type(f.endsWith('.svg') ? 'image/svg+xml' : 'image/png')
      .send(fs.createReadStream(path.join(NODE_MODULES, pkg, 'dist', 'images', f)));
  });

  app.get('/api/info', async () => ({
    project: cfg.gcp.projectId,
    bucket: cfg.gcs.bucket,
    table: `${cfg.bigquery.dataset}.${cfg.bigquery.table}`,
    pipelines: pipelineNames(),
    defaultPipeline: cfg.pipeline,
    writesNeedToken: !!token,
  }));

  // Runs: listing, one run's report (infra/sql through loadtest/report.ts, as `lookout report`), comparison.
  app.get('/api/runs', async () => {
    const [runs, failures] = await Promise.all([listRuns(bq, cfg), failuresByRun(bq, cfg)]);
    return runs.map((r) => ({
      ...r,
      failures: failures
        .filter((f) => f.run_tag === r.run_tag)
        .map((f) => ({ error_class: f.error_class, n: Number(f.n) })),
    }));
  });
  app.get('/api/runs/:run/report', async (req) => {
    const { run } = req.params as { run: string };
    const { vs } = req.query as { vs?: string };
    return buildReport(bq, cfg, run, vs || undefined);
  });
  app.get('/api/runs/:run/hops', async (req) => runHops(bq, cfg, (req.params as { run: string }).run));
  app.get('/api/runs/:run/rows', async (req) => runRows(bq, cfg, (req.params as { run: string }).run));
  app.get('/api/analysis', async (req, reply) => {
    const row = await analysisRow(bq, cfg, String((req.query as { wf?: string }).wf ?? ''));
    return row ?? reply.code(404).send({ error: 'no such analysis' });
  });

  // Alerts: alert episodes with their newest verdict, filtered by scene, camera, reason and verdict (the
  // choices of each filter come with them); a video's frame scores; verdicts.
  app.get('/api/alerts', async (req) => {
    const q = req.query as { scene?: string; camera?: string; reason?: string; verdict?: string };
    const alerts = await listAlerts(bq, cfg);
    const ids = alerts.map((a) => a.workflow_id);
    const fb = ids.length ? await latestFeedback(bq, cfg, 't.workflow_id IN UNNEST(@ids)', { ids }) : [];
    const by = new Map(fb.map((f) => [f.workflow_id, f]));
    const all = alerts.map((a) => alertView(a, by.get(a.workflow_id)?.verdict ?? null));
    const uniq = (xs: Array<string | null>) => [...new Set(xs.filter((x): x is string => !!x))].sort();
    return {
      alerts: filterAlerts(all, q),
      choices: {
        scene: uniq(all.map((a) => a.scene)),
        camera: uniq(all.map((a) => a.camera)),
        reason: uniq(all.flatMap((a) => a.attributes)),
        verdict: ['confirmed', 'dismissed', 'none'],
      },
      total: all.length,
    };
  });
  app.get('/api/timeline', async (req) => {
    const q = req.query as { pipeline: string; bucket: string; name: string; generation: string };
    const rows = await videoFrames(bq, cfg, {
      pipeline: q.pipeline,
      bucket: q.bucket,
      name: q.name,
      generation: q.generation,
    });
    return (
      rows
        .map((r) => {
          const d = safeJson(r.details);
          return {
            workflow_id: r.workflow_id,
            frame: typeof d.frame === 'number' ? d.frame : null,
            time_s: typeof d.time_s === 'number' ? d.time_s : null,
            score: r.score,
            label: r.label,
          };
        })
        // Frame rows only: an alert episode's row names its peak frame too.
        .filter((r) => r.label !== 'alert')
        .filter((r) => r.frame !== null)
        .sort((a, b) => a.frame! - b.frame!)
    );
  });
  app.post('/api/feedback', async (req, reply) => {
    const b = (req.body ?? {}) as { workflowId?: string; verdict?: string; note?: string };
    // The alert is looked up here, not taken from the client: the verdict names the row it judges.
    const row = b.workflowId ? await analysisRow(bq, cfg, b.workflowId) : undefined;
    if (!row) return reply.code(404).send({ error: `no analysis ${JSON.stringify(b.workflowId)}` });
    const d = safeJson(row.details as string | null);
    const fb = await writeFeedback(bq, cfg, {
      analysisId: String(row.analysis_id),
      workflowId: String(row.workflow_id),
      verdict: String(b.verdict),
      pipeline: row.pipeline as string,
      scene: typeof d.scene === 'string' ? d.scene : null,
      bucket: row.bucket as string,
      name: row.name as string,
      generation: row.generation as string,
      frame: typeof d.frame === 'number' ? d.frame : null,
      note: b.note ?? null,
      reviewer: reviewerOf(req),
    });
    return fb;
  });
  app.get('/api/feedback', async (req) => {
    const wf = String((req.query as { wf?: string }).wf ?? '');
    return latestFeedback(bq, cfg, 't.workflow_id = @wf', { wf });
  });

  // Failures: failed rows, dead letters; retry through dispatch/retry.ts, as `lookout retry --workflow-id`.
  app.get('/api/failures', async () => {
    const failed = await listFailures(bq, cfg);
    let dead: unknown[] = [];
    let deadError: string | null = null;
    try {
      dead = await readDeadLetters(await nats(), cfg, { limit: 200 });
    } catch (err) {
      deadError = (err as Error).message;
      nc = undefined;
    }
    return { failed, dead, deadError };
  });
  app.post('/api/retry', async (req, reply) => {
    const wf = String(((req.body ?? {}) as { workflowId?: string }).workflowId ?? '');
    const rows = await failedAnalyses(bq, cfg, { workflowId: wf }, 1);
    if (rows.length === 0) return reply.code(404).send({ error: `no failed analysis ${JSON.stringify(wf)}` });
    const { client } = await tclient();
    const report = await retryAnalyses(rows, (r) => retryAnalysis(client, storage, cfg, r));
    const item = report.items[0];
    return { workflowId: wf, outcome: item?.outcome ?? 'failed', detail: item?.detail ?? null };
  });

  // Upload: one object per request (the page sends each file of a folder in turn), with the metadata of `lookout upload`.
  app.post('/api/upload', async (req, reply) => {
    const q = req.query as {
      name?: string;
      run?: string;
      pipeline?: string;
      scene?: string;
      every?: string;
      prefix?: string;
    };
    const body = req.body as Buffer | undefined;
    if (!q.name || !Buffer.isBuffer(body) || body.length === 0)
      return reply.code(400).send({ error: 'send the file as the request body with ?name=' });
    const base = path.basename(q.name).replace(/[^\w.\-]+/g, '_');
    if (q.pipeline && !pipelineNames().includes(q.pipeline))
      return reply.code(400).send({ error: `unknown pipeline ${q.pipeline}` });
    const run = q.run || defaultUploadRun();
    const name = `${q.prefix ?? 'uploads/'}${run}/${base}`;
    const every = q.every ? Number(q.every) : undefined;
    const metadata = uploadMetadata({
      run,
      pipeline: q.pipeline || undefined,
      scene: q.scene || undefined,
      every: Number.isFinite(every) ? every : undefined,
    });
    const contentType =
      String(req.headers['content-type'] ?? '') !== 'application/octet-stream'
        ? String(req.headers['content-type'])
        : (CONTENT_TYPES[path.extname(base).toLowerCase()] ?? 'application/octet-stream');
    await storage
      .bucket(cfg.gcs.bucket)
      .file(name)
      .save(body, { resumable: false, contentType, metadata: { metadata } });
    return { bucket: cfg.gcs.bucket, name, run };
  });

  // Zones: a scene's zones and rules (io/zones.ts, the store of `lookout zones`), drawn on a frame of its camera.
  const zones = zonesStore(storage, cfg.gcs.resultsBucket);
  const classes = detectorLabels(cfg.projectRoot);
  app.get('/api/scenes', async () => sceneNames(storage, cfg));
  app.get('/api/zones', async (req) => {
    const scene = checkScene(String((req.query as { scene?: string }).scene ?? ''));
    const z = await loadZones(zones, scene);
    return {
      scene,
      version: z?.version ?? null,
      zones: z?.doc.zones ?? [],
      classes: classes ?? [],
      ruleTypes: RULE_TYPES,
      video: await sceneVideo(storage, bq, cfg, scene),
    };
  });
  app.post('/api/zones', async (req, reply) => {
    const scene = checkScene(String((req.query as { scene?: string }).scene ?? ''));
    try {
      const saved = await saveZones(zones, scene, req.body, classes);
      return { scene, version: saved.version, uri: saved.uri, zones: saved.doc.zones };
    } catch (err) {
      if (err instanceof ZonesError)
        return reply.code(400).send({ error: err.message, error_class: err.name, problems: err.problems });
      throw err;
    }
  });

  // Live: the newest analysed frame of each stream; its pixels are decoded from the segment on request.
  app.get('/api/live', async () => liveFrames(bq, cfg));
  app.get('/api/frame.jpg', async (req, reply) => {
    const q = req.query as { bucket: string; name: string; generation: string; frame: string };
    const obj = ownObject(cfg, `gs://${q.bucket}/${q.name}`);
    if (!obj) return reply.code(403).send({ error: 'not a bucket of this deployment' });
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'lookout-ui-'));
    try {
      const file = path.join(tmp, 'video');
      await storage
        .bucket(obj.bucket)
        .file(obj.name, { generation: Number(q.generation) })
        .download({ destination: file });
      const sharp = (await import('sharp')).default;
      for await (const f of readFrames(file, [Number(q.frame)])) {
        const jpeg = await sharp(f.rgb, { raw: { width: f.width, height: f.height, channels: 3 } })
          .jpeg({ quality: 80 })
          .toBuffer();
        return reply.type('image/jpeg').send(jpeg);
      }
      return reply.code(404).send({ error: 'no such frame' });
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
  });

  // Map: rasters with chip rows, a raster's rows, the raster as a browser image (sharp decodes TIFF/PNG/JPEG).
  app.get('/api/rasters', async () => {
    try {
      return { rasters: await listRasters(bq, cfg), error: null };
    } catch (err) {
      // A table made before the raster column existed: the map is empty, and says why.
      return { rasters: [], error: (err as Error).message };
    }
  });
  app.get('/api/raster', async (req) => {
    const q = req.query as { bucket: string; name: string; generation: string };
    return rasterRows(bq, cfg, q);
  });
  // The chips an area of interest touches, as GeoJSON (ui/map.ts: the README's bounds SQL, then ST_INTERSECTS).
  app.get('/api/raster/select', async (req, reply) => {
    const q = req.query as { bucket?: string; name?: string; generation?: string; aoi?: string; download?: string };
    if (!q.bucket || !q.name || !q.generation)
      return reply.code(400).send({ error: 'bucket, name and generation are required' });
    const sel = await selectChips(
      bq,
      cfg,
      { bucket: q.bucket, name: q.name, generation: q.generation },
      parseAoi(q.aoi),
    );
    if (q.download)
      reply.header(
        'content-disposition',
        `attachment; filename="${path.basename(q.name).replace(/[^\w.-]+/g, '_')}-aoi.geojson"`,
      );
    return reply.type('application/geo+json').send(JSON.stringify(sel));
  });
  app.get('/api/raster.png', async (req, reply) => {
    const q = req.query as { bucket: string; name: string; generation?: string };
    const obj = ownObject(cfg, `gs://${q.bucket}/${q.name}`);
    if (!obj) return reply.code(403).send({ error: 'not a bucket of this deployment' });
    const file = storage.bucket(obj.bucket).file(obj.name, q.generation ? { generation: Number(q.generation) } : {});
    const [buf] = await file.download();
    const sharp = (await import('sharp')).default;
    try {
      if (
        buf
          .subarray(0, 4)
          .toString('latin1')
          .match(/^(II[*+]\0|MM\0[*+])$/)
      ) {
        const [md] = await file.getMetadata();
        return reply
          .type('image/png')
          .send(await rasterPreviewPng(buf, q.name, md.metadata as Record<string, string> | undefined));
      }
      const png = await sharp(buf, { limitInputPixels: cfg.limits.maxPixels })
        .resize({ width: 2048, height: 2048, fit: 'inside', withoutEnlargement: true })
        .normalise()
        .png()
        .toBuffer();
      return reply.type('image/png').send(png);
    } catch (err) {
      return reply.code(415).send({ error: `cannot render ${q.name} as an image: ${(err as Error).message}` });
    }
  });

  // An object of this deployment's buckets (annotated frames, clips, uploaded images).
  app.get('/api/object', async (req, reply) => {
    const obj = ownObject(cfg, String((req.query as { uri?: string }).uri ?? ''));
    if (!obj) return reply.code(403).send({ error: 'not an object of this deployment' });
    const file = storage.bucket(obj.bucket).file(obj.name);
    const [md] = await file.getMetadata().catch((err: { code?: number }) => {
      throw Object.assign(
        new Error(`gs://${obj.bucket}/${obj.name}: ${err.code === 404 ? 'not found' : String(err)}`),
        { statusCode: err.code === 404 ? 404 : 502 },
      );
    });
    const [buf] = await file.download();
    return reply
      .type(String(md.contentType ?? CONTENT_TYPES[path.extname(obj.name).toLowerCase()] ?? 'application/octet-stream'))
      .send(buf);
  });

  await app.listen({ port, host });
  const addr = app.server.address();
  const bound = typeof addr === 'object' && addr ? addr.port : port;
  return {
    app,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${bound}`,
    async close() {
      await app.close();
      if (nc) await (await nc.catch(() => undefined))?.drain().catch(() => {});
      if (temporal) await (await temporal.catch(() => undefined))?.connection.close().catch(() => {});
    },
  };
}

function safeJson(s: string | null | undefined): Record<string, unknown> {
  try {
    const v = JSON.parse(s ?? '{}') as unknown;
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** Who gave a verdict: the client address (there are no user accounts; the bearer token is shared). */
function reviewerOf(req: FastifyRequest): string {
  return `ui@${req.ip}`;
}
