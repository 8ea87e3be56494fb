/**
 * Whether the process that started a run is still alive, so a run left
 * "Running" by a process that was killed (SIGKILL, out of memory, a lost
 * host) can be marked as interrupted when single-container mode starts,
 * without touching a run another process is still working on.
 *
 * On MySQL, which several processes may share, a process holds a named lock
 * (GET_LOCK) for each run it works on, on a connection of its own; the
 * server frees the locks when the connection goes, so a free lock means the
 * run's process is gone. On the embedded SQLite database one process works
 * at a time, and every unfinished run at start-up was left by an earlier one.
 */
import { createHash } from 'node:crypto';

import type { PoolConnection } from 'mysql2/promise';

import type { RunRecord } from '../core/ports.js';
import type { MysqlConfig } from '../jobs/adapters/mysql-config.js';
import { createMysqlPool, type MysqlPool } from '../jobs/adapters/mysql-pool.js';

export interface RunLiveness {
  /** Marks run as worked on by this process until the returned function is called. */
  hold(run: RunRecord): Promise<() => Promise<void>>;
  /** Whether some process still works on run (false for runs of no living process). */
  isAlive(run: RunRecord): Promise<boolean>;
  close(): Promise<void>;
}

/** The embedded database: nothing runs but what this process starts. */
export function embeddedLiveness(): RunLiveness {
  const held = new Set<string>();
  return {
    hold(run) {
      const key = `${run.pipeline}/${run.runId}`;
      held.add(key);
      return Promise.resolve(() => {
        held.delete(key);
        return Promise.resolve();
      });
    },
    isAlive: (run) => Promise.resolve(held.has(`${run.pipeline}/${run.runId}`)),
    close: () => Promise.resolve(),
  };
}

/** MySQL's named locks, held on one connection of this process's own. */
export function mysqlLiveness(config: MysqlConfig): RunLiveness {
  const pool: MysqlPool = createMysqlPool(config, { connectionLimit: 2 });
  // Locks belong to a session: every hold goes through this one connection.
  let holder: Promise<PoolConnection> | undefined;
  const connection = () => (holder ??= pool.connect());
  return {
    async hold(run) {
      const name = lockName(run);
      const conn = await connection();
      await conn.query('SELECT GET_LOCK(?, 0)', [name]);
      return async () => {
        await conn.query('SELECT RELEASE_LOCK(?)', [name]);
      };
    },
    async isAlive(run) {
      const [rows] = await pool.pool.query('SELECT IS_FREE_LOCK(?) AS free', [lockName(run)]);
      return Number((rows as { free: unknown }[])[0]?.free) !== 1;
    },
    async close() {
      if (holder !== undefined) (await holder).release();
      await pool.end();
    },
  };
}

/** At most 64 characters, as MySQL allows, whatever the pipeline and run are called. */
function lockName(run: RunRecord): string {
  const digest = createHash('sha256').update(`${run.pipeline}/${run.runId}`).digest('hex');
  return `mlpipeline-run:${digest.slice(0, 48)}`;
}
