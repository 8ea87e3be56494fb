import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { allRows, matrixFromRows, takeRows } from './dataset.js';
import { applyScaler, fitScaler } from './scaler.js';

describe('fitScaler', () => {
  it('computes the mean and population standard deviation of each column', () => {
    const X = matrixFromRows([
      [1, 10],
      [2, 10],
      [3, 40],
      [4, 40],
    ]);

    const scaler = fitScaler(X, allRows(4));

    assert.deepEqual(scaler.mean, [2.5, 25]);
    assert.deepEqual(scaler.std, [Math.sqrt(1.25), 15]);
  });

  it('fits only the given rows: the other rows do not leak in', () => {
    const X = matrixFromRows([[1], [2], [3], [1000], [-1000]]);
    const train = Int32Array.of(0, 1, 2);

    const scaler = fitScaler(X, train);
    X.data[3] = 1e9;
    const afterTestChanged = fitScaler(X, train);

    assert.deepEqual(scaler, { mean: [2], std: [Math.sqrt(2 / 3)] });
    assert.deepEqual(afterTestChanged, scaler);
  });

  const constantColumns = [
    { name: 'zeros', value: 0 },
    { name: 'a value whose mean rounds', value: 0.1 },
    { name: 'a large value', value: 1e12 + 0.3 },
  ];
  for (const { name, value } of constantColumns) {
    it(`standardises a constant column of ${name} to exactly 0`, () => {
      const X = matrixFromRows(Array.from({ length: 1001 }, (_, i) => [value, i]));

      const scaler = fitScaler(X, allRows(X.rows));
      const Z = applyScaler(X, scaler);

      assert.equal(scaler.std[0], 1);
      for (let i = 0; i < Z.rows; i++) assert.equal(Z.data[i * 2], 0);
    });
  }

  it('keeps the spread of a column whose mean is far larger than its spread', () => {
    const X = matrixFromRows([[1e9 + 1], [1e9 + 2], [1e9 + 3]]);

    const scaler = fitScaler(X, allRows(3));

    assert.ok(Math.abs(scaler.std[0]! - Math.sqrt(2 / 3)) < 1e-6, `std ${scaler.std[0]}`);
  });

  it('names the column when its values are not finite', () => {
    const X = matrixFromRows([
      [1, 2],
      [1, NaN],
    ]);

    assert.throws(
      () => fitScaler(X, allRows(2), ['a', 'b']),
      /"b" \(column 1\) has non-finite values/,
    );
  });

  it('refuses zero rows', () => {
    assert.throws(() => fitScaler(matrixFromRows([[1]]), new Int32Array(0)), /zero rows/);
  });
});

describe('applyScaler', () => {
  it('gives the training rows mean 0 and standard deviation 1', () => {
    const X = matrixFromRows([
      [3, -1],
      [5, 0],
      [10, 4],
      [2, 2],
      [99, 99],
    ]);
    const train = Int32Array.of(0, 1, 2, 3);

    const Z = applyScaler(X, fitScaler(X, train), train);

    for (let j = 0; j < 2; j++) {
      const column = Array.from({ length: Z.rows }, (_, i) => Z.data[i * 2 + j]!);
      const mean = column.reduce((a, b) => a + b, 0) / column.length;
      const variance = column.reduce((a, b) => a + (b - mean) ** 2, 0) / column.length;
      assert.ok(Math.abs(mean) < 1e-12, `mean ${mean}`);
      assert.ok(Math.abs(variance - 1) < 1e-12, `variance ${variance}`);
    }
  });

  it('copies only the selected rows, in order', () => {
    const X = matrixFromRows([[1], [2], [3]]);
    const scaler = { mean: [0], std: [1] };

    assert.deepEqual(applyScaler(X, scaler, Int32Array.of(2, 0)), takeRows(X, Int32Array.of(2, 0)));
  });

  it('rejects a scaler for another column count or with a zero deviation', () => {
    const X = matrixFromRows([[1, 2]]);

    assert.throws(
      () => applyScaler(X, { mean: [0], std: [1] }),
      /1 means and 1 deviations for 2 columns/,
    );
    assert.throws(
      () => applyScaler(X, { mean: [0, 0], std: [1, 0] }),
      /column 1 has mean 0 and std 0/,
    );
  });
});
