import type { Scaler } from './scaler.js';

/**
 * The feature matrix every model function works on: one Float64Array, row-major,
 * so a million rows cost one allocation and the training loops stay on typed
 * arrays.
 */
export interface Matrix {
  data: Float64Array;
  rows: number;
  cols: number;
}

export function createMatrix(rows: number, cols: number): Matrix {
  return { data: new Float64Array(rows * cols), rows, cols };
}

/** Builds a matrix from nested arrays; every row must have the same length. */
export function matrixFromRows(values: readonly (readonly number[])[]): Matrix {
  const cols = values[0]?.length ?? 0;
  const matrix = createMatrix(values.length, cols);
  values.forEach((row, i) => {
    if (row.length !== cols) {
      throw new Error(`row ${i} has ${row.length} values, expected ${cols}`);
    }
    matrix.data.set(row, i * cols);
  });
  return matrix;
}

/** The indices 0..count-1, for callers that select every row. */
export function allRows(count: number): Int32Array {
  const rows = new Int32Array(count);
  for (let i = 0; i < count; i++) rows[i] = i;
  return rows;
}

/** A copy of the given rows, in the order given. */
export function takeRows(X: Matrix, rows: Int32Array): Matrix {
  const out = createMatrix(rows.length, X.cols);
  for (let r = 0; r < rows.length; r++) {
    const start = rowStart(X, rows[r]!);
    out.data.set(X.data.subarray(start, start + X.cols), r * X.cols);
  }
  return out;
}

export function takeLabels(y: Int32Array, rows: Int32Array): Int32Array {
  const out = new Int32Array(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    if (row < 0 || row >= y.length)
      throw new RangeError(`row ${row} is outside 0..${y.length - 1}`);
    out[r] = y[row]!;
  }
  return out;
}

/**
 * Throws on the first NaN or infinite feature, naming its column, because one
 * such value turns every weight it touches into NaN and the model into noise.
 */
export function assertFiniteFeatures(X: Matrix, rows?: Int32Array, featureNames?: string[]): void {
  const count = rows ? rows.length : X.rows;
  for (let r = 0; r < count; r++) {
    const row = rows ? rows[r]! : r;
    const start = rowStart(X, row);
    for (let j = 0; j < X.cols; j++) {
      const value = X.data[start + j]!;
      if (!Number.isFinite(value)) {
        throw new Error(
          `feature ${describeColumn(j, featureNames)} has the non-finite value ${value} in row ${row}`,
        );
      }
    }
  }
}

/** A column as a user knows it: by name when there is one, always by position. */
export function describeColumn(index: number, featureNames?: string[]): string {
  const name = featureNames?.[index];
  return name === undefined ? `column ${index}` : `"${name}" (column ${index})`;
}

/** Where a row starts in X.data; throws for a row X does not have. */
export function rowStart(X: Matrix, row: number): number {
  if (!Number.isInteger(row) || row < 0 || row >= X.rows) {
    throw new RangeError(`row ${row} is outside 0..${X.rows - 1}`);
  }
  return row * X.cols;
}

/**
 * The rows a trainer reads and how it standardises them. Both are applied as
 * each row is read, so training on a split of a large matrix never copies it.
 */
export interface RowSelection {
  /** Row indices into X; every row when absent. */
  rows?: Int32Array;
  /** Standardisation applied to each row as it is read; none when absent. */
  scaler?: Scaler | null;
}
