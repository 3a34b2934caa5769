/** Command specs and their parsing: every command declares its options and gets --help for free. */
import { parseArgs as nodeParseArgs } from 'node:util';

export interface OptionSpec {
  type: 'string' | 'number' | 'boolean';
  help: string;
  default?: string | number | boolean;
  /** Value placeholder in help. */
  arg?: string;
}

export interface CommandSpec {
  name: string;
  summary: string;
  usage: string;
  description?: string;
  options: Record<string, OptionSpec>;
  /** Positional arguments: min and max count. */
  positionals?: { min: number; max: number; name: string };
}

export class UsageError extends Error {
  constructor(
    readonly command: string,
    message: string,
  ) {
    super(message);
    this.name = 'UsageError';
  }
}

export type Parsed = {
  opts: Record<string, string | number | boolean | undefined>;
  positionals: string[];
  help: boolean;
};

/**
 * Parses a command's arguments with Node's own `util.parseArgs` (a kept library: strict, no dependency), adding
 * what it lacks on Node 20: `--no-FLAG` for booleans, `--FLAG=true|false`, numbers, and the command's own
 * messages for usage errors.
 */
export function parseArgs(spec: CommandSpec, argv: string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [k, o] of Object.entries(spec.options)) {
    options[k] = { type: o.type === 'boolean' ? 'boolean' : 'string' };
    if (o.type === 'boolean' && !spec.options[`no-${k}`]) options[`no-${k}`] = { type: 'boolean' };
  }
  // --FLAG=true|false for booleans: util.parseArgs refuses a value on a boolean.
  const args = argv.map((a) => {
    const m = /^--([^=]+)=(.*)$/.exec(a);
    if (!m || spec.options[m[1]]?.type !== 'boolean') return a;
    if (m[2] !== 'true' && m[2] !== 'false')
      throw new UsageError(spec.name, `--${m[1]} takes no value (or =true/=false)`);
    return m[2] === 'true' ? `--${m[1]}` : `--no-${m[1]}`;
  });
  let parsed: ReturnType<typeof nodeParseArgs>;
  try {
    parsed = nodeParseArgs({ args, options, strict: true, allowPositionals: true });
  } catch (err) {
    const e = err as { code?: string; message: string };
    const name = /'(-[^' ]+)/.exec(e.message)?.[1] ?? '';
    if (e.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') throw new UsageError(spec.name, `unknown option ${name}`);
    if (e.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') throw new UsageError(spec.name, `${name} needs a value`);
    throw new UsageError(spec.name, e.message);
  }
  const opts: Parsed['opts'] = {};
  for (const [k, o] of Object.entries(spec.options)) {
    const v = parsed.values[k];
    if (o.type === 'boolean') {
      opts[k] = parsed.values[`no-${k}`] ? false : v === true ? true : o.default;
    } else if (v === undefined) {
      opts[k] = o.default;
    } else if (o.type === 'number') {
      const n = Number(v);
      if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n))
        throw new UsageError(spec.name, `--${k} expects a number, got ${JSON.stringify(v)}`);
      opts[k] = n;
    } else opts[k] = v as string;
  }
  for (const k of Object.keys(opts)) if (opts[k] === undefined) delete opts[k];
  const help = parsed.values.help === true;
  const positionals = parsed.positionals;
  if (!help) {
    const p = spec.positionals ?? { min: 0, max: 0, name: '' };
    if (positionals.length < p.min) throw new UsageError(spec.name, `missing ${p.name}`);
    if (positionals.length > p.max)
      throw new UsageError(spec.name, `unexpected argument ${JSON.stringify(positionals[p.max])}`);
  }
  return { opts, positionals, help };
}

export function helpText(spec: CommandSpec): string {
  const lines = [`Usage: lookout ${spec.usage}`, '', spec.summary];
  if (spec.description) lines.push('', spec.description.trim());
  const entries = Object.entries(spec.options);
  if (entries.length) {
    lines.push('', 'Options:');
    const fmt = entries.map(([k, o]) => [
      `  --${k}${o.type === 'boolean' ? '' : ` ${o.arg ?? (o.type === 'number' ? 'N' : 'VALUE')}`}`,
      `${o.help}${o.default !== undefined && o.default !== false ? ` (default: ${o.default})` : ''}`,
    ]);
    const w = Math.max(...fmt.map((f) => f[0].length)) + 2;
    for (const [a, b] of fmt) lines.push(a.padEnd(w) + b);
  }
  lines.push(`  --help`.padEnd(8) + '  show this help');
  return lines.join('\n');
}

/** English ordinal of a positive integer: 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st, 102nd. */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

/** "every frame" for 1, else "every 2nd frame", "every 5th frame", ... */
export function everyNthFrame(n: number): string {
  return n === 1 ? 'every frame' : `every ${ordinal(n)} frame`;
}

/**
 * Progress on stderr. On a terminal: one line redrawn in place (at most every 100 ms). Off a terminal (a log file, CI,
 * a pipe): a new line only when the share done reaches the next 10 % step (so at most 11 lines for a bar with a
 * total), never the same count twice; without a total, a line when the count changed and 10 s have passed.
 */
export class Progress {
  private last = -Infinity;
  private lastDone = -1;
  private lastStep = -1;
  private readonly tty: boolean;
  private readonly write: (s: string) => void;
  private readonly now: () => number;
  constructor(
    private readonly label: string,
    private readonly total?: number,
    io: { tty?: boolean; write?: (s: string) => void; now?: () => number } = {},
  ) {
    this.tty = io.tty ?? process.stderr.isTTY === true;
    this.write = io.write ?? ((x) => process.stderr.write(x));
    this.now = io.now ?? Date.now;
  }
  update(done: number, extra = ''): void {
    const now = this.now();
    if (this.tty) {
      if (now - this.last < 100 && done !== this.total) return;
    } else if (this.total) {
      const step = Math.floor((10 * Math.min(done, this.total)) / this.total);
      if (step <= this.lastStep || done === this.lastDone) return;
      this.lastStep = step;
    } else if (done === this.lastDone || now - this.last < 10_000) return;
    this.last = now;
    this.lastDone = done;
    let bar = '';
    if (this.total) {
      const frac = Math.min(1, done / this.total);
      const width = 30;
      bar = `[${'#'.repeat(Math.round(frac * width)).padEnd(width, '.')}] ${done}/${this.total} `;
    } else bar = `${done} `;
    const line = `${this.label} ${bar}${extra}`;
    if (this.tty) this.write(`\r\x1b[2K${line}`);
    else this.write(`${line}\n`);
  }
  done(message = ''): void {
    if (this.tty) this.write(`\r\x1b[2K`);
    if (message) this.write(`${message}\n`);
  }
}
