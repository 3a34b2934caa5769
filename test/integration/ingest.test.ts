/**
 * Ingest and operations on the real servers: the push endpoint's
 * authentication, backfill, a dispatcher killed mid-stream, operator retry.
 */
import crypto from 'node:crypto';
import { createServer as httpServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { retryAnalysis } from '../../dispatch/retry';
import fs from 'node:fs';
import { appSpec, readyFile } from '../../infra/stack';
import { isAlive, readPid, startDetached, stopProc } from '../../infra/procs';
import { backfill } from '../../ingest/backfill';
import {
  anyVerifier,
  createPushServer,
  oidcVerifier,
  staticTokenVerifier,
  type TokenVerifier,
} from '../../ingest/push';
import { natsConnect, temporalClient } from '../../io/clients';
import { workflowIdFor } from '../../core/events';
import { resolvePipeline } from '../../core/pipelines';
import { WorkflowStarter } from '../../io/starter';
import { DISPATCHER_DURABLE, readDeadLetters } from '../../io/streams';
import {
  cfg,
  ensureBucket,
  expectOnlyRunWroteRow,
  objectEventSeqs,
  objectsStreamLastSeq,
  rowsWhere,
  sampleFrame,
  SIDE_BUCKET,
  storage,
  TABLE,
  uniqueRun,
  upload,
  waitDispatcherSettled,
  waitForRows,
  withNats,
  withTemporal,
} from './helpers';

interface Row {
  workflow_id: string;
  run_id: string;
  name: string;
  status: string;
  error_class: string | null;
  pipeline: string;
  bucket: string;
  generation: string;
  run_tag: string | null;
}

beforeAll(async () => {
  await ensureBucket(SIDE_BUCKET);
});

describe('push endpoint', () => {
  let server: Server;
  let base: string;
  let nc: Awaited<ReturnType<typeof natsConnect>>;
  const secret = crypto.randomBytes(16).toString('hex');
  // Our own signing key stands in for Google's: the verifier checks signature, issuer, audience and expiry.
  const { privateKey, publicKey } = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = 'test-key';
  const audience = 'https://lookout.example/pubsub';
  let oidc: TokenVerifier;

  function idToken(claims: Record<string, unknown>): string {
    const enc = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const now = Math.floor(Date.now() / 1000);
    const body = `${enc({ alg: 'RS256', kid, typ: 'JWT' })}.${enc({ iss: 'https://accounts.google.com', aud: audience, iat: now, exp: now + 600, sub: '123', email: 'pubsub@proj.iam.gserviceaccount.com', email_verified: true, ...claims })}`;
    return `${body}.${crypto.sign('sha256', Buffer.from(body), privateKey).toString('base64url')}`;
  }

  // Google's certificate endpoint, played on loopback: {kid: PEM}.
  const certServer = httpServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' });
    res.end(JSON.stringify({ [kid]: publicKey.export({ type: 'spki', format: 'pem' }).toString() }));
  });

  beforeAll(async () => {
    nc = await natsConnect(cfg, 'lookout-test-push');
    await new Promise<void>((r) => certServer.listen(0, '127.0.0.1', r));
    oidc = oidcVerifier({
      audience,
      serviceAccounts: ['pubsub@proj.iam.gserviceaccount.com'],
      certsUrl: `http://127.0.0.1:${(certServer.address() as AddressInfo).port}/certs`,
    });
    // Accept either kind, as a deployment with both configured would.
    const verify: TokenVerifier = anyVerifier(staticTokenVerifier(secret), oidc);
    server = createPushServer({
      cfg: { ...cfg, push: { ...cfg.push, buckets: [cfg.gcs.bucket, SIDE_BUCKET] } },
      js: nc.jetstream(),
      verify,
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => server.close(r));
    await new Promise((r) => certServer.close(r));
    await nc.close();
  });

  const envelope = (payload: unknown, eventType = 'OBJECT_FINALIZE') => ({
    message: {
      attributes: { eventType, payloadFormat: 'JSON_API_V1' },
      data: Buffer.from(JSON.stringify(payload)).toString('base64'),
      messageId: '1',
    },
    subscription: 'projects/p/subscriptions/s',
  });
  const post = (path: string, body: unknown, token?: string, headers: Record<string, string> = {}) =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
        ...headers,
      },
      body: JSON.stringify(body),
    });

  it('rejects requests without a valid token', async () => {
    expect((await post('/pubsub', envelope({}))).status).toBe(401);
    expect((await post('/pubsub', envelope({}), 'wrong')).status).toBe(401);
    expect((await post('/pubsub', envelope({}), idToken({ aud: 'https://someone.else' }))).status).toBe(401);
    expect(
      (
        await post(
          '/pubsub',
          envelope({}),
          idToken({ exp: Math.floor(Date.now() / 1000) - 3600, iat: Math.floor(Date.now() / 1000) - 7200 }),
        )
      ).status,
    ).toBe(401);
  });

  it('accepts an authenticated Pub/Sub push and a CloudEvent, and the objects get rows', async () => {
    const run = uniqueRun('push');
    const a = `${run}/pubsub.jpg`;
    const b = `${run}/cloudevent.jpg`;
    await upload(SIDE_BUCKET, a, sampleFrame(120), 'image/jpeg', { 'lookout-run': run });
    await upload(SIDE_BUCKET, b, sampleFrame(130), 'image/jpeg', { 'lookout-run': run });
    const [ma] = await storage.bucket(SIDE_BUCKET).file(a).getMetadata();
    const [mb] = await storage.bucket(SIDE_BUCKET).file(b).getMetadata();
    expect((await post('/pubsub', envelope(ma), idToken({}))).status).toBe(204);
    const ce = await post('/cloudevents', mb, secret, {
      'ce-type': 'google.cloud.storage.object.v1.finalized',
      'ce-id': '1',
      'ce-source': `//storage.googleapis.com/projects/_/buckets/${SIDE_BUCKET}`,
      'ce-specversion': '1.0',
    });
    expect(ce.status).toBe(204);
    const rows = await waitForRows<Row>('run_tag = @run', { run }, 2);
    expect(rows.map((r) => r.status)).toEqual(['ok', 'ok']);
  });

  it('acknowledges and dead-letters a malformed notification; ignores other event types', async () => {
    const marker = uniqueRun('badpush');
    const r = await post('/pubsub', envelope({ bucket: SIDE_BUCKET, name: marker }), secret);
    expect(r.status).toBe(200);
    expect(((await r.json()) as { deadLettered: string }).deadLettered).toContain('generation');
    expect((await post('/pubsub', envelope({ name: marker }, 'OBJECT_DELETE'), secret)).status).toBe(204);
    const dls = (await readDeadLetters(nc, cfg, { kind: 'ingest' })).filter(
      (d) =>
        d.payload.includes(marker) ||
        Buffer.from(JSON.parse(d.payload).message?.data ?? '', 'base64')
          .toString()
          .includes(marker),
    );
    expect(dls).toHaveLength(1);
  });
});

