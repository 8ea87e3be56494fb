/**
 * The behaviour every ResultsStore must have, run against MySQL and SQLite
 * alike by their test files, so the embedded store cannot drift from the
 * real one.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { PredictionBatch, PredictionRow, ResultsStore, RunRecord } from '../../core/ports.js';

export interface ResultsStoreSuiteOptions {
  /** Opens a store on the same database each time it is called. */
  open(): Promise<ResultsStore>;
  /** A database name that qualifies a table as db.table. */
  qualifier: string;
}

const uid = () => randomBytes(4).toString('hex');

export function prediction(rowKey: string, label = 'setosa', p = 0.75): PredictionRow {
  return {
    rowKey,
    label,
    probability: p,
    probabilities: { [label]: p, other: 1 - p },
  };
}

export function batchOf(
  pipeline: string,
  runId: string,
  rows: PredictionRow[],
  overrides: Partial<PredictionBatch> = {},
): PredictionBatch {
  return {
    pipeline,
    runId,
    modelVersion: 'v1',
    scoredAt: new Date('2026-12-04T15:30:01.234Z'),
    rows,
    ...overrides,
  };
}

/**
 * Three runs for the tests of rows deleted by hand: r1 (labels a a a b b),
 * r2 (a a) and r3 (b b b b), newest last.
 */
export async function written(store: ResultsStore, table: string): Promise<void> {
  const runs: [string, string[]][] = [
    ['r1', ['a', 'a', 'a', 'b', 'b']],
    ['r2', ['a', 'a']],
    ['r3', ['b', 'b', 'b', 'b']],
  ];
  for (const [i, [runId, labels]] of runs.entries()) {
    const rows = labels.map((l, k) => prediction(String(k), l));
    const scoredAt = new Date(Date.UTC(2026, 11, 4, 10 + i));
    await store.replacePredictions(table, batchOf('by-hand', runId, rows, { scoredAt }));
  }
}

/** What written() leaves once r2, and r3's label b, are deleted by hand. */
export async function expectOnlyFirstRun(store: ResultsStore, table: string): Promise<void> {
  const page = await store.queryPredictions(table, { pipeline: 'by-hand', limit: 10, offset: 0 });
  assert.equal(page.total, 5);
  assert.deepEqual(
    page.rows.map((r) => `${r.runId}/${r.rowKey}`),
    ['r1/0', 'r1/1', 'r1/2', 'r1/3', 'r1/4'],
  );
  const b = await store.queryPredictions(table, {
    pipeline: 'by-hand',
    label: 'b',
    limit: 1,
    offset: 1,
  });
  assert.equal(b.total, 2);
  assert.deepEqual(
    b.rows.map((r) => `${r.runId}/${r.rowKey}`),
    ['r1/4'],
  );
}

function run(pipeline: string, runId: string, overrides: Partial<RunRecord> = {}): RunRecord {
  return {
    pipeline,
    runId,
    trigger: 'schedule',
    scheduledAt: '2026-12-04T15:30:00.000Z',
    startStage: 'collect',
    phase: 'Running',
    startedAt: '2026-12-04T15:30:00.500Z',
    stages: [
      { stage: 'collect', phase: 'Running', attempts: 1, startedAt: '2026-12-04T15:30:00.500Z' },
    ],
    ...overrides,
  };
}

