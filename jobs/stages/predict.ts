import { describeColumns } from '../../core/columns.js';
import { UserError } from '../../core/errors.js';
import type { PredictionRow, RawTable } from '../../core/ports.js';
import type { MLPipelineSpec } from '../../core/spec/types.generated.js';
import { writePredictionsSummary } from '../artifacts.js';
import {
  readCurrentModel,
  readModel,
  scoreWithModel,
  type ModelDocument,
} from '../model-version.js';
import { toFeatureValue } from './clean-table.js';
import type { StageContext, StageSummary } from './context.js';

/**
 * Scores every row of the predict source with the current (or pinned) model
 * and replaces this run's predictions in one transaction: a rerun replaces its
 * rows, and a failure leaves the previous ones.
 */
export async function predict(ctx: StageContext): Promise<StageSummary> {
  const { spec } = ctx.pipeline;
  const model = await loadModel(ctx, spec);
  const source = spec.predict.source ?? spec.source;
  const table = await ctx.readSource(source);

  const prepared = prepareRows(table, model.features, source.mysql?.keyColumn);
  const probabilities = scoreWithModel(model, {
    data: prepared.X,
    rows: prepared.keys.length,
    cols: model.features.length,
  });
  const { rows, unscorable } = toPredictionRows(prepared.keys, probabilities, model.classes);
  const rowsSkipped = prepared.skipped + unscorable;

  const sink = await ctx.predictionSink();
  const scoredAt = ctx.now();
  const { rowsWritten } = await sink.store.replacePredictions(sink.table, {
    pipeline: ctx.pipeline.name,
    runId: ctx.runId,
    modelVersion: model.version,
    scoredAt,
    rows,
  });
  // After the rows: a summary is never ahead of what the sink holds.
  await writePredictionsSummary(ctx.artifacts, {
    runId: ctx.runId,
    modelVersion: model.version,
    rowsWritten,
    table: sink.table,
    scoredAt: scoredAt.toISOString(),
  });

  ctx.log.info(
    { modelVersion: model.version, rowsWritten, rowsSkipped, table: sink.table },
    'wrote predictions',
  );
  return {
    modelVersion: model.version,
    rowsRead: table.rows.length,
    rowsSkipped,
    rowsWritten,
    table: sink.table,
  };
}

async function loadModel(ctx: StageContext, spec: MLPipelineSpec): Promise<ModelDocument> {
  const pinned = spec.predict.modelVersion;
  const model = pinned
    ? await readModel(ctx.artifacts, pinned)
    : await readCurrentModel(ctx.artifacts);
  if (model) return model;
  throw new UserError(
    pinned
      ? `spec.predict.modelVersion: model version ${pinned} does not exist in ${ctx.artifacts.location}`
      : `predict: no model of pipeline ${ctx.pipeline.name} has been promoted yet ` +
          `(${ctx.artifacts.location}); a run that trains one must succeed first`,
  );
}

/**
 * Picks the model's features out of each row. Rows with a missing or
 * non-numeric feature cannot be scored and are counted, not guessed at. The
 * key is the key column's value, or the row's 1-based position.
 */
export function prepareRows(
  table: RawTable,
  features: string[],
  keyColumn: string | undefined,
): { keys: string[]; X: Float64Array; skipped: number } {
  const index = features.map((name) => {
    const i = table.columns.indexOf(name);
    if (i === -1) {
      throw new UserError(
        `predict: the source has no column "${name}", which the model needs (columns: ${describeColumns(table.columns)})`,
      );
    }
    return i;
  });
  const keyIndex = keyColumn === undefined ? -1 : table.columns.indexOf(keyColumn);
  if (keyColumn !== undefined && keyIndex === -1) {
    throw new UserError(`keyColumn: the source has no column "${keyColumn}"`);
  }

  // Rows are written straight into the matrix; a skipped row's slot is reused.
  const d = index.length;
  const X = new Float64Array(table.rows.length * d);
  const keys: string[] = [];
  const seen = new Set<string>();
  let skipped = 0;
  table.rows.forEach((row, position) => {
    const offset = keys.length * d;
    for (let j = 0; j < d; j++) {
      const value = toFeatureValue(row[index[j]!] ?? null);
      if (typeof value !== 'number') {
        skipped++;
        return;
      }
      X[offset + j] = value;
    }
    const key = keyIndex === -1 ? String(position + 1) : String(row[keyIndex] ?? '');
    if (seen.has(key)) {
      throw new UserError(
        `keyColumn: the value ${JSON.stringify(key)} of "${keyColumn}" appears more than once; a key must name one row`,
      );
    }
    seen.add(key);
    keys.push(key);
  });
  return { keys, X: X.subarray(0, keys.length * d), skipped };
}

/**
 * The most likely label of each row with its probabilities. A row whose values
 * are so far outside the training range that the arithmetic overflows has no
 * meaningful probabilities: it is counted as unscorable, not written as NaN.
 */
function toPredictionRows(
  keys: string[],
  probabilities: Float64Array,
  classes: string[],
): { rows: PredictionRow[]; unscorable: number } {
  const k = classes.length;
  const rows: PredictionRow[] = [];
  let unscorable = 0;
  keys.forEach((rowKey, i) => {
    let best = 0;
    const byClass: Record<string, number> = {};
    for (let c = 0; c < k; c++) {
      const p = probabilities[i * k + c]!;
      if (!Number.isFinite(p)) {
        unscorable++;
        return;
      }
      byClass[classes[c]!] = p;
      if (p > probabilities[i * k + best]!) best = c;
    }
    rows.push({
      rowKey,
      label: classes[best]!,
      probability: probabilities[i * k + best]!,
      probabilities: byClass,
    });
  });
  return { rows, unscorable };
}
