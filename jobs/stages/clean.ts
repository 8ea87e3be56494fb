import { UserError } from '../../core/errors.js';
import { artifactKeys, decodeRaw, writeClean } from '../artifacts.js';
import { cleanTable } from './clean-table.js';
import type { StageContext, StageSummary } from './context.js';

/** Turns the run's raw rows into the numeric training set and says what it dropped. */
export async function clean(ctx: StageContext): Promise<StageSummary> {
  const bytes = await ctx.artifacts.get(artifactKeys.raw(ctx.runId));
  if (!bytes) {
    throw new UserError(
      `run ${ctx.runId} has no raw rows at ${ctx.artifacts.location}/${artifactKeys.raw(ctx.runId)}: ` +
        'the collect stage has not succeeded for this run',
    );
  }
  const { spec } = ctx.pipeline;
  const { data, meta } = cleanTable(decodeRaw(bytes), {
    features: spec.features,
    label: spec.label,
    dropMissing: spec.clean.dropMissing,
    dropDuplicates: spec.clean.dropDuplicates,
    minRows: spec.clean.minRows,
  });
  await writeClean(ctx.artifacts, ctx.runId, data, meta);
  ctx.log.info(
    { rowsIn: meta.inputRows, rowsOut: meta.rows, dropped: meta.dropped },
    'cleaned rows',
  );
  return {
    rowsIn: meta.inputRows,
    rowsOut: meta.rows,
    dropped: meta.dropped,
    classes: meta.classes,
  };
}
