import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { allRows, createMatrix, type Matrix } from './dataset.js';
import { argmaxByRow, predictProba } from './model.js';
import { createGaussian, createRandom } from './random.js';
import { applyScaler, fitScaler } from './scaler.js';
import { createSoftmaxObjective, fitSoftmax } from './softmax-lbfgs.js';

/** Overlapping Gaussian blobs, with features on different scales and offsets. */
function blobs(
  rows: number,
  features: number,
  classes: number,
  seed: number,
): { X: Matrix; y: Int32Array } {
  const gaussian = createGaussian(createRandom(seed));
  const centres = Array.from({ length: classes }, () =>
    Array.from({ length: features }, () => 1.5 * gaussian()),
  );
  const X = createMatrix(rows, features);
  const y = new Int32Array(rows);
  for (let i = 0; i < rows; i++) {
    y[i] = i % classes;
    for (let j = 0; j < features; j++) {
      X.data[i * features + j] = (centres[y[i]!]![j]! + gaussian()) * 10 ** (j % 3) + 7 * j;
    }
  }
  return { X, y };
}

const options = { l2: 1e-3, maxIterations: 500, tolerance: 1e-6 };

describe('createSoftmaxObjective', () => {
  const cases = [
    { name: 'raw features, every row', k: 3, d: 4, standardize: false, subset: false, l2: 0 },
    {
      name: 'standardised, a subset of rows',
      k: 3,
      d: 4,
      standardize: true,
      subset: true,
      l2: 0.1,
    },
    { name: 'two classes', k: 2, d: 3, standardize: true, subset: false, l2: 0.01 },
    {
      name: 'a shape for the generic kernel',
      k: 6,
      d: 50,
      standardize: true,
      subset: true,
      l2: 0.01,
    },
  ];
  for (const { name, k, d, standardize, subset, l2 } of cases) {
    it(`has the gradient of its loss (central differences): ${name}`, () => {
      const { X, y } = blobs(41, d, k, 11);
      const rows = subset ? Int32Array.from({ length: 30 }, (_, i) => (i * 4) % 41) : undefined;
      const scaler = standardize ? fitScaler(X, rows ?? allRows(41)) : null;
      const objective = createSoftmaxObjective(X, y, k, l2, { rows, scaler });
      const gaussian = createGaussian(createRandom(3));
      const theta = Float64Array.from({ length: k * (d + 1) }, () => 0.3 * gaussian());
      const gradient = new Float64Array(theta.length);

      objective(theta, gradient);

      const scratch = new Float64Array(theta.length);
      const h = 1e-6;
      for (let i = 0; i < theta.length; i++) {
        const saved = theta[i]!;
        theta[i] = saved + h;
        const up = objective(theta, scratch);
        theta[i] = saved - h;
        const down = objective(theta, scratch);
        theta[i] = saved;
        const numeric = (up - down) / (2 * h);
        assert.ok(
          Math.abs(numeric - gradient[i]!) < 1e-6 * Math.max(1, Math.abs(numeric)),
          `parameter ${i}: analytic ${gradient[i]}, numeric ${numeric}`,
        );
      }
    });
  }

  it('averages the loss: duplicating every row changes nothing', () => {
    const { X, y } = blobs(20, 3, 3, 5);
    const twice: Matrix = { data: new Float64Array([...X.data, ...X.data]), rows: 40, cols: 3 };
    const theta = Float64Array.from({ length: 12 }, (_, i) => Math.sin(i));
    const [once, doubled] = [new Float64Array(12), new Float64Array(12)];

    const a = createSoftmaxObjective(X, y, 3, 0.1)(theta, once);
    const b = createSoftmaxObjective(twice, new Int32Array([...y, ...y]), 3, 0.1)(theta, doubled);

    assert.ok(Math.abs(a - b) < 1e-12);
    once.forEach((g, i) => assert.ok(Math.abs(g - doubled[i]!) < 1e-12));
  });

  it('is log(classes) at zero weights, and does not penalise intercepts', () => {
    const { X, y } = blobs(12, 2, 4, 8);
    const objective = createSoftmaxObjective(X, y, 4, 2);
    const gradient = new Float64Array(12);

    assert.ok(Math.abs(objective(new Float64Array(12), gradient) - Math.log(4)) < 1e-12);
    const interceptsOnly = Float64Array.from({ length: 12 }, (_, i) => (i % 3 === 2 ? 5 : 0));
    assert.ok(Math.abs(objective(interceptsOnly, gradient) - Math.log(4)) < 1e-12);
  });

  it('rejects labels outside the classes and rows outside the matrix', () => {
    const { X, y } = blobs(4, 2, 2, 1);

    assert.throws(
      () => createSoftmaxObjective(X, Int32Array.of(0, 1, 2, 0), 2, 0),
      /label 2 in row 2/,
    );
    assert.throws(
      () => createSoftmaxObjective(X, y, 2, 0, { rows: Int32Array.of(4) }),
      /row 4 is outside/,
    );
    assert.throws(() => createSoftmaxObjective(X, y, 2, -1), /l2 must be/);
  });
});

