/**
 * Full-size NATS leader failover (issue 16): `npm run bench:nats-failover [-- --objects 3000 --port-base 30300]`.
 *
 * Starts a whole embedded stack of its own with a 3-node NATS JetStream cluster (`lookout up --nats-cluster 3`:
 * watcher, dispatcher, CPU worker), runs bench/nats-failover.ts (the stream leader SIGKILLed mid-run), prints the
 * figures with the machine, writes them to .lookout/nats-failover.json, stops the stack and exits 1 on any lost or
 * duplicate row.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../config';
import { extractFrames } from '../demo/samples';
import { down, natsNodeSpec, up } from '../infra/stack';
import { startDetached } from '../infra/procs';
import { bigqueryClient, natsConnect, storageClient, temporalClient } from '../io/clients';
import { listSampleFiles } from '../loadtest/loadtest';
import { benchArgs, usageFail } from './args';
import { runFailover } from './nats-failover';

const USAGE = `Usage: npm run bench:nats-failover [-- --objects N] [--port-base N]

Starts its own embedded stack with a 3-node NATS JetStream cluster, SIGKILLs the stream leader mid-run, prints the
figures with the machine and writes them to .lookout/nats-failover.json. Exit 0: no object lost, unpublished or
duplicated, every workflow settled; 1: any of those; 2: bad options.

  --objects N     objects uploaded and published (default 3000)
  --port-base N   ports of the stack (default 30300)`;

async function main(): Promise<number> {
  const args = benchArgs(
    { objects: { type: 'string', default: '3000' }, 'port-base': { type: 'string', default: '30300' } },
    USAGE,
  );
  const objects = Number(args.objects);
  const portBase = Number(args['port-base']);
  if (!Number.isInteger(objects) || objects < 1)
    usageFail(`--objects needs a positive integer, got ${JSON.stringify(args.objects)}`, USAGE);
  if (!Number.isInteger(portBase) || portBase < 1024 || portBase > 65_000)
    usageFail(`--port-base needs a port number, got ${JSON.stringify(args['port-base'])}`, USAGE);
  const home = path.resolve(__dirname, '..', '.lookout', 'nats-failover');
  const cfg = loadConfig({
    ...process.env,
    LOOKOUT_HOME: home,
    LOOKOUT_PORT_BASE: String(portBase),
    LOOKOUT_NATS_CLUSTER: '3',
  });
  await down(cfg);
  fs.rmSync(home, { recursive: true, force: true });
  const log = (l: string) => console.log(`  ${l}`);
  await up(cfg, { apps: true, log });
  const nc = await natsConnect(cfg, 'bench-failover');
  const storage = storageClient(cfg);
  const bucket = 'lookout-failover';
  const [exists] = await storage.bucket(bucket).exists();
  if (!exists) await storage.createBucket(bucket);
  const dir = path.join(home, 'samples');
  extractFrames(
    dir,
    Array.from({ length: 20 }, (_, i) => 30 + i * 37),
  );
  const temporal = await temporalClient(cfg);
  try {
    const r = await runFailover(
      nc,
      storage,
      bigqueryClient(cfg),
      temporal.client,
      cfg,
      {
        runId: `failover-${Date.now().toString(36)}`,
        objects,
        rate: 50,
        window: 60,
        killAtFraction: 0.4,
        bucket,
        files: listSampleFiles(dir),
        timeoutMs: 3 * 3600_000,
        log,
      },
      async (name) => {
        startDetached(cfg.home, natsNodeSpec(cfg, name === 'nats' ? 1 : Number(name.slice(-1))));
      },
    );
    const machine = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, load ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`;
    const out = { ...r, machine, at: new Date().toISOString() };
    fs.writeFileSync(path.resolve(__dirname, '..', '.lookout', 'nats-failover.json'), JSON.stringify(out, null, 2));
    console.table(out);
    return r.lost === 0 &&
      r.unpublished === 0 &&
      r.duplicateRows === 0 &&
      r.workflowsNotSettled === 0 &&
      r.viewRows === objects
      ? 0
      : 1;
  } finally {
    await temporal.connection.close();
    await nc.close();
    await down(cfg, log);
  }
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
