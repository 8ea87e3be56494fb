import type { Matrix, RowSelection } from './dataset.js';
import { minimizeLbfgs, type Objective, type StopReason } from './lbfgs.js';
import type { LinearModel } from './model.js';
import { assertScalerFits } from './scaler.js';

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
 * Memory beyond X is a few vectors of classCount * (featureCount + 1) values.
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
  const rows = selection.rows;
  const n = rows ? rows.length : X.rows;
  assertTrainingInput(X, y, k, l2, selection, n);

  const data = X.data;
  const standardize = selection.scaler != null;
  const shift = new Float64Array(selection.scaler?.mean ?? []);
  const inverseScale = new Float64Array((selection.scaler?.std ?? []).map((s) => 1 / s));
  // Per-row scratch, allocated once: the row as the model sees it and its scores.
  const z = new Float64Array(d);
  const scores = new Float64Array(k);

  return (theta, gradient) => {
    gradient.fill(0);
    let lossSum = 0;

    for (let r = 0; r < n; r++) {
      const row = rows ? rows[r]! : r;
      const start = row * d;
      if (standardize) {
        for (let j = 0; j < d; j++) z[j] = (data[start + j]! - shift[j]!) * inverseScale[j]!;
      } else {
        for (let j = 0; j < d; j++) z[j] = data[start + j]!;
      }

      let max = -Infinity;
      for (let c = 0; c < k; c++) {
        const offset = c * stride;
        let score = theta[offset + d]!;
        for (let j = 0; j < d; j++) score += theta[offset + j]! * z[j]!;
        scores[c] = score;
        if (score > max) max = score;
      }

      // log-sum-exp shifted by the largest score: no exp overflows, and the
      // largest term is exactly 1 so the sum never underflows to 0.
      const label = y[row]!;
      const labelScore = scores[label]!;
      let sum = 0;
      for (let c = 0; c < k; c++) {
        const e = Math.exp(scores[c]! - max);
        scores[c] = e;
        sum += e;
      }
      lossSum += Math.log(sum) + max - labelScore;

      // d loss / d score_c = p_c - [c is the label]; scores now hold exp terms.
      const inverseSum = 1 / sum;
      for (let c = 0; c < k; c++) {
        const residual = scores[c]! * inverseSum - (c === label ? 1 : 0);
        const offset = c * stride;
        for (let j = 0; j < d; j++) gradient[offset + j]! += residual * z[j]!;
        gradient[offset + d]! += residual;
      }
    }

    let penalty = 0;
    for (let c = 0; c < k; c++) {
      const offset = c * stride;
      for (let j = 0; j < stride; j++) gradient[offset + j]! /= n;
      for (let j = 0; j < d; j++) {
        const w = theta[offset + j]!;
        penalty += w * w;
        gradient[offset + j]! += l2 * w;
      }
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
  rowCount: number,
): void {
  if (!Number.isInteger(classCount) || classCount < 1) {
    throw new RangeError(`classCount must be a positive integer, got ${classCount}`);
  }
  if (!(l2 >= 0 && Number.isFinite(l2))) throw new RangeError(`l2 must be a finite number >= 0, got ${l2}`);
  if (X.data.length !== X.rows * X.cols) {
    throw new Error(`the matrix holds ${X.data.length} values, not ${X.rows} x ${X.cols}`);
  }
  if (y.length !== X.rows) throw new Error(`${y.length} labels for ${X.rows} rows`);
  if (rowCount === 0) throw new Error('no rows to train on');
  if (selection.scaler) assertScalerFits(selection.scaler, X.cols);

  const rows = selection.rows;
  for (let r = 0; r < rowCount; r++) {
    const row = rows ? rows[r]! : r;
    if (row < 0 || row >= X.rows) throw new RangeError(`row ${row} is outside 0..${X.rows - 1}`);
    const label = y[row]!;
    if (label < 0 || label >= classCount) {
      throw new RangeError(`label ${label} in row ${row} is outside 0..${classCount - 1}`);
    }
  }
}
