/**
 * `lookout` command line. Every command has --help; configuration comes from
 * the environment (see `lookout env` and README).
 */
import { ConfigError, loadConfig, secretValues, type LookoutConfig } from '../config';
import { redact, registerSecrets, secretCount } from '../core/redact';
import { helpText, parseArgs, UsageError, type Parsed } from './args';
import { COMMANDS } from './commands';
import { startHealthServer } from './health';

const commands = new Map(COMMANDS.map((c) => [c.spec.name, c]));

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
    "Run `lookout <command> --help` for a command's options. Configuration: environment variables, see `lookout env --help`.",
  ].join('\n');
}

/**
 * Every byte this process writes to stdout or stderr passes through core/redact: console output, the messages
 * of errors from any library, a child's piped output this process echoes. Buffers are decoded only when they
 * hold a secret, so binary output passes untouched. (A logger that writes to file descriptors directly must
 * redact itself.)
 */
function installRedaction(): void {
  for (const stream of [process.stdout, process.stderr]) {
    const write = stream.write.bind(stream) as (chunk: unknown, ...rest: unknown[]) => boolean;
    stream.write = ((chunk: unknown, ...rest: unknown[]) => {
      if (typeof chunk === 'string') return write(redact(chunk), ...rest);
      if (chunk instanceof Uint8Array && secretCount() > 0) {
        const text = Buffer.from(chunk).toString('utf8');
        const out = redact(text);
        if (out !== text) return write(out, ...rest);
      }
      return write(chunk, ...rest);
    }) as typeof stream.write;
  }
}

/** Stack traces of errors are printed when the configuration asks for them (LOOKOUT_DEBUG). */
let debug = false;

async function main(argv: string[]): Promise<number> {
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
    debug = cfg.debug;
    registerSecrets(secretValues(cfg));
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`lookout: configuration error: ${err.message}`);
      return 78;
    }
    throw err;
  }
  if (cfg.healthPort !== undefined) await startHealthServer(cfg.healthPort);
  const code = await cmd.run(cfg, args);
  return typeof code === 'number' ? code : 0;
}

/** Entry used by bin/lookout. */
export function run(argv: string[]): void {
  installRedaction();
  main(argv).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      const e = err as Error;
      console.error(`lookout: ${e?.message ?? String(err)}`);
      if (debug) console.error(e?.stack);
      process.exitCode = 1;
    },
  );
}
