/**
 * What every long-running command (worker, dispatch, watch, push-server, serve, stream) sets up first: its pino
 * logger at LOOKOUT_LOG_LEVEL, its tracer provider (OTLP export when LOOKOUT_OTLP_ENDPOINT is set) and, except
 * for the worker (whose /metrics also proxies the Temporal SDK's and is served by runWorker), its /metrics server.
 */
import type { LookoutConfig, MetricsProcess } from '../config';
import { initLogging, type Logger } from '../io/log';
import { collectProcessMetrics, serveMetricsIfFree, type MetricsServer } from '../io/metrics';
import { flushTracing, initTracing } from '../io/tracing';

export interface Observed {
  logger: Logger;
  metrics: MetricsServer | undefined;
  /** Flushes buffered spans and closes the metrics server. */
  close(): Promise<void>;
}

export async function observe(
  cfg: LookoutConfig,
  name: string,
  metricsProcess: MetricsProcess | undefined,
): Promise<Observed> {
  const logger = initLogging(name, cfg.observability.logLevel);
  initTracing(cfg, `lookout-${name}`);
  let metrics: MetricsServer | undefined;
  const port = metricsProcess ? cfg.observability.metricsPorts[metricsProcess] : 0;
  if (metricsProcess && port > 0) {
    collectProcessMetrics();
    metrics = await serveMetricsIfFree({ host: cfg.observability.metricsHost, port }, (m) => logger.warn(m));
    if (metrics)
      logger.info({ port: metrics.port }, `metrics: http://${cfg.observability.metricsHost}:${metrics.port}/metrics`);
  }
  return {
    logger,
    metrics,
    async close() {
      await flushTracing().catch((err) => logger.warn({ err }, 'traces: could not export the last spans'));
      await metrics?.close();
    },
  };
}
