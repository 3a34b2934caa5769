/**
 * Background processes of the embedded stack: start detached with a pid file
 * and a log file under the profile's state folder, check liveness, stop cleanly.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { childEnv } from '../config';

export interface ProcSpec {
  name: string;
  command: string;
  args: string[];
  env?: Record<string, string>;
  cwd?: string;
}

export interface ProcPaths {
  pidFile: string;
  logFile: string;
}

export function procPaths(home: string, name: string): ProcPaths {
  return { pidFile: path.join(home, 'run', `${name}.pid`), logFile: path.join(home, 'logs', `${name}.log`) };
}

export function readPid(home: string, name: string): number | undefined {
  try {
    const pid = Number(fs.readFileSync(procPaths(home, name).pidFile, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  // A zombie still answers kill(0); read its state where /proc exists.
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return true;
  }
}

/** Starts a detached process (own session) writing to its log; returns its pid. */
export function startDetached(home: string, spec: ProcSpec): number {
  const { pidFile, logFile } = procPaths(home, spec.name);
  fs.mkdirSync(path.dirname(pidFile), { recursive: true });
  fs.mkdirSync(path.dirname(logFile), { recursive: true });
  const out = fs.openSync(logFile, 'a');
  fs.writeSync(out, `\n--- ${new Date().toISOString()} start: ${spec.command} ${spec.args.join(' ')}\n`);
  const child = spawn(spec.command, spec.args, {
    cwd: spec.cwd,
    env: childEnv(spec.env),
    detached: true,
    stdio: ['ignore', out, out],
  });
  fs.closeSync(out);
  if (!child.pid) throw new Error(`could not start ${spec.name} (${spec.command})`);
  child.unref();
  fs.writeFileSync(pidFile, String(child.pid));
  return child.pid;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** SIGTERM the process group, wait up to graceMs, then SIGKILL. */
export async function stopProc(home: string, name: string, graceMs = 15_000): Promise<'stopped' | 'not-running'> {
  const pid = readPid(home, name);
  const { pidFile } = procPaths(home, name);
  if (!isAlive(pid)) {
    fs.rmSync(pidFile, { force: true });
    return 'not-running';
  }
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid!, sig); // whole process group (detached => own group)
    } catch {
      try {
        process.kill(pid!, sig);
      } catch {
        /* gone */
      }
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < deadline) await sleep(100);
  if (isAlive(pid)) signal('SIGKILL');
  while (isAlive(pid)) await sleep(50);
  fs.rmSync(pidFile, { force: true });
  return 'stopped';
}

export function tailLog(home: string, name: string, lines = 20): string {
  try {
    const text = fs.readFileSync(procPaths(home, name).logFile, 'utf8');
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

export function portOpen(host: string, port: number, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/** Polls `check` until it resolves true; fails with the log tail of `name` if the process dies or time runs out. */
export async function waitReady(
  home: string,
  name: string,
  check: () => Promise<boolean>,
  timeoutMs: number,
  pid?: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    let ok = false;
    try {
      ok = await check();
    } catch {
      ok = false;
    }
    if (ok) return;
    if (pid !== undefined && !isAlive(pid)) {
      throw new Error(`${name} exited during start; last log lines:\n${tailLog(home, name)}`);
    }
    if (Date.now() > deadline) {
      throw new Error(
        `${name} was not ready after ${Math.round(timeoutMs / 1000)}s; last log lines:\n${tailLog(home, name)}`,
      );
    }
    await sleep(200);
  }
}
