/** Starts the real servers (and Lookout's watcher, dispatcher and CPU worker) once for all integration tests. */
import fs from 'node:fs';
import { loadConfig } from '../../config';
import { down, up } from '../../infra/stack';
import { TEST_ENV } from './env';

export default async function setup(): Promise<() => Promise<void>> {
  const cfg = loadConfig({ ...process.env, ...TEST_ENV });
  // Fresh state every run: no stale streams, rows or workflows from an earlier run.
  await down(cfg);
  fs.rmSync(cfg.home, { recursive: true, force: true });
  const t0 = Date.now();
  await up(cfg, { apps: true, log: (l) => process.stderr.write(`[stack] ${l}\n`) });
  process.stderr.write(`[stack] up in ${((Date.now() - t0) / 1000).toFixed(1)}s\n`);
  return async () => {
    await down(cfg, (l) => process.stderr.write(`[stack] ${l}\n`));
  };
}
