import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { configFromEnv } from '../core/config.js';
import { messageOf, UserError } from '../core/errors.js';
import type { ResultsStore, RunRecord } from '../core/ports.js';
import { createLogger, type Logger } from '../core/log.js';
import { loadPipelines, type Pipeline } from '../core/spec/load.js';
import { pruneRunArtifacts } from '../jobs/retention.js';
import { createRuntime, type Runtime } from '../jobs/runtime.js';
import { Scheduler } from '../standalone/scheduler.js';
import { StandaloneService } from '../standalone/service.js';
import { runInWorker } from '../standalone/worker-runner.js';
import { createApiApp } from '../ui/server/app.js';

/**
 * Single-container mode: every pipeline under the path is scheduled, its
 * stages run in this process, and the API is served on one port. SIGTERM (as
 * ECS sends it) stops scheduling, lets runs stop between stages, and exits.
 */
/**
 * A run whose worker died (terminated at shutdown, out of memory) could not
 * write its own ending: the main thread marks what was running as failed.
 */
async function recordLostRun(
  results: ResultsStore,
  run: RunRecord,
  reason: string,
): Promise<RunRecord> {
  const record = (await results.getRun(run.pipeline, run.runId)) ?? run;
  const now = new Date().toISOString();
  for (const stage of record.stages) {
    if (stage.phase === 'Running')
      Object.assign(stage, { phase: 'Failed', message: reason, finishedAt: now });
    if (stage.phase === 'Pending') stage.phase = 'Skipped';
  }
  Object.assign(record, { phase: 'Failed', message: reason, finishedAt: now });
  await results.saveRun(record);
  return record;
}

/** Run records beyond historyLimit go, and with them their data in the model store. */
async function keepHistoryBounded(
  runtime: Runtime,
  pipeline: Pipeline,
  log: Logger,
): Promise<void> {
  try {
    await runtime.results.pruneRuns(pipeline.name, pipeline.spec.historyLimit);
    const kept = await runtime.results.listRuns(pipeline.name, pipeline.spec.historyLimit);
    const removed = await pruneRunArtifacts(
      runtime.artifactsFor(pipeline),
      new Set(kept.map((r) => r.runId)),
    );
    if (removed.length > 0)
      log.info({ pipeline: pipeline.name, runs: removed }, 'removed artifacts of old runs');
  } catch (error) {
    log.warn(
      { pipeline: pipeline.name, err: messageOf(error) },
      'cannot prune old runs; will try after the next run',
    );
  }
}

export async function standaloneCommand(path: string): Promise<void> {
  const log = createLogger();
  const config = configFromEnv();
  const pipelines = loadPipelines(path);
  if (pipelines.length === 0) {
    throw new UserError(`${path}: no MLPipeline documents found; nothing to schedule`);
  }
  const runtime = await createRuntime(config, log);

  const scheduler = new Scheduler({
    pipelines,
    results: runtime.results,
    log,
    startRun: async (run, signal) => {
      const pipeline = pipelines.find((p) => p.name === run.pipeline)!;
      let finished: RunRecord;
      try {
        finished = await runInWorker(pipeline, run, signal);
      } catch (error) {
        finished = await recordLostRun(runtime.results, run, messageOf(error));
      }
      await keepHistoryBounded(runtime, pipeline, log);
      return finished;
    },
  });

  const app = createApiApp({
    service: new StandaloneService(pipelines, runtime, scheduler, log),
    log,
    token: process.env.MLPIPELINE_API_TOKEN || undefined,
    ready: () => runtime.results.check(),
  });
  const server = app.listen(config.port, config.host);
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  scheduler.start();
  log.info(
    {
      address: `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${port}/`,
      pipelines: pipelines.map((p) => p.name),
      results: runtime.results.kind,
    },
    'single-container mode started',
  );

  const shutdown = async (signal: string): Promise<void> => {
    log.info({ signal }, 'stopping');
    server.close();
    await scheduler.stop();
    await runtime.close();
    process.exit(0);
  };
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
  process.once('SIGINT', () => void shutdown('SIGINT'));
}
