import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';

import { matrixFromRows, type Matrix } from './dataset.js';
import { fitScaler } from './scaler.js';
import { stratifiedSplit } from './split.js';
import { fitModel, type Algorithm, type FitOptions } from './train.js';

function readIris(): { X: Matrix; y: Int32Array; species: string[] } {
  const path = new URL('../../examples/data/iris.csv', import.meta.url);
  const rows = readFileSync(path, 'utf8')
    .trim()
    .split(/\r?\n/)
    .slice(1)
    .map((line) => line.split(','));
  const species = [...new Set(rows.map((row) => row[4]!))];
  return {
    X: matrixFromRows(rows.map((row) => row.slice(0, 4).map(Number))),
    y: Int32Array.from(rows, (row) => species.indexOf(row[4]!)),
    species,
  };
}

const iris = readIris();
const defaults: Omit<FitOptions, 'algorithm'> = {
  learningRate: 0.1,
  numSteps: 2000,
  l2: 1e-4,
  tolerance: 1e-6,
  testFraction: 0.2,
  seed: 42,
  standardize: true,
  classNames: iris.species,
};
const algorithms: Algorithm[] = ['softmax-lbfgs', 'ml-logistic-regression'];

describe('fitModel', () => {
  for (const algorithm of algorithms) {
    it(`${algorithm}: learns Iris to at least 0.9 test accuracy`, () => {
      const result = fitModel(iris.X, iris.y, 3, { ...defaults, algorithm });

      assert.deepEqual(result.split, { train: 120, test: 30 });
      assert.equal(result.metrics.rows, 30);
      assert.ok(result.metrics.accuracy >= 0.9, `accuracy ${result.metrics.accuracy}`);
      assert.ok(result.metrics.macroF1 >= 0.9, `macroF1 ${result.metrics.macroF1}`);
      assert.deepEqual(
        result.metrics.perClass.map((m) => [m.class, m.support]),
        [
          ['setosa', 10],
          ['versicolor', 10],
          ['virginica', 10],
        ],
      );
    });

    it(`${algorithm}: gives identical results for the same seed, others for another`, () => {
      const first = fitModel(iris.X, iris.y, 3, { ...defaults, algorithm });
      const again = fitModel(iris.X, iris.y, 3, { ...defaults, algorithm });
      const other = fitModel(iris.X, iris.y, 3, { ...defaults, algorithm, seed: 7 });

      assert.deepEqual(again, first);
      assert.notDeepEqual(other.model.weights, first.model.weights);
    });

    it(`${algorithm}: fits the scaler and the model on the training rows only`, () => {
      const { test, train } = stratifiedSplit(iris.y, 3, defaults.testFraction, defaults.seed);
      const before = fitModel(iris.X, iris.y, 3, { ...defaults, algorithm });
      const X = { ...iris.X, data: iris.X.data.slice() };
      for (const row of test) for (let j = 0; j < 4; j++) X.data[row * 4 + j]! *= 1000;

      const after = fitModel(X, iris.y, 3, { ...defaults, algorithm });

      assert.deepEqual(before.scaler, fitScaler(iris.X, train));
      assert.deepEqual(after.scaler, before.scaler);
      assert.deepEqual(after.model, before.model);
      assert.ok(after.metrics.accuracy < before.metrics.accuracy, 'the test rows did change');
    });
  }

  it('trains on raw features when standardize is off', () => {
    const result = fitModel(iris.X, iris.y, 3, {
      ...defaults,
      algorithm: 'softmax-lbfgs',
      standardize: false,
    });

    assert.equal(result.scaler, null);
    assert.ok(result.metrics.accuracy >= 0.9);
  });

  it('reports how the optimiser stopped', () => {
    const softmax = fitModel(iris.X, iris.y, 3, { ...defaults, algorithm: 'softmax-lbfgs' });
    const capped = fitModel(iris.X, iris.y, 3, {
      ...defaults,
      algorithm: 'softmax-lbfgs',
      numSteps: 2,
    });

    assert.equal(softmax.training.stopReason, 'tolerance');
    assert.ok(softmax.training.iterations > 2);
    assert.deepEqual(capped.training, { iterations: 2, stopReason: 'max-iterations' });
  });

  it('fails rather than return non-finite weights', () => {
    // Extreme raw values and a large step overflow gradient descent's weights.
    const X = matrixFromRows(Array.from({ length: 20 }, (_, i) => [i % 2 ? 1e307 : -1e307, i]));
    const y = Int32Array.from({ length: 20 }, (_, i) => i % 2);
    const options = { ...defaults, classNames: undefined, standardize: false, learningRate: 100 };

    assert.throws(
      () => fitModel(X, y, 2, { ...options, algorithm: 'ml-logistic-regression', numSteps: 50 }),
      /the model's weight of feature 0 for class 0 is -Infinity/,
    );
  });

  const invalid: {
    name: string;
    X?: Matrix;
    y?: Int32Array;
    classCount?: number;
    options?: Partial<FitOptions>;
    error: RegExp;
  }[] = [
    {
      name: 'a non-finite feature, by name',
      X: matrixFromRows([
        [1, NaN],
        [2, 3],
        [3, 4],
        [4, 5],
      ]),
      y: Int32Array.of(0, 0, 1, 1),
      classCount: 2,
      options: { featureNames: ['a', 'b'], classNames: ['x', 'y'] },
      error: /feature "b" \(column 1\) has the non-finite value NaN in row 0/,
    },
    {
      name: 'a class without rows',
      classCount: 4,
      options: { classNames: ['a', 'b', 'c', 'd'] },
      error: /class "d" has no rows/,
    },
    {
      name: 'class names that do not match the class count',
      options: { classNames: ['a', 'b'] },
      error: /2 class names for 3 classes/,
    },
    {
      name: 'a single class',
      y: new Int32Array(150),
      classCount: 1,
      options: { classNames: ['a'] },
      error: /at least 2 classes/,
    },
    {
      name: 'labels that do not match the rows',
      y: new Int32Array(3),
      error: /3 labels for 150 rows/,
    },
    {
      name: 'classes too small to test',
      X: matrixFromRows([[1], [2]]),
      y: Int32Array.of(0, 1),
      classCount: 2,
      options: { classNames: ['a', 'b'] },
      error: /no rows to test on/,
    },
  ];
  for (const { name, X = iris.X, y = iris.y, classCount = 3, options = {}, error } of invalid) {
    it(`rejects ${name}`, () => {
      assert.throws(
        () => fitModel(X, y, classCount, { ...defaults, algorithm: 'softmax-lbfgs', ...options }),
        error,
      );
    });
  }
});
