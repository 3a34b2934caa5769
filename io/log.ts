/**
 * Structured logs of the long-running processes (worker, dispatcher, watcher, push-server, serve, stream):
 * pino, one JSON object per line on stdout, human-readable through pino-pretty when stdout is a terminal.
 *
 * Every line carries what is known where it is written, without each call site passing it:
 *  - `traceId` / `spanId` of the active OpenTelemetry span (io/tracing.ts), so a log line leads to its trace;
 *  - `objectKey` and `workflowId` of the object being handled, from an AsyncLocalStorage scope the dispatcher
 *    opens per message and the worker opens per activity (withLogFields), so that helpers deep below log them too.
 * Temporal's own logger (workflow `log`, activity `log`, SDK messages) is routed here by temporalLogger().
 * CLI commands' results stay plain stdout: logs are for operators, results are for users and scripts.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { context as otelContext, trace } from '@opentelemetry/api';
import type { LogLevel as TemporalLogLevel, LogMetadata, Logger as TemporalLogger } from '@temporalio/common';
import pino, { type DestinationStream, type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { LogLevelName } from '../config';

export type { Logger };

/** Fields that identify the object being handled; set for a scope with withLogFields. */
export interface LogFields {
  objectKey?: string;
  workflowId?: string;
  [k: string]: unknown;
}

const scope = new AsyncLocalStorage<LogFields>();

/** Runs fn with these fields added to every log line written inside it (including in callbacks it starts). */
export function withLogFields<T>(fields: LogFields, fn: () => T): T {
  return scope.run({ ...scope.getStore(), ...fields }, fn);
}

/** The fields of the current scope, plus the active span's trace and span ids. */
export function currentLogFields(): LogFields & { traceId?: string; spanId?: string } {
  const out: LogFields & { traceId?: string; spanId?: string } = { ...scope.getStore() };
  const sc = trace.getSpan(otelContext.active())?.spanContext();
  if (sc && sc.traceId !== '00000000000000000000000000000000') {
    out.traceId = sc.traceId;
    out.spanId = sc.spanId;
  }
  return out;
}

export interface LoggerOptions {
  /** Process name, on every line as `name`. */
  name: string;
  level: LogLevelName;
  /** Human-readable lines (default: when stdout is a terminal). */
  pretty?: boolean;
  /** Where lines go (default stdout); tests pass a stream to read them back. */
  destination?: DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const usePretty = opts.pretty ?? (process.stdout.isTTY === true && !opts.destination);
  // pino-pretty as a synchronous stream (not a transport thread): a process's last lines before exit are not lost.
  const dest =
    opts.destination ??
    (usePretty
      ? pretty({ colorize: true, sync: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' })
      : pino.destination({ dest: 1, sync: true }));
  return pino(
    {
      name: opts.name,
      level: opts.level,
      // ISO time: the rows in BigQuery and the spans use wall-clock time too, so lines can be matched by eye.
      timestamp: pino.stdTimeFunctions.isoTime,
      mixin: () => currentLogFields(),
      formatters: { level: (label) => ({ level: label }) },
    },
    dest,
  );
}

let root: Logger | undefined;

/** The process's logger: set once by initLogging; before that (unit tests, libraries) an info-level stdout logger. */
export function log(): Logger {
  root ??= createLogger({ name: 'lookout', level: 'info' });
  return root;
}

/** Sets the process's logger (called at the start of each long-running command). */
export function initLogging(
  name: string,
  level: LogLevelName,
  opts: Omit<LoggerOptions, 'name' | 'level'> = {},
): Logger {
  root = createLogger({ name, level, ...opts });
  return root;
}

const TEMPORAL_LEVEL: Record<LogLevelName, TemporalLogLevel> = {
  trace: 'TRACE',
  debug: 'DEBUG',
  info: 'INFO',
  warn: 'WARN',
  error: 'ERROR',
  fatal: 'ERROR',
  silent: 'ERROR',
};
const PINO_LEVEL: Record<TemporalLogLevel, 'trace' | 'debug' | 'info' | 'warn' | 'error'> = {
  TRACE: 'trace',
  DEBUG: 'debug',
  INFO: 'info',
  WARN: 'warn',
  ERROR: 'error',
};

/**
 * Temporal's Runtime logger writing into pino. Workflow and activity log calls arrive with their workflowId,
 * runId, activityType... in `meta`; the OpenTelemetry interceptors add the trace ids of the workflow's span.
 */
export function temporalLogger(logger: Logger, level: LogLevelName): TemporalLogger {
  const threshold = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'].indexOf(TEMPORAL_LEVEL[level]);
  const write = (lvl: TemporalLogLevel, message: string, meta?: LogMetadata) => {
    if (['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'].indexOf(lvl) < threshold) return;
    const m = { ...(meta ?? {}) } as Record<string, unknown>;
    // The SDK's workflow-context fields, under the names every other Lookout line uses.
    if (typeof m.workflowId === 'string' && m.objectKey === undefined)
      m.objectKey = objectKeyOfWorkflowId(m.workflowId);
    if (typeof m.trace_id === 'string') m.traceId = m.trace_id;
    if (typeof m.span_id === 'string') m.spanId = m.span_id;
    delete m.trace_id;
    delete m.span_id;
    logger[PINO_LEVEL[lvl]](m, message);
  };
  return {
    log: write,
    trace: (message, meta) => write('TRACE', message, meta),
    debug: (message, meta) => write('DEBUG', message, meta),
    info: (message, meta) => write('INFO', message, meta),
    warn: (message, meta) => write('WARN', message, meta),
    error: (message, meta) => write('ERROR', message, meta),
  };
}

/**
 * The object key (`bucket/name#generation`) inside a per-object workflow id (`<pipeline>:<bucket>/<name>#<generation>`,
 * core/events.ts workflowIdFor); undefined for other workflows (bulk batches, fits).
 */
export function objectKeyOfWorkflowId(workflowId: string): string | undefined {
  const m = /^[a-z0-9-]+:(.+#\d+)$/.exec(workflowId);
  return m && !workflowId.startsWith('bulk:') && !workflowId.startsWith('fit:') ? m[1] : undefined;
}
