import { configFromEnv } from '../core/config.js';
import { messageOf } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import type { RunRecord, StageName } from '../core/ports.js';
import { manualRunId, randomNonce } from '../core/schedule/index.js';
import { executeRun } from '../jobs/run-executor.js';
import { createRuntime } from '../jobs/runtime.js';
import { STAGE_FUNCTIONS } from '../jobs/stages/index.js';
import { pickPipeline } from './pick-pipeline.js';

interface RunOptions {
  file: string;
  pipeline?: string;
  runId?: string;
  stage?: StageName;
  json?: boolean;
}

/** One whole run now, in this process. 0 when every stage succeeded. */
export async function runCommand(opts: RunOptions): Promise<number> {
  // With --json, stdout carries only the result; logs go to stderr.
  const log = createLogger({ destination: opts.json ? process.stderr : process.stderr });
  const pipeline = pickPipeline(opts.file, opts.pipeline);
  if (!pipeline) return 1;

  const runtime = await createRuntime(configFromEnv(), log);
  try {
    const now = new Date();
    const runId = opts.runId ?? manualRunId(pipeline.name, now, randomNonce());
    const run: RunRecord = {
      pipeline: pipeline.name,
      runId,
      trigger: 'manual',
      startStage: opts.stage ?? 'collect',
      phase: 'Pending',
      startedAt: now.toISOString(),
      stages: [],
    };
    // A rerun of an existing id replaces that run's record and predictions.
    if (!(await runtime.results.claimRun(run))) await runtime.results.saveRun(run);

    const runLog = log.child({ pipeline: pipeline.name, run: runId });
    const finished = await executeRun({
      run,
      retries: (stage) => pipeline.spec.stages?.[stage]?.retries ?? 0,
      stages: STAGE_FUNCTIONS,
      contextFor: (stage) => runtime.contextFor(pipeline, runId, runLog.child({ stage })),
      results: runtime.results,
      log: runLog,
    });
    console.log(opts.json ? JSON.stringify(runReport(finished), null, 2) : humanSummary(finished));
    return finished.phase === 'Succeeded' ? 0 : 1;
  } catch (error) {
    console.error(`run failed: ${messageOf(error)}`);
    return 1;
  } finally {
    await runtime.close();
  }
}

/** The --json shape: runId, and per stage its status, figures and duration. */
export function runReport(run: RunRecord): Record<string, unknown> {
  return {
    runId: run.runId,
    pipeline: run.pipeline,
    phase: run.phase,
    message: run.message,
    startedAt: run.startedAt,
    finishedAt: run.finishedAt,
    stages: Object.fromEntries(
      run.stages.map((s) => [
        s.stage,
        {
          status: s.phase,
          attempts: s.attempts,
          durationSeconds: s.summary?.durationSeconds,
          message: s.message,
          ...s.summary,
        },
      ]),
    ),
  };
}

/** One line per stage saying what it did, in the words of that stage. */
const STAGE_DETAIL: Record<StageName, (sum: Record<string, unknown>) => string | undefined> = {
  collect: (sum) => (sum.rowsRead === undefined ? undefined : `${text(sum.rowsRead)} rows read`),
  clean: (sum) =>
    sum.rowsOut === undefined ? undefined : `${text(sum.rowsOut)} of ${text(sum.rowsIn)} rows kept`,
  train: (sum) => {
    if (sum.modelVersion === undefined) return undefined;
    const accuracy = (sum.metrics as { accuracy: number }).accuracy.toFixed(3);
    const verdict = sum.promoted ? 'promoted' : 'not promoted';
    return `model ${text(sum.modelVersion)}, test accuracy ${accuracy}, ${verdict}: ${text(sum.promotionReason)}`;
  },
  predict: (sum) =>
    sum.rowsWritten === undefined
      ? undefined
      : `${text(sum.rowsWritten)} predictions written to ${text(sum.table)} with model ${text(sum.modelVersion)}`,
};

function humanSummary(run: RunRecord): string {
  const lines = [`run ${run.runId}: ${run.phase}`];
  for (const s of run.stages) {
    const sum = s.summary ?? {};
    const parts = [`  ${s.stage.padEnd(8)} ${s.phase.padEnd(9)}`];
    if (typeof sum.durationSeconds === 'number')
      parts.push(`in ${sum.durationSeconds.toFixed(2)}s`);
    const detail = STAGE_DETAIL[s.stage](sum);
    if (detail) parts.push(` ${detail}`);
    if (s.message) parts.push(` ${s.message}`);
    lines.push(parts.join(' '));
  }
  return lines.join('\n');
}

function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number'
    ? String(value)
    : JSON.stringify(value);
}
