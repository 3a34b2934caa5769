/**
 * End to end on the real servers: fake-gcs-server, NATS JetStream, the Temporal
 * dev server and bigquery-emulator, with Lookout's watcher, dispatcher and CPU
 * worker running as separate processes (started by global-setup).
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { analyzeInputFor } from '../../dispatch/dispatcher';
import { WorkflowStarter } from '../../io/starter';
import { validateObjectEvent, workflowIdFor } from '../../core/events';
import { bigquerySink, buildRow } from '../../io/results';
import { publishObjectEvent, readDeadLetters, objectSubject } from '../../io/streams';
import { summary } from '../unit/fixtures';
import {
  cfg,
  bq,
  ensureBucket,
  rowsWhere,
  sampleFrame,
  samplePhoto,
  SIDE_BUCKET,
  storage,
  TABLE,
  checkTimings,
  expectOnlyRunWroteRow,
  uniqueRun,
  upload,
  waitDispatcherSettled,
  waitForRows,
  withNats,
  withTemporal,
  type TimedRow,
} from './helpers';

interface Row extends TimedRow {
  workflow_id: string;
  run_id: string;
  status: string;
  error_class: string | null;
  error_message: string | null;
  failed_stage: string | null;
  attempts: number;
  name: string;
  label: string | null;
  width: number | null;
  objects: Array<{ label: string; score: number; x: number; y: number; w: number; h: number }>;
  models: Array<{ name: string; version: number }>;
  inference_ms: number;
  host: string | null;
  cores: number | null;
  execution_provider: string | null;
  onnxruntime_version: string | null;
  pool: string | null;
}

beforeAll(async () => {
  await ensureBucket(SIDE_BUCKET);
});

describe('upload -> row', () => {
  it('an image uploaded with the official GCS client becomes one row with every timing set and consistent', async () => {
    const run = uniqueRun('e2e');
    await upload(cfg.gcs.bucket, `${run}/frame100.jpg`, sampleFrame(100), 'image/jpeg', { 'lookout-run': run });
    const [row] = await waitForRows<Row>('run_tag = @run', { run }, 1);
    expect(row.status).toBe('ok');
    expect(row.width).toBe(768);
    expect(row.models).toEqual([{ stage: 'detect', name: 'nanodet', version: 1 }]);
    const people = row.objects.filter((o) => o.label === 'person');
    expect(people.length).toBeGreaterThanOrEqual(3); // vtest frame 100 shows several pedestrians
    expect(row.label).toBe('person');
    expect([row.host, row.cores, row.execution_provider, row.onnxruntime_version, row.pool]).not.toContain(null);
    checkTimings(row, expect);
    expect(row.inference_ms).toBeGreaterThan(0);
  });
});

describe('bad input', () => {
  it('corrupt, non-image, empty and non-image-typed objects each end as one failed row with a stable class, not retried', async () => {
    const run = uniqueRun('bad');
    const jpeg = samplePhoto('messi5.jpg');
    await upload(cfg.gcs.bucket, `${run}/truncated.jpg`, jpeg.subarray(0, jpeg.length >> 1), 'image/jpeg', {
      'lookout-run': run,
    });
    await upload(cfg.gcs.bucket, `${run}/text.jpg`, Buffer.from('definitely not an image'), 'image/jpeg', {
      'lookout-run': run,
    });
    await upload(cfg.gcs.bucket, `${run}/empty.png`, Buffer.alloc(0), 'image/png', { 'lookout-run': run });
    await upload(cfg.gcs.bucket, `${run}/notes.txt`, Buffer.from('hello'), 'text/plain', { 'lookout-run': run });
    const rows = await waitForRows<Row>('run_tag = @run', { run }, 4);
    const byName = Object.fromEntries(rows.map((r) => [r.name.split('/').pop(), r]));
    expect(byName['truncated.jpg'].error_class).toBe('CorruptImage');
    expect(byName['text.jpg'].error_class).toBe('NotAnImage');
    expect(byName['empty.png'].error_class).toBe('EmptyObject');
    expect(byName['notes.txt'].error_class).toBe('UnsupportedMedia');
    for (const r of rows) {
      expect(r.status).toBe('failed');
      expect(r.failed_stage).toBe('detect');
      expect(r.attempts).toBe(1); // non-retryable: one attempt, no retry storm
      expect(r.error_message).toBeTruthy();
    }
    // The workflows completed (they are not stuck retrying).
    await withTemporal(async (client) => {
      for (const r of rows)
        expect((await client.workflow.getHandle(r.workflow_id).describe()).status.name).toBe('COMPLETED');
    });
  });
});

describe('exactly one analysis per object version', () => {
  it('the same notification delivered twice (and once more under another message id) yields one workflow and one row', async () => {
    const run = uniqueRun('dup');
    const name = `${run}/dup.jpg`;
    const generation = await upload(SIDE_BUCKET, name, sampleFrame(200), 'image/jpeg');
    const [md] = await storage.bucket(SIDE_BUCKET).file(name).getMetadata();
    const v = validateObjectEvent({
      ...md,
      bucket: SIDE_BUCKET,
      name,
      metadata: { 'lookout-run': run },
      source: 'push',
    });
    expect(v.ok).toBe(true);
    if (!v.ok) return;
    let lastSeq = 0;
    await withNats(async (nc) => {
      const js = nc.jetstream();
      const first = await publishObjectEvent(js, cfg, v.value);
      const second = await publishObjectEvent(js, cfg, v.value);
      expect(first.duplicate).toBe(false);
      expect(second.duplicate).toBe(true); // dropped by the stream's Nats-Msg-Id window
      // A redelivery the stream cannot recognise (other message id): the workflow ID still dedupes it.
      lastSeq = (
        await js.publish(objectSubject(cfg, SIDE_BUCKET), JSON.stringify(v.value), { msgID: `${run}-other-id` })
      ).seq;
    });
    const wf = workflowIdFor('objects', { bucket: SIDE_BUCKET, name, generation });
    const rows = await waitForRows<Row>('workflow_id = @wf', { wf }, 1);
    // Nothing more: the dispatcher has settled all three messages (the one under another id too), and the
    // workflow's only run, completed, is the one that wrote the row.
    await waitDispatcherSettled(lastSeq);
    await expectOnlyRunWroteRow(rows);
    const raw = await rowsWhere<Row>('workflow_id = @wf', { wf }, TABLE());
    expect(raw).toHaveLength(1);
    await withTemporal(async (client) => {
      let runs = 0;
      for await (const _ of client.workflow.list({ query: `WorkflowId = '${wf.replace(/'/g, "\\'")}'` })) runs++;
      expect(runs).toBe(1);
    });
  });

  it('a retried BigQuery write does not add a second row to the view', async () => {
    const s = summary();
    const run = uniqueRun('once');
    s.workflowId = `test:${run}`;
    s.input.runTag = run;
    const sink = bigquerySink(bq, cfg);
    await sink.insert([buildRow(s, Date.now())]);
    await sink.insert([buildRow(s, Date.now() + 1)]); // the record activity retried after a lost ack
    const raw = await rowsWhere('run_tag = @run', { run }, TABLE());
    const view = await rowsWhere('run_tag = @run', { run });
    expect(raw).toHaveLength(2); // the emulator ignores insertId, as the guide warns
    expect(view).toHaveLength(1);
  });
});

describe('dead letters', () => {
  it('a malformed event goes to the dead-letter stream with its reason', async () => {
    const marker = uniqueRun('malformed');
    await withNats(async (nc) => {
      const js = nc.jetstream();
      await js.publish(
        objectSubject(cfg, cfg.gcs.bucket),
        JSON.stringify({ bucket: cfg.gcs.bucket, name: marker, generation: 'not-a-number' }),
      );
      await js.publish(objectSubject(cfg, cfg.gcs.bucket), `{ not json ${marker}`);
      const deadline = Date.now() + 30_000;
      let mine: Awaited<ReturnType<typeof readDeadLetters>> = [];
      while (Date.now() < deadline) {
        mine = (await readDeadLetters(nc, cfg, { kind: 'invalid' })).filter((d) => d.payload.includes(marker));
        if (mine.length >= 2) break;
        await new Promise((r) => setTimeout(r, 500));
      }
      expect(mine).toHaveLength(2);
      expect(mine.map((d) => d.reason).sort()).toEqual([
        'field "generation" is missing or not a positive decimal integer',
        'payload is not valid JSON',
      ]);
    });
  });
});

describe('pools', () => {
  it('a GPU stage that no GPU worker picks up runs on the CPU pool, and the row says so', async () => {
    const run = uniqueRun('fallback');
    const name = `${run}/gpu.jpg`;
    await upload(SIDE_BUCKET, name, sampleFrame(300), 'image/jpeg');
    const [md] = await storage.bucket(SIDE_BUCKET).file(name).getMetadata();
    const v = validateObjectEvent({
      ...md,
      bucket: SIDE_BUCKET,
      name,
      metadata: { 'lookout-run': run },
      source: 'push',
    });
    if (!v.ok) throw new Error(v.reason);
    const input = analyzeInputFor(v.value, cfg, { gpuStages: ['detect'], gpuFallbackMs: 1500 });
    expect(input.pipeline.stages.detect.taskQueue).toBe('objects-gpu');
    await withTemporal((client) => new WorkflowStarter(client, cfg).startAnalysis(input));
    const [row] = await waitForRows<Row>('run_tag = @run', { run }, 1, 60_000);
    expect(row.status).toBe('ok');
    const detect = row.stages.find((s) => s.stage === 'detect')!;
    expect(detect.fell_back).toBe(true);
    expect(detect.pool).toBe('cpu');
    expect(detect.task_queue).toBe('objects-cpu');
    expect(row.stages.find((s) => s.stage === 'extract')!.fell_back).toBe(false);
  });
});
