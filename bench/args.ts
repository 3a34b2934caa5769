/**
 * Option parsing shared by the evaluation scripts: node:util's strict parseArgs (no dependency for a handful of
 * flags), with the conventions every script follows — `--help`/`-h` prints the usage and exits 0, an unknown or
 * malformed option prints the error with the usage and exits 2.
 */
import { parseArgs, type ParseArgsConfig } from 'node:util';

type Options = NonNullable<ParseArgsConfig['options']>;

export function benchArgs<O extends Options>(options: O, usage: string) {
  const config = { options: { ...options, help: { type: 'boolean' as const, short: 'h', default: false } }, strict: true as const, allowPositionals: false as const };
  let parsed: ReturnType<typeof parseArgs<typeof config>>;
  try {
    parsed = parseArgs(config);
  } catch (err) {
    console.error(`${(err as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    process.exit(0);
  }
  return parsed.values;
}
