/**
 * `lookout` command line. Every command has --help; configuration comes from
 * the environment (see `lookout env` and README).
 */
import fs from 'node:fs';
import { ConfigError, loadConfig, type LookoutConfig } from '../config';
import { helpText, parseArgs, UsageError, type CommandSpec, type Parsed } from './args';

type Handler = (cfg: LookoutConfig, args: Parsed) => Promise<number | void>;

interface Command {
  spec: CommandSpec;
  run: Handler;
}

const commands = new Map<string, Command>();

export function command(spec: CommandSpec, run: Handler): void {
  commands.set(spec.name, { spec, run });
}

/** Long-running processes started by `lookout up` signal readiness through this file. */
export function markReady(): void {
  const f = process.env.LOOKOUT_READY_FILE;
  if (f) fs.writeFileSync(f, String(process.pid));
}

function mainHelp(): string {
  const w = Math.max(...[...commands.keys()].map((k) => k.length)) + 2;
  return [
    'Usage: lookout <command> [options]',
    '',
    'Lookout analyses imagery at archive scale: GCS object events -> NATS JetStream -> Temporal -> ONNX workers -> BigQuery rows.',
    '',
    'Commands:',
    ...[...commands.values()].map((c) => `  ${c.spec.name.padEnd(w)}${c.spec.summary}`),
    '',
    'Run `lookout <command> --help` for a command\'s options. Configuration: environment variables, see `lookout env --help`.',
  ].join('\n');
}

async function main(argv: string[]): Promise<number> {
  // Register commands (each module calls command()).
  require('./commands') as typeof import('./commands');
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    console.log(mainHelp());
    return name ? 0 : 2;
  }
  const cmd = commands.get(name);
  if (!cmd) {
    console.error(`lookout: unknown command "${name}"\n\n${mainHelp()}`);
    return 2;
  }
  let args: Parsed;
  try {
    args = parseArgs(cmd.spec, rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`lookout ${name}: ${err.message}\n\n${helpText(cmd.spec)}`);
      return 2;
    }
    throw err;
  }
  if (args.help) {
    console.log(helpText(cmd.spec));
    return 0;
  }
  let cfg: LookoutConfig;
  try {
    cfg = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`lookout: configuration error: ${err.message}`);
      return 78;
    }
    throw err;
  }
  const code = await cmd.run(cfg, args);
  return typeof code === 'number' ? code : 0;
}

/** Entry used by bin/lookout. */
export function run(argv: string[]): void {
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const e = err as Error;
      console.error(`lookout: ${e?.message ?? String(err)}`);
      if (process.env.LOOKOUT_DEBUG) console.error(e?.stack);
      process.exitCode = 1;
    },
  );
}
