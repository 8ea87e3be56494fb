import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { createGaussian, createRandom, shuffle } from './random.js';

describe('createRandom', () => {
  it('repeats its sequence for the same seed and differs for another', () => {
    const draw = (seed: number): number[] => Array.from({ length: 5 }, createRandom(seed));

    assert.deepEqual(draw(42), draw(42));
    assert.notDeepEqual(draw(42), draw(43));
  });

  it('stays in [0, 1) and spreads evenly', () => {
    const random = createRandom(1);
    const buckets = new Array<number>(10).fill(0);
    for (let i = 0; i < 100_000; i++) {
      const value = random();
      assert.ok(value >= 0 && value < 1, `${value} out of range`);
      buckets[Math.floor(value * 10)]!++;
    }

    for (const count of buckets) assert.ok(Math.abs(count - 10_000) < 500, `bucket of ${count}`);
  });
});

describe('createGaussian', () => {
  it('draws with mean 0 and standard deviation 1', () => {
    const gaussian = createGaussian(createRandom(7));
    const values = Array.from({ length: 100_000 }, gaussian);
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const variance = values.reduce((a, b) => a + (b - mean) ** 2, 0) / values.length;

    assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
    assert.ok(Math.abs(Math.sqrt(variance) - 1) < 0.02, `std ${Math.sqrt(variance)}`);
  });
});

describe('shuffle', () => {
  it('permutes without losing or repeating values', () => {
    const values = Int32Array.from({ length: 100 }, (_, i) => i);

    shuffle(values, createRandom(3));

    assert.notDeepEqual(
      Array.from(values),
      Array.from({ length: 100 }, (_, i) => i),
    );
    assert.deepEqual(
      Array.from(values).sort((a, b) => a - b),
      Array.from({ length: 100 }, (_, i) => i),
    );
  });
});
