import { messageOf, UserError } from '../../core/errors.js';
import { artifactKeys, readClean } from '../artifacts.js';
import { decidePromotion } from '../ml/promotion.js';
import { fitModel } from '../ml/train.js';
import {
  modelVersionName,
  readCurrentModel,
  type CurrentModelPointer,
  type ModelDocument,
} from '../model-version.js';
import type { StageContext, StageSummary } from './context.js';

/**
 * Fits a model on the run's cleaned data, stores it as a new version, and moves
 * the current pointer only when the promotion rule holds. The pointer is
 * written last, so a reader never sees it name a missing or worse model; any
 * failure before that (non-finite weights included) leaves it untouched.
 */
export async function train(ctx: StageContext): Promise<StageSummary> {
  const { spec } = ctx.pipeline;
  const data = await readClean(ctx.artifacts, ctx.runId);

  const startedAt = Date.now();
  const fit = fitDeterministically(() =>
    fitModel(
      { data: data.X, rows: data.rows, cols: data.features.length },
      data.y,
      data.classes.length,
      {
        algorithm: spec.train.algorithm,
        learningRate: spec.train.params.learningRate,
        numSteps: spec.train.params.numSteps,
        l2: spec.train.params.l2,
        tolerance: spec.train.params.tolerance,
        testFraction: spec.train.testFraction,
        seed: spec.train.seed,
        standardize: spec.clean.standardize,
        classNames: data.classes,
        featureNames: data.features,
      },
    ),
  );
  const fitSeconds = (Date.now() - startedAt) / 1000;

  const current = await readCurrentModel(ctx.artifacts);
  const decision = decidePromotion(
    fit.metrics,
    current && { version: current.version, metrics: current.metrics },
    spec.train.promotion,
  );

  const trainedAt = ctx.now();
  const doc: ModelDocument = {
    version: modelVersionName(trainedAt, ctx.runId),
    pipeline: ctx.pipeline.name,
    runId: ctx.runId,
    trainedAt: trainedAt.toISOString(),
    algorithm: spec.train.algorithm,
    params: { ...spec.train.params, testFraction: spec.train.testFraction, seed: spec.train.seed },
    features: data.features,
    label: data.label,
    classes: data.classes,
    scaler: fit.scaler,
    model: fit.model,
    metrics: fit.metrics,
    rows: { total: data.rows, train: fit.split.train, test: fit.split.test },
    featureRanges: featureRanges(data.X, data.rows, data.features.length),
    promotion: {
      promoted: decision.promote,
      reason: decision.reason,
      previousVersion: current?.version,
    },
  };

  const body = JSON.stringify(doc, null, 2);
  await ctx.artifacts.put(artifactKeys.runModel(ctx.runId), body);
  await ctx.artifacts.put(artifactKeys.runMetrics(ctx.runId), JSON.stringify(fit.metrics, null, 2));
  await ctx.artifacts.put(artifactKeys.model(doc.version), body);
  if (decision.promote) {
    const pointer: CurrentModelPointer = {
      version: doc.version,
      runId: ctx.runId,
      promotedAt: ctx.now().toISOString(),
      metrics: { accuracy: fit.metrics.accuracy, macroF1: fit.metrics.macroF1 },
    };
    await ctx.artifacts.put(artifactKeys.currentModel(), JSON.stringify(pointer, null, 2));
  }

  ctx.log.info(
    {
      modelVersion: doc.version,
      accuracy: fit.metrics.accuracy,
      promoted: decision.promote,
      reason: decision.reason,
      fitSeconds,
    },
    'trained model',
  );
  return {
    modelVersion: doc.version,
    promoted: decision.promote,
    promotionReason: decision.reason,
    metrics: fit.metrics,
    rowsTrain: fit.split.train,
    rowsTest: fit.split.test,
    fitSeconds,
    iterations: fit.training.iterations,
    stopReason: fit.training.stopReason,
  };
}

/**
 * Fitting is a pure function of the cleaned data and the spec: if it throws
 * (values that overflow, a class with no rows), a retry would throw the same,
 * so the failure is the user's to fix, not a temporary one.
 */
function fitDeterministically<T>(fit: () => T): T {
  try {
    return fit();
  } catch (error) {
    throw new UserError(`train: ${messageOf(error)}`);
  }
}

function featureRanges(
  X: Float64Array,
  rows: number,
  cols: number,
): { min: number; max: number }[] {
  const ranges = Array.from({ length: cols }, () => ({ min: Infinity, max: -Infinity }));
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = X[i * cols + j]!;
      const r = ranges[j]!;
      if (v < r.min) r.min = v;
      if (v > r.max) r.max = v;
    }
  }
  return ranges;
}
