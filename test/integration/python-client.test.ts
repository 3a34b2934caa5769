/**
 * The analyst's Python client on the embedded stack: runs test/python (google-cloud-bigquery 3.x, pandas,
 * db-dtypes, in the pinned venv infra/install.sh makes) from a bash that did `eval "$(node bin/lookout env)"`,
 * as a user would, and reports each pytest test as one test here, so `npm test` counts them.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { bigquerySink } from '../../io/results';
import { fixtureRuns } from '../fixtures/report-rows';
import { bq, cfg, uniqueRun } from './helpers';

const ROOT = path.resolve(__dirname, '..', '..');
const PYTHON = path.join(ROOT, '.lookout', 'analyst-venv', 'bin', 'python');
const TESTS = 'test/python/test_bigquery_client.py';

/** The pytest ids, collected when this file loads (vitest needs the names before it runs anything). */
function collect(): string[] {
  if (!fs.existsSync(PYTHON)) return [];
  const out = execFileSync(PYTHON, ['-m', 'pytest', '--collect-only', '-q', '-p', 'no:cacheprovider', TESTS], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return out.split('\n').filter((l) => l.startsWith(`${TESTS}::`));
}

interface Outcome {
  nodeid: string;
  when: string;
  outcome: string;
  longrepr: string;
}

const ids = collect();
const outcomes = new Map<string, Outcome[]>();
let pytestLog = '';

describe('google-cloud-bigquery (Python) + pandas on the embedded stack', () => {
  beforeAll(async () => {
    if (ids.length === 0) return;
    const fx = fixtureRuns(uniqueRun('py-a'), uniqueRun('py-b'), Date.UTC(2026, 10, 30, 14, 0, 0, 375));
    await bigquerySink(bq, cfg).insert(fx.rowsA);
    const dir = path.join(cfg.home, 'python-client');
    fs.mkdirSync(dir, { recursive: true });
    const rowsFile = path.join(dir, 'rows.json');
    const results = path.join(dir, 'results.jsonl');
    fs.writeFileSync(rowsFile, JSON.stringify(fx.rowsA));
    fs.rmSync(results, { force: true });
    // The endpoint and names come from `lookout env` (this process's LOOKOUT_* point it at the test stack).
    const script = 'set -euo pipefail; eval "$(node bin/lookout env)"; exec "$0" -m pytest -q -p no:cacheprovider "$1"';
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      LOOKOUT_TEST_RUN: fx.runA,
      LOOKOUT_TEST_ROWS: rowsFile,
      LOOKOUT_PYTEST_RESULTS: results,
    };
    delete env.BIGQUERY_EMULATOR_HOST; // only `lookout env` sets it
    const code = await new Promise<number>((resolve, reject) => {
      const p = spawn('bash', ['-c', script, PYTHON, TESTS], { cwd: ROOT, env });
      p.stdout.on('data', (d: Buffer) => (pytestLog += d.toString()));
      p.stderr.on('data', (d: Buffer) => (pytestLog += d.toString()));
      p.on('error', reject);
      p.on('close', (c) => resolve(c ?? -1));
    });
    if (fs.existsSync(results)) {
      for (const line of fs.readFileSync(results, 'utf8').split('\n').filter(Boolean)) {
        const o = JSON.parse(line) as Outcome;
        outcomes.set(o.nodeid, [...(outcomes.get(o.nodeid) ?? []), o]);
      }
    }
    if (code !== 0 && outcomes.size === 0)
      throw new Error(`pytest exited ${code} without results:\n${pytestLog.slice(-4000)}`);
  }, 900_000);

  it('has its pinned venv and tests (.lookout/analyst-venv: run infra/install.sh)', () => {
    expect(fs.existsSync(PYTHON), `${PYTHON} is missing: run infra/install.sh`).toBe(true);
    expect(ids.length).toBeGreaterThanOrEqual(8);
  });

  for (const id of ids) {
    it(id.slice(id.indexOf('::') + 2), () => {
      const got = outcomes.get(id);
      expect(got, `pytest reported nothing for ${id}:\n${pytestLog.slice(-3000)}`).toBeDefined();
      const bad = got!.filter((o) => o.outcome !== 'passed');
      if (bad.length)
        throw new Error(
          `${id} ${bad.map((o) => `${o.when}: ${o.outcome}`).join(', ')}\n${bad.map((o) => o.longrepr).join('\n')}`,
        );
      expect(got!.map((o) => o.outcome)).toContain('passed');
    });
  }
});
