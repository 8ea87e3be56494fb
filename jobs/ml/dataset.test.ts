import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { assertFiniteFeatures, matrixFromRows, takeLabels, takeRows } from './dataset.js';

describe('matrixFromRows', () => {
  it('lays rows out one after another', () => {
    const X = matrixFromRows([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);

    assert.deepEqual(
      { ...X, data: Array.from(X.data) },
      { data: [1, 2, 3, 4, 5, 6], rows: 3, cols: 2 },
    );
  });

  it('rejects rows of different lengths', () => {
    assert.throws(() => matrixFromRows([[1, 2], [3]]), /row 1 has 1 values, expected 2/);
  });
});

describe('takeRows and takeLabels', () => {
  const X = matrixFromRows([[10], [11], [12], [13]]);
  const y = Int32Array.of(0, 1, 0, 1);

  it('copies the given rows in the given order', () => {
    assert.deepEqual(Array.from(takeRows(X, Int32Array.of(3, 0)).data), [13, 10]);
    assert.deepEqual(Array.from(takeLabels(y, Int32Array.of(3, 0))), [1, 0]);
  });

  it('rejects rows the matrix does not have', () => {
    assert.throws(() => takeRows(X, Int32Array.of(4)), /row 4 is outside 0..3/);
    assert.throws(() => takeLabels(y, Int32Array.of(-1)), /row -1 is outside 0..3/);
  });
});

describe('assertFiniteFeatures', () => {
  const cases = [
    {
      name: 'NaN',
      value: NaN,
      expected: /feature "width" \(column 1\) has the non-finite value NaN in row 1/,
    },
    {
      name: 'Infinity',
      value: Infinity,
      expected: /"width" \(column 1\) has the non-finite value Infinity/,
    },
    { name: '-Infinity', value: -Infinity, expected: /non-finite value -Infinity/ },
  ];
  for (const { name, value, expected } of cases) {
    it(`names the column holding ${name}`, () => {
      const X = matrixFromRows([
        [1, 2],
        [3, value],
      ]);

      assert.throws(() => assertFiniteFeatures(X, undefined, ['height', 'width']), expected);
    });
  }

  it('checks only the selected rows, and names columns by position without names', () => {
    const X = matrixFromRows([[NaN], [1]]);

    assert.doesNotThrow(() => assertFiniteFeatures(X, Int32Array.of(1)));
    assert.throws(() => assertFiniteFeatures(X), /feature column 0 has/);
  });
});
