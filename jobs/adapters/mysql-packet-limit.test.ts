// Bulk writes against a server whose max_allowed_packet is 1 MB: a statement
// larger than that makes the server drop the connection, so every path must
// size what it sends.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { startMariaDb, testInfraDir, type MariaDbServer } from '../../test/infra/mariadb.js';
import { parseMysqlUrl } from './mysql-config.js';
import { MysqlResultsStore } from './mysql-results-store.js';
import { batchOf, prediction } from './results-store-suite.js';

const TABLE = 'predictions_1m';
const ROWS = 100_000;
const DIR = testInfraDir('mariadb-1m');

const rows = (n: number, label: string) =>
  Array.from({ length: n }, (_, i) => prediction(`row-${i}`, label, (i % 1000) / 1000));

describe('bulk writes under a 1 MB max_allowed_packet', () => {
  let server: MariaDbServer;
  let sql: Connection;

  const start = async (localInfile: boolean) => {
    server = await startMariaDb({ dir: DIR, maxAllowedPacket: '1M', localInfile });
    sql = await mysql.createConnection(server.url);
  };
  const stop = async () => {
    await sql.end();
    await server.stop();
  };
  const count = async (runId: string, label: string) => {
    const [[row]] = await sql.query<RowDataPacket[]>(
      `SELECT COUNT(*) AS n, SUM(label = ?) AS labelled FROM ${TABLE} WHERE pipeline = 'p' AND run_id = ?`,
      [label, runId],
    );
    return [Number(row!.n), Number(row!.labelled)];
  };
  const insertStatements = async () => {
    const [[row]] = await sql.query<RowDataPacket[]>("SHOW GLOBAL STATUS LIKE 'Com_insert'");
    return Number(row!.Value);
  };

  before(() => start(true));
  after(() => stop());

  it('runs with the limit it was given', async () => {
    const [[row]] = await sql.query<RowDataPacket[]>('SELECT @@max_allowed_packet AS m');
    assert.equal(Number(row!.m), 1024 * 1024);
  });

  it('loads 100,000 rows with LOAD DATA', async () => {
    const store = new MysqlResultsStore(parseMysqlUrl(server.url));
    try {
      const result = await store.replacePredictions(TABLE, batchOf('p', 'load', rows(ROWS, 'a')));
      assert.deepEqual(result, { rowsWritten: ROWS, method: 'load-data' });
      assert.deepEqual(await count('load', 'a'), [ROWS, ROWS]);
    } finally {
      await store.close();
    }
  });

  it('inserts 100,000 rows in statements that each fit the packet', async () => {
    const store = new MysqlResultsStore(parseMysqlUrl(server.url), { bulkLoad: 'insert' });
    try {
      const before = await insertStatements();
      const result = await store.replacePredictions(TABLE, batchOf('p', 'insert', rows(ROWS, 'b')));
      const statements = (await insertStatements()) - before;
      assert.deepEqual(result, { rowsWritten: ROWS, method: 'insert' });
      assert.deepEqual(await count('insert', 'b'), [ROWS, ROWS]);
      // About 100 bytes a row: one statement could not hold them all.
      assert.ok(statements >= 8, `${statements} INSERT statements`);
    } finally {
      await store.close();
    }
  });

  it('refuses a row larger than the packet and keeps the run’s rows', async () => {
    const store = new MysqlResultsStore(parseMysqlUrl(server.url), { bulkLoad: 'insert' });
    try {
      const huge = prediction('huge', 'b');
      huge.probabilities = Object.fromEntries(
        Array.from({ length: 60_000 }, (_, i) => [`class-${i}`, 1 / 60_000]),
      );
      await assert.rejects(
        store.replacePredictions(TABLE, batchOf('p', 'insert', [prediction('x', 'c'), huge])),
        /more than the server's max_allowed_packet \(1048576\)/,
      );
      assert.deepEqual(await count('insert', 'b'), [ROWS, ROWS]);
    } finally {
      await store.close();
    }
  });

  it('falls back to INSERTs when the server refuses LOAD DATA LOCAL', async () => {
    await stop();
    await start(false);
    const store = new MysqlResultsStore(parseMysqlUrl(server.url));
    try {
      const result = await store.replacePredictions(TABLE, batchOf('p', 'load', rows(ROWS, 'c')));
      assert.deepEqual(result, { rowsWritten: ROWS, method: 'insert' });
      assert.deepEqual(
        await count('load', 'c'),
        [ROWS, ROWS],
        'the rerun replaced the LOAD DATA rows',
      );

      const next = await store.replacePredictions(TABLE, batchOf('p', 'second', rows(10, 'c')));
      assert.equal(next.method, 'insert');
    } finally {
      await store.close();
    }
  });
});
