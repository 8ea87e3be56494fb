import { allRows, type Matrix, type RowSelection } from './dataset.js';
import { minimizeLbfgs, type Objective, type StopReason } from './lbfgs.js';
import type { LinearModel } from './model.js';
import { assertScalerFits } from './scaler.js';
import { rowKernelFor } from './softmax-kernel.js';

export interface SoftmaxOptions {
  /** Coefficient of (l2 / 2) * sum of squared weights, added to the mean log-loss. */
  l2: number;
  maxIterations: number;
  /** Stop when the largest absolute gradient component falls below this. */
  tolerance: number;
}

export interface SoftmaxFit {
  model: LinearModel;
  /** Mean log-loss plus the penalty, at the returned weights. */
  loss: number;
  gradientNorm: number;
  iterations: number;
  /** Passes over the rows; the time of a fit is about this times one pass. */
  evaluations: number;
  stopReason: StopReason;
}

/**
 * Fits multinomial logistic regression with an intercept per class and an L2
 * penalty on the weights (not the intercepts), minimising the mean log-loss
 * with L-BFGS from all-zero weights. Deterministic: the same inputs give the
 * same weights.
 *
 * X is read in place, rows selected and standardised as they are read: memory
 * beyond it is a few vectors of classCount * (featureCount + 1) values, and an
 * index of every row when no rows are selected.
 */
export function fitSoftmax(
  X: Matrix,
  y: Int32Array,
  classCount: number,
  options: SoftmaxOptions,
  selection: RowSelection = {},
): SoftmaxFit {
  const objective = createSoftmaxObjective(X, y, classCount, options.l2, selection);
  const stride = X.cols + 1;
  const result = minimizeLbfgs(objective, new Float64Array(classCount * stride), {
    maxIterations: options.maxIterations,
    tolerance: options.tolerance,
  });

  const weights = Array.from({ length: classCount }, (_, c) =>
    Array.from(result.x.subarray(c * stride, (c + 1) * stride)),
  );
  return {
    model: { kind: 'softmax', classCount, featureCount: X.cols, weights },
    loss: result.value,
    gradientNorm: result.gradientNorm,
    iterations: result.iterations,
    evaluations: result.evaluations,
    stopReason: result.stopReason,
  };
}

/**
 * The penalised mean log-loss and its gradient over the selected rows, in one
 * pass. Parameters are classCount blocks of featureCount weights followed by
 * the intercept: the layout of LinearModel.weights.
 */
export function createSoftmaxObjective(
  X: Matrix,
  y: Int32Array,
  classCount: number,
  l2: number,
  selection: RowSelection = {},
): Objective {
  const k = classCount;
  const d = X.cols;
  const stride = d + 1;
  const rows = selection.rows ?? allRows(X.rows);
  const n = rows.length;
  assertTrainingInput(X, y, k, l2, selection, rows);

  const data = X.data;
  const mean = selection.scaler ? Float64Array.from(selection.scaler.mean) : new Float64Array(d);
  const inverseStd = new Float64Array(d).fill(1);
  selection.scaler?.std.forEach((std, j) => (inverseStd[j] = 1 / std));

  const kernel = rowKernelFor(k, d);
  // Allocated once, reused by every evaluation.
  const scaledWeights = new Float64Array(k * stride);
  const sums = new Float64Array(k * stride);

  return (theta, gradient) => {
    // Standardising is (x - mean) / std: the division moves into the weights,
    // once per evaluation, so each value read only needs its mean subtracted.
    // (Moving the mean too would cancel digits when the mean dwarfs the spread.)
    for (let c = 0; c < k; c++) {
      const offset = c * stride;
      for (let j = 0; j < d; j++) scaledWeights[offset + j] = theta[offset + j]! * inverseStd[j]!;
      scaledWeights[offset + d] = theta[offset + d]!;
    }
    const lossSum = kernel(scaledWeights, sums, data, rows, y, mean);

    let penalty = 0;
    for (let c = 0; c < k; c++) {
      const offset = c * stride;
      for (let j = 0; j < d; j++) {
        const w = theta[offset + j]!;
        penalty += w * w;
        gradient[offset + j] = (sums[offset + j]! * inverseStd[j]!) / n + l2 * w;
      }
      gradient[offset + d] = sums[offset + d]! / n;
    }
    return lossSum / n + 0.5 * l2 * penalty;
  };
}

function assertTrainingInput(
  X: Matrix,
  y: Int32Array,
  classCount: number,
  l2: number,
  selection: RowSelection,
  rows: Int32Array,
): void {
  if (!Number.isInteger(classCount) || classCount < 1) {
    throw new RangeError(`classCount must be a positive integer, got ${classCount}`);
  }
  if (!(l2 >= 0 && Number.isFinite(l2)))
    throw new RangeError(`l2 must be a finite number >= 0, got ${l2}`);
  if (X.data.length !== X.rows * X.cols) {
    throw new Error(`the matrix holds ${X.data.length} values, not ${X.rows} x ${X.cols}`);
  }
  if (y.length !== X.rows) throw new Error(`${y.length} labels for ${X.rows} rows`);
  if (rows.length === 0) throw new Error('no rows to train on');
  if (selection.scaler) assertScalerFits(selection.scaler, X.cols);

  for (const row of rows) {
    if (row < 0 || row >= X.rows) throw new RangeError(`row ${row} is outside 0..${X.rows - 1}`);
    const label = y[row]!;
    if (label < 0 || label >= classCount) {
      throw new RangeError(`label ${label} in row ${row} is outside 0..${classCount - 1}`);
    }
  }
}
