/**
 * Option parsing shared by the evaluation scripts: node:util's strict parseArgs (no dependency for a handful of
 * flags), with the conventions every script follows — `--help`/`-h` prints the usage and exits 0, an unknown or
 * malformed option prints the error with the usage and exits 2 (so does a value the script rejects: `usageFail`).
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

/** Prints the message and the usage to stderr and exits 2 (a usage error). */
export function usageFail(message: string, usage: string): never {
  console.error(`${message}\n\n${usage}`);
  process.exit(2);
}

/** The parsed options and the positional arguments (only where `allowPositionals` is set; otherwise any is an error). */
export function benchCommandLine<O extends Options>(
  options: O,
  usage: string,
  allowPositionals = false,
  argv = process.argv.slice(2),
) {
  const config = {
    args: argv,
    options: { ...options, help: { type: 'boolean' as const, short: 'h', default: false } },
    strict: true as const,
    allowPositionals,
  };
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    usageFail((err as Error).message, usage);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  return { values: parsed.values, positionals: parsed.positionals };
}

export function benchArgs<O extends Options>(options: O, usage: string) {
  return benchCommandLine(options, usage).values;
}
