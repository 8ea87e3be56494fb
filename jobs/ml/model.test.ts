import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { matrixFromRows } from './dataset.js';
import { argmaxByRow, assertFiniteWeights, predictProba, type LinearModel } from './model.js';

const softmax: LinearModel = {
  kind: 'softmax',
  classCount: 3,
  featureCount: 2,
  weights: [
    [1, -1, 0.5],
    [0, 2, 0],
    [-1, 0.5, -0.5],
  ],
};
const ovr: LinearModel = { ...softmax, kind: 'ovr-sigmoid' };

function rowSums(proba: Float64Array, classCount: number): number[] {
  return Array.from({ length: proba.length / classCount }, (_, i) =>
    proba.subarray(i * classCount, (i + 1) * classCount).reduce((a, b) => a + b, 0),
  );
}

describe('predictProba', () => {
  const rows = [
    { name: 'ordinary values', row: [0.3, -1.2] },
    { name: 'zeros', row: [0, 0] },
    { name: 'scores that overflow exp', row: [1e4, -1e4] },
    { name: 'scores that underflow every sigmoid', row: [-1e4, -1e4] },
  ];
  for (const model of [softmax, ovr]) {
    for (const { name, row } of rows) {
      it(`${model.kind}: gives probabilities summing to 1 for ${name}`, () => {
        const proba = predictProba(model, matrixFromRows([row]));

        for (const p of proba) assert.ok(p >= 0 && p <= 1, `probability ${p}`);
        assert.ok(Math.abs(rowSums(proba, 3)[0]! - 1) < 1e-12);
      });
    }
  }

  it('softmax: is the softmax of the scores, intercept last', () => {
    const scores = [1 * 2 - 1 * 3 + 0.5, 2 * 3, -1 * 2 + 0.5 * 3 - 0.5];
    const total = scores.reduce((a, s) => a + Math.exp(s), 0);

    const proba = predictProba(softmax, matrixFromRows([[2, 3]]));

    scores.forEach((s, c) => assert.ok(Math.abs(proba[c]! - Math.exp(s) / total) < 1e-12));
  });

  it('ovr-sigmoid: normalises the per-class sigmoids, which alone do not sum to 1', () => {
    const sigmoids = [0.5, 0.25, 0.75].map((t) => 1 / (1 + Math.exp(-t)));
    const model: LinearModel = {
      kind: 'ovr-sigmoid',
      classCount: 3,
      featureCount: 1,
      weights: [
        [0, 0.5],
        [0, 0.25],
        [0, 0.75],
      ],
    };

    const proba = predictProba(model, matrixFromRows([[1]]));

    const total = sigmoids.reduce((a, b) => a + b, 0);
    assert.ok(Math.abs(total - 1) > 0.5);
    sigmoids.forEach((s, c) => assert.ok(Math.abs(proba[c]! - s / total) < 1e-12));
  });

  for (const cols of [1, 3]) {
    it(`refuses data with ${cols} columns for a 2-feature model`, () => {
      const X = matrixFromRows([new Array<number>(cols).fill(1)]);

      assert.throws(
        () => predictProba(softmax, X),
        new RegExp(`expects 2 features, the data has ${cols}`),
      );
    });
  }

  it('refuses a model whose weights do not match its shape', () => {
    const broken: LinearModel = { ...softmax, weights: [[1, 2, 3]] };

    assert.throws(
      () => predictProba(broken, matrixFromRows([[1, 2]])),
      /1 weight rows for 3 classes/,
    );
  });
});

describe('argmaxByRow', () => {
  it('picks the most probable class of each row, the first on a tie', () => {
    const proba = Float64Array.of(0.2, 0.5, 0.3, 0.4, 0.4, 0.2);

    assert.deepEqual(Array.from(argmaxByRow(proba, 3)), [1, 0]);
  });
});

describe('assertFiniteWeights', () => {
  it('accepts finite weights', () => {
    assert.doesNotThrow(() => assertFiniteWeights(softmax));
  });

  const cases = [
    {
      name: 'a NaN weight',
      c: 1,
      j: 0,
      value: NaN,
      error: /weight of feature 0 for class 1 is NaN/,
    },
    {
      name: 'an infinite intercept',
      c: 2,
      j: 2,
      value: Infinity,
      error: /intercept for class 2 is Infinity/,
    },
  ];
  for (const { name, c, j, value, error } of cases) {
    it(`rejects ${name}`, () => {
      const weights = softmax.weights.map((row) => [...row]);
      weights[c]![j] = value;

      assert.throws(() => assertFiniteWeights({ ...softmax, weights }), error);
    });
  }
});
