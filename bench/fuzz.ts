/**
 * `npm run fuzz`: mutated real JPEG/PNG/TIFF/MP4 files with random metadata strings through the whole
 * pipeline on its own embedded stack (see loadtest/fuzz.ts).
 *
 *   node -r tsx/cjs bench/fuzz.ts [--count 1000] [--seed 1] [--rss-cap-mb 3072] [--timeout-s 3600]
 *                                 [--port-base 30400] [--save-corpus] [--json]
 *
 * Passes (exit 0) when every case is accounted for (a row or a dead letter), no Lookout process died, no
 * workflow is left running and the worker's peak RSS stayed under --rss-cap-mb. --save-corpus copies the
 * smallest case of each (kind, outcome, error class) and every unaccounted case, up to 64 KiB each, into
 * test/fixtures/fuzz with a manifest the integration test test/integration/fuzz.test.ts replays.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config';
import { bigqueryClient, natsConnect, storageClient, temporalClient } from '../io/clients';
import { down, up } from '../infra/stack';
import { makeCases, makeSeeds, runFuzz, type FuzzCase, type FuzzReport } from '../loadtest/fuzz';

const USAGE =
  'usage: fuzz.ts [--count N] [--seed N] [--rss-cap-mb N] [--timeout-s S] [--port-base N] [--save-corpus] [--json]';
const CORPUS = path.resolve(__dirname, '..', 'test', 'fixtures', 'fuzz');

export interface CorpusEntry {
  file: string;
  kind: string;
  mutation: string;
  contentType: string;
  metadata: Record<string, string>;
  /** What the case gave when it was saved: a row's status and error class, or a dead letter. */
  outcome: string;
  status?: string;
  errorClass?: string | null;
}

function saveCorpus(cases: FuzzCase[], rep: FuzzReport): number {
  const byName = new Map(cases.map((k) => [k.name, k]));
  const best = new Map<string, FuzzCase>();
  for (const o of rep.outcomes) {
    const k = byName.get(o.name)!;
    if (k.data.length > 64 * 1024 || o.outcome === 'refused-upload') continue;
    const key =
      o.outcome === 'none' ? `none:${o.name}` : `${o.kind}:${o.outcome}:${o.status ?? ''}:${o.errorClass ?? ''}`;
    const cur = best.get(key);
    if (!cur || k.data.length < cur.data.length) best.set(key, k);
  }
  fs.mkdirSync(CORPUS, { recursive: true });
  const manifestFile = path.join(CORPUS, 'manifest.json');
  const manifest: CorpusEntry[] = fs.existsSync(manifestFile)
    ? (JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as CorpusEntry[])
    : [];
  const known = new Set(manifest.map((m) => `${m.kind}:${m.outcome}:${m.status ?? ''}:${m.errorClass ?? ''}`));
  let added = 0;
  for (const [key, k] of best) {
    if (!key.startsWith('none:') && known.has(key)) continue;
    const o = rep.outcomes.find((x) => x.name === k.name)!;
    const file = path.basename(k.name);
    fs.writeFileSync(path.join(CORPUS, file), k.data);
    manifest.push({
      file,
      kind: k.kind,
      mutation: k.mutation,
      contentType: k.contentType,
      metadata: k.metadata,
      outcome: o.outcome,
      status: o.status,
      errorClass: o.errorClass,
    });
    added++;
  }
  fs.writeFileSync(manifestFile, JSON.stringify(manifest, null, 2) + '\n');
  return added;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      count: { type: 'string', default: '1000' },
      seed: { type: 'string', default: '1' },
      'rss-cap-mb': { type: 'string', default: '3072' },
      'timeout-s': { type: 'string', default: '3600' },
      'port-base': { type: 'string', default: process.env.LOOKOUT_TEST_PORT_BASE ?? '30400' },
      'save-corpus': { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const home = path.resolve(__dirname, '..', '.lookout', 'fuzz');
  const cfg = loadConfig({ ...process.env, LOOKOUT_HOME: home, LOOKOUT_PORT_BASE: values['port-base']! });
  const log = (l: string) => process.stderr.write(`${new Date().toISOString()} ${l}\n`);
  await down(cfg);
  fs.rmSync(home, { recursive: true, force: true });
  await up(cfg, { apps: true, log: (l) => log(`[stack] ${l}`) });
  const seeds = makeSeeds(path.join(home, 'seeds'));
  const prefix = `fuzz/${Date.now().toString(36)}/`;
  const cases = makeCases(seeds, Number(values.count), Number(values.seed), prefix);
  const nc = await natsConnect(cfg, 'lookout-fuzz');
  const { client, connection } = await temporalClient(cfg);
  try {
    const rep = await runFuzz(
      { cfg, storage: storageClient(cfg), bq: bigqueryClient(cfg), nc, temporal: client },
      cases,
      prefix,
      { timeoutMs: Number(values['timeout-s']) * 1000, log },
    );
    const cap = Number(values['rss-cap-mb']);
    const machine = `${os.cpus()[0]?.model ?? 'cpu'} x${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, load ${os
      .loadavg()
      .map((x) => x.toFixed(1))
      .join(' ')}`;
    const summary = {
      machine,
      seed: Number(values.seed),
      seeds: seeds.map((s) => path.basename(s.file)),
      rssCapMb: cap,
      ...rep,
      outcomes: undefined,
      unaccountedCases: rep.outcomes.filter((o) => o.outcome === 'none').map((o) => o.name),
    };
    fs.writeFileSync(path.join(home, 'report.json'), JSON.stringify({ ...summary, outcomes: rep.outcomes }, null, 2));
    if (values['save-corpus'])
      log(`fuzz: ${saveCorpus(cases, rep)} cases added to ${path.relative(process.cwd(), CORPUS)}`);
    console.log(
      values.json
        ? JSON.stringify(summary, null, 2)
        : [
            `cases ${rep.cases} (uploaded ${rep.uploaded}, refused by GCS ${rep.refusedUploads}) in ${rep.minutes} min`,
            `rows ok ${rep.rowsOk}, failed rows ${rep.rowsFailed}, dead letters ${rep.deadLetters}, unaccounted ${rep.unaccounted}`,
            `stuck workflows ${rep.stuckWorkflows}, crashed processes ${rep.crashed.join(', ') || 'none'}, worker peak RSS ${rep.workerPeakRssMb ?? '?'} MiB (cap ${cap})`,
            `failed rows by error class: ${JSON.stringify(rep.errorClasses)}`,
            `machine: ${machine}`,
          ].join('\n'),
    );
    const ok =
      rep.unaccounted === 0 &&
      rep.stuckWorkflows === 0 &&
      rep.crashed.length === 0 &&
      (rep.workerPeakRssMb ?? Infinity) < cap;
    return ok ? 0 : 1;
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
