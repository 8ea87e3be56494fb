/**
 * Prometheus metrics of the controller and the HTTP server that serves them
 * with the health checks. Each controller instance has its own registry, so
 * two instances in one process (as in tests) count separately.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly queueDepth = new Gauge({
    name: 'mlpipeline_workqueue_depth',
    help: 'Pipeline keys waiting for a worker',
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'mlpipeline_reconcile_duration_seconds',
    help: 'Time of one reconcile pass of one pipeline',
    labelNames: ['result'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: 'mlpipeline_reconcile_errors_total',
    help: 'Reconcile passes that failed and will be retried',
    registers: [this.registry],
  });
  readonly runsStarted = new Counter({
    name: 'mlpipeline_runs_started_total',
    help: 'Runs whose first Job this controller created, by trigger',
    labelNames: ['trigger'],
    registers: [this.registry],
  });
  readonly runsSucceeded = new Counter({
    name: 'mlpipeline_runs_succeeded_total',
    help: 'Runs seen to finish their last stage',
    registers: [this.registry],
  });
  readonly runsFailed = new Counter({
    name: 'mlpipeline_runs_failed_total',
    help: 'Runs seen to end at a failed stage',
    registers: [this.registry],
  });
  readonly runsSkipped = new Counter({
    name: 'mlpipeline_runs_skipped_total',
    help: 'Schedule slots not run (missed, or the concurrency policy)',
    registers: [this.registry],
  });
  readonly chainingLatency = new Histogram({
    name: 'mlpipeline_chaining_latency_seconds',
    help:
      "From this controller first seeing a stage's pod Succeeded (a pod it only saw in a list: " +
      "its container's finishedAt, whole seconds) to the next stage's Job being created",
    buckets: [0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30],
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: 'mlpipeline_api_requests_total',
    help: 'Requests to the API server by HTTP method, leader election excluded',
    labelNames: ['method'],
    registers: [this.registry],
  });
  readonly leader = new Gauge({
    name: 'mlpipeline_leader',
    help: '1 while this instance holds the lease (or runs without leader election)',
    registers: [this.registry],
  });

  constructor(options: { processMetrics?: boolean } = {}) {
    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Requests counted with method other than GET: what a quiet resync must not do. */
  async writes(): Promise<number> {
    const metric = await this.apiRequests.get();
    return metric.values
      .filter((v) => v.labels.method !== 'GET')
      .reduce((sum, v) => sum + v.value, 0);
  }
}

export interface HealthReport {
  ok: boolean;
  details: unknown;
}

export interface HealthServerOptions {
  host?: string;
  port: number;
  metrics: ControllerMetrics;
  /** Alive: the process works (a watch failing for long is not). */
  live: () => HealthReport;
  /** Ready: every watch has listed and is watching. */
  ready: () => HealthReport;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

/** /healthz, /readyz and /metrics on host:port (port 0 picks a free one). */
export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      json(405, { error: 'only GET' });
      return;
    }
    if (path === '/healthz' || path === '/readyz') {
      const report = path === '/healthz' ? options.live() : options.ready();
      json(report.ok ? 200 : 503, { ok: report.ok, details: report.details });
      return;
    }
    if (path === '/metrics') {
      options.metrics.registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': options.metrics.registry.contentType });
          res.end(text);
        },
        () => json(500, { error: 'metrics unavailable' }),
      );
      return;
    }
    json(404, { error: 'not found' });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
