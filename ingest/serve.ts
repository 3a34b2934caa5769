/**
 * Synchronous API for one frame triplet (the reference service's shape): the
 * client has uploaded KEY, KEY_d3 and KEY_p3; POST /v1/frames {"key": KEY}
 * runs the cctv-ocae (triplet) analysis through Temporal and answers with the frame
 * score and the abnormal boxes. Bad requests are 4xx, never 500.
 */
import http from 'node:http';
import { WorkflowFailedError } from '@temporalio/client';
import type { Storage } from '@google-cloud/storage';
import type { LookoutConfig } from '../config';
import { analyzeInputFor } from '../dispatch/dispatcher';
import { validateObjectEvent } from '../core/events';
import type { WorkflowStarter } from '../io/starter';
import { SCENE_RE } from '../io/scenes';
import { isNeighbour, neighbourNames } from '../media/triplets';
import { SERVE_OPENAPI } from './serve-openapi';
import { bearerMatches, isLoopbackHost, UnauthenticatedExposureError } from './http-auth';
import type { AnalyzeResult } from '../core/workflows';

export interface ServeDeps {
  cfg: LookoutConfig;
  starter: WorkflowStarter;
  storage: Storage;
  defaultScene: string;
  timeoutMs: number;
  /** Bearer secret every request but GET /healthz must carry (LOOKOUT_SERVE_TOKEN); none: loopback only. */
  token?: string;
}

/** `lookout serve` beyond loopback needs a token: the API starts analyses and reads any object of the bucket. */
export function assertServeExposure(host: string, token: string | undefined): void {
  if (!token && !isLoopbackHost(host)) {
    throw new UnauthenticatedExposureError(
      `serve: --host ${host} is beyond loopback and LOOKOUT_SERVE_TOKEN is not set: set it (callers send "Authorization: Bearer <token>") or listen on 127.0.0.1`,
    );
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

async function readJson(req: http.IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > 64 * 1024) throw new HttpError(413, 'request body over 64 KiB');
    chunks.push(c as Buffer);
  }
  try {
    const v = JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch {
    throw new HttpError(400, 'body must be a JSON object like {"key": "cam1/f0100.jpg"}');
  }
}

async function objectMeta(
  storage: Storage,
  bucket: string,
  name: string,
): Promise<Record<string, unknown> | undefined> {
  try {
    const [md] = await storage.bucket(bucket).file(name).getMetadata();
    return md as unknown as Record<string, unknown>;
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

export async function analyzeFrame(deps: ServeDeps, body: Record<string, unknown>) {
  const { cfg } = deps;
  const key = body.key;
  if (typeof key !== 'string' || key.length === 0 || key.length > 1024)
    throw new HttpError(400, '"key" must be a non-empty object name');
  if (isNeighbour(key)) throw new HttpError(400, `"${key}" is a neighbour frame; send the KEY of frame t`);
  const bucket = typeof body.bucket === 'string' ? body.bucket : cfg.gcs.bucket;
  const scene = typeof body.scene === 'string' ? body.scene : deps.defaultScene;
  if (!SCENE_RE.test(scene))
    throw new HttpError(400, `"scene" ${JSON.stringify(scene)} must be lowercase letters, digits, - or _`);
  const md = await objectMeta(deps.storage, bucket, key);
  if (!md) throw new HttpError(404, `gs://${bucket}/${key} does not exist`);
  const n = neighbourNames(key);
  for (const [label, name] of [
    ['t-3', n.d3],
    ['t+3', n.p3],
  ] as const) {
    if (!(await objectMeta(deps.storage, bucket, name)))
      throw new HttpError(400, `frame ${label} gs://${bucket}/${name} is missing: upload KEY, KEY_d3 and KEY_p3`);
  }
  const v = validateObjectEvent({
    ...md,
    bucket,
    name: key,
    metadata: {
      ...((md.metadata as Record<string, string>) ?? {}),
      'lookout-pipeline': 'cctv-ocae',
      'lookout-scene': scene,
    },
    source: 'push',
  });
  if (!v.ok) throw new HttpError(400, v.reason);
  const input = analyzeInputFor(v.value, cfg, cfg.pipelines);
  input.scene = scene;
  let started = await deps.starter.startAnalysis(input);
  if (started.outcome === 'duplicate' && (await deps.starter.analysisStatus(started.workflowId)) === 'failed') {
    // Asked again for a frame whose analysis failed earlier (the scene was not fitted yet, a worker was down):
    // analyse it again rather than hand back the old failure. A new run under the same id; the newest row wins.
    started = await deps.starter.startAnalysis(input, 'analyzeObject', { rerun: true });
  }
  const { workflowId } = started;
  let result: AnalyzeResult;
  let timer: NodeJS.Timeout | undefined;
  try {
    result = await Promise.race([
      deps.starter.analysisResult(workflowId),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new HttpError(504, `analysis ${workflowId} still running after ${deps.timeoutMs} ms`)),
          deps.timeoutMs,
        );
      }),
    ]);
  } catch (err) {
    if (err instanceof WorkflowFailedError) throw new HttpError(503, `analysis ${workflowId} failed: ${err.message}`);
    throw err;
  } finally {
    // The 504 timer must not outlive the request: with many requests, each would hold a timer (and its closure) for timeoutMs.
    clearTimeout(timer);
  }
  if (result.status !== 'ok') {
    const status = result.errorClass === 'SceneModelMissing' ? 409 : 422;
    return {
      httpStatus: status,
      body: { status, workflowId, errorClass: result.errorClass, message: `analysis failed: ${result.errorClass}` },
    };
  }
  // The workflow's result carries what the row holds: no query, so the answer is not slowed by BigQuery.
  const details = (result.details ?? {}) as { threshold?: number; annotated?: string; scene_version?: number };
  const threshold = details.threshold ?? null;
  const objects = (result.scored ?? []).map((o) => ({
    label: o.label,
    detectorScore: o.score,
    anomalyScore: o.anomalyScore ?? null,
    box: { x: o.x, y: o.y, w: o.w, h: o.h },
  }));
  return {
    httpStatus: 200,
    body: {
      status: 200,
      workflowId,
      scene,
      sceneVersion: details.scene_version ?? null,
      frameScore: result.score ?? null,
      threshold,
      abnormal: objects.filter((o) => threshold !== null && o.anomalyScore !== null && o.anomalyScore > threshold),
      objects,
      annotated: details.annotated ?? null,
    },
  };
}

export function createServeApi(deps: ServeDeps): http.Server {
  return http.createServer((req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (req.method === 'GET' && url.pathname === '/healthz') return send(200, { ok: true });
      if (deps.token && !bearerMatches(req.headers.authorization, deps.token)) {
        req.resume();
        res.setHeader('www-authenticate', 'Bearer');
        return send(401, { status: 401, error: 'missing or invalid bearer token' });
      }
      if (req.method === 'GET' && url.pathname === '/openapi.json') return send(200, SERVE_OPENAPI);
      if (url.pathname !== '/v1/frames') return send(404, { status: 404, error: 'POST /v1/frames' });
      if (req.method !== 'POST') return send(405, { status: 405, error: 'POST only' });
      try {
        const r = await analyzeFrame(deps, await readJson(req));
        return send(r.httpStatus, r.body);
      } catch (err) {
        if (err instanceof HttpError) return send(err.status, { status: err.status, error: err.message });
        return send(503, { status: 503, error: `service unavailable: ${(err as Error).message}` });
      }
    })();
  });
}
