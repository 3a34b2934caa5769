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

export type Parsed = { opts: Record<string, string | number | boolean | undefined>; positionals: string[]; help: boolean };

/**
 * Parses a command's arguments with Node's own `util.parseArgs` (a kept library: strict, no dependency), adding
 * what it lacks on Node 20: `--no-FLAG` for booleans, `--FLAG=true|false`, numbers, and the command's own
 * messages for usage errors.
 */
export function parseArgs(spec: CommandSpec, argv: string[]): Parsed {
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [k, o] of Object.entries(spec.options)) {
    options[k] = { type: o.type === 'boolean' ? 'boolean' : 'string' };
    if (o.type === 'boolean' && !spec.options[`no-${k}`]) options[`no-${k}`] = { type: 'boolean' };
  }
  // --FLAG=true|false for booleans: util.parseArgs refuses a value on a boolean.
  const args = argv.map((a) => {
    const m = /^--([^=]+)=(.*)$/.exec(a);
    if (!m || spec.options[m[1]]?.type !== 'boolean') return a;
    if (m[2] !== 'true' && m[2] !== 'false') throw new UsageError(spec.name, `--${m[1]} takes no value (or =true/=false)`);
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
      if (typeof v !== 'string' || v.trim() === '' || !Number.isFinite(n)) throw new UsageError(spec.name, `--${k} expects a number, got ${JSON.stringify(v)}`);
      opts[k] = n;
    } else opts[k] = v as string;
  }
  for (const k of Object.keys(opts)) if (opts[k] === undefined) delete opts[k];
  const help = parsed.values.help === true;
  const positionals = parsed.positionals;
  if (!help) {
    const p = spec.positionals ?? { min: 0, max: 0, name: '' };
    if (positionals.length < p.min) throw new UsageError(spec.name, `missing ${p.name}`);
    if (positionals.length > p.max) throw new UsageError(spec.name, `unexpected argument ${JSON.stringify(positionals[p.max])}`);
  }
  return { opts, positionals, help };
}

export function helpText(spec: CommandSpec): string {
  const lines = [`Usage: lookout ${spec.usage}`, '', spec.summary];
  if (spec.description) lines.push('', spec.description.trim());
  const entries = Object.entries(spec.options);
  if (entries.length) {
    lines.push('', 'Options:');
    const fmt = entries.map(([k, o]) => [`  --${k}${o.type === 'boolean' ? '' : ` ${o.arg ?? (o.type === 'number' ? 'N' : 'VALUE')}`}`, `${o.help}${o.default !== undefined && o.default !== false ? ` (default: ${o.default})` : ''}`]);
    const w = Math.max(...fmt.map((f) => f[0].length)) + 2;
    for (const [a, b] of fmt) lines.push(a.padEnd(w) + b);
  }
  lines.push(`  --help`.padEnd(8) + '  show this help');
  return lines.join('\n');
}

/** A progress line on stderr when it is a terminal, a line per step otherwise. */
export class Progress {
  private last = 0;
  private readonly tty = process.stderr.isTTY === true;
  constructor(
    private readonly label: string,
    private readonly total?: number,
  ) {}
  update(done: number, extra = ''): void {
    const now = Date.now();
    if (now - this.last < (this.tty ? 100 : 5000) && done !== this.total) return;
    this.last = now;
    let bar = '';
    if (this.total) {
      const frac = Math.min(1, done / this.total);
      const width = 30;
      bar = `[${'#'.repeat(Math.round(frac * width)).padEnd(width, '.')}] ${done}/${this.total} `;
    } else bar = `${done} `;
    const line = `${this.label} ${bar}${extra}`;
    if (this.tty) process.stderr.write(`\r\x1b[2K${line}`);
    else process.stderr.write(`${line}\n`);
  }
  done(message = ''): void {
    if (this.tty) process.stderr.write(`\r\x1b[2K`);
    if (message) process.stderr.write(`${message}\n`);
  }
}
