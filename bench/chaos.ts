/**
 * `npm run chaos`: the full chaos suite on its own embedded stack (own state folder and ports).
 *
 *   node -r tsx/cjs bench/chaos.ts [--objects 10000] [--faults worker-kill,...] [--temporal-outage-s 600]
 *                                  [--gcs-outage-s 240] [--stream-full-s 60] [--port-base 30400] [--json]
 *
 * --objects is the whole run, split evenly over the faults (one phase each, one fault at a time; see
 * loadtest/chaos.ts). Prints the table (uploaded, rows in the table, duplicate rows, dead letters, lost) and
 * the machine, writes it as JSON to .lookout/chaos/result.json, and exits 1 if any object was lost, any row
 * duplicated or any event dead-lettered.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { extractFrames } from '../demo/samples';
import { bigqueryClient, natsConnect, storageClient, temporalClient } from '../io/clients';
import { down, up } from '../infra/stack';
import { listSampleFiles } from '../loadtest/loadtest';
import { chaosTable, FAULTS, runChaos, type FaultName } from '../loadtest/chaos';

const USAGE =
  'usage: chaos.ts [--objects N] [--faults a,b,...] [--temporal-outage-s S] [--gcs-outage-s S] [--stream-full-s S] [--port-base N] [--phase-timeout-s S] [--json]\nfaults: ' +
  FAULTS.join(', ');

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      objects: { type: 'string', default: '10000' },
      faults: { type: 'string', default: FAULTS.join(',') },
      'temporal-outage-s': { type: 'string', default: '600' },
      'gcs-outage-s': { type: 'string', default: '240' },
      'stream-full-s': { type: 'string', default: '60' },
      'phase-timeout-s': { type: 'string', default: '3600' },
      'port-base': { type: 'string', default: process.env.LOOKOUT_TEST_PORT_BASE ?? '30400' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const faults = values.faults!.split(',').map((f) => f.trim()) as FaultName[];
  const bad = faults.filter((f) => !FAULTS.includes(f));
  if (bad.length) {
    console.error(`unknown fault(s): ${bad.join(', ')}\n${USAGE}`);
    return 2;
  }
  const total = Number(values.objects);
  const perFault = Math.max(1, Math.floor(total / faults.length));
  const home = path.resolve(__dirname, '..', '.lookout', 'chaos');
  // Ingest by the watcher: the stream-full fault reads the publisher's refusals from its log, and the faults were
  // designed and measured with it (the Pub/Sub subscriber publishes through the same io/streams code).
  const cfg = loadConfig({
    ...process.env,
    LOOKOUT_HOME: home,
    LOOKOUT_PORT_BASE: values['port-base']!,
    LOOKOUT_INGEST: 'watch',
  });
  const log = (l: string) => process.stderr.write(`${new Date().toISOString()} ${l}\n`);
  await down(cfg);
  fs.rmSync(home, { recursive: true, force: true });
  await up(cfg, { apps: true, log: (l) => log(`[stack] ${l}`) });
  const samples = path.join(home, 'samples');
  extractFrames(
    samples,
    Array.from({ length: 20 }, (_, i) => 20 + i * 35),
  );
  const nc = await natsConnect(cfg, 'lookout-chaos');
  const { client, connection } = await temporalClient(cfg);
  const t0 = Date.now();
  try {
    const results = await runChaos(
      { cfg, storage: storageClient(cfg), bq: bigqueryClient(cfg), nc, temporal: client },
      {
        objects: perFault,
        faults,
        files: listSampleFiles(samples),
        runTag: `chaos-${Date.now().toString(36)}`,
        temporalOutageS: Number(values['temporal-outage-s']),
        gcsOutageS: Number(values['gcs-outage-s']),
        streamFullS: Number(values['stream-full-s']),
        phaseTimeoutMs: Number(values['phase-timeout-s']) * 1000,
        log,
      },
    );
    const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, load ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`;
    const out = {
      machine,
      objects: perFault * faults.length,
      perFault,
      minutes: Number(((Date.now() - t0) / 60_000).toFixed(1)),
      results,
    };
    fs.writeFileSync(path.join(home, 'result.json'), JSON.stringify(out, null, 2));
    if (values.json) console.log(JSON.stringify(out, null, 2));
    else
      console.log(
        `${chaosTable(results)}\n\nmachine: ${machine}; ${out.objects} objects (${perFault} per fault) in ${out.minutes} min`,
      );
    return results.some((r) => r.lost > 0 || r.duplicates > 0 || r.deadLetters > 0) ? 1 : 0;
  } finally {
    await nc.close().catch(() => {});
    await connection.close().catch(() => {});
    await down(cfg);
  }
}

main().then(
  (c) => process.exit(c),
  (err) => {
    console.error(err);
    process.exit(2);
  },
);