describe('backfill', () => {
  it('publishes one event per existing object under a prefix; a second pass adds nothing', async () => {
    const run = uniqueRun('backfill');
    const prefix = `${run}/archive/`;
    for (let i = 0; i < 5; i++) await upload(SIDE_BUCKET, `${prefix}f${i}.jpg`, sampleFrame(10 + i * 20), 'image/jpeg');
    await upload(SIDE_BUCKET, `${run}/elsewhere.jpg`, sampleFrame(5), 'image/jpeg'); // outside the prefix
    const r1 = await withNats((nc) =>
      backfill(nc, storage, cfg, { bucket: SIDE_BUCKET, prefix, rate: 50, pageSize: 2, restart: false, runTag: run }),
    );
    expect(r1).toEqual(expect.objectContaining({ listed: 5, published: 5, done: true, pages: 3 }));
    const rows = await waitForRows<Row>('run_tag = @run', { run }, 5);
    expect(new Set(rows.map((x) => x.name)).size).toBe(5);
    const r2 = await withNats((nc) =>
      backfill(nc, storage, cfg, { bucket: SIDE_BUCKET, prefix, rate: 0, pageSize: 100, restart: false, runTag: run }),
    );
    expect(r2.duplicates + r2.published).toBe(5);
    // Nothing more: the dispatcher has settled every event of both passes, and each object's only run wrote its row.
    await waitDispatcherSettled(await objectsStreamLastSeq());
    await expectOnlyRunWroteRow(rows);
    expect(await rowsWhere('run_tag = @run', { run }, TABLE())).toHaveLength(5);
  });
});

describe('bulk backfill', () => {
  it('analyses many objects per workflow, one row per object under its own workflow id; a bad object fails alone', async () => {
    const run = uniqueRun('bulk');
    const prefix = `${run}/archive/`;
    for (let i = 0; i < 11; i++)
      await upload(SIDE_BUCKET, `${prefix}f${String(i).padStart(2, '0')}.jpg`, sampleFrame(15 + i * 17), 'image/jpeg');
    const jpeg = sampleFrame(400);
    await upload(SIDE_BUCKET, `${prefix}f99-truncated.jpg`, jpeg.subarray(0, jpeg.length >> 1), 'image/jpeg');
    const { client, connection } = await temporalClient(cfg);
    try {
      const pipeline = resolvePipeline('objects', { gpuStages: [], gpuFallbackMs: 1000 });
      const r = await withNats((nc) =>
        backfill(nc, storage, cfg, {
          bucket: SIDE_BUCKET,
          prefix,
          rate: 0,
          pageSize: 100,
          restart: false,
          runTag: run,
          bulk: { size: 5, inflight: 2, starter: new WorkflowStarter(client, cfg), pipeline },
        }),
      );
      expect(r).toEqual(
        expect.objectContaining({
          listed: 12,
          published: 12,
          done: true,
          bulk: { batches: 3, objects: 12, ok: 11, failed: 1 },
        }),
      );
      const rows = await waitForRows<Row>('run_tag = @run', { run }, 12);
      expect(rows).toHaveLength(12);
      for (const row of rows) expect(row.workflow_id).toBe(workflowIdFor('objects', row));
      const bad = rows.filter((x) => x.status === 'failed');
      expect(bad.map((x) => [x.name.split('/').pop(), x.error_class])).toEqual([['f99-truncated.jpg', 'CorruptImage']]);
      // Three batch workflows (5 + 5 + 2), not twelve.
      expect(new Set(rows.map((x) => x.run_id)).size).toBe(3);
      // A second pass starts nothing new: the batches have deterministic ids.
      await withNats((nc) =>
        backfill(nc, storage, cfg, {
          bucket: SIDE_BUCKET,
          prefix,
          rate: 0,
          pageSize: 100,
          restart: true,
          runTag: run,
          bulk: { size: 5, inflight: 2, starter: new WorkflowStarter(client, cfg), pipeline },
        }),
      );
      expect(await rowsWhere('run_tag = @run', { run }, TABLE())).toHaveLength(12);
    } finally {
      await connection.close();
    }
  });
});

