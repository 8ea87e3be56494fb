import { configFromEnv } from '../core/config.js';
import { messageOf } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import type { StageName } from '../core/ports.js';
import { stageFailureLine } from '../core/stage-failure.js';
import { createRuntime } from '../jobs/runtime.js';
import { STAGE_FUNCTIONS } from '../jobs/stages/index.js';
import { pickPipeline } from './pick-pipeline.js';

/**
 * One stage of one run, as a Job's pod runs it: the pipeline file, pipeline
 * name and run id come from arguments or from the environment the Job sets.
 * Exits 1 on failure so the Job counts a failed attempt.
 */
export async function stageCommand(
  stage: StageName,
  opts: { file?: string; pipeline?: string; runId?: string },
): Promise<number> {
  const log = createLogger();
  const file = opts.file ?? process.env.MLP_PIPELINE_FILE;
  const runId = opts.runId ?? process.env.MLP_RUN_ID;
  if (!file || !runId) {
    log.error(
      { stage },
      `missing ${!file ? '--file (or MLP_PIPELINE_FILE)' : '--run-id (or MLP_RUN_ID)'}`,
    );
    return 1;
  }
  const pipeline = pickPipeline(file, opts.pipeline ?? process.env.MLP_PIPELINE);
  if (!pipeline) return 1;

  const stageLog = log.child({ pipeline: pipeline.name, run: runId, stage });
  const runtime = await createRuntime(configFromEnv(), stageLog);
  try {
    const startedAt = Date.now();
    const summary = await STAGE_FUNCTIONS[stage](runtime.contextFor(pipeline, runId, stageLog));
    stageLog.info(
      { ...summary, durationSeconds: (Date.now() - startedAt) / 1000 },
      'stage succeeded',
    );
    return 0;
  } catch (error) {
    stageLog.error({ err: messageOf(error) }, 'stage failed');
    process.stderr.write(stageFailureLine(messageOf(error)));
    return 1;
  } finally {
    await runtime.close();
  }
}
