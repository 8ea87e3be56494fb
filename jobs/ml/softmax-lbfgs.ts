import { allRows, type Matrix, type RowSelection } from './dataset.js';
import { minimizeLbfgs, type Objective, type StopReason } from './lbfgs.js';
import type { LinearModel } from './model.js';
import { assertScalerFits } from './scaler.js';

/** Rows scored together, so each weight read from memory serves four products. */
const BLOCK = 4;

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
  const rows = selection.rows ?? allRows(X.rows);
  const n = rows.length;
  assertTrainingInput(X, y, k, l2, selection, rows);

  const data = X.data;
  const mean = selection.scaler ? Float64Array.from(selection.scaler.mean) : new Float64Array(d);
  const inverseStd = new Float64Array(d).fill(1);
  selection.scaler?.std.forEach((std, j) => (inverseStd[j] = 1 / std));

  // Allocated once, reused by every evaluation.
  const scaledWeights = new Float64Array(k * stride);
  const sums = new Float64Array(k * stride);
  const block = new Float64Array(BLOCK * k);

  return (theta, gradient) => {
    // Standardising is (x - mean) / std: the division moves into the weights,
    // once per evaluation, so each value read only needs its mean subtracted.
    // (Moving the mean too would cancel digits when the mean dwarfs the spread.)
    for (let c = 0; c < k; c++) {
      const offset = c * stride;
      for (let j = 0; j < d; j++) scaledWeights[offset + j] = theta[offset + j]! * inverseStd[j]!;
      scaledWeights[offset + d] = theta[offset + d]!;
    }
    const lossSum = accumulateRows(data, d, k, rows, y, mean, scaledWeights, sums, block);

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

/**
 * Adds every selected row's residual times centred row into sums (weights,
 * then intercept, per class) and returns the summed loss. A function of its
 * own, on plain parameters, because that is what the JIT compiles tightest.
 */
function accumulateRows(
  data: Float64Array,
  d: number,
  k: number,
  rows: Int32Array,
  y: Int32Array,
  mean: Float64Array,
  scaledWeights: Float64Array,
  sums: Float64Array,
  block: Float64Array,
): number {
  sums.fill(0);
  let lossSum = 0;
  const n = rows.length;
  const stride = d + 1;

  for (let r = 0; r < n; r += BLOCK) {
    // The last block may be short: its missing rows repeat a real one and
    // are given a zero residual and no loss below.
    const valid = Math.min(BLOCK, n - r);
    const row0 = rows[r]!;
    const row1 = valid > 1 ? rows[r + 1]! : row0;
    const row2 = valid > 2 ? rows[r + 2]! : row0;
    const row3 = valid > 3 ? rows[r + 3]! : row0;
    const at0 = row0 * d;
    const at1 = row1 * d;
    const at2 = row2 * d;
    const at3 = row3 * d;

    // Scores of four rows at once: each weight and mean is loaded once for
    // four products, and the four sums are independent.
    for (let c = 0; c < k; c++) {
      const offset = c * stride;
      const intercept = scaledWeights[offset + d]!;
      let s0 = intercept;
      let s1 = intercept;
      let s2 = intercept;
      let s3 = intercept;
      for (let j = 0; j < d; j++) {
        const w = scaledWeights[offset + j]!;
        const m = mean[j]!;
        s0 += w * (data[at0 + j]!);
        s1 += w * (data[at1 + j]!);
        s2 += w * (data[at2 + j]!);
        s3 += w * (data[at3 + j]!);
      }
      block[c] = s0;
      block[k + c] = s1;
      block[2 * k + c] = s2;
      block[3 * k + c] = s3;
    }

    // Scores become residuals p_c - [c is the label], the loss's derivative
    // by score. log-sum-exp is shifted by the largest score: no exp
    // overflows, and the largest term is 1 so the sum never underflows.
    for (let q = 0; q < BLOCK; q++) {
      const base = q * k;
      if (q >= valid) {
        block.fill(0, base, base + k);
        continue;
      }
      const label = y[rows[r + q]!]!;
      let max = -Infinity;
      for (let c = 0; c < k; c++) max = Math.max(max, block[base + c]!);
      const labelScore = block[base + label]!;
      let sum = 0;
      for (let c = 0; c < k; c++) {
        const e = Math.exp(block[base + c]! - max);
        block[base + c] = e;
        sum += e;
      }
      lossSum += Math.log(sum) + max - labelScore;
      for (let c = 0; c < k; c++) block[base + c] = block[base + c]! / sum;
      block[base + label]! -= 1;
    }

    // Residual times centred row, summed: again four rows per load of a sum.
    for (let c = 0; c < k; c++) {
      const offset = c * stride;
      const q0 = block[c]!;
      const q1 = block[k + c]!;
      const q2 = block[2 * k + c]!;
      const q3 = block[3 * k + c]!;
      for (let j = 0; j < d; j++) {
        const m = mean[j]!;
        sums[offset + j]! +=
          q0 * data[at0 + j]! +
          q1 * data[at1 + j]! +
          q2 * data[at2 + j]! +
          q3 * (data[at3 + j]!);
      }
      sums[offset + d]! += q0 + q1 + q2 + q3;
    }
  }
  return lossSum;
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
