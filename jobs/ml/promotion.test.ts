import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { decidePromotion, type CurrentModel, type PromotionRule } from './promotion.js';

const accuracyRule: PromotionRule = { metric: 'accuracy', minimum: 0.9, allowRegression: false };
const current: CurrentModel = { version: 'v7', metrics: { accuracy: 0.95, macroF1: 0.93 } };

describe('decidePromotion', () => {
  const cases: {
    name: string;
    candidate: { accuracy: number; macroF1: number };
    current: CurrentModel | undefined;
    rule: PromotionRule;
    expected: { promote: boolean; reason: string };
  }[] = [
    {
      name: 'below the minimum',
      candidate: { accuracy: 0.87, macroF1: 0.99 },
      current: undefined,
      rule: accuracyRule,
      expected: { promote: false, reason: 'accuracy 0.87 is below the minimum 0.90' },
    },
    {
      name: 'the first model',
      candidate: { accuracy: 0.91, macroF1: 0.9 },
      current: undefined,
      rule: accuracyRule,
      expected: { promote: true, reason: 'first model, accuracy 0.91' },
    },
    {
      name: 'better than the current model',
      candidate: { accuracy: 0.97, macroF1: 0.9 },
      current,
      rule: accuracyRule,
      expected: { promote: true, reason: 'accuracy 0.97 >= 0.95 of v7' },
    },
    {
      name: 'as good as the current model',
      candidate: { accuracy: 0.95, macroF1: 0.9 },
      current,
      rule: accuracyRule,
      expected: { promote: true, reason: 'accuracy 0.95 >= 0.95 of v7' },
    },
    {
      name: 'a regression',
      candidate: { accuracy: 0.92, macroF1: 0.99 },
      current,
      rule: accuracyRule,
      expected: { promote: false, reason: 'accuracy 0.92 regresses from 0.95 of v7' },
    },
    {
      name: 'an allowed regression',
      candidate: { accuracy: 0.92, macroF1: 0.99 },
      current,
      rule: { ...accuracyRule, allowRegression: true },
      expected: {
        promote: true,
        reason: 'accuracy 0.92 regresses from 0.95 of v7, promoted because allowRegression is set',
      },
    },
    {
      name: 'a regression hidden by two decimals',
      candidate: { accuracy: 0.9496, macroF1: 0.99 },
      current,
      rule: accuracyRule,
      expected: { promote: false, reason: 'accuracy 0.9496 regresses from 0.9500 of v7' },
    },
    {
      name: 'the rule on macroF1',
      candidate: { accuracy: 0.99, macroF1: 0.91 },
      current,
      rule: { metric: 'macroF1', minimum: 0.5, allowRegression: false },
      expected: { promote: false, reason: 'macroF1 0.91 regresses from 0.93 of v7' },
    },
    {
      name: 'a minimum reached even with an allowed regression',
      candidate: { accuracy: 0.5, macroF1: 0.5 },
      current,
      rule: { ...accuracyRule, allowRegression: true },
      expected: { promote: false, reason: 'accuracy 0.50 is below the minimum 0.90' },
    },
    {
      name: 'a metric that is not a number',
      candidate: { accuracy: NaN, macroF1: 0.5 },
      current: undefined,
      rule: { ...accuracyRule, minimum: 0 },
      expected: {
        promote: false,
        reason: 'accuracy of the new model is NaN, not a number to compare',
      },
    },
    {
      name: 'a current model stored without the metric',
      candidate: { accuracy: 0.96, macroF1: 0.9 },
      current: { version: 'v2', metrics: { accuracy: 0.9 } as CurrentModel['metrics'] },
      rule: { metric: 'macroF1', minimum: 0, allowRegression: false },
      expected: { promote: true, reason: 'macroF1 0.90; v2 has no macroF1 to compare' },
    },
  ];
  for (const { name, candidate, current, rule, expected } of cases) {
    it(name, () => {
      assert.deepEqual(decidePromotion(candidate, current, rule), expected);
    });
  }
});
