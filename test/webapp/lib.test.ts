import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { describeFailure } from '../../ui/web/src/lib/failure.js';
import { readFeatures } from '../../ui/web/src/lib/features.js';
import { duration, relative, scheduleInWords, stageFigures } from '../../ui/web/src/lib/format.js';

// The web app's pure helpers, run in Node; the pages themselves are tested in Chromium.

describe('readFeatures', () => {
  const names = ['petal_length', 'petal_width'];
  const cases: { name: string; raw: Record<string, string>; values?: object; problem?: RegExp }[] =
    [
      {
        name: 'numbers',
        raw: { petal_length: '1.4', petal_width: ' 0.2 ' },
        values: { petal_length: 1.4, petal_width: 0.2 },
      },
      {
        name: 'a decimal comma',
        raw: { petal_length: '1,4', petal_width: '2' },
        values: { petal_length: 1.4, petal_width: 2 },
      },
      {
        name: 'exponents and signs',
        raw: { petal_length: '1e1', petal_width: '-.5' },
        values: { petal_length: 10, petal_width: -0.5 },
      },
      {
        name: 'a missing value',
        raw: { petal_length: '1' },
        problem: /^Enter a value for petal_width\.$/,
      },
      {
        name: 'text',
        raw: { petal_length: '1', petal_width: 'abc' },
        problem: /^petal_width: “abc” is not a number\.$/,
      },
      {
        name: 'a number with trailing text',
        raw: { petal_length: '1', petal_width: '2cm' },
        problem: /not a number/,
      },
    ];
  for (const c of cases) {
    it(c.name, () => {
      const read = readFeatures(names, c.raw);
      if (c.values) {
        assert.deepEqual(read.values, c.values);
        assert.deepEqual(read.problems, {});
      } else {
        assert.match(read.problems.petal_width ?? '', c.problem!);
        assert.equal(read.values.petal_width, undefined);
      }
    });
  }
});

describe('format', () => {
  it('says a schedule in words, or gives the cron back when it cannot', () => {
    assert.equal(scheduleInWords('*/2 * * * *'), 'Every 2 minutes');
    assert.equal(scheduleInWords('0 3 * * *'), 'At 03:00');
    assert.equal(scheduleInWords('not a cron'), 'not a cron');
  });

  it('says durations and relative times in the unit that reads best', () => {
    const t0 = '2026-12-04T15:30:00.000Z';
    assert.equal(duration(t0, '2026-12-04T15:30:00.250Z'), '250 ms');
    assert.equal(duration(t0, '2026-12-04T15:30:12.340Z'), '12.3 s');
    assert.equal(duration(t0, '2026-12-04T15:32:05.000Z'), '2 min 5 s');
    assert.equal(duration(undefined), '');
    const now = Date.parse(t0);
    assert.equal(relative('2026-12-04T15:31:00.000Z', now), 'in 1 min');
    assert.equal(relative('2026-12-04T15:29:30.000Z', now), '30 s ago');
    assert.equal(relative('2026-12-06T15:30:00.000Z', now), 'in 2 d');
  });

  it('puts a stage’s figures in one line', () => {
    assert.equal(stageFigures({ rowsRead: 150, columns: 5 }), '150 rows read');
    assert.equal(
      stageFigures({ rowsTrain: 119, rowsTest: 30, modelVersion: 'v1', promoted: false }),
      '119 train rows · 30 test rows · model v1 · not promoted',
    );
    assert.equal(stageFigures(undefined), '');
  });
});

describe('describeFailure', () => {
  it('turns 401 and 403 into what to do', () => {
    assert.match(
      describeFailure(401, 'this action needs the API token'),
      /Enter the token and try again/,
    );
    assert.equal(
      describeFailure(403, 'the API token is not valid'),
      'Not allowed: the API token is not valid.',
    );
  });
  it('keeps the server’s words, or says what the status means', () => {
    assert.equal(
      describeFailure(400, 'limit: must be a whole number'),
      'limit: must be a whole number',
    );
    assert.match(describeFailure(502, undefined), /could not answer \(HTTP 502\)/);
  });
});
