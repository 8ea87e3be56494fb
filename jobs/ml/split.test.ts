import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { stratifiedSplit } from './split.js';

function labels(counts: number[]): Int32Array {
  return Int32Array.from(counts.flatMap((count, c) => new Array<number>(count).fill(c)));
}

function perClass(y: Int32Array, rows: Int32Array, classCount: number): number[] {
  const counts = new Array<number>(classCount).fill(0);
  for (const row of rows) counts[y[row]!]!++;
  return counts;
}

describe('stratifiedSplit', () => {
  const cases = [
    { name: 'even classes', counts: [50, 50, 50], fraction: 0.2, test: [10, 10, 10] },
    { name: 'uneven classes', counts: [100, 30, 7], fraction: 0.2, test: [20, 6, 1] },
    {
      name: 'a class of 2 gives one row to each side',
      counts: [10, 2],
      fraction: 0.2,
      test: [2, 1],
    },
    { name: 'a class of 1 stays in training', counts: [10, 1], fraction: 0.5, test: [5, 0] },
    { name: 'a large fraction still leaves a training row', counts: [3], fraction: 0.9, test: [2] },
    { name: 'an empty class', counts: [4, 0, 4], fraction: 0.25, test: [1, 0, 1] },
  ];
  for (const { name, counts, fraction, test } of cases) {
    it(`holds out each class's share: ${name}`, () => {
      const y = labels(counts);

      const split = stratifiedSplit(y, counts.length, fraction, 42);

      assert.deepEqual(perClass(y, split.test, counts.length), test);
      assert.deepEqual(
        perClass(y, split.train, counts.length),
        counts.map((count, c) => count - test[c]!),
      );
    });
  }

  it('partitions the rows, each side ascending', () => {
    const y = labels([40, 25, 9]);

    const { train, test } = stratifiedSplit(y, 3, 0.3, 1);

    const all = [...train, ...test].sort((a, b) => a - b);
    assert.deepEqual(
      all,
      Array.from({ length: y.length }, (_, i) => i),
    );
    for (const side of [train, test]) {
      for (let i = 1; i < side.length; i++) assert.ok(side[i - 1]! < side[i]!);
    }
  });

  it('picks the same rows for the same seed and other rows for another', () => {
    const y = labels([100, 100]);

    const first = stratifiedSplit(y, 2, 0.2, 42);
    const again = stratifiedSplit(y, 2, 0.2, 42);
    const other = stratifiedSplit(y, 2, 0.2, 43);

    assert.deepEqual(again, first);
    assert.notDeepEqual(other.test, first.test);
  });

  it('does not simply take the first rows of each class', () => {
    const y = labels([100]);

    const { test } = stratifiedSplit(y, 1, 0.2, 42);

    assert.notDeepEqual(
      Array.from(test),
      Array.from({ length: 20 }, (_, i) => i),
    );
  });

  const invalid = [
    {
      name: 'a label above the classes',
      y: Int32Array.of(0, 2),
      classCount: 2,
      fraction: 0.2,
      error: /label 2 in row 1/,
    },
    {
      name: 'a negative label',
      y: Int32Array.of(-1),
      classCount: 2,
      fraction: 0.2,
      error: /label -1 in row 0/,
    },
    {
      name: 'a fraction of 0',
      y: Int32Array.of(0),
      classCount: 1,
      fraction: 0,
      error: /testFraction/,
    },
    {
      name: 'a fraction of 1',
      y: Int32Array.of(0),
      classCount: 1,
      fraction: 1,
      error: /testFraction/,
    },
    { name: 'no classes', y: Int32Array.of(), classCount: 0, fraction: 0.2, error: /classCount/ },
  ];
  for (const { name, y, classCount, fraction, error } of invalid) {
    it(`rejects ${name}`, () => {
      assert.throws(() => stratifiedSplit(y, classCount, fraction, 42), error);
    });
  }
});
