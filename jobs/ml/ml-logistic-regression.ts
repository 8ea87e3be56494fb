import LogisticRegression from 'ml-logistic-regression';
import { Matrix as LibraryMatrix } from 'ml-matrix';

import { allRows, assertFiniteFeatures, type Matrix, type RowSelection } from './dataset.js';
import type { LinearModel } from './model.js';
import { assertScalerFits } from './scaler.js';

export interface GradientDescentOptions {
  /** Step size on the mean gradient, whatever the row count. */
  learningRate: number;
  numSteps: number;
  /** Names for error messages, by column. */
  featureNames?: string[];
}

/**
 * Fits one-vs-rest logistic regression with the ml-logistic-regression package
 * (plain gradient descent, no penalty) and returns its weights as our own
 * model, so prediction never goes through the package.
 *
 * The package fails silently in several ways; each is guarded here:
 * - it fits no intercept: a column of ones is appended, its weight becoming
 *   the intercept;
 * - it reads labels as numbers and counts classes by distinct values, so
 *   labels that are not integers 0..classCount-1, or a class with no rows,
 *   shift or drop classes: these are rejected;
 * - it adds the summed, not the mean, gradient, so its step grows with the
 *   row count: the learning rate is divided by the row count;
 * - one NaN or infinite feature makes every prediction class 0: rejected,
 *   naming the column (constant columns are the scaler's to handle);
 * - its predict takes any column count and its scores are not probabilities:
 *   predictProba on the returned model checks columns and normalises.
 */
export function fitMlLogisticRegression(
  X: Matrix,
  y: ArrayLike<number>,
  classCount: number,
  options: GradientDescentOptions,
  selection: RowSelection = {},
): LinearModel {
  const { learningRate, numSteps, featureNames } = options;
  if (!(learningRate > 0 && Number.isFinite(learningRate))) {
    throw new RangeError(`learningRate must be a finite number > 0, got ${learningRate}`);
  }
  if (!Number.isInteger(numSteps) || numSteps < 1) {
    throw new RangeError(`numSteps must be a positive integer, got ${numSteps}`);
  }
  const rows = selection.rows ?? allRows(X.rows);
  const scaler = selection.scaler ?? null;
  if (rows.length === 0) throw new Error('no rows to train on');
  if (y.length !== X.rows) throw new Error(`${y.length} labels for ${X.rows} rows`);
  assertFiniteFeatures(X, rows, featureNames);
  assertLabels(y, rows, classCount);
  if (scaler) assertScalerFits(scaler, X.cols);

  const d = X.cols;
  const features = new LibraryMatrix(rows.length, d + 1);
  const targets = new LibraryMatrix(rows.length, 1);
  for (let r = 0; r < rows.length; r++) {
    const start = rows[r]! * d;
    for (let j = 0; j < d; j++) {
      const value = X.data[start + j]!;
      features.set(r, j, scaler ? (value - scaler.mean[j]!) / scaler.std[j]! : value);
    }
    features.set(r, d, 1);
    targets.set(r, 0, y[rows[r]!]!);
  }

  const classifier = new LogisticRegression({ numSteps, learningRate: learningRate / rows.length });
  classifier.train(features, targets);

  return {
    kind: 'ovr-sigmoid',
    classCount,
    featureCount: d,
    weights: exportWeights(classifier, classCount, d),
  };
}

/**
 * The package trains class c's classifier with target 0 for class c and 1 for
 * the rest, so its sigmoid scores "not c". Negating the weights turns that
 * into the probability of c: sigmoid(-t) = 1 - sigmoid(t).
 */
function exportWeights(classifier: LogisticRegression, classCount: number, d: number): number[][] {
  if (classifier.classifiers.length !== classCount) {
    throw new Error(
      `ml-logistic-regression trained ${classifier.classifiers.length} classifiers for ${classCount} classes`,
    );
  }
  return classifier.classifiers.map((binary, c) => {
    const row = binary.weights?.to1DArray();
    if (row?.length !== d + 1) {
      throw new Error(
        `ml-logistic-regression returned ${row?.length ?? 'no'} weights for class ${c}, expected ${d + 1}`,
      );
    }
    return row.map((w) => -w);
  });
}

function assertLabels(y: ArrayLike<number>, rows: Int32Array, classCount: number): void {
  if (!Number.isInteger(classCount) || classCount < 2) {
    throw new RangeError(`one-vs-rest needs at least 2 classes, got ${classCount}`);
  }
  const seen = new Uint8Array(classCount);
  for (const row of rows) {
    const label = y[row];
    if (typeof label !== 'number' || !Number.isInteger(label) || label < 0 || label >= classCount) {
      throw new RangeError(
        `label ${typeof label === 'string' ? JSON.stringify(label) : String(label)} in row ${row} is not a class index 0..${classCount - 1}`,
      );
    }
    seen[label] = 1;
  }
  const missing = seen.indexOf(0);
  if (missing !== -1) throw new Error(`class ${missing} has no training rows`);
}
