import { messageOf, RunReplacedError, UserError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { ResultsStore, RunRecord, StageName, StageRecord } from '../core/ports.js';
import { retryDelayMs, stagesFrom } from '../core/schedule/index.js';
import type { StageContext, StageFunctions } from './stages/context.js';

export interface ExecuteRunOptions {
  /** The run's record as claimed; it is updated in the results store as stages move. */
  run: RunRecord;
  retries: (stage: StageName) => number;
  stages: StageFunctions;
  contextFor: (stage: StageName) => StageContext;
  results: ResultsStore;
  log: Logger;
  now?: () => Date;
  sleep?: (ms: number) => Promise<void>;
  /** Aborted when the run is replaced (concurrencyPolicy Replace) or the process stops. */
  signal?: AbortSignal;
}

/**
 * Runs the stages of one run in order, in this process, with the retries the
 * spec allows. A failed stage (after its retries) fails the run and nothing
 * after it starts. A UserError (bad spec, bad data) is not retried: the same
 * input would fail the same way.
 */
export async function executeRun(options: ExecuteRunOptions): Promise<RunRecord> {
  const now = options.now ?? (() => new Date());
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const run = options.run;
  const order = stagesFrom(run.startStage);
  run.phase = 'Running';
  run.stages = order.map((stage) => ({ stage, phase: 'Pending', attempts: 0 }));
  await options.results.saveRun(run);

  for (const record of run.stages) {
    const log = options.log.child({ stage: record.stage });
    const ok = await runStage(record, options, log, now, sleep);
    const version = record.summary?.modelVersion;
    if (typeof version === 'string') run.modelVersion = version;
    if (!ok) {
      for (const later of run.stages) if (later.phase === 'Pending') later.phase = 'Skipped';
      const reason: unknown = options.signal?.reason;
      if (options.signal?.aborted && reason instanceof RunReplacedError) {
        // Not a failure of the pipeline: a newer run took its place.
        run.phase = 'Replaced';
        run.message = reason.message;
      } else if (options.signal?.aborted) {
        run.phase = 'Failed';
        run.message = `stopped before stage ${record.stage}: ${messageOf(reason)}`;
      } else {
        run.phase = 'Failed';
        run.message = `stage ${record.stage} failed: ${record.message ?? 'unknown error'}`;
      }
      break;
    }
    await options.results.saveRun(run);
  }

  if (run.phase === 'Running') run.phase = 'Succeeded';
  run.finishedAt = now().toISOString();
  await options.results.saveRun(run);
  options.log.info({ phase: run.phase, modelVersion: run.modelVersion }, 'run finished');
  return run;
}

async function runStage(
  record: StageRecord,
  options: ExecuteRunOptions,
  log: Logger,
  now: () => Date,
  sleep: (ms: number) => Promise<void>,
): Promise<boolean> {
  const maxAttempts = options.retries(record.stage) + 1;
  record.phase = 'Running';
  record.startedAt = now().toISOString();
  await options.results.saveRun(options.run);

  while (record.attempts < maxAttempts) {
    if (options.signal?.aborted) {
      // Stopped before its first attempt, the stage did not run: it is not to blame.
      record.phase = record.attempts === 0 ? 'Skipped' : 'Failed';
      record.message = `${record.attempts === 0 ? 'not started' : 'stopped'}: ${messageOf(options.signal.reason)}`;
      record.finishedAt = now().toISOString();
      return false;
    }
    record.attempts++;
    const startedAt = Date.now();
    try {
      log.info({ attempt: record.attempts }, 'stage started');
      record.summary = await options.stages[record.stage](options.contextFor(record.stage));
      record.summary.durationSeconds = (Date.now() - startedAt) / 1000;
      record.phase = 'Succeeded';
      record.message = undefined;
      record.finishedAt = now().toISOString();
      log.info(
        { attempt: record.attempts, durationSeconds: record.summary.durationSeconds },
        'stage succeeded',
      );
      return true;
    } catch (error) {
      record.message = messageOf(error);
      const permanent = error instanceof UserError;
      log.error({ attempt: record.attempts, err: record.message, permanent }, 'stage failed');
      if (permanent || record.attempts >= maxAttempts) break;
      await sleep(retryDelayMs(record.attempts));
    }
  }
  record.phase = 'Failed';
  record.finishedAt = now().toISOString();
  return false;
}
