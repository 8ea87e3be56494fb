import { allRows, createMatrix, describeColumn, rowStart, type Matrix } from './dataset.js';

/** Per-column shift and scale: standardised = (value - mean) / std. */
export interface Scaler {
  mean: number[];
  std: number[];
}

/**
 * Fits the mean and population standard deviation of each column on the given
 * rows only: fitting on the test rows too would let them leak into the model
 * and flatter its test metrics.
 *
 * A constant column gets its own value as mean and std 1, so it standardises to
 * exactly 0 instead of 0/0.
 */
export function fitScaler(X: Matrix, rows: Int32Array, featureNames?: string[]): Scaler {
  if (rows.length === 0) throw new Error('cannot fit a scaler on zero rows');
  const cols = X.cols;
  const sums = new Float64Array(cols);
  const min = new Float64Array(cols).fill(Infinity);
  const max = new Float64Array(cols).fill(-Infinity);

  for (let r = 0; r < rows.length; r++) {
    const start = rowStart(X, rows[r]!);
    for (let j = 0; j < cols; j++) {
      const value = X.data[start + j]!;
      sums[j]! += value;
      if (value < min[j]!) min[j] = value;
      if (value > max[j]!) max[j] = value;
    }
  }
  const mean = Array.from(sums, (sum) => sum / rows.length);

  // A second pass over the deviations: the one-pass sum of squares loses
  // every digit when the mean is large next to the spread.
  const squares = new Float64Array(cols);
  for (let r = 0; r < rows.length; r++) {
    const start = rows[r]! * cols;
    for (let j = 0; j < cols; j++) {
      const deviation = X.data[start + j]! - mean[j]!;
      squares[j]! += deviation * deviation;
    }
  }

  const std = mean.map((m, j) => {
    if (!Number.isFinite(m) || !Number.isFinite(squares[j]!)) {
      throw new Error(`feature ${describeColumn(j, featureNames)} has non-finite values`);
    }
    if (min[j] === max[j]) {
      mean[j] = min[j]!;
      return 1;
    }
    const deviation = Math.sqrt(squares[j]! / rows.length);
    // Rounding noise in a column that is constant in all but name.
    return deviation <= 10 * Number.EPSILON * Math.abs(m) ? 1 : deviation;
  });
  return { mean, std };
}

/** A standardised copy of the given rows (all rows when none are given). */
export function applyScaler(X: Matrix, scaler: Scaler, rows: Int32Array = allRows(X.rows)): Matrix {
  assertScalerFits(scaler, X.cols);
  const out = createMatrix(rows.length, X.cols);
  for (let r = 0; r < rows.length; r++) {
    const from = rowStart(X, rows[r]!);
    const to = r * X.cols;
    for (let j = 0; j < X.cols; j++) {
      out.data[to + j] = (X.data[from + j]! - scaler.mean[j]!) / scaler.std[j]!;
    }
  }
  return out;
}

/** Throws unless the scaler has one finite mean and one positive finite std per column. */
export function assertScalerFits(scaler: Scaler, cols: number): void {
  if (scaler.mean.length !== cols || scaler.std.length !== cols) {
    throw new Error(
      `the scaler has ${scaler.mean.length} means and ${scaler.std.length} deviations for ${cols} columns`,
    );
  }
  for (let j = 0; j < cols; j++) {
    const std = scaler.std[j]!;
    if (!Number.isFinite(scaler.mean[j]!) || !Number.isFinite(std) || std <= 0) {
      throw new Error(`the scaler's column ${j} has mean ${scaler.mean[j]} and std ${std}`);
    }
  }
}
