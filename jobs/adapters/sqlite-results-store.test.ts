import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { fileURLToPath } from 'node:url';
import { resultsStoreSuite } from './results-store-suite.js';
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
