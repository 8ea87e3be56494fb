import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { testMysqlUrl } from '../../test/infra/env.js';
import { parseMysqlUrl, type MysqlConfig } from './mysql-config.js';
import { MysqlResultsStore } from './mysql-results-store.js';
import {
  batchOf,
  expectOnlyFirstRun,
  prediction,
  resultsStoreSuite,
  written,
} from './results-store-suite.js';

const config = (): MysqlConfig => parseMysqlUrl(testMysqlUrl());

resultsStoreSuite('MySQL', {
  open: () => Promise.resolve(new MysqlResultsStore(config())),
  qualifier: config().database!,
});

const rows = (n: number, label = 'setosa') =>
  Array.from({ length: n }, (_, i) => prediction(`row-${i}`, label, (i % 100) / 100));

describe('MySQL results store, bulk writes', () => {
  let store: MysqlResultsStore;
  let sql: Connection;
  const table = `bulk_${randomBytes(4).toString('hex')}`;

  before(async () => {
    store = new MysqlResultsStore(config());
    await store.init();
    sql = await mysql.createConnection(testMysqlUrl());
  });

  after(async () => {
    await store.close();
    await sql.end();
  });

  const count = async (pipeline: string, runId: string, label?: string) => {
    const [[row]] = await sql.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM \`${table}\` WHERE pipeline = ? AND run_id = ?` +
        (label ? ' AND label = ?' : ''),
      [pipeline, runId, label],
    );
    return Number(row!.n);
  };

  it('loads 100,000 predictions with LOAD DATA and replaces them on a rerun', async () => {
    const first = await store.replacePredictions(table, batchOf('big', 'r1', rows(100_000, 'old')));
    assert.deepEqual(first, { rowsWritten: 100_000, method: 'load-data' });
    assert.equal(await count('big', 'r1'), 100_000);

    const again = await store.replacePredictions(table, batchOf('big', 'r1', rows(100_000, 'new')));
    assert.equal(again.method, 'load-data');
    assert.equal(await count('big', 'r1'), 100_000);
    assert.equal(await count('big', 'r1', 'new'), 100_000);
  });

  it('writes with multi-row INSERTs when told not to use LOAD DATA', async () => {
    const inserting = new MysqlResultsStore(config(), { bulkLoad: 'insert' });
    try {
      const result = await inserting.replacePredictions(table, batchOf('ins', 'r1', rows(20_000)));
      assert.deepEqual(result, { rowsWritten: 20_000, method: 'insert' });
      assert.equal(await count('ins', 'r1'), 20_000);
      const found = await inserting.queryPredictions(table, {
        pipeline: 'ins',
        limit: 1,
        offset: 0,
      });
      assert.deepEqual(found.rows[0]?.probabilities, { setosa: 0, other: 1 });
    } finally {
      await inserting.close();
    }
  });

  it('a reader sees all the old rows or all the new ones while a rerun writes', async () => {
    await store.replacePredictions(table, batchOf('atomic', 'r1', rows(60_000, 'old')));
    const counts = new Set<string>();
    let writing = true;
    let reads = 0;
    const reader = (async () => {
      while (writing) {
        reads++;
        const [[row]] = await sql.query<RowDataPacket[]>(
          `SELECT COUNT(*) AS n, SUM(label = 'new') AS fresh FROM \`${table}\` ` +
            "WHERE pipeline = 'atomic' AND run_id = 'r1'",
        );
        counts.add(`${row!.n}/${row!.fresh}`);
      }
    })();
    await store.replacePredictions(table, batchOf('atomic', 'r1', rows(60_000, 'new')));
    writing = false;
    await reader;
    counts.add(`${await count('atomic', 'r1')}/${await count('atomic', 'r1', 'new')}`);
    assert.deepEqual(
      [...counts].filter((c) => c !== '60000/0' && c !== '60000/60000'),
      [],
      `reader saw ${[...counts].join(' ')}`,
    );
    assert.ok(counts.has('60000/60000'));
    assert.ok(reads >= 3, `only ${reads} reads happened during the write`);
  });

  it('keeps the previous rows when its connection is killed mid-write', async () => {
    await store.replacePredictions(table, batchOf('killed', 'r1', rows(1_000, 'old')));

    const write = store.replacePredictions(table, batchOf('killed', 'r1', rows(400_000, 'new')));
    // Expected at once: the write can fail while the watcher is still closing.
    const refused = assert.rejects(write, /MySQL mlp@127\.0\.0\.1:\d+\/mlp_test: cannot write/);
    const watcher = await mysql.createConnection(testMysqlUrl());
    let killed = false;
    try {
      const deadline = Date.now() + 30_000;
      while (!killed && Date.now() < deadline) {
        const [found] = await watcher.query<RowDataPacket[]>(
          'SELECT ID FROM information_schema.PROCESSLIST ' +
            "WHERE INFO LIKE 'LOAD DATA%' AND INFO LIKE ?",
          [`%${table}%`],
        );
        if (found[0]) {
          await watcher.query(`KILL CONNECTION ${Number(found[0].ID)}`);
          killed = true;
        }
      }
    } finally {
      await watcher.end();
    }
    assert.ok(killed, 'the load was never seen running');
    await refused;

    assert.equal(await count('killed', 'r1'), 1_000);
    assert.equal(await count('killed', 'r1', 'old'), 1_000);
    // The pool dropped the dead connection: the store still works.
    await store.replacePredictions(table, batchOf('killed', 'r1', rows(10, 'new')));
    assert.equal(await count('killed', 'r1', 'new'), 10);
  });

  it('leaves out the runs and labels whose rows were deleted by hand', async () => {
    const byHand = `${table}_by_hand`;
    await written(store, byHand);
    await sql.query(`DELETE FROM \`${byHand}\` WHERE run_id = 'r2'`);
    await sql.query(`DELETE FROM \`${byHand}\` WHERE run_id = 'r3' AND label = 'b'`);
    await expectOnlyFirstRun(store, byHand);
  });

  it('refuses to write into a table of the same name that is not a predictions table', async () => {
    const foreign = `foreign_${randomBytes(4).toString('hex')}`;
    await sql.query(`CREATE TABLE \`${foreign}\` (id INT PRIMARY KEY, species VARCHAR(20))`);
    await assert.rejects(
      store.replacePredictions(foreign, batchOf('f', 'r1', rows(1))),
      /exists without the columns pipeline, run_id.*not a predictions table/,
    );
  });
});

