import { assertFiniteFeatures, takeLabels, takeRows, type Matrix } from './dataset.js';
import type { StopReason } from './lbfgs.js';
import { evaluate, type Evaluation } from './metrics.js';
import { fitMlLogisticRegression } from './ml-logistic-regression.js';
import { argmaxByRow, assertFiniteWeights, predictProba, type LinearModel } from './model.js';
import { applyScaler, fitScaler, type Scaler } from './scaler.js';
import { fitSoftmax } from './softmax-lbfgs.js';
import { stratifiedSplit } from './split.js';

export type Algorithm = 'softmax-lbfgs' | 'ml-logistic-regression';

export interface FitOptions {
  algorithm: Algorithm;
  /** Step size of ml-logistic-regression, on the mean gradient. */
  learningRate: number;
  /** Iterations: gradient steps, or L-BFGS iterations. */
  numSteps: number;
  /** L2 penalty of softmax-lbfgs. */
  l2: number;
  /** softmax-lbfgs stops when the largest gradient component falls below this. */
  tolerance: number;
  /** Share of each class's rows held out to measure the model. */
  testFraction: number;
  seed: number;
  standardize: boolean;
  /** For metrics and messages; the class indices as text when absent. */
  classNames?: string[];
  /** For messages about a column. */
  featureNames?: string[];
}

export interface FitResult {
  model: LinearModel;
  /** Apply before predictProba; null when the model reads raw features. */
  scaler: Scaler | null;
  /** Measured on the test split. */
  metrics: Evaluation;
  /** Row counts of each side of the split. */
  split: { train: number; test: number };
  /** For the run's log: gradient descent always runs all its steps. */
  training: { iterations: number; stopReason: StopReason };
}

/**
 * Trains and measures a model: a seeded stratified split, a scaler fitted on
 * the training rows only, the chosen algorithm on the training rows, and
 * metrics on the test rows. Throws on input it cannot learn from and on a
 * model with non-finite weights, so a failed fit never reaches publishing.
 */
export function fitModel(
  X: Matrix,
  y: Int32Array,
  classCount: number,
  options: FitOptions,
): FitResult {
  const classNames = options.classNames ?? Array.from({ length: classCount }, (_, c) => String(c));
  assertInput(X, y, classCount, classNames);
  assertFiniteFeatures(X, undefined, options.featureNames);

  const split = stratifiedSplit(y, classCount, options.testFraction, options.seed);
  if (split.test.length === 0) {
    throw new Error('no rows to test on: every class has fewer than 2 rows');
  }
  const scaler = options.standardize ? fitScaler(X, split.train, options.featureNames) : null;
  const selection = { rows: split.train, scaler };

  let model: LinearModel;
  let training: FitResult['training'];
  if (options.algorithm === 'softmax-lbfgs') {
    const fit = fitSoftmax(
      X,
      y,
      classCount,
      { l2: options.l2, maxIterations: options.numSteps, tolerance: options.tolerance },
      selection,
    );
    model = fit.model;
    training = { iterations: fit.iterations, stopReason: fit.stopReason };
  } else {
    model = fitMlLogisticRegression(
      X,
      y,
      classCount,
      {
        learningRate: options.learningRate,
        numSteps: options.numSteps,
        featureNames: options.featureNames,
      },
      selection,
    );
    training = { iterations: options.numSteps, stopReason: 'max-iterations' };
  }
  assertFiniteWeights(model);

  const testX = scaler ? applyScaler(X, scaler, split.test) : takeRows(X, split.test);
  const predicted = argmaxByRow(predictProba(model, testX), classCount);
  const metrics = evaluate(takeLabels(y, split.test), predicted, classNames);

  return {
    model,
    scaler,
    metrics,
    split: { train: split.train.length, test: split.test.length },
    training,
  };
}

function assertInput(X: Matrix, y: Int32Array, classCount: number, classNames: string[]): void {
  if (!Number.isInteger(classCount) || classCount < 2) {
    throw new RangeError(`a classifier needs at least 2 classes, got ${classCount}`);
  }
  if (classNames.length !== classCount) {
    throw new Error(`${classNames.length} class names for ${classCount} classes`);
  }
  if (X.data.length !== X.rows * X.cols) {
    throw new Error(`the matrix holds ${X.data.length} values, not ${X.rows} x ${X.cols}`);
  }
  if (y.length !== X.rows) throw new Error(`${y.length} labels for ${X.rows} rows`);

  // A class without rows cannot be learned; one-vs-rest would even renumber the others.
  const counts = new Int32Array(classCount);
  for (let i = 0; i < y.length; i++) {
    const label = y[i]!;
    if (label < 0 || label >= classCount) {
      throw new RangeError(`label ${label} in row ${i} is outside 0..${classCount - 1}`);
    }
    counts[label]!++;
  }
  const empty = counts.indexOf(0);
  if (empty !== -1) throw new Error(`class "${classNames[empty]}" has no rows`);
}
