import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ResultsStore, RunRecord } from '../core/ports.js';
import type { Pipeline } from '../core/spec/load.js';
import { mysqlConfigFromEnv } from '../jobs/adapters/mysql-config.js';
import { pruneRunArtifacts } from '../jobs/retention.js';
import type { Runtime } from '../jobs/runtime.js';
import { ChangeFeed } from './change-feed.js';
import { Scheduler } from './scheduler.js';
import { StandaloneService } from './service.js';
import { embeddedLiveness, mysqlLiveness, type RunLiveness } from './run-liveness.js';
import { StageLogBook } from './stage-logs.js';
import { SuspendSwitch } from './suspension.js';
import { runInWorker } from './worker-runner.js';

export interface AssembleOptions {
  pipelines: Pipeline[];
  runtime: Runtime;
  log: Logger;
  /** The run workers' environment (where they find the stores); the process's by default. */
  workerEnv?: NodeJS.ProcessEnv;
  /** Whether runs' log lines also go to stdout (the container's log); true by default. */
  echoRunLogs?: boolean;
}

export interface Standalone {
  scheduler: Scheduler;
  service: StandaloneService;
  /** What the service's subscribers hear; exposed so its listeners can be counted. */
  changes: ChangeFeed;
  /** Stops the scheduler (runs under way are awaited) and lets go of the runs it held. */
  close(): Promise<void>;
}

/**
 * Single-container mode's parts, wired: the scheduler starts each run in a
 * worker thread; the worker's record saves and log lines come back to this
 * thread, where they feed the API's event stream and the stage logs.
 */
export async function assembleStandalone(options: AssembleOptions): Promise<Standalone> {
  const { pipelines, runtime, log } = options;
  const changes = new ChangeFeed(log);
  const stageLogs = new StageLogBook();
  const suspension = await SuspendSwitch.load(pipelines, (p) => runtime.artifactsFor(p), log);
  const runChanged = (run: RunRecord) =>
    changes.publish({ pipeline: run.pipeline, kind: 'run', runId: run.runId });
  const env = options.workerEnv ?? process.env;
  const mysql = runtime.config.mysqlEnvPrefix
    ? mysqlConfigFromEnv(runtime.config.mysqlEnvPrefix, env)
    : undefined;
  const liveness = mysql ? mysqlLiveness(mysql) : embeddedLiveness();
  await markInterruptedRuns(runtime.results, pipelines, liveness, log);

  const scheduler = new Scheduler({
    pipelines,
    results: runtime.results,
    log,
    isSuspended: (pipeline) => suspension.isSuspended(pipeline),
    onRunChange: runChanged,
    startRun: async (run, signal) => {
      const pipeline = pipelines.find((p) => p.name === run.pipeline)!;
      const release = await liveness.hold(run);
      let finished: RunRecord;
      try {
        finished = await runInWorker(pipeline, run, signal, {
          env: options.workerEnv,
          onProgress: runChanged,
          onLogLine: (line) => {
            stageLogs.append(run.runId, line);
            if (options.echoRunLogs ?? true) process.stdout.write(line);
          },
        });
      } catch (error) {
        finished = await recordLostRun(runtime.results, run, messageOf(error));
      } finally {
        await release().catch((error: unknown) =>
          log.warn(
            { pipeline: run.pipeline, run: run.runId, err: messageOf(error) },
            'cannot release the run',
          ),
        );
      }
      await stageLogs.persist(run.runId, runtime.artifactsFor(pipeline)).catch((error: unknown) => {
        log.warn(
          { pipeline: pipeline.name, run: run.runId, err: messageOf(error) },
          'cannot keep the stage logs',
        );
      });
      if (finished.stages.some((s) => s.stage === 'train' && s.summary?.modelVersion)) {
        changes.publish({ pipeline: pipeline.name, kind: 'model', runId: run.runId });
      }
      await keepHistoryBounded(runtime, pipeline, log);
      return finished;
    },
  });

  const service = new StandaloneService({
    pipelines,
    runtime,
    scheduler,
    log,
    changes,
    stageLogs,
    suspension,
  });
  return {
    scheduler,
    service,
    changes,
    async close() {
      await scheduler.stop();
      await liveness.close();
    },
  };
}

/**
 * Runs left unfinished by a process that is gone (killed, out of memory)
 * would read "Running" for ever: at start-up they are ended as failed, saying
 * why. Runs another living process works on are left alone.
 */
async function markInterruptedRuns(
  results: ResultsStore,
  pipelines: Pipeline[],
  liveness: RunLiveness,
  log: Logger,
): Promise<void> {
  const ours = new Set(pipelines.map((p) => p.name));
  for (const run of await results.listUnfinishedRuns()) {
    if (!ours.has(run.pipeline) || (await liveness.isAlive(run))) continue;
    await recordLostRun(
      results,
      run,
      'interrupted: the process running it stopped before the run ended',
    );
    log.warn({ pipeline: run.pipeline, run: run.runId }, 'run interrupted by a stopped process');
  }
}

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
