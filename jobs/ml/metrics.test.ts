import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { evaluate } from './metrics.js';

describe('evaluate', () => {
  it('counts the confusion matrix as [true][predicted]', () => {
    const result = evaluate(Int32Array.of(0, 0, 1, 2), Int32Array.of(0, 1, 1, 0), ['a', 'b', 'c']);

    assert.deepEqual(result.confusionMatrix, [
      [1, 1, 0],
      [0, 1, 0],
      [1, 0, 0],
    ]);
    assert.equal(result.rows, 4);
    assert.equal(result.accuracy, 0.5);
  });

  it('computes precision, recall and F1 per class', () => {
    const result = evaluate(Int32Array.of(0, 0, 1, 2), Int32Array.of(0, 1, 1, 0), ['a', 'b', 'c']);

    assert.deepEqual(result.perClass, [
      { class: 'a', precision: 0.5, recall: 0.5, f1: 0.5, support: 2 },
      { class: 'b', precision: 0.5, recall: 1, f1: 2 / 3, support: 1 },
      { class: 'c', precision: 0, recall: 0, f1: 0, support: 1 },
    ]);
    assert.ok(Math.abs(result.macroF1 - (0.5 + 2 / 3 + 0) / 3) < 1e-15);
  });

  const cases = [
    {
      name: 'perfect predictions',
      yTrue: [0, 1, 1],
      yPred: [0, 1, 1],
      accuracy: 1,
      macroF1: 1,
    },
    {
      name: 'a class never predicted (precision 0/0)',
      yTrue: [0, 1],
      yPred: [0, 0],
      accuracy: 0.5,
      macroF1: (2 / 3 + 0) / 2,
    },
    {
      name: 'a class absent from both sides, left out of the macro average',
      yTrue: [0, 1],
      yPred: [0, 1],
      accuracy: 1,
      macroF1: 1,
    },
    { name: 'no rows', yTrue: [], yPred: [], accuracy: 0, macroF1: 0 },
  ];
  for (const { name, yTrue, yPred, accuracy, macroF1 } of cases) {
    it(`gives numbers, never NaN: ${name}`, () => {
      const result = evaluate(Int32Array.from(yTrue), Int32Array.from(yPred), ['a', 'b', 'c']);

      assert.equal(result.accuracy, accuracy);
      assert.ok(Math.abs(result.macroF1 - macroF1) < 1e-15, `macroF1 ${result.macroF1}`);
      for (const m of result.perClass) {
        for (const value of [m.precision, m.recall, m.f1]) assert.ok(Number.isFinite(value));
      }
    });
  }

  it('rejects mismatched lengths and unknown labels', () => {
    assert.throws(
      () => evaluate(Int32Array.of(0), Int32Array.of(), ['a']),
      /1 true labels but 0 predictions/,
    );
    assert.throws(
      () => evaluate(Int32Array.of(0), Int32Array.of(1), ['a']),
      /predicted label 1 in row 0/,
    );
  });
});