describe('dispatcher crash', () => {
  it('killed mid-stream and restarted: every object analysed once, none lost', async () => {
    const run = uniqueRun('crash');
    const n = 16;
    // Stop the stack's dispatcher so events pile up in the stream.
    await stopProc(cfg.home, 'dispatcher');
    const before = await objectsStreamLastSeq();
    const names = Array.from({ length: n }, (_, i) => `${run}/o${i}.jpg`);
    for (const [i, name] of names.entries())
      await upload(cfg.gcs.bucket, name, sampleFrame(40 + i * 7), 'image/jpeg', { 'lookout-run': run });
    // All n events are on the stream before the dispatcher starts.
    const seqs = [...(await objectEventSeqs(names, before + 1)).values()];
    const [first, last] = [Math.min(...seqs), Math.max(...seqs)];
    const spec = appSpec(cfg, 'dispatcher');
    fs.rmSync(readyFile(cfg, 'dispatcher'), { force: true });
    const pid = startDetached(cfg.home, spec);
    // Kill it without warning as soon as it holds events of this run unacked (delivered to it, not yet acknowledged).
    const atKill = await withNats(async (nc) => {
      const jsm = await nc.jetstreamManager();
      const deadline = Date.now() + 60_000;
      for (;;) {
        const ci = await jsm.consumers.info(cfg.nats.stream, DISPATCHER_DURABLE);
        if (ci.delivered.stream_seq >= first && ci.num_ack_pending > 0) {
          process.kill(-pid, 'SIGKILL');
          break;
        }
        if (ci.ack_floor.stream_seq >= last)
          throw new Error(
            'the dispatcher acknowledged every event of the run before it could be seen holding one: no mid-stream kill',
          );
        if (Date.now() > deadline)
          throw new Error(
            `the dispatcher took no event of the run in 60 s (delivered up to ${ci.delivered.stream_seq}, first ${first})`,
          );
        await new Promise((r) => setTimeout(r, 5));
      }
      while (isAlive(pid)) await new Promise((r) => setTimeout(r, 20));
      return jsm.consumers.info(cfg.nats.stream, DISPATCHER_DURABLE);
    });
    // The kill landed mid-stream: the dead dispatcher had taken events of the run, yet left some of them unacked.
    expect(atKill.delivered.stream_seq).toBeGreaterThanOrEqual(first);
    expect(atKill.ack_floor.stream_seq).toBeLessThan(last);
    const pid2 = startDetached(cfg.home, spec);
    expect(readPid(cfg.home, 'dispatcher')).toBe(pid2);
    const rows = await waitForRows<Row>('run_tag = @run', { run }, n, 180_000);
    expect(new Set(rows.map((r) => r.workflow_id)).size).toBe(n);
    // Nothing more: every event of the run is settled (the redelivered ones included) and each row came from its object's only run.
    await waitDispatcherSettled(last);
    await expectOnlyRunWroteRow(rows);
    const raw = await rowsWhere<Row>('run_tag = @run', { run }, TABLE());
    expect(raw).toHaveLength(n); // no duplicate analysis, not even a duplicate physical row
  });
});

describe('operator retry', () => {
  it('re-runs a failed analysis under the same workflow id; the view keeps one row, the newest', async () => {
    const run = uniqueRun('retry');
    await upload(cfg.gcs.bucket, `${run}/broken.jpg`, Buffer.from('not an image'), 'image/jpeg', {
      'lookout-run': run,
    });
    const [failed] = await waitForRows<Row>('run_tag = @run', { run }, 1);
    expect(failed.status).toBe('failed');
    const outcome = await withTemporal((client) => retryAnalysis(client, storage, cfg, failed));
    expect(outcome).toBe('restarted');
    const deadline = Date.now() + 60_000;
    let raw: Row[] = [];
    while (Date.now() < deadline && raw.length < 2) {
      raw = await rowsWhere<Row>('run_tag = @run', { run }, TABLE());
      await new Promise((r) => setTimeout(r, 500));
    }
    expect(raw).toHaveLength(2);
    const view = await rowsWhere<Row>('run_tag = @run', { run });
    expect(view).toHaveLength(1);
    expect(view[0].run_id).not.toBe(failed.run_id);
    expect(view[0].workflow_id).toBe(failed.workflow_id);
  });
});
