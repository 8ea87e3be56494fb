import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { fileURLToPath } from 'node:url';
import {
  batchOf,
  expectOnlyFirstRun,
  prediction,
  resultsStoreSuite,
  written,
} from './results-store-suite.js';
import { SQLITE_FILE_NAME, SqliteResultsStore } from './sqlite-results-store.js';

const dataDir = mkdtempSync(join(tmpdir(), 'mlp-sqlite-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));

resultsStoreSuite('SQLite', {
  open: () => Promise.resolve(new SqliteResultsStore({ dataDir })),
  qualifier: 'analytics',
});

describe('SQLite results store across processes', () => {
  it('keeps its file in the data folder, in WAL mode', async () => {
    const store = new SqliteResultsStore({ dataDir });
    await store.init();
    assert.equal(store.file, join(dataDir, SQLITE_FILE_NAME));
    await store.close();

    // WAL is a property of the file: a fresh connection reports it.
    const db = new Database(join(dataDir, SQLITE_FILE_NAME), { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  });

  it('lets two processes claim and write on one file without losing or doubling a run', async () => {
    const file = join(dataDir, 'shared.sqlite');
    const init = new SqliteResultsStore(file);
    await init.init();
    await init.close();

    // Each process claims the same 150 slots and writes predictions for the
    // ones it won; the busy timeout, not luck, is what keeps both going.
    const slots = 150;
    const [a, b] = await Promise.all([claimInChild(file, slots), claimInChild(file, slots)]);
    assert.equal(a + b, slots, `claims: ${a} + ${b}`);

    const store = new SqliteResultsStore(file);
    const runs = await store.listRuns('shared', 1000);
    assert.equal(runs.length, slots);
    const written = await store.queryPredictions('predictions', {
      pipeline: 'shared',
      limit: 1,
      offset: 0,
    });
    assert.equal(written.total, slots * 20);
    await store.close();
  });
});

describe('SQLite results store, a predictions table from an earlier version', () => {
  // The table as earlier versions created it: no run_label index, no counts.
  const earlier = (file: string) => {
    const db = new Database(file);
    db.exec(`
      CREATE TABLE predictions (
        pipeline TEXT NOT NULL, run_id TEXT NOT NULL, model_version TEXT NOT NULL,
        row_key TEXT NOT NULL, label TEXT NOT NULL, probability REAL NOT NULL,
        probabilities TEXT NOT NULL, scored_at TEXT NOT NULL,
        PRIMARY KEY (pipeline, run_id, row_key)
      );
      CREATE INDEX "predictions__scored" ON "predictions" (pipeline, scored_at);
      CREATE INDEX "predictions__label" ON "predictions" (pipeline, label);
      CREATE INDEX "predictions__model" ON "predictions" (pipeline, model_version);
    `);
    const insert = db.prepare('INSERT INTO predictions VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    for (let i = 0; i < 30; i++) {
      const label = i % 3 === 0 ? 'setosa' : 'virginica';
      insert.run('old', 'r1', 'v1', `k${i}`, label, 0.5, '{}', '2026-12-04T10:00:00.000Z');
    }
    for (let i = 0; i < 10; i++) {
      insert.run('old', 'r2', 'v2', `k${i}`, 'setosa', 0.5, '{}', '2026-12-04T11:00:00.000Z');
    }
    db.close();
  };
  const indexes = (file: string) => {
    const db = new Database(file, { readonly: true });
    const names = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'predictions'")
      .pluck()
      .all();
    db.close();
    return names;
  };

  it('counts its rows and adds the paging index when first read', async () => {
    const file = join(dataDir, 'earlier-read.sqlite');
    earlier(file);
    const store = new SqliteResultsStore(file);
    try {
      await store.init();
      const page = await store.queryPredictions('predictions', {
        pipeline: 'old',
        limit: 3,
        offset: 9,
      });
      assert.equal(page.total, 40);
      assert.deepEqual(
        page.rows.map((r) => `${r.runId}/${r.rowKey}`),
        ['r2/k9', 'r1/k0', 'r1/k1'],
      );
      const setosa = await store.queryPredictions('predictions', {
        pipeline: 'old',
        label: 'setosa',
        modelVersion: 'v1',
        limit: 100,
        offset: 0,
      });
      assert.equal(setosa.total, 10);
      assert.equal(setosa.rows.length, 10);
      assert.ok(indexes(file).includes('predictions__run_label'));
    } finally {
      await store.close();
    }
  });

  it('keeps the counts of the other runs when a write comes first', async () => {
    const file = join(dataDir, 'earlier-write.sqlite');
    earlier(file);
    const store = new SqliteResultsStore(file);
    try {
      await store.replacePredictions(
        'predictions',
        batchOf('old', 'r2', [prediction('a', 'versicolor'), prediction('b', 'versicolor')]),
      );
      const total = async (label?: string) =>
        (
          await store.queryPredictions('predictions', {
            pipeline: 'old',
            label,
            limit: 1,
            offset: 0,
          })
        ).total;
      assert.equal(await total(), 32);
      assert.equal(await total('setosa'), 10);
      assert.equal(await total('versicolor'), 2);
    } finally {
      await store.close();
    }
  });
});

describe('SQLite results store, rows deleted by hand', () => {
  it('leaves out the runs and labels whose rows are gone', async () => {
    const file = join(dataDir, 'by-hand.sqlite');
    const store = new SqliteResultsStore(file);
    try {
      await written(store, 'predictions');
      const db = new Database(file);
      db.exec("DELETE FROM predictions WHERE run_id = 'r2'");
      db.exec("DELETE FROM predictions WHERE run_id = 'r3' AND label = 'b'");
      db.close();
      await expectOnlyFirstRun(store, 'predictions');
    } finally {
      await store.close();
    }
  });
});

const storeModule = fileURLToPath(new URL('./sqlite-results-store.ts', import.meta.url));

async function claimInChild(file: string, slots: number): Promise<number> {
  const script = `
    const { SqliteResultsStore } = await import(${JSON.stringify(storeModule)});
    const store = new SqliteResultsStore(${JSON.stringify(file)});
    let won = 0;
    for (let i = 0; i < ${slots}; i++) {
      const runId = 'slot-' + i;
      const claimed = await store.claimRun({
        pipeline: 'shared', runId, trigger: 'schedule', startStage: 'collect',
        phase: 'Running', startedAt: new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString(), stages: [],
      });
      if (!claimed) continue;
      won++;
      const rows = Array.from({ length: 20 }, (_, k) => ({
        rowKey: String(k), label: 'x', probability: 1, probabilities: { x: 1 },
      }));
      await store.replacePredictions('predictions', {
        pipeline: 'shared', runId, modelVersion: 'v1', scoredAt: new Date(), rows,
      });
    }
    await store.close();
    process.stdout.write(String(won));
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (code) => {
      if (code === 0) resolve(Number(out));
      else reject(new Error(`child exited with ${code}: ${err}`));
    });
  });
}
