import type { Matrix } from './dataset.js';

/**
 * A fitted linear classifier in one form for both algorithms, so prediction
 * needs neither the optimiser nor the library that trained it.
 */
export interface LinearModel {
  /** softmax: one multinomial model; ovr-sigmoid: one binary model per class. */
  kind: 'softmax' | 'ovr-sigmoid';
  classCount: number;
  featureCount: number;
  /** classCount rows of featureCount + 1 values, the intercept last. */
  weights: number[][];
}

/**
 * Class probabilities for every row of X: rows x classCount, row-major, each
 * row summing to 1. Softmax models use the softmax of their scores; one-vs-rest
 * models normalise their per-class sigmoids, which on their own need not sum
 * to 1.
 *
 * Throws when X does not have the model's column count: a matrix with the
 * wrong columns would otherwise be scored silently against the wrong weights.
 */
export function predictProba(model: LinearModel, X: Matrix): Float64Array {
  assertModelShape(model);
  if (X.cols !== model.featureCount) {
    throw new Error(`the model expects ${model.featureCount} features, the data has ${X.cols}`);
  }

  const k = model.classCount;
  const d = model.featureCount;
  const stride = d + 1;
  const weights = new Float64Array(k * stride);
  model.weights.forEach((row, c) => weights.set(row, c * stride));
  const scores = new Float64Array(k);
  const proba = new Float64Array(X.rows * k);

  for (let i = 0; i < X.rows; i++) {
    const start = i * d;
    let max = -Infinity;
    for (let c = 0; c < k; c++) {
      const offset = c * stride;
      let score = weights[offset + d]!;
      for (let j = 0; j < d; j++) score += weights[offset + j]! * X.data[start + j]!;
      // Both kinds end in a softmax: over the scores, or over the log-sigmoids,
      // which normalises sigmoids without underflowing to 0/0.
      scores[c] = model.kind === 'softmax' ? score : logSigmoid(score);
      if (scores[c]! > max) max = scores[c]!;
    }
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const e = Math.exp(scores[c]! - max);
      scores[c] = e;
      sum += e;
    }
    for (let c = 0; c < k; c++) proba[i * k + c] = scores[c]! / sum;
  }
  return proba;
}

/** The most probable class of each row of a rows x classCount probability matrix. */
export function argmaxByRow(proba: Float64Array, classCount: number): Int32Array {
  const rows = proba.length / classCount;
  const labels = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    let best = 0;
    for (let c = 1; c < classCount; c++) {
      if (proba[i * classCount + c]! > proba[i * classCount + best]!) best = c;
    }
    labels[i] = best;
  }
  return labels;
}

/**
 * Throws when any weight is NaN or infinite: such a model predicts nonsense,
 * so the train stage fails and publishes nothing.
 */
export function assertFiniteWeights(model: LinearModel): void {
  assertModelShape(model);
  model.weights.forEach((row, c) => {
    row.forEach((value, j) => {
      if (!Number.isFinite(value)) {
        const what = j === model.featureCount ? 'intercept' : `weight of feature ${j}`;
        throw new Error(`the model's ${what} for class ${c} is ${value}`);
      }
    });
  });
}

function assertModelShape(model: LinearModel): void {
  if (model.weights.length !== model.classCount) {
    throw new Error(
      `the model has ${model.weights.length} weight rows for ${model.classCount} classes`,
    );
  }
  for (const [c, row] of model.weights.entries()) {
    if (row.length !== model.featureCount + 1) {
      throw new Error(
        `the model's class ${c} has ${row.length} weights, expected ${model.featureCount} and an intercept`,
      );
    }
  }
}

function logSigmoid(t: number): number {
  return t < 0 ? t - Math.log1p(Math.exp(t)) : -Math.log1p(Math.exp(-t));
}