describe('MySQL results store, a predictions table from an earlier version', () => {
  let sql: Connection;
  before(async () => {
    sql = await mysql.createConnection(testMysqlUrl());
  });
  after(async () => {
    await sql.end();
  });

  // The table as earlier versions created it: no run_label index, no counts.
  const earlier = async (indexes = true) => {
    const table = `old_${randomBytes(4).toString('hex')}`;
    await sql.query(`
      CREATE TABLE \`${table}\` (
        pipeline VARCHAR(128) NOT NULL, run_id VARCHAR(128) NOT NULL,
        model_version VARCHAR(128) NOT NULL, row_key VARCHAR(255) NOT NULL,
        label VARCHAR(255) NOT NULL, probability DOUBLE NOT NULL,
        probabilities MEDIUMTEXT NOT NULL, scored_at DATETIME(3) NOT NULL,
        PRIMARY KEY (pipeline, run_id, row_key)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
    const rows = [
      ...Array.from({ length: 30 }, (_, i) => [
        'old',
        'r1',
        'v1',
        `k${i}`,
        i % 3 === 0 ? 'setosa' : 'virginica',
        0.5,
        '{}',
        '2026-12-04 10:00:00.000',
      ]),
      ...Array.from({ length: 10 }, (_, i) => [
        'old',
        'r2',
        'v2',
        `k${i}`,
        'setosa',
        0.5,
        '{}',
        '2026-12-04 11:00:00.000',
      ]),
    ];
    await sql.query(`INSERT INTO \`${table}\` VALUES ?`, [rows]);
    if (indexes) {
      await sql.query(
        `ALTER TABLE \`${table}\` ADD KEY \`${table}_scored\` (pipeline, scored_at), ` +
          `ADD KEY \`${table}_label\` (pipeline, label), ` +
          `ADD KEY \`${table}_model\` (pipeline, model_version)`,
      );
    }
    return table;
  };
  const indexes = async (table: string) => {
    const [found] = await sql.query<RowDataPacket[]>(`SHOW INDEX FROM \`${table}\``);
    return new Set(found.map((i) => String(i.Key_name)));
  };

  it('counts its rows when first read', async () => {
    const table = await earlier();
    const store = new MysqlResultsStore(config());
    try {
      const page = await store.queryPredictions(table, { pipeline: 'old', limit: 3, offset: 9 });
      assert.equal(page.total, 40);
      assert.deepEqual(
        page.rows.map((r) => `${r.runId}/${r.rowKey}`),
        ['r2/k9', 'r1/k0', 'r1/k1'],
      );
      const setosa = await store.queryPredictions(table, {
        pipeline: 'old',
        label: 'setosa',
        modelVersion: 'v1',
        limit: 100,
        offset: 0,
      });
      assert.equal(setosa.total, 10);
      assert.equal(setosa.rows.length, 10);
    } finally {
      await store.close();
    }
  });

  it('adds the indexes paging reads from to a table that has none', async () => {
    const table = await earlier(false);
    const store = new MysqlResultsStore(config());
    try {
      const page = await store.queryPredictions(table, {
        pipeline: 'old',
        label: 'virginica',
        limit: 2,
        offset: 0,
      });
      assert.equal(page.total, 20);
      assert.deepEqual(
        page.rows.map((r) => r.rowKey),
        ['k1', 'k10'],
      );
      const found = await indexes(table);
      assert.ok(found.has(`${table}_scored`) && found.has(`${table}_run_label`));
    } finally {
      await store.close();
    }
  });

  it('adds the paging index and keeps the other runs’ counts when a write comes first', async () => {
    const table = await earlier();
    const store = new MysqlResultsStore(config());
    try {
      await store.replacePredictions(
        table,
        batchOf('old', 'r2', [prediction('a', 'versicolor'), prediction('b', 'versicolor')]),
      );
      assert.ok((await indexes(table)).has(`${table}_run_label`));
      const total = async (label?: string) =>
        (await store.queryPredictions(table, { pipeline: 'old', label, limit: 1, offset: 0 }))
          .total;
      assert.equal(await total(), 32);
      assert.equal(await total('setosa'), 10);
      assert.equal(await total('versicolor'), 2);
    } finally {
      await store.close();
    }
  });
});

describe('MySQL results store, connection errors', () => {
  it('names host, port, user and database when the server cannot be reached', async () => {
    const port = await closedPort();
    const store = new MysqlResultsStore({ ...config(), port });
    try {
      const err = await store.check().then(
        () => assert.fail('check passed against a closed port'),
        (e: Error) => e,
      );
      assert.match(err.message, new RegExp(`mlp@127\\.0\\.0\\.1:${port}/mlp_test: cannot connect`));
      assert.match(err.message, /ECONNREFUSED/);
      assert.ok(!err.message.includes(config().password!), 'the password is not in the message');
    } finally {
      await store.close();
    }
  });

  it('says access was denied, without the password, when it is wrong', async () => {
    const wrong = `wrong-${randomBytes(6).toString('hex')}`;
    const store = new MysqlResultsStore({ ...config(), password: wrong });
    try {
      await assert.rejects(store.init(), (err: Error) => {
        assert.match(err.message, /mlp@127\.0\.0\.1:\d+\/mlp_test: cannot connect: Access denied/);
        assert.ok(!err.message.includes(wrong));
        return true;
      });
    } finally {
      await store.close();
    }
  });
});

/** A port nothing listens on: bound, then released. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
