/** Every `lookout` command, in the order `lookout --help` lists them. One file per command. */
import type { Command } from '../command';
import { upCommand } from './up';
import { downCommand } from './down';
import { statusCommand } from './status';
import { envCommand } from './env';
import { workerCommand } from './worker';
import { dispatchCommand } from './dispatch';
import { watchCommand } from './watch';
import { uploadCommand } from './upload';
import { resultsCommand } from './results';
import { demoCommand } from './demo';
import { pushServerCommand } from './push-server';
import { backfillCommand } from './backfill';
import { deadlettersCommand } from './deadletters';
import { retryCommand } from './retry';
import { loadtestCommand } from './loadtest';
import { reportCommand } from './report';
import { modelsCommand } from './models';
import { fitCommand } from './fit';
import { zonesCommand } from './zones';
import { refitCommand } from './refit';
import { serveCommand } from './serve';
import { streamCommand } from './stream';
import { planCommand } from './plan';
import { subscribeCommand } from './subscribe';
import { uiCommand } from './ui';
import { exportCommand } from './export';

export const COMMANDS: readonly Command[] = [
  upCommand,
  downCommand,
  statusCommand,
  envCommand,
  workerCommand,
  dispatchCommand,
  watchCommand,
  uploadCommand,
  resultsCommand,
  demoCommand,
  pushServerCommand,
  backfillCommand,
  deadlettersCommand,
  retryCommand,
  loadtestCommand,
  reportCommand,
  modelsCommand,
  fitCommand,
  zonesCommand,
  refitCommand,
  serveCommand,
  streamCommand,
  planCommand,
  subscribeCommand,
  uiCommand,
  exportCommand,
];
