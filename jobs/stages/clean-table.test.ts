import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { UserError } from '../../core/errors.js';
import type { RawTable } from '../../core/ports.js';
import { cleanTable, toFeatureValue } from './clean-table.js';

const options = {
  features: ['a', 'b'],
  label: 'y',
  dropMissing: true,
  dropDuplicates: true,
  minRows: 2,
};

describe('toFeatureValue', () => {
  const cases: [unknown, number | string][] = [
    ['5.1', 5.1],
    [' 7 ', 7],
    ['-1e3', -1000],
    ['12.3450', 12.345],
    [3, 3],
    [null, 'missingFeature'],
    ['', 'missingFeature'],
    ['   ', 'missingFeature'],
    ['0x1f', 'nonNumericFeature'],
    ['abc', 'nonNumericFeature'],
    ['NaN', 'nonNumericFeature'],
    ['Infinity', 'nonNumericFeature'],
    [Number.POSITIVE_INFINITY, 'nonNumericFeature'],
    ['1e999', 'nonNumericFeature'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} -> ${String(expected)}`, () => {
      assert.equal(toFeatureValue(input as string), expected);
    });
  }
});

describe('cleanTable', () => {
  it('drops missing, non-numeric, unlabelled and duplicate rows and counts each reason', () => {
    const raw: RawTable = {
      columns: ['a', 'b', 'y'],
      rows: [
        ['1', '2', 'x'],
        ['1', '2', 'x'],
        [null, '2', 'x'],
        ['abc', '2', 'x'],
        ['3', '4', null],
        ['5', '6', 'z'],
        ['7', '8', 'x'],
      ],
    };
    const { data, meta } = cleanTable(raw, options);
    assert.deepEqual(meta.dropped, {
      missingFeature: 1,
      nonNumericFeature: 1,
      missingLabel: 1,
      labelTooLong: 0,
      duplicate: 1,
    });
    assert.equal(data.rows, 3);
    assert.deepEqual([...data.X], [1, 2, 5, 6, 7, 8]);
    assert.deepEqual(data.classes, ['x', 'z']);
    assert.deepEqual([...data.y], [0, 1, 0]);
  });

  it('encodes string and numeric labels as 0..k-1 in natural order', () => {
    const raw: RawTable = {
      columns: ['a', 'b', 'y'],
      rows: [
        ['1', '1', '10'],
        ['2', '2', '9'],
        ['3', '3', '2'],
      ],
    };
    const { data } = cleanTable(raw, options);
    assert.deepEqual(data.classes, ['2', '9', '10']);
    assert.deepEqual([...data.y], [2, 1, 0]);
  });

  it('keeps duplicates when asked to', () => {
    const raw: RawTable = {
      columns: ['a', 'b', 'y'],
      rows: [
        ['1', '1', 'p'],
        ['1', '1', 'p'],
        ['2', '2', 'q'],
      ],
    };
    assert.equal(cleanTable(raw, { ...options, dropDuplicates: false }).data.rows, 3);
  });

  it('fails with the row and column when dropMissing is false', () => {
    const raw: RawTable = {
      columns: ['a', 'b', 'y'],
      rows: [
        ['1', '1', 'p'],
        ['1', 'oops', 'q'],
      ],
    };
    assert.throws(
      () => cleanTable(raw, { ...options, dropMissing: false }),
      (e: Error) => e instanceof UserError && /row 2: column b is "oops"/.test(e.message),
    );
  });

  it('fails clearly when too few rows remain', () => {
    const raw: RawTable = {
      columns: ['a', 'b', 'y'],
      rows: [
        ['1', '1', 'p'],
        [null, '1', 'q'],
      ],
    };
    assert.throws(
      () => cleanTable(raw, options),
      /1 of 2 rows remain, fewer than spec.clean.minRows \(2\); dropped: 1 missingFeature/,
    );
  });

  it('fails clearly when fewer than two classes remain', () => {
    const raw: RawTable = {
      columns: ['a', 'b', 'y'],
      rows: [
        ['1', '1', 'p'],
        ['2', '2', 'p'],
      ],
    };
    assert.throws(() => cleanTable(raw, options), /only one value \("p"\).*at least two classes/);
  });

  it('names a feature that is not a column', () => {
    const raw: RawTable = { columns: ['a', 'y'], rows: [] };
    assert.throws(
      () => cleanTable(raw, options),
      /spec.features: column "b" is not in the source \(columns: a, y\)/,
    );
  });

  it('drops a label too long for the predictions table', () => {
    const raw: RawTable = {
      columns: ['a', 'b', 'y'],
      rows: [
        ['1', '1', 'p'],
        ['2', '2', 'q'],
        ['3', '3', 'x'.repeat(256)],
      ],
    };
    const { meta } = cleanTable(raw, options);
    assert.equal(meta.dropped.labelTooLong, 1);
    assert.deepEqual(meta.classes, ['p', 'q']);
  });

  it('refuses a label with more distinct values than a classifier can use', () => {
    const rows = Array.from({ length: 1001 }, (_, i) => [String(i), '1', `id-${i}`]);
    assert.throws(
      () => cleanTable({ columns: ['a', 'b', 'y'], rows }, options),
      /1001 distinct values, more than 1000/,
    );
  });
});
