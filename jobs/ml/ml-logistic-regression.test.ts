import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { allRows, matrixFromRows, type Matrix } from './dataset.js';
import { fitMlLogisticRegression } from './ml-logistic-regression.js';
import { argmaxByRow, predictProba, type LinearModel } from './model.js';
import { createGaussian, createRandom } from './random.js';
import { applyScaler, fitScaler } from './scaler.js';

const steps = { learningRate: 0.5, numSteps: 300 };

function accuracy(model: LinearModel, X: Matrix, y: ArrayLike<number>): number {
  const predicted = argmaxByRow(predictProba(model, X), model.classCount);
  return predicted.filter((label, i) => label === y[i]).length / predicted.length;
}

/** Three overlapping classes in two standardised features. */
function threeClasses(rows: number): { X: Matrix; y: Int32Array } {
  const gaussian = createGaussian(createRandom(12));
  const centres = [
    [0, 3],
    [3, 0],
    [-3, -3],
  ];
  const y = Int32Array.from({ length: rows }, (_, i) => i % 3);
  const X = matrixFromRows(Array.from(y, (c) => centres[c]!.map((m) => m + gaussian())));
  return { X: applyScaler(X, fitScaler(X, allRows(rows))), y };
}

describe('fitMlLogisticRegression', () => {
  it('learns three classes as a one-vs-rest model', () => {
    const { X, y } = threeClasses(300);

    const model = fitMlLogisticRegression(X, y, 3, steps);

    assert.equal(model.kind, 'ovr-sigmoid');
    assert.deepEqual([model.weights.length, model.weights[0]!.length], [3, 3]);
    assert.ok(accuracy(model, X, y) > 0.95, `accuracy ${accuracy(model, X, y)}`);
  });

  it('fits an intercept, which the library does not: a boundary away from the origin', () => {
    // Every value is positive, so without an intercept both classes' scores
    // grow with x the same way and one class wins everywhere.
    const X = matrixFromRows([[1], [2], [3], [6], [7], [8]]);
    const y = Int32Array.of(0, 0, 0, 1, 1, 1);

    const model = fitMlLogisticRegression(X, y, 2, { learningRate: 0.5, numSteps: 3000 });

    assert.equal(accuracy(model, X, y), 1);
    assert.notEqual(model.weights[0]![1], 0);
  });

  it('takes a learning rate on the mean gradient: duplicated rows give the same weights', () => {
    // The library adds the summed gradient, so without scaling a data set
    // three times as large would take steps three times as long.
    const { X, y } = threeClasses(60);
    const tripled: Matrix = {
      data: new Float64Array([...X.data, ...X.data, ...X.data]),
      rows: 180,
      cols: 2,
    };

    const once = fitMlLogisticRegression(X, y, 3, steps);
    const thrice = fitMlLogisticRegression(tripled, new Int32Array([...y, ...y, ...y]), 3, steps);

    once.weights.flat().forEach((w, i) => {
      const other = thrice.weights.flat()[i]!;
      assert.ok(
        Math.abs(w - other) < 1e-9 * Math.max(1, Math.abs(w)),
        `weight ${i}: ${w} vs ${other}`,
      );
    });
  });

  const badLabels: { name: string; labels: ArrayLike<number>; error: RegExp }[] = [
    {
      name: 'a label equal to the class count',
      labels: [0, 1, 3, 2],
      error: /label 3 in row 2 is not a class index 0..2/,
    },
    { name: 'a negative label', labels: [0, -1, 1, 2], error: /label -1 in row 1/ },
    {
      name: 'a fractional label',
      labels: Float64Array.of(0, 1, 1.5, 2),
      error: /label 1.5 in row 2/,
    },
    { name: 'a NaN label', labels: Float64Array.of(0, NaN, 1, 2), error: /label NaN in row 1/ },
    {
      name: 'class names instead of indices',
      labels: ['setosa', 'versicolor', 'virginica', 'setosa'] as unknown as number[],
      error: /label "setosa" in row 0 is not a class index/,
    },
    { name: 'a class without rows', labels: [0, 1, 0, 1], error: /class 2 has no training rows/ },
  ];
  for (const { name, labels, error } of badLabels) {
    it(`rejects ${name}, which the library would silently misread`, () => {
      const X = matrixFromRows([[0], [1], [2], [3]]);

      assert.throws(() => fitMlLogisticRegression(X, labels, 3, steps), error);
    });
  }

  const nonFinite = [
    { name: 'NaN', value: NaN },
    { name: 'Infinity', value: Infinity },
  ];
  for (const { name, value } of nonFinite) {
    it(`rejects ${name} naming its column, where the library would predict class 0 everywhere`, () => {
      const { X, y } = threeClasses(30);
      X.data[7 * 2 + 1] = value;

      assert.throws(
        () => fitMlLogisticRegression(X, y, 3, { ...steps, featureNames: ['length', 'width'] }),
        new RegExp(`"width" \\(column 1\\) has the non-finite value ${name} in row 7`),
      );
    });
  }

  it('learns despite a constant column once standardised by our scaler', () => {
    const { X: informative, y } = threeClasses(90);
    const X = matrixFromRows(
      Array.from({ length: 90 }, (_, i) => [42, ...informative.data.subarray(i * 2, i * 2 + 2)]),
    );
    const scaler = fitScaler(X, allRows(90));

    const model = fitMlLogisticRegression(X, y, 3, steps, { scaler });

    assert.ok(accuracy(model, applyScaler(X, scaler), y) > 0.95);
    model.weights.flat().forEach((w) => assert.ok(Number.isFinite(w)));
  });

  it('trains on the selected rows only, standardising them as it reads them', () => {
    const { X, y } = threeClasses(90);
    const rows = Int32Array.from({ length: 60 }, (_, i) => i);
    const scaler = { mean: [1, -1], std: [2, 0.5] };
    const copy = applyScaler(X, scaler, rows);

    const selected = fitMlLogisticRegression(X, y, 3, steps, { rows, scaler });
    const copied = fitMlLogisticRegression(copy, y.subarray(0, 60), 3, steps);

    assert.deepEqual(selected, copied);
  });

  it('gives a model whose prediction checks the column count, which the library does not', () => {
    const { X, y } = threeClasses(30);
    const model = fitMlLogisticRegression(X, y, 3, steps);

    assert.throws(
      () => predictProba(model, matrixFromRows([[1, 2, 3]])),
      /expects 2 features, the data has 3/,
    );
  });

  it('gives a model whose probabilities sum to 1, which the library scores do not', () => {
    const { X, y } = threeClasses(60);
    const model = fitMlLogisticRegression(X, y, 3, steps);

    const proba = predictProba(model, X);

    for (let i = 0; i < X.rows; i++) {
      const total = proba[i * 3]! + proba[i * 3 + 1]! + proba[i * 3 + 2]!;
      assert.ok(Math.abs(total - 1) < 1e-12, `row ${i} sums to ${total}`);
    }
  });

  it('rejects options that cannot train', () => {
    const { X, y } = threeClasses(6);

    assert.throws(
      () => fitMlLogisticRegression(X, y, 3, { learningRate: 0, numSteps: 1 }),
      /learningRate/,
    );
    assert.throws(
      () => fitMlLogisticRegression(X, y, 3, { learningRate: 1, numSteps: 0.5 }),
      /numSteps/,
    );
    assert.throws(() => fitMlLogisticRegression(X, y, 1, steps), /at least 2 classes/);
  });
});
