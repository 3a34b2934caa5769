/**
 * Process entry of the BigQuery API front (started by infra/stack.ts as the stack's `bigquery-api` server):
 *   node -r tsx/cjs infra/bigquery-api/main.ts --upstream http://127.0.0.1:17232 --host 127.0.0.1 --port 17230
 */
import { parseArgs } from 'node:util';
import { createBigQueryApi } from './server';

const USAGE =
  'usage: main.ts --upstream URL --port N [--host 127.0.0.1] [--verbose] [--emulator-log FILE] [--hold-inserts-while FILE]   (BigQuery REST front of bigquery-emulator; --verbose logs every call)';

function main(): void {
  const { values } = parseArgs({
    options: {
      upstream: { type: 'string' },
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string' },
      verbose: { type: 'boolean', default: false },
      'emulator-log': { type: 'string' },
      'hold-inserts-while': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help) {
    console.log(USAGE);
    return;
  }
  const port = Number(values.port);
  if (!values.upstream || !Number.isInteger(port) || port <= 0) {
    console.error(USAGE);
    process.exit(2);
  }
  const log = (l: string) => process.stderr.write(`${new Date().toISOString()} bigquery-api: ${l}\n`);
  const server = createBigQueryApi({
    upstream: values.upstream,
    host: values.host!,
    port,
    log,
    verbose: values.verbose,
    emulatorLog: values['emulator-log'],
    holdInsertsWhile: values['hold-inserts-while'],
  });
  server.listen(port, values.host, () =>
    log(`listening on http://${values.host}:${port} in front of ${values.upstream}`),
  );
  server.on('error', (err) => {
    log(`cannot listen on ${values.host}:${port}: ${err.message}`);
    process.exit(1);
  });
  const stop = () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

main();