describe('fitSoftmax', () => {
  it('learns overlapping classes well and stops on the tolerance', () => {
    const { X, y } = blobs(3000, 5, 3, 21);
    const scaler = fitScaler(X, allRows(X.rows));

    const fit = fitSoftmax(X, y, 3, options, { scaler });

    const predicted = argmaxByRow(predictProba(fit.model, applyScaler(X, scaler)), 3);
    const accuracy = predicted.filter((label, i) => label === y[i]).length / y.length;
    assert.ok(accuracy > 0.85, `accuracy ${accuracy}`);
    assert.equal(fit.stopReason, 'tolerance');
    assert.ok(fit.gradientNorm < options.tolerance);
    assert.equal(fit.model.kind, 'softmax');
    assert.deepEqual([fit.model.weights.length, fit.model.weights[0]!.length], [3, 6]);
  });

  it('gives identical weights for identical input', () => {
    const { X, y } = blobs(500, 4, 3, 2);

    const first = fitSoftmax(X, y, 3, options);
    const second = fitSoftmax(X, y, 3, options);

    assert.deepEqual(second.model, first.model);
  });

  it('trains on selected, standardised rows exactly as on a standardised copy of them', () => {
    const { X, y } = blobs(400, 4, 3, 9);
    const rows = Int32Array.from({ length: 300 }, (_, i) => i + 50);
    const scaler = fitScaler(X, rows);
    const copy = applyScaler(X, scaler, rows);
    const copyLabels = y.slice(50, 350);

    const inPlace = fitSoftmax(X, y, 3, options, { rows, scaler });
    const copied = fitSoftmax(copy, copyLabels, 3, options);

    inPlace.model.weights.flat().forEach((w, i) => {
      const other = copied.model.weights.flat()[i]!;
      assert.ok(Math.abs(w - other) < 1e-6, `weight ${i}: ${w} vs ${other}`);
    });
  });

  it('with a heavy penalty keeps weights near 0 and intercepts at the class shares', () => {
    const y = Int32Array.from({ length: 100 }, (_, i) => (i < 60 ? 0 : i < 90 ? 1 : 2));
    const { X } = blobs(100, 3, 3, 4);
    const scaler = fitScaler(X, allRows(100));

    const fit = fitSoftmax(X, y, 3, { l2: 1e6, maxIterations: 200, tolerance: 1e-10 }, { scaler });

    const intercepts = fit.model.weights.map((row) => row[3]!);
    const total = intercepts.reduce((s, b) => s + Math.exp(b), 0);
    [0.6, 0.3, 0.1].forEach((share, c) =>
      assert.ok(Math.abs(Math.exp(intercepts[c]!) / total - share) < 1e-6, `class ${c}`),
    );
    for (const row of fit.model.weights)
      row.slice(0, 3).forEach((w) => assert.ok(Math.abs(w) < 1e-5));
  });

  it('stays finite on separable data without a penalty', () => {
    const X = createMatrix(4, 1);
    X.data.set([-2, -1, 1, 2]);

    const fit = fitSoftmax(X, Int32Array.of(0, 0, 1, 1), 2, {
      l2: 0,
      maxIterations: 300,
      tolerance: 1e-10,
    });

    fit.model.weights.flat().forEach((w) => assert.ok(Number.isFinite(w), `weight ${w}`));
    assert.deepEqual(Array.from(argmaxByRow(predictProba(fit.model, X), 2)), [0, 0, 1, 1]);
  });
});
