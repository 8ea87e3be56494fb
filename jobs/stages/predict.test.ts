import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prepareRows } from './predict.js';

describe('prepareRows', () => {
  it('keeps the model feature order, skips unscorable rows and keys rows by position', () => {
    const table = {
      columns: ['b', 'a', 'label'],
      rows: [
        ['2', '1', 'x'],
        ['oops', '3', 'y'],
        ['6', '5', null],
      ],
    };
    const { keys, X, skipped } = prepareRows(table, ['a', 'b'], undefined);
    assert.deepEqual(keys, ['1', '3']);
    assert.deepEqual([...X], [1, 2, 5, 6]);
    assert.equal(skipped, 1);
  });

  it('keys rows by the key column and refuses a repeated key', () => {
    const table = {
      columns: ['id', 'a'],
      rows: [
        ['10', '1'],
        ['11', '2'],
      ],
    };
    assert.deepEqual(prepareRows(table, ['a'], 'id').keys, ['10', '11']);
    const repeated = {
      columns: ['id', 'a'],
      rows: [
        ['10', '1'],
        ['10', '2'],
      ],
    };
    assert.throws(() => prepareRows(repeated, ['a'], 'id'), /appears more than once/);
  });
});
