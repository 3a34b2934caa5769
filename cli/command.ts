/** What a `lookout` command is: its spec (options, help) and its handler. Commands live in cli/commands/, one file each. */
import fs from 'node:fs';
import type { LookoutConfig } from '../config';
import type { CommandSpec, Parsed } from './args';
import { setReady } from './health';

export type Handler = (cfg: LookoutConfig, args: Parsed) => Promise<number | void>;

export interface Command {
  spec: CommandSpec;
  run: Handler;
}

/** Long-running processes started by `lookout up` signal readiness through this file. */
export function markReady(cfg: LookoutConfig): void {
  setReady(); // /readyz (cli/health.ts) turns 200 at the same moment
  if (cfg.readyFile) fs.writeFileSync(cfg.readyFile, String(process.pid));
}
