import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { quantityValue } from './quantity.js';

describe('quantityValue', () => {
  const same: [a: string | number, b: string | number][] = [
    ['0.5', '500m'],
    [0.5, '500m'],
    ['0.1', '100m'],
    ['1024Mi', '1Gi'],
    ['1.5Gi', '1536Mi'],
    ['1e3', '1k'],
    ['1500M', '1.5G'],
    [2, '2'],
  ];
  for (const [a, b] of same) {
    it(`${a} is ${b}`, () => assert.equal(quantityValue(a), quantityValue(b)));
  }

  const different: [a: string, b: string][] = [
    ['1G', '1Gi'],
    ['256Mi', '300Mi'],
    ['1m', '1M'],
  ];
  for (const [a, b] of different) {
    it(`${a} is not ${b}`, () => assert.notEqual(quantityValue(a), quantityValue(b)));
  }

  for (const text of ['', 'lots', '1 Gi', '1Xi']) {
    it(`reads "${text}" as no quantity`, () => assert.equal(quantityValue(text), undefined));
  }
});
