/** A small, strict argument parser: every command declares its options and gets --help for free. */

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

export function parseArgs(spec: CommandSpec, argv: string[]): Parsed {
  const opts: Parsed['opts'] = {};
  for (const [k, o] of Object.entries(spec.options)) if (o.default !== undefined) opts[k] = o.default;
  const positionals: string[] = [];
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--help' || a === '-h') {
      help = true;
      continue;
    }
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      let key = eq > 0 ? a.slice(2, eq) : a.slice(2);
      let value: string | undefined = eq > 0 ? a.slice(eq + 1) : undefined;
      let negated = false;
      // Own keys only: `--constructor` must be an unknown option, not Object.prototype.constructor.
      const optionOf = (k: string) => (Object.hasOwn(spec.options, k) ? spec.options[k] : undefined);
      if (!optionOf(key) && key.startsWith('no-') && optionOf(key.slice(3))?.type === 'boolean') {
        key = key.slice(3);
        negated = true;
      }
      const o = optionOf(key);
      if (!o) throw new UsageError(spec.name, `unknown option --${key}`);
      if (o.type === 'boolean') {
        if (value !== undefined && !/^(true|false)$/.test(value)) throw new UsageError(spec.name, `--${key} takes no value (or =true/=false)`);
        opts[key] = negated ? false : value === undefined ? true : value === 'true';
        continue;
      }
      if (value === undefined) {
        value = argv[++i];
        if (value === undefined) throw new UsageError(spec.name, `--${key} needs a value`);
      }
      if (o.type === 'number') {
        const n = Number(value);
        if (!Number.isFinite(n)) throw new UsageError(spec.name, `--${key} expects a number, got ${JSON.stringify(value)}`);
        opts[key] = n;
      } else opts[key] = value;
      continue;
    }
    positionals.push(a);
  }
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
