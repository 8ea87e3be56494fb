import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import mysql, { type Connection } from 'mysql2/promise';
import { testMysqlUrl } from '../../test/infra/env.js';
import { parseMysqlUrl } from './mysql-config.js';
import { createMysqlPool, type MysqlPool } from './mysql-pool.js';
import { readMysqlTable } from './mysql-source.js';

const name = (base: string) => `${base}_${randomBytes(4).toString('hex')}`;

describe('reading a MySQL source table', () => {
  let pool: MysqlPool;
  let sql: Connection;

  before(async () => {
    pool = createMysqlPool(parseMysqlUrl(testMysqlUrl()));
    sql = await mysql.createConnection(testMysqlUrl());
  });

  after(async () => {
    await pool.end();
    await sql.end();
  });

  it('reads DECIMAL, BIGINT, NULL, dates, text and binary exactly', async () => {
    const table = name('exact');
    await sql.query(`
      CREATE TABLE ${table} (
        id INT PRIMARY KEY,
        amount DECIMAL(10,4),
        big BIGINT,
        ubig BIGINT UNSIGNED,
        ratio DOUBLE,
        small FLOAT,
        name VARCHAR(40),
        seen DATETIME(3),
        stamp TIMESTAMP(6) NULL,
        day DATE,
        flag BIT(1),
        raw VARBINARY(8),
        doc JSON
      ) CHARACTER SET utf8mb4`);
    await sql.query(`INSERT INTO ${table} VALUES
      (1, 123456.7891, 9007199254740993, 18446744073709551615, 0.1, 5.1, 'é 漢 🌸',
       '2026-12-04 15:30:01.234', '2026-12-04 15:30:01.234567', '2026-12-04', b'1', X'00FF10', '{"a": [1, 2]}'),
      (2, -0.0001, -9223372036854775808, 0, -1e300, NULL, NULL, NULL, NULL, NULL, b'0', NULL, NULL),
      (3, NULL, NULL, NULL, NULL, NULL, '', '0000-00-00 00:00:00', NULL, '0000-00-00', NULL, X'', NULL)`);

    const table_ = await readMysqlTable(pool, { table, keyColumn: 'id' });
    assert.deepEqual(table_.columns, [
      'id',
      'amount',
      'big',
      'ubig',
      'ratio',
      'small',
      'name',
      'seen',
      'stamp',
      'day',
      'flag',
      'raw',
      'doc',
    ]);
    assert.deepEqual(table_.rows, [
      [
        1,
        '123456.7891',
        '9007199254740993',
        '18446744073709551615',
        0.1,
        5.1,
        'é 漢 🌸',
        '2026-12-04T15:30:01.234Z',
        '2026-12-04T15:30:01.234567Z',
        '2026-12-04',
        1,
        'AP8Q',
        '{"a": [1, 2]}',
      ],
      [
        2,
        '-0.0001',
        '-9223372036854775808',
        '0',
        -1e300,
        null,
        null,
        null,
        null,
        null,
        0,
        null,
        null,
      ],
      [3, null, null, null, null, null, '', null, null, null, null, '', null],
    ]);

    // The same values without a key column, through the streaming read.
    const streamed = await readMysqlTable(pool, { table });
    assert.deepEqual(
      [...streamed.rows].sort((a, b) => Number(a[0]) - Number(b[0])),
      table_.rows,
    );
  });

  it('reads TIMESTAMP as UTC whatever the server’s own zone', async () => {
    const table = name('zone');
    await sql.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, at TIMESTAMP NULL)`);
    // Written from a session in another zone: the instant is what counts.
    await sql.query("SET time_zone = '+05:00'");
    await sql.query(`INSERT INTO ${table} VALUES (1, '2026-12-04 20:30:00')`);
    await sql.query("SET time_zone = '+00:00'");
    const read = await readMysqlTable(pool, { table });
    assert.deepEqual(read.rows, [[1, '2026-12-04T15:30:00Z']]);
  });

  it('pages by key across batches without skipping or repeating, BIGINT keys past 2^53 included', async () => {
    const table = name('paged');
    await sql.query(`CREATE TABLE ${table} (k BIGINT UNSIGNED PRIMARY KEY, v INT NOT NULL)`);
    const base = 2n ** 53n;
    // Keys one apart past 2^53 collapse if compared as doubles.
    const keys = Array.from({ length: 1_005 }, (_, i) => base + BigInt(i));
    await sql.query(`INSERT INTO ${table} (k, v) VALUES ?`, [
      keys.map((k, i) => [k.toString(), i]),
    ]);

    const read = await readMysqlTable(pool, { table, keyColumn: 'k', batchSize: 100 });
    assert.equal(read.rows.length, keys.length);
    assert.deepEqual(
      read.rows.map((r) => r[0]),
      keys.map(String),
    );
    assert.deepEqual(
      read.rows.map((r) => r[1]),
      keys.map((_, i) => i),
    );
  });

  it('pages by text, date and binary keys', async () => {
    for (const [type, values] of [
      ['VARCHAR(20)', Array.from({ length: 250 }, (_, i) => `key-${String(i).padStart(4, '0')}`)],
      [
        'DATETIME(3)',
        Array.from({ length: 250 }, (_, i) =>
          new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString().slice(0, 23).replace('T', ' '),
        ),
      ],
      ['VARBINARY(4)', Array.from({ length: 250 }, (_, i) => Buffer.from([0, i >> 8, i & 255]))],
    ] as const) {
      const table = name('keys');
      await sql.query(`CREATE TABLE ${table} (k ${type} NOT NULL, n INT, UNIQUE KEY (k))`);
      await sql.query(`INSERT INTO ${table} (k, n) VALUES ?`, [values.map((v, i) => [v, i])]);
      const read = await readMysqlTable(pool, {
        table,
        keyColumn: 'k',
        columns: ['n'],
        batchSize: 100,
      });
      assert.deepEqual(read.columns, ['n']);
      assert.deepEqual(
        read.rows.map((r) => r[0]),
        values.map((_, i) => i),
        type,
      );
    }
  });

  it('reads the columns asked for, in that order, matching names without case', async () => {
    const table = name('cols');
    await sql.query(
      `CREATE TABLE ${table} (id INT PRIMARY KEY, Sepal_Length DOUBLE, species VARCHAR(20))`,
    );
    await sql.query(`INSERT INTO ${table} VALUES (1, 5.1, 'setosa'), (2, 4.9, 'setosa')`);
    const read = await readMysqlTable(pool, {
      table,
      columns: ['species', 'sepal_length'],
      keyColumn: 'id',
    });
    assert.deepEqual(read, {
      columns: ['species', 'Sepal_Length'],
      rows: [
        ['setosa', 5.1],
        ['setosa', 4.9],
      ],
    });
  });

  it('names the missing table, column or unusable key column', async () => {
    const table = name('named');
    await sql.query(
      `CREATE TABLE ${table} (id INT PRIMARY KEY, dup INT, maybe INT, UNIQUE KEY (maybe))`,
    );
    await assert.rejects(
      readMysqlTable(pool, { table: 'no_such_table' }),
      /source table no_such_table does not exist/,
    );
    await assert.rejects(
      readMysqlTable(pool, { table: 'mlp_nowhere.t' }),
      /source table mlp_nowhere\.t does not exist/,
    );
    await assert.rejects(
      readMysqlTable(pool, { table, columns: ['id', 'petal_width'] }),
      new RegExp(`column petal_width not found in table ${table} \\(it has: id, dup, maybe\\)`),
    );
    await assert.rejects(
      readMysqlTable(pool, { table, keyColumn: 'nope' }),
      /key column nope not found/,
    );
    await assert.rejects(
      readMysqlTable(pool, { table, keyColumn: 'dup' }),
      /key column dup .* unique index/,
    );
    await assert.rejects(readMysqlTable(pool, { table, keyColumn: 'maybe' }), /NOT NULL/);
    await assert.rejects(readMysqlTable(pool, { table: 'x; DROP TABLE y' }), /invalid table name/);
  });

  it('names a column whose type has no cell value, and reads the table without it', async () => {
    const table = name('geo');
    await sql.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, place POINT)`);
    await sql.query(`INSERT INTO ${table} VALUES (1, POINT(1, 2))`);
    await assert.rejects(readMysqlTable(pool, { table }), /column place has type GEOMETRY/);
    await assert.rejects(readMysqlTable(pool, { table, keyColumn: 'id' }), /column place/);
    assert.deepEqual(await readMysqlTable(pool, { table, columns: ['id'] }), {
      columns: ['id'],
      rows: [[1]],
    });
  });

  it('opens and closes a pool of its own when given a config', async () => {
    const table = name('own');
    await sql.query(`CREATE TABLE ${table} (id INT PRIMARY KEY)`);
    await sql.query(`INSERT INTO ${table} VALUES (7)`);
    const read = await readMysqlTable(parseMysqlUrl(testMysqlUrl()), {
      table: `mlp_test.${table}`,
    });
    assert.deepEqual(read.rows, [[7]]);
  });

  it('names the server when it cannot connect', async () => {
    const config = { ...parseMysqlUrl(testMysqlUrl()), port: 1 };
    await assert.rejects(
      readMysqlTable(config, { table: 'x' }),
      /MySQL mlp@127\.0\.0\.1:1\/mlp_test: cannot connect: .*ECONNREFUSED/,
    );
  });
});
