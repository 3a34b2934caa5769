/**
 * Worker versioning against the Temporal dev server (issue 16): `lookout worker` with LOOKOUT_WORKER_DEPLOYMENT
 * and LOOKOUT_WORKER_BUILD_ID registers its deployment version; workflows started while a version is current
 * are PINNED to it, so a second release made current takes the new workflows and leaves the first release's
 * workflows on the build that started them. In a namespace of its own, so the test stack's unversioned worker
 * and its queues are untouched.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { msToTs } from '@temporalio/common/lib/time';
import { loadConfig } from '../../config';
import { eventFromObjectResource } from '../../core/events';
import { analyzeInputFor } from '../../dispatch/dispatcher';
import { temporalClient } from '../../io/clients';
import { WorkflowStarter } from '../../io/starter';
import { cfg, ensureBucket, sampleFrame, SIDE_BUCKET, storage, upload, uniqueRun } from './helpers';

const NAMESPACE = 'lookout-versioning';
const DEPLOYMENT = 'lookout-test';
const workers: Record<string, ChildProcess> = {};
const ncfg = loadConfig({ ...process.env, LOOKOUT_TEMPORAL_NAMESPACE: NAMESPACE });
let conn: Awaited<ReturnType<typeof temporalClient>>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 120_000): Promise<T> {
  const t0 = Date.now();
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(500);
  }
}

/** Starts `lookout worker` as release `buildId` and waits for its ready file. */
async function startRelease(buildId: string): Promise<void> {
  const ready = path.join(cfg.home, 'run', `versioned-${buildId}.ready`);
  fs.rmSync(ready, { force: true });
  let out = '';
  const p = spawn(
    process.execPath,
    [
      path.join(cfg.projectRoot, 'bin', 'lookout'),
      'worker',
      '--pool',
      'cpu',
      '--pipelines',
      'objects',
      '--concurrency',
      '2',
    ],
    {
      cwd: cfg.projectRoot,
      env: {
        ...process.env,
        LOOKOUT_TEMPORAL_NAMESPACE: NAMESPACE,
        LOOKOUT_WORKER_DEPLOYMENT: DEPLOYMENT,
        LOOKOUT_WORKER_BUILD_ID: buildId,
        LOOKOUT_READY_FILE: ready,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  p.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  workers[buildId] = p;
  await until(`worker ${buildId} ready`, async () => {
    if (p.exitCode !== null) throw new Error(`worker ${buildId} exited: ${out}`);
    return fs.existsSync(ready) ? true : undefined;
  });
}

async function versions(): Promise<string[]> {
  const d = await conn.connection.workflowService.describeWorkerDeployment({
    namespace: NAMESPACE,
    deploymentName: DEPLOYMENT,
  });
  return (d.workerDeploymentInfo?.versionSummaries ?? []).map((v) => v.deploymentVersion?.buildId ?? '');
}

async function setCurrent(buildId: string): Promise<void> {
  await until(`${buildId} current`, async () => {
    await conn.connection.workflowService.setWorkerDeploymentCurrentVersion({
      namespace: NAMESPACE,
      deploymentName: DEPLOYMENT,
      buildId,
      identity: 'lookout-test',
    });
    return true;
  });
}

/** Analyses one uploaded image in the namespace; returns the workflow's pinned build ID once it completed. */
async function analyseOne(run: string, i: number): Promise<{ buildId: string | undefined; behavior: unknown }> {
  const name = `versioning/${run}/${i}.jpg`;
  const generation = await upload(SIDE_BUCKET, name, sampleFrame(100 + i), 'image/jpeg', { 'lookout-run': run });
  const [md] = await storage
    .bucket(SIDE_BUCKET)
    .file(name, { generation: Number(generation) })
    .getMetadata();
  const ev = eventFromObjectResource(
    { ...md, bucket: SIDE_BUCKET, name } as Parameters<typeof eventFromObjectResource>[0],
    'backfill',
  );
  if (!ev.ok) throw new Error(ev.reason);
  const { workflowId } = await new WorkflowStarter(conn.client, ncfg).startAnalysis(
    analyzeInputFor(ev.value, ncfg, ncfg.pipelines),
  );
  const handle = conn.client.workflow.getHandle(workflowId);
  await handle.result();
  const d = await handle.describe();
  const vi = d.raw.workflowExecutionInfo?.versioningInfo;
  return { buildId: vi?.deploymentVersion?.buildId ?? undefined, behavior: vi?.behavior };
}

beforeAll(async () => {
  conn = await temporalClient(ncfg);
  try {
    await conn.connection.workflowService.registerNamespace({
      namespace: NAMESPACE,
      workflowExecutionRetentionPeriod: msToTs('1 day'),
    });
  } catch (err) {
    if (!/already exists|AlreadyExists/i.test((err as Error).message)) throw err;
  }
  await until(
    'namespace',
    async () => (await conn.connection.workflowService.describeNamespace({ namespace: NAMESPACE })) && true,
  );
  await ensureBucket(SIDE_BUCKET);
}, 180_000);

afterAll(async () => {
  for (const p of Object.values(workers)) {
    if (p.exitCode !== null) continue;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGTERM');
    await exited;
  }
  await conn?.connection.close();
});

describe('worker versioning (Worker Deployments on the dev server)', () => {
  it('a release registers its version; workflows are pinned to the version current when they started', async () => {
    const run = uniqueRun('versioning');
    await startRelease('v1');
    await until('v1 registered', async () => ((await versions()).includes('v1') ? true : undefined));
    await setCurrent('v1');
    const first = await analyseOne(run, 1);
    expect(first.buildId).toBe('v1');
    // VersioningBehavior.PINNED = 1 in the API enum.
    expect(first.behavior).toBe(1);

    // The next release rolls out next to it; making it current moves new workflows only.
    await startRelease('v2');
    await until('v2 registered', async () => ((await versions()).includes('v2') ? true : undefined));
    await setCurrent('v2');
    const second = await analyseOne(run, 2);
    expect(second.buildId).toBe('v2');
    expect(second.behavior).toBe(1);
    expect((await versions()).sort()).toEqual(['v1', 'v2']);
  }, 600_000);
});
