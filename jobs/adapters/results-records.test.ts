import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { countsTable, labelCounts, pageSlices, type RunMatches } from './results-records.js';

const runs = (...rows: number[]): RunMatches[] =>
  rows.map((n, i) => ({ runId: `r${i}`, scoredAt: `t${i}`, rowCount: n }));

describe('pageSlices', () => {
  const cases: {
    name: string;
    runs: RunMatches[];
    offset: number;
    limit: number;
    slices: [runId: string, skip: number, take: number][];
    total: number;
  }[] = [
    { name: 'no runs', runs: [], offset: 0, limit: 50, slices: [], total: 0 },
    {
      name: 'first page inside the first run',
      runs: runs(100, 100),
      offset: 0,
      limit: 50,
      slices: [['r0', 0, 50]],
      total: 200,
    },
    {
      name: 'a page across two runs',
      runs: runs(100, 100),
      offset: 80,
      limit: 50,
      slices: [
        ['r0', 80, 20],
        ['r1', 0, 30],
      ],
      total: 200,
    },
    {
      name: 'deep offset skips whole runs',
      runs: runs(100, 100, 100),
      offset: 250,
      limit: 50,
      slices: [['r2', 50, 50]],
      total: 300,
    },
    {
      name: 'runs without a match are passed over',
      runs: runs(3, 0, 2, 0, 4),
      offset: 2,
      limit: 4,
      slices: [
        ['r0', 2, 1],
        ['r2', 0, 2],
        ['r4', 0, 1],
      ],
      total: 9,
    },
    {
      name: 'the last rows, fewer than a page',
      runs: runs(10, 10),
      offset: 15,
      limit: 50,
      slices: [['r1', 5, 5]],
      total: 20,
    },
    {
      name: 'offset past the end',
      runs: runs(10, 10),
      offset: 20,
      limit: 5,
      slices: [],
      total: 20,
    },
    { name: 'limit 0 still counts', runs: runs(7, 8), offset: 0, limit: 0, slices: [], total: 15 },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const page = pageSlices(c.runs, c.offset, c.limit);
      assert.equal(page.total, c.total);
      assert.deepEqual(
        page.slices.map((s) => [s.runId, s.skip, s.take]),
        c.slices,
      );
      const runOf = new Map(c.runs.map((r) => [r.runId, r.scoredAt]));
      for (const s of page.slices) assert.equal(s.scoredAt, runOf.get(s.runId));
    });
  }
});

describe('labelCounts', () => {
  it('counts each label of a batch, exact to case', () => {
    const rows = ['b', 'a', 'b', 'A', 'b'].map((label, i) => ({
      rowKey: String(i),
      label,
      probability: 1,
      probabilities: {},
    }));
    const batch = { pipeline: 'p', runId: 'r', modelVersion: 'v', scoredAt: new Date(), rows };
    assert.deepEqual(labelCounts(batch), [
      { label: 'b', rows: 3 },
      { label: 'a', rows: 1 },
      { label: 'A', rows: 1 },
    ]);
    assert.deepEqual(labelCounts({ ...batch, rows: [] }), []);
  });
});

describe('countsTable', () => {
  it('sits beside its table, in the same database, within 64 characters', () => {
    assert.equal(countsTable('predictions'), 'predictions__counts');
    assert.equal(countsTable('analytics.predictions'), 'analytics.predictions__counts');
    const long = countsTable('p'.repeat(64));
    assert.equal(long.length, 64);
    assert.ok(long.endsWith('__counts'));
  });
});
