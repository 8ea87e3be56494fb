import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { testMysqlUrl } from '../../test/infra/env.js';
import { parseMysqlUrl, type MysqlConfig } from './mysql-config.js';
import { MysqlResultsStore } from './mysql-results-store.js';
import { batchOf, prediction, resultsStoreSuite } from './results-store-suite.js';

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
    await assert.rejects(write, /MySQL mlp@127\.0\.0\.1:\d+\/mlp_test: cannot write/);

    assert.equal(await count('killed', 'r1'), 1_000);
    assert.equal(await count('killed', 'r1', 'old'), 1_000);
    // The pool dropped the dead connection: the store still works.
    await store.replacePredictions(table, batchOf('killed', 'r1', rows(10, 'new')));
    assert.equal(await count('killed', 'r1', 'new'), 10);
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
