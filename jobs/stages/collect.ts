import { artifactKeys, encodeRaw } from '../artifacts.js';
import type { StageContext, StageSummary } from './context.js';

/** Reads the pipeline's source and keeps the rows, exactly as read, for the run. */
export async function collect(ctx: StageContext): Promise<StageSummary> {
  const table = await ctx.readSource(ctx.pipeline.spec.source);
  await ctx.artifacts.put(artifactKeys.raw(ctx.runId), encodeRaw(table));
  ctx.log.info({ rows: table.rows.length, columns: table.columns.length }, 'collected rows');
  return { rowsRead: table.rows.length, columns: table.columns.length };
}
