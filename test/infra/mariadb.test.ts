import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import mysql from 'mysql2/promise';
import { startMariaDb } from './mariadb.js';

const root = mkdtempSync(join(tmpdir(), 'mlp-mariadb-test-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('startMariaDb', () => {
  it('starts on 127.0.0.1, keeps data across restarts, and stops', async () => {
    const dir = join(root, 'reuse');
    const first = await startMariaDb({ dir });
    assert.match(first.url, /^mysql:\/\/mlp:[0-9a-f]{32}@127\.0\.0\.1:\d+\/mlp_test$/);
    let conn = await mysql.createConnection(first.url);
    await conn.query('CREATE TABLE kept (id INT)');
    await conn.query('INSERT INTO kept VALUES (42)');
    await conn.end();
    await first.stop();
    await assert.rejects(mysql.createConnection(first.url), /ECONNREFUSED/);

    const second = await startMariaDb({ dir });
    try {
      assert.notEqual(second.url, first.url, 'a new password each start');
      conn = await mysql.createConnection(second.url);
      const [rows] = await conn.query('SELECT id FROM kept');
      assert.deepEqual(rows, [{ id: 42 }]);
      await conn.end();
    } finally {
      await second.stop();
    }
  });

  it('gives the test user its own databases and nothing else', async () => {
    const server = await startMariaDb({ dir: join(root, 'grants') });
    const conn = await mysql.createConnection(server.url);
    try {
      await conn.query('CREATE DATABASE IF NOT EXISTS mlp_other');
      await assert.rejects(conn.query('CREATE DATABASE elsewhere'), /Access denied/);
      await assert.rejects(conn.query('SELECT * FROM mysql.user'), /denied/);
    } finally {
      await conn.end();
      await server.stop();
    }
  });

  it('refuses a second server on a folder in use, at once', async () => {
    const dir = join(root, 'busy');
    const server = await startMariaDb({ dir });
    try {
      await assert.rejects(
        startMariaDb({ dir }),
        /already using .*busy: stop it or pass another dir/,
      );
    } finally {
      await server.stop();
    }
  });

  it('says why when the port asked for is taken', async () => {
    const blocker = await listen();
    const address = blocker.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    try {
      await assert.rejects(
        startMariaDb({ dir: join(root, 'port'), port }),
        /did not start: exited with code \d+[\s\S]*(Bind on TCP\/IP port|Address already in use)/,
      );
    } finally {
      blocker.close();
    }
  });
});

function listen(): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}