export function resultsStoreSuite(name: string, options: ResultsStoreSuiteOptions): void {
  describe(`${name} results store`, () => {
    let store: ResultsStore;
    // Tables and pipelines are new for each run of the suite, so suites and
    // test files sharing one database never see each other's rows.
    const table = `pred_${uid()}`;
    const pipeline = () => `p-${uid()}`;

    before(async () => {
      store = await options.open();
      await store.init();
    });

    after(async () => {
      await store.close();
    });

    describe('predictions', () => {
      it('stores a batch and reads it back exactly', async () => {
        const p = pipeline();
        const rows = [prediction('1', 'setosa', 0.1 + 0.2), prediction('2', 'virginica', 1e-7)];
        const written = await store.replacePredictions(table, batchOf(p, 'r1', rows));
        assert.equal(written.rowsWritten, 2);

        const found = await store.queryPredictions(table, { pipeline: p, limit: 10, offset: 0 });
        assert.equal(found.total, 2);
        assert.deepEqual(found.rows, [
          {
            ...rows[0],
            pipeline: p,
            runId: 'r1',
            modelVersion: 'v1',
            scoredAt: '2026-12-04T15:30:01.234Z',
          },
          {
            ...rows[1],
            pipeline: p,
            runId: 'r1',
            modelVersion: 'v1',
            scoredAt: '2026-12-04T15:30:01.234Z',
          },
        ]);
      });

      it('replaces the rows of a rerun instead of adding to them', async () => {
        const p = pipeline();
        const first = ['a', 'b', 'c'].map((k) => prediction(k));
        await store.replacePredictions(table, batchOf(p, 'r1', first));
        await store.replacePredictions(table, batchOf(p, 'r1', first));
        let found = await store.queryPredictions(table, { pipeline: p, limit: 10, offset: 0 });
        assert.equal(found.total, 3);

        const second = [prediction('b', 'versicolor'), prediction('d', 'virginica')];
        await store.replacePredictions(table, batchOf(p, 'r1', second, { modelVersion: 'v2' }));
        found = await store.queryPredictions(table, { pipeline: p, limit: 10, offset: 0 });
        assert.deepEqual(
          found.rows.map((r) => [r.rowKey, r.label, r.modelVersion]),
          [
            ['b', 'versicolor', 'v2'],
            ['d', 'virginica', 'v2'],
          ],
        );
      });

      it('leaves other runs and pipelines alone', async () => {
        const p = pipeline();
        const q = pipeline();
        await store.replacePredictions(table, batchOf(p, 'r1', [prediction('1')]));
        await store.replacePredictions(table, batchOf(p, 'r2', [prediction('1')]));
        await store.replacePredictions(table, batchOf(q, 'r1', [prediction('1')]));
        await store.replacePredictions(table, batchOf(p, 'r1', [prediction('2')]));

        const all = await store.queryPredictions(table, { pipeline: p, limit: 10, offset: 0 });
        assert.deepEqual(all.rows.map((r) => `${r.runId}/${r.rowKey}`).sort(), ['r1/2', 'r2/1']);
        const other = await store.queryPredictions(table, { pipeline: q, limit: 10, offset: 0 });
        assert.equal(other.total, 1);
      });

      it('an empty batch removes the run’s rows', async () => {
        const p = pipeline();
        await store.replacePredictions(table, batchOf(p, 'r1', [prediction('1'), prediction('2')]));
        const written = await store.replacePredictions(table, batchOf(p, 'r1', []));
        assert.equal(written.rowsWritten, 0);
        const found = await store.queryPredictions(table, { pipeline: p, limit: 10, offset: 0 });
        assert.equal(found.total, 0);
      });

      it('keeps the previous rows when a row does not fit its column', async () => {
        const p = pipeline();
        const before = [prediction('1'), prediction('2')];
        await store.replacePredictions(table, batchOf(p, 'r1', before));

        const tooLong = prediction('3', 'x'.repeat(256));
        await assert.rejects(
          store.replacePredictions(table, batchOf(p, 'r1', [prediction('9'), tooLong])),
        );

        const found = await store.queryPredictions(table, { pipeline: p, limit: 10, offset: 0 });
        assert.deepEqual(
          found.rows.map((r) => r.rowKey),
          ['1', '2'],
        );
      });

      it('keeps the previous rows when a batch repeats a row key', async () => {
        const p = pipeline();
        await store.replacePredictions(table, batchOf(p, 'r1', [prediction('1')]));
        await assert.rejects(
          store.replacePredictions(table, batchOf(p, 'r1', [prediction('5'), prediction('5')])),
        );
        const found = await store.queryPredictions(table, { pipeline: p, limit: 10, offset: 0 });
        assert.deepEqual(
          found.rows.map((r) => r.rowKey),
          ['1'],
        );
      });

      it('refuses a probability that is not a finite number', async () => {
        const p = pipeline();
        await assert.rejects(
          store.replacePredictions(table, batchOf(p, 'r1', [prediction('1', 'a', Number.NaN)])),
          /not a finite number/,
        );
      });

      it('round-trips tabs, newlines, backslashes, quotes and non-Latin text', async () => {
        const p = pipeline();
        const awkward = 'tab\there\nnew\\line\r"quote\' \\N NUL\0end é 漢字 🌸';
        const rows: PredictionRow[] = [
          {
            rowKey: awkward,
            label: awkward,
            probability: 0.5,
            probabilities: { [awkward]: 0.5, '\\': 0.5 },
          },
          prediction('\\N'),
          prediction('A'),
          prediction('a'),
        ];
        await store.replacePredictions(table, batchOf(p, 'r1', rows));
        const found = await store.queryPredictions(table, { pipeline: p, limit: 10, offset: 0 });
        const byKey = new Map(found.rows.map((r) => [r.rowKey, r]));
        assert.equal(found.total, 4, 'row keys differing only in case are two keys');
        assert.equal(byKey.get(awkward)?.label, awkward);
        assert.deepEqual(byKey.get(awkward)?.probabilities, rows[0]!.probabilities);
        assert.ok(byKey.has('\\N'), 'a key spelled like NULL stays a key');
      });

      it('filters by run, label and model version, and pages in a stable order', async () => {
        const p = pipeline();
        const early = new Date('2026-12-04T10:00:00.000Z');
        const late = new Date('2026-12-04T11:00:00.000Z');
        const labels = ['setosa', 'versicolor', 'virginica'];
        const rows = (n: number) =>
          Array.from({ length: n }, (_, i) =>
            prediction(String(i).padStart(3, '0'), labels[i % 3]),
          );
        await store.replacePredictions(table, batchOf(p, 'r-early', rows(30), { scoredAt: early }));
        await store.replacePredictions(
          table,
          batchOf(p, 'r-late', rows(12), { scoredAt: late, modelVersion: 'v2' }),
        );

        const byRun = await store.queryPredictions(table, {
          pipeline: p,
          runId: 'r-early',
          limit: 5,
          offset: 0,
        });
        assert.equal(byRun.total, 30);
        assert.deepEqual(
          byRun.rows.map((r) => r.rowKey),
          ['000', '001', '002', '003', '004'],
        );

        const byLabel = await store.queryPredictions(table, {
          pipeline: p,
          label: 'virginica',
          limit: 100,
          offset: 0,
        });
        assert.equal(byLabel.total, 14);
        assert.ok(byLabel.rows.every((r) => r.label === 'virginica'));

        const byModel = await store.queryPredictions(table, {
          pipeline: p,
          modelVersion: 'v2',
          limit: 100,
          offset: 0,
        });
        assert.equal(byModel.total, 12);

        // Newest run first, then row keys ascending; pages neither overlap nor skip.
        const seen: string[] = [];
        for (let offset = 0; offset < 42; offset += 10) {
          const page = await store.queryPredictions(table, { pipeline: p, limit: 10, offset });
          assert.equal(page.total, 42);
          seen.push(...page.rows.map((r) => `${r.runId}/${r.rowKey}`));
        }
        assert.equal(seen.length, 42);
        assert.equal(new Set(seen).size, 42);
        assert.equal(seen[0], 'r-late/000');
        assert.equal(seen[12], 'r-early/000');
      });

      it('pages and totals every filter exactly as sorting all the rows would', async () => {
        const p = pipeline();
        const labels = ['setosa', 'versicolor', 'virginica'];
        // r-b and r-c share a scoring time, so run ids break the tie; r-e is empty.
        const runs = [
          { runId: 'r-a', at: '2026-12-04T10:00:00.000Z', version: 'v1', size: 23 },
          { runId: 'r-b', at: '2026-12-04T11:00:00.000Z', version: 'v2', size: 9 },
          { runId: 'r-c', at: '2026-12-04T11:00:00.000Z', version: 'v2', size: 17 },
          { runId: 'r-d', at: '2026-12-04T12:00:00.000Z', version: 'v1', size: 4 },
          { runId: 'r-e', at: '2026-12-04T13:00:00.000Z', version: 'v3', size: 0 },
        ];
        const all: { runId: string; at: string; version: string; rowKey: string; label: string }[] =
          [];
        for (const [n, r] of runs.entries()) {
          const rows = Array.from({ length: r.size }, (_, i) =>
            prediction(`k${String((i * 7) % r.size).padStart(3, '0')}`, labels[(i * i + n) % 3]),
          );
          await store.replacePredictions(
            table,
            batchOf(p, r.runId, rows, { scoredAt: new Date(r.at), modelVersion: r.version }),
          );
          all.push(...rows.map((row) => ({ ...r, rowKey: row.rowKey, label: row.label })));
        }
        all.sort(
          (x, y) =>
            y.at.localeCompare(x.at) ||
            y.runId.localeCompare(x.runId) ||
            x.rowKey.localeCompare(y.rowKey),
        );

        const filters: { runId?: string; label?: string; modelVersion?: string }[] = [
          {},
          { runId: 'r-c' },
          { runId: 'r-e' },
          { label: 'versicolor' },
          { modelVersion: 'v2' },
          { label: 'setosa', modelVersion: 'v1' },
          { runId: 'r-a', label: 'virginica' },
          { label: 'none' },
        ];
        for (const filter of filters) {
          const expected = all.filter(
            (r) =>
              (filter.runId === undefined || r.runId === filter.runId) &&
              (filter.label === undefined || r.label === filter.label) &&
              (filter.modelVersion === undefined || r.version === filter.modelVersion),
          );
          for (const [offset, limit] of [
            [0, 1000],
            [0, 4],
            [3, 7],
            [8, 10],
            [20, 6],
            [expected.length - 1, 5],
            [expected.length + 3, 5],
          ] as const) {
            if (offset < 0) continue;
            const page = await store.queryPredictions(table, {
              pipeline: p,
              ...filter,
              limit,
              offset,
            });
            const what = `${JSON.stringify(filter)} offset ${offset} limit ${limit}`;
            assert.equal(page.total, expected.length, what);
            assert.deepEqual(
              page.rows.map((r) => `${r.runId}/${r.rowKey}/${r.label}/${r.modelVersion}`),
              expected
                .slice(offset, offset + limit)
                .map((r) => `${r.runId}/${r.rowKey}/${r.label}/${r.version}`),
              what,
            );
          }
        }
      });

      it('keeps totals per filter right when a run is replaced and when runs are pruned', async () => {
        const p = pipeline();
        const total = async (filter: { runId?: string; label?: string; modelVersion?: string }) =>
          (await store.queryPredictions(table, { pipeline: p, ...filter, limit: 1, offset: 0 }))
            .total;
        const rows = (...labels: string[]) => labels.map((l, i) => prediction(String(i), l));

        await store.replacePredictions(table, batchOf(p, 'r1', rows('a', 'a', 'b')));
        await store.replacePredictions(
          table,
          batchOf(p, 'r2', rows('b', 'c'), { modelVersion: 'v2' }),
        );
        assert.equal(await total({}), 5);
        assert.equal(await total({ label: 'a' }), 2);
        assert.equal(await total({ label: 'b' }), 2);

        // The rerun drops label a and brings label d under another model.
        await store.replacePredictions(
          table,
          batchOf(p, 'r1', rows('d', 'b', 'd', 'd'), { modelVersion: 'v3' }),
        );
        assert.equal(await total({}), 6);
        assert.equal(await total({ label: 'a' }), 0);
        assert.equal(await total({ label: 'd' }), 3);
        assert.equal(await total({ label: 'b' }), 2);
        assert.equal(await total({ modelVersion: 'v1' }), 0);
        assert.equal(await total({ modelVersion: 'v3' }), 4);
        assert.equal(await total({ runId: 'r1', label: 'b' }), 1);
        assert.equal(await total({ label: 'b', modelVersion: 'v2' }), 1);

        // Pruning forgets run records, not the predictions BI tools read.
        for (const runId of ['r1', 'r2']) {
          await store.saveRun(run(p, runId, { phase: 'Succeeded' }));
        }
        await store.pruneRuns(p, 0);
        assert.deepEqual(await store.listRuns(p, 10), []);
        assert.equal(await total({}), 6);
        assert.equal(await total({ label: 'd' }), 3);

        await store.replacePredictions(table, batchOf(p, 'r2', []));
        assert.equal(await total({}), 4);
        assert.equal(await total({ label: 'c' }), 0);
      });

      it('reads nothing, without error, from a table not yet written', async () => {
        const found = await store.queryPredictions(`never_${uid()}`, {
          pipeline: pipeline(),
          limit: 10,
          offset: 0,
        });
        assert.deepEqual(found, { total: 0, rows: [] });
      });

      it('accepts a db.table name', async () => {
        const p = pipeline();
        const qualified = `${options.qualifier}.pred_${uid()}`;
        await store.replacePredictions(qualified, batchOf(p, 'r1', [prediction('1')]));
        const found = await store.queryPredictions(qualified, {
          pipeline: p,
          limit: 10,
          offset: 0,
        });
        assert.equal(found.total, 1);
      });

      it('refuses table names that are not plain identifiers', async () => {
        for (const bad of ['x; DROP TABLE y', 'a.b.c', '1abc', 'pred`x', '']) {
          await assert.rejects(
            store.replacePredictions(bad, batchOf(pipeline(), 'r1', [prediction('1')])),
            /invalid table name/,
            bad,
          );
        }
      });
    });

    describe('runs', () => {
      it('claims a run once: true, then false, and the first record stands', async () => {
        const p = pipeline();
        const first = run(p, 'r1');
        assert.equal(await store.claimRun(first), true);
        assert.equal(await store.claimRun(run(p, 'r1', { trigger: 'manual' })), false);
        assert.deepEqual(await store.getRun(p, 'r1'), first);
      });

      it('lets exactly one of two connections claim the same run at the same time', async () => {
        const other = await options.open();
        try {
          for (let i = 0; i < 20; i++) {
            const p = pipeline();
            const results = await Promise.all([
              store.claimRun(run(p, 'slot')),
              other.claimRun(run(p, 'slot')),
              store.claimRun(run(p, 'slot')),
              other.claimRun(run(p, 'slot')),
            ]);
            assert.equal(results.filter(Boolean).length, 1, `attempt ${i}: ${results.join(',')}`);
          }
        } finally {
          await other.close();
        }
      });

      it('saves a run over its previous record, and creates it when missing', async () => {
        const p = pipeline();
        await store.saveRun(run(p, 'r1', { message: 'started' }));
        const done = run(p, 'r1', {
          phase: 'Succeeded',
          finishedAt: '2026-12-04T15:31:00.000Z',
          modelVersion: 'v3',
          stages: [
            {
              stage: 'collect',
              phase: 'Succeeded',
              attempts: 2,
              startedAt: '2026-12-04T15:30:00.500Z',
              finishedAt: '2026-12-04T15:30:10.000Z',
              summary: { rows: 150, nested: { ok: true } },
            },
          ],
        });
        await store.saveRun(done);
        assert.deepEqual(await store.getRun(p, 'r1'), done, 'the old message is gone too');
        assert.equal(await store.getRun(p, 'nope'), undefined);
      });

      it('returns times as ISO UTC with milliseconds, whatever offset they were given in', async () => {
        const p = pipeline();
        await store.saveRun(
          run(p, 'r1', {
            startedAt: '2026-12-04T17:30:00+02:00',
            scheduledAt: undefined,
            trigger: 'manual',
          }),
        );
        const found = await store.getRun(p, 'r1');
        assert.equal(found?.startedAt, '2026-12-04T15:30:00.000Z');
        assert.equal(found?.scheduledAt, undefined);
        await assert.rejects(store.saveRun(run(p, 'r2', { startedAt: 'yesterday' })), /startedAt/);
      });

      it('lists runs newest first and the unfinished ones of every pipeline', async () => {
        const p = pipeline();
        const at = (minute: number) => `2026-12-04T15:${String(minute).padStart(2, '0')}:00.000Z`;
        await store.saveRun(run(p, 'r1', { startedAt: at(1), phase: 'Succeeded' }));
        await store.saveRun(run(p, 'r2', { startedAt: at(2), phase: 'Failed' }));
        await store.saveRun(run(p, 'r3', { startedAt: at(3), phase: 'Running' }));
        await store.saveRun(run(p, 'r4', { startedAt: at(4), phase: 'Pending' }));

        const listed = await store.listRuns(p, 3);
        assert.deepEqual(
          listed.map((r) => r.runId),
          ['r4', 'r3', 'r2'],
        );

        const unfinished = (await store.listUnfinishedRuns()).filter((r) => r.pipeline === p);
        assert.deepEqual(
          unfinished.map((r) => r.runId),
          ['r3', 'r4'],
        );
      });

      it('prunes all but the newest runs, never an unfinished one', async () => {
        const p = pipeline();
        const q = pipeline();
        for (let i = 1; i <= 6; i++) {
          const startedAt = `2026-12-04T15:0${i}:00.000Z`;
          await store.saveRun(
            run(p, `r${i}`, { startedAt, phase: i === 1 ? 'Running' : 'Succeeded' }),
          );
        }
        await store.saveRun(run(q, 'r1', { phase: 'Succeeded' }));

        await store.pruneRuns(p, 2);
        const left = await store.listRuns(p, 10);
        assert.deepEqual(
          left.map((r) => r.runId),
          ['r6', 'r5', 'r1'],
        );
        assert.equal((await store.listRuns(q, 10)).length, 1, 'another pipeline is untouched');
      });
    });

    describe('schedule', () => {
      it('remembers the last schedule time per pipeline and key', async () => {
        const p = pipeline();
        assert.equal(await store.getLastScheduleTime(p, 'pipeline'), undefined);
        await store.setLastScheduleTime(p, 'pipeline', '2026-12-04T15:30:00Z');
        await store.setLastScheduleTime(p, 'predict', '2026-12-04T15:32:00.000Z');
        assert.equal(await store.getLastScheduleTime(p, 'pipeline'), '2026-12-04T15:30:00.000Z');

        await store.setLastScheduleTime(p, 'pipeline', '2026-12-04T17:34:00+02:00');
        assert.equal(await store.getLastScheduleTime(p, 'pipeline'), '2026-12-04T15:34:00.000Z');
        assert.equal(await store.getLastScheduleTime(p, 'predict'), '2026-12-04T15:32:00.000Z');
      });
    });

    it('check() succeeds on a reachable database', async () => {
      await store.check();
    });
  });
}
