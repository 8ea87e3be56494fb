/**
 * The results database on MySQL or MariaDB: predictions that BI tools read,
 * run history and the scheduler's memory.
 */
import { Readable } from 'node:stream';
import type { PoolConnection, ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import { escape as sqlValue } from 'mysql2';
import { UserError } from '../../core/errors.js';
import type {
  PredictionBatch,
  PredictionQuery,
  ResultsStore,
  RunRecord,
  StoredPrediction,
} from '../../core/ports.js';
import type { MysqlConfig } from './mysql-config.js';
import { createMysqlPool, isConnectionError, isMysqlPool, type MysqlPool } from './mysql-pool.js';
import {
  checkBatch,
  checkCount,
  checkQuery,
  checkRun,
  COUNT_COLUMNS,
  countsTable,
  fromMysqlDateTime,
  isoUtc,
  labelCounts,
  LIMITS,
  PREDICTION_COLUMNS,
  pageSlices,
  RUN_ORDER,
  runMatchesQuery,
  RUNS_TABLE,
  rowToPrediction,
  rowToRun,
  runToRow,
  SCHEDULE_TABLE,
  toMysqlDateTime,
  UNFINISHED_PHASES,
  type PredictionRowData,
  type RunMatches,
  type RunRow,
  type RunSlice,
} from './results-records.js';
import { indexName, mysqlTable } from './sql-names.js';

export type BulkMethod = 'load-data' | 'insert';

export interface MysqlResultsStoreOptions {
  /** Pool size when the store opens its own pool from a config. */
  connectionLimit?: number;
  /**
   * `auto` (the default) loads with LOAD DATA LOCAL INFILE and falls back to
   * multi-row INSERTs when the server refuses it; `insert` never tries it.
   */
  bulkLoad?: 'auto' | 'insert';
}

// Server error numbers; mysql2 reports them as `errno`.
const ER_DUP_ENTRY = 1062;
const ER_NO_SUCH_TABLE = 1146;
const ER_DUP_KEYNAME = 1061;
// "Not allowed" for LOAD DATA LOCAL: MySQL 5.7 and older (1148), MySQL 8
// (3948), MariaDB 10.6 and later (4166).
const LOCAL_INFILE_REFUSED = new Set([1148, 3948, 4166]);

// LOAD DATA LOCAL sends the file in packets that must each fit the server's
// max_allowed_packet, whose smallest setting is 1 KiB.
const INFILE_CHUNK_BYTES = 64 * 1024;
// Room left in a packet for the command byte and what the driver adds.
const PACKET_HEADROOM_BYTES = 1024;
// Rows per DELETE when pruning, so an IN list never nears the packet limit.
const DELETE_CHUNK = 500;
/**
 * scored holds each run's row keys in order (an earlier version's
 * (pipeline, scored_at) does too: InnoDB appends the primary key's columns);
 * run_label holds them per label.
 */
const PAGING_INDEXES = {
  scored: 'pipeline, scored_at, run_id, row_key',
  run_label: 'pipeline, run_id, label, row_key',
};
// Label counts per INSERT; a run has as many as its model has classes.
const COUNTS_CHUNK = 500;

/** Text escaping for LOAD DATA's default format: tab-separated, backslash escapes. */
const INFILE_SPECIAL = /[\t\n\r\\\0]/;
const INFILE_ESCAPES: Record<string, string> = {
  '\t': '\\t',
  '\n': '\\n',
  '\r': '\\r',
  '\\': '\\\\',
  '\0': '\\0',
};

export function escapeInfileField(value: string): string {
  if (!INFILE_SPECIAL.test(value)) return value;
  return value.replace(/[\t\n\r\\\0]/g, (c) => INFILE_ESCAPES[c]!);
}

export class MysqlResultsStore implements ResultsStore {
  readonly kind = 'mysql';
  readonly #db: MysqlPool;
  /** Whether close() ends the pool: only when this store opened it. */
  readonly #ownsPool: boolean;
  readonly #bulkLoad: 'auto' | 'insert';
  /** Set once the server has refused LOAD DATA LOCAL, so later writes skip it. */
  #loadDataRefused = false;
  readonly #ensuredTables = new Map<string, Promise<void>>();
  readonly #ensuredPaging = new Map<string, Promise<void>>();

  /** Over a pool shared with other adapters, or a pool of its own opened from config. */
  constructor(db: MysqlPool | MysqlConfig, options: MysqlResultsStoreOptions = {}) {
    this.#ownsPool = !isMysqlPool(db);
    this.#db = isMysqlPool(db)
      ? db
      : createMysqlPool(db, { connectionLimit: options.connectionLimit });
    this.#bulkLoad = options.bulkLoad ?? 'auto';
  }

  async init(): Promise<void> {
    await this.#exec('create the run tables', async (conn) => {
      await conn.query(`
        CREATE TABLE IF NOT EXISTS ${mysqlTable(RUNS_TABLE)} (
          pipeline VARCHAR(${LIMITS.pipeline}) NOT NULL,
          run_id VARCHAR(${LIMITS.runId}) NOT NULL,
          \`trigger\` VARCHAR(16) NOT NULL,
          scheduled_at DATETIME(3) NULL,
          start_stage VARCHAR(16) NOT NULL,
          phase VARCHAR(16) NOT NULL,
          started_at DATETIME(3) NOT NULL,
          finished_at DATETIME(3) NULL,
          model_version VARCHAR(${LIMITS.modelVersion}) NULL,
          message TEXT NULL,
          stages MEDIUMTEXT NOT NULL,
          PRIMARY KEY (pipeline, run_id),
          KEY ${indexName(RUNS_TABLE, 'started')} (pipeline, started_at),
          KEY ${indexName(RUNS_TABLE, 'phase')} (phase)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
      await conn.query(`
        CREATE TABLE IF NOT EXISTS ${mysqlTable(SCHEDULE_TABLE)} (
          pipeline VARCHAR(${LIMITS.pipeline}) NOT NULL,
          schedule_key VARCHAR(128) NOT NULL,
          last_schedule_time DATETIME(3) NOT NULL,
          PRIMARY KEY (pipeline, schedule_key)
        ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
    });
  }

  /**
   * Deletes the run's rows and loads the new ones in one transaction. Returns
   * how the rows went in, which tells a slow write from a fast one.
   */
  async replacePredictions(
    table: string,
    batch: PredictionBatch,
  ): Promise<{ rowsWritten: number; method: BulkMethod }> {
    const quoted = mysqlTable(table);
    checkBatch(batch);
    await this.#ensurePredictionTable(table);

    const conn = await this.#db.connect();
    let method: BulkMethod = 'insert';
    try {
      const [[limits]] = await conn.query<RowDataPacket[]>(
        'SELECT @@max_allowed_packet AS maxPacket',
      );
      const maxPacket = Number(limits!.maxPacket);
      // No look at @@local_infile first: the client side can refuse too
      // (MySQL 8's local_infile checks), and only trying tells.
      const tryLoadData = this.#bulkLoad === 'auto' && !this.#loadDataRefused;

      await conn.beginTransaction();
      await conn.query(`DELETE FROM ${quoted} WHERE pipeline = ? AND run_id = ?`, [
        batch.pipeline,
        batch.runId,
      ]);
      if (batch.rows.length > 0) {
        method = tryLoadData ? await this.#loadData(conn, quoted, batch, maxPacket) : 'insert';
        if (method === 'insert') await this.#insertRows(conn, quoted, batch, maxPacket);
      }
      await writeCounts(conn, table, batch);
      await conn.commit();
      conn.release();
    } catch (err) {
      await rollbackOrDiscard(conn);
      const what = `write ${batch.rows.length} predictions of run ${batch.runId} to ${table}`;
      if (isConnectionError(err)) throw this.#db.describeError(err, what);
      throw new Error(`cannot ${what}: ${(err as Error).message}`, { cause: err });
    }
    return { rowsWritten: batch.rows.length, method };
  }

  async #loadData(
    conn: PoolConnection,
    quoted: string,
    batch: PredictionBatch,
    maxPacket: number,
  ): Promise<BulkMethod> {
    const chunkBytes = Math.max(
      512,
      Math.min(INFILE_CHUNK_BYTES, maxPacket - PACKET_HEADROOM_BYTES),
    );
    const sql =
      `LOAD DATA LOCAL INFILE 'predictions.tsv' INTO TABLE ${quoted} CHARACTER SET utf8mb4 ` +
      `FIELDS TERMINATED BY '\\t' ENCLOSED BY '' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' ` +
      `(${PREDICTION_COLUMNS.join(', ')})`;

    let result: ResultSetHeader;
    try {
      [result] = await conn.query<ResultSetHeader>({
        sql,
        infileStreamFactory: () => Readable.from(infileChunks(batch, chunkBytes)),
      });
    } catch (err) {
      const errno = (err as { errno?: number }).errno;
      if (errno !== undefined && LOCAL_INFILE_REFUSED.has(errno)) {
        // Refused before any row was read: the transaction and its DELETE
        // stand, and INSERTs do the rest.
        this.#loadDataRefused = true;
        return 'insert';
      }
      throw err;
    }

    // With LOCAL the server cannot stop the client mid-file, so a duplicate
    // key or a value that does not fit becomes a warning and a skipped or
    // altered row instead of an error. Either means the load is not what was
    // asked for.
    if (result.affectedRows !== batch.rows.length || result.warningStatus > 0) {
      throw new Error(
        `LOAD DATA stored ${result.affectedRows} of ${batch.rows.length} rows` +
          (await warningsOf(conn)),
      );
    }
    return 'load-data';
  }

  async #insertRows(
    conn: PoolConnection,
    quoted: string,
    batch: PredictionBatch,
    maxPacket: number,
  ): Promise<void> {
    // A statement over max_allowed_packet makes the server drop the
    // connection rather than return an error, so each one is sized to fit.
    const budget = maxPacket - PACKET_HEADROOM_BYTES;
    const head = `INSERT INTO ${quoted} (${PREDICTION_COLUMNS.join(', ')}) VALUES `;
    const headBytes = Buffer.byteLength(head);
    const common = [batch.pipeline, batch.runId, batch.modelVersion].map((v) => sqlValue(v));
    const scoredAt = sqlValue(toMysqlDateTime(isoUtc(batch.scoredAt, 'scoredAt')));

    let tuples: string[] = [];
    let bytes = headBytes;
    const flush = async () => {
      const [result] = await conn.query<ResultSetHeader>(head + tuples.join(','));
      if (result.affectedRows !== tuples.length || result.warningStatus > 0) {
        throw new Error(
          `INSERT stored ${result.affectedRows} of ${tuples.length} rows` +
            (await warningsOf(conn)),
        );
      }
      tuples = [];
      bytes = headBytes;
    };

    for (const row of batch.rows) {
      const tuple =
        `(${common[0]},${common[1]},${common[2]},${sqlValue(row.rowKey)},${sqlValue(row.label)},` +
        `${row.probability},${sqlValue(JSON.stringify(row.probabilities))},${scoredAt})`;
      const tupleBytes = Buffer.byteLength(tuple) + 1;
      if (headBytes + tupleBytes > budget) {
        throw new UserError(
          `prediction for row ${row.rowKey} is ${tupleBytes} bytes, more than the server's ` +
            `max_allowed_packet (${maxPacket}) allows in one statement`,
        );
      }
      if (bytes + tupleBytes > budget) await flush();
      tuples.push(tuple);
      bytes += tupleBytes;
    }
    if (tuples.length > 0) await flush();
  }

  async queryPredictions(
    table: string,
    query: PredictionQuery,
  ): Promise<{ total: number; rows: StoredPrediction[] }> {
    checkQuery(query);
    const matches = runMatchesQuery(
      mysqlTable(countsTable(table)),
      mysqlTable(table),
      query,
      `FORCE INDEX (\`${indexName(table, 'run_label')}\`) `,
    );

    return this.#exec(`read predictions from ${table}`, async (conn) => {
      try {
        await this.#ensurePaging(conn, table);
        // One snapshot for the counts and the rows, even while a run is
        // being replaced.
        await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
        try {
          const [runs] = await conn.query<RowDataPacket[]>(matches.sql, matches.params);
          const { total, slices } = pageSlices(
            runs.map((r) => ({ ...(r as RunMatches), rowCount: Number(r.rowCount) })),
            query.offset,
            query.limit,
          );
          const rows = await readSlices(conn, table, query, slices);
          return {
            total,
            rows: rows.map((row) =>
              rowToPrediction({ ...row, scored_at: fromMysqlDateTime(row.scored_at) }),
            ),
          };
        } finally {
          await conn.query('COMMIT');
        }
      } catch (err) {
        // Before the first predict run there is no table, and so no rows.
        if ((err as { errno?: number }).errno === ER_NO_SUCH_TABLE) return { total: 0, rows: [] };
        throw err;
      }
    });
  }

  /**
   * Once per process and table: the indexes paging forces, and the counts
   * table, filled from the rows when an earlier version wrote them. Readers
   * call it too, as the view may be the first to meet such a table; on a
   * large one the first request waits for the index to be built.
   */
  #ensurePaging(conn: PoolConnection, table: string): Promise<void> {
    let pending = this.#ensuredPaging.get(table);
    if (!pending) {
      pending = addPagingIndexes(conn, table).then(() => createCountsTable(conn, table));
      pending.catch(() => this.#ensuredPaging.delete(table));
      this.#ensuredPaging.set(table, pending);
    }
    return pending;
  }

  async claimRun(run: RunRecord): Promise<boolean> {
    checkRun(run);
    const row = toMysqlRunRow(run);
    const columns = Object.keys(row);
    return this.#exec(`claim run ${run.runId}`, async (conn) => {
      try {
        await conn.query(
          `INSERT INTO ${mysqlTable(RUNS_TABLE)} (${columns.map((c) => `\`${c}\``).join(', ')}) VALUES (?)`,
          [Object.values(row)],
        );
        return true;
      } catch (err) {
        if ((err as { errno?: number }).errno === ER_DUP_ENTRY) return false;
        throw err;
      }
    });
  }

  async saveRun(run: RunRecord): Promise<void> {
    checkRun(run);
    const row = toMysqlRunRow(run);
    const columns = Object.keys(row).map((c) => `\`${c}\``);
    const updates = columns
      .filter((c) => c !== '`pipeline`' && c !== '`run_id`')
      .map((c) => `${c} = VALUES(${c})`)
      .join(', ');
    await this.#exec(`save run ${run.runId}`, (conn) =>
      conn.query(
        `INSERT INTO ${mysqlTable(RUNS_TABLE)} (${columns.join(', ')}) VALUES (?) ` +
          `ON DUPLICATE KEY UPDATE ${updates}`,
        [Object.values(row)],
      ),
    );
  }

  async getRun(pipeline: string, runId: string): Promise<RunRecord | undefined> {
    const runs = await this.#selectRuns('WHERE pipeline = ? AND run_id = ?', [pipeline, runId]);
    return runs[0];
  }

  async listRuns(pipeline: string, limit: number): Promise<RunRecord[]> {
    checkCount(limit, 'limit');
    return await this.#selectRuns(`WHERE pipeline = ? ORDER BY ${RUN_ORDER} LIMIT ?`, [
      pipeline,
      limit,
    ]);
  }

  async listUnfinishedRuns(): Promise<RunRecord[]> {
    return await this.#selectRuns('WHERE phase IN (?) ORDER BY started_at, pipeline, run_id', [
      [...UNFINISHED_PHASES],
    ]);
  }

  async pruneRuns(pipeline: string, keep: number): Promise<void> {
    checkCount(keep, 'keep');
    await this.#exec(`prune runs of ${pipeline}`, async (conn) => {
      const [old] = await conn.query<RowDataPacket[]>(
        `SELECT run_id FROM ${mysqlTable(RUNS_TABLE)} WHERE pipeline = ? ` +
          `ORDER BY ${RUN_ORDER} LIMIT 18446744073709551615 OFFSET ?`,
        [pipeline, keep],
      );
      const ids = old.map((r) => r.run_id as string);
      for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
        await conn.query(
          `DELETE FROM ${mysqlTable(RUNS_TABLE)} WHERE pipeline = ? AND run_id IN (?) AND phase NOT IN (?)`,
          [pipeline, ids.slice(i, i + DELETE_CHUNK), [...UNFINISHED_PHASES]],
        );
      }
    });
  }

  async getLastScheduleTime(pipeline: string, scheduleKey: string): Promise<string | undefined> {
    return this.#exec('read the last schedule time', async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>(
        `SELECT last_schedule_time FROM ${mysqlTable(SCHEDULE_TABLE)} ` +
          'WHERE pipeline = ? AND schedule_key = ?',
        [pipeline, scheduleKey],
      );
      const at = rows[0]?.last_schedule_time as string | undefined;
      return at === undefined ? undefined : fromMysqlDateTime(at);
    });
  }

  async setLastScheduleTime(pipeline: string, scheduleKey: string, at: string): Promise<void> {
    const value = toMysqlDateTime(isoUtc(at, 'last schedule time'));
    await this.#exec('write the last schedule time', (conn) =>
      conn.query(
        `INSERT INTO ${mysqlTable(SCHEDULE_TABLE)} (pipeline, schedule_key, last_schedule_time) ` +
          'VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE last_schedule_time = VALUES(last_schedule_time)',
        [pipeline, scheduleKey, value],
      ),
    );
  }

  async check(): Promise<void> {
    await this.#exec('run a query', (conn) => conn.query('SELECT 1'));
  }

  async close(): Promise<void> {
    if (this.#ownsPool) await this.#db.end();
  }

  async #selectRuns(tail: string, params: unknown[]): Promise<RunRecord[]> {
    return this.#exec('read runs', async (conn) => {
      const [rows] = await conn.query<RowDataPacket[]>(
        `SELECT pipeline, run_id, \`trigger\`, scheduled_at, start_stage, phase, started_at, ` +
          `finished_at, model_version, message, stages FROM ${mysqlTable(RUNS_TABLE)} ${tail}`,
        params,
      );
      return rows.map((r) => rowToRun(fromMysqlRunRow(r as RunRow)));
    });
  }

  /** Creates a predictions table on first use, once per table and process. */
  #ensurePredictionTable(table: string): Promise<void> {
    let pending = this.#ensuredTables.get(table);
    if (!pending) {
      pending = this.#exec(`create table ${table}`, async (conn) => {
        await createPredictionTable(conn, table);
        await this.#ensurePaging(conn, table);
      });
      // A failure is not remembered: the next write tries again.
      pending.catch(() => this.#ensuredTables.delete(table));
      this.#ensuredTables.set(table, pending);
    }
    return pending;
  }

  /** Runs fn on a pooled connection; connection failures name the server. */
  async #exec<T>(doing: string, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
    const conn = await this.#db.connect();
    try {
      return await fn(conn);
    } catch (err) {
      throw this.#db.describeError(err, doing);
    } finally {
      conn.release();
    }
  }
}

async function createPredictionTable(conn: PoolConnection, table: string): Promise<void> {
  const quoted = mysqlTable(table);
  // Binary collation: row keys and labels compare exactly, as in SQLite, so
  // "A" and "a" are two keys. The primary key is what makes a rerun replace
  // its rows. scored holds a run's row keys in order, so paging skips inside
  // a run on the index alone; run_label does the same for one label; model
  // serves readers that compare model versions.
  await conn.query(`
    CREATE TABLE IF NOT EXISTS ${quoted} (
      pipeline VARCHAR(${LIMITS.pipeline}) NOT NULL,
      run_id VARCHAR(${LIMITS.runId}) NOT NULL,
      model_version VARCHAR(${LIMITS.modelVersion}) NOT NULL,
      row_key VARCHAR(${LIMITS.rowKey}) NOT NULL,
      label VARCHAR(${LIMITS.label}) NOT NULL,
      probability DOUBLE NOT NULL,
      probabilities MEDIUMTEXT NOT NULL,
      scored_at DATETIME(3) NOT NULL,
      PRIMARY KEY (pipeline, run_id, row_key),
      KEY ${indexName(table, 'scored')} (${PAGING_INDEXES.scored}),
      KEY ${indexName(table, 'run_label')} (${PAGING_INDEXES.run_label}),
      KEY ${indexName(table, 'model')} (pipeline, model_version)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);

  // An existing table of the same name may be another program's (the
  // predictions table of an older setup): say so rather than fail mid-load.
  const [columns] = await conn.query<RowDataPacket[]>(`SHOW COLUMNS FROM ${quoted}`);
  const present = new Set(columns.map((c) => String(c.Field).toLowerCase()));
  const missing = PREDICTION_COLUMNS.filter((c) => !present.has(c));
  if (missing.length > 0) {
    throw new UserError(
      `table ${table} exists without the columns ${missing.join(', ')}: ` +
        'it is not a predictions table; choose another sink table or drop it',
    );
  }
}

/**
 * The indexes paging reads keys from, by name (it forces them). A table
 * created by an earlier version lacks run_label; one created by another
 * program may lack both. MySQL has no CREATE INDEX IF NOT EXISTS; a second
 * process adding one at the same time is told the name exists, which is as
 * good.
 */
async function addPagingIndexes(conn: PoolConnection, table: string): Promise<void> {
  const quoted = mysqlTable(table);
  const [indexes] = await conn.query<RowDataPacket[]>(`SHOW INDEX FROM ${quoted}`);
  const present = new Set(indexes.map((i) => String(i.Key_name)));
  for (const [suffix, columns] of Object.entries(PAGING_INDEXES)) {
    const name = indexName(table, suffix);
    if (present.has(name)) continue;
    try {
      await conn.query(`ALTER TABLE ${quoted} ADD INDEX \`${name}\` (${columns})`);
    } catch (err) {
      if ((err as { errno?: number }).errno !== ER_DUP_KEYNAME) throw err;
    }
  }
}

async function createCountsTable(conn: PoolConnection, table: string): Promise<void> {
  const counts = mysqlTable(countsTable(table));
  const [created] = await conn.query<ResultSetHeader>(`
    CREATE TABLE IF NOT EXISTS ${counts} (
      pipeline VARCHAR(${LIMITS.pipeline}) NOT NULL,
      run_id VARCHAR(${LIMITS.runId}) NOT NULL,
      model_version VARCHAR(${LIMITS.modelVersion}) NOT NULL,
      label VARCHAR(${LIMITS.label}) NOT NULL,
      scored_at DATETIME(3) NOT NULL,
      row_count INT UNSIGNED NOT NULL,
      PRIMARY KEY (pipeline, run_id, label)
    ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin`);
  // "Already exists" comes back as a warning. Only the process that created
  // the table fills it from rows an earlier version wrote; IGNORE leaves the
  // counts of a run a new writer stored meanwhile.
  if (created.warningStatus > 0) return;
  try {
    await conn.query(
      `INSERT IGNORE INTO ${counts} (${COUNT_COLUMNS.join(', ')}) ` +
        'SELECT pipeline, run_id, MAX(model_version), label, MAX(scored_at), COUNT(*) ' +
        `FROM ${mysqlTable(table)} GROUP BY pipeline, run_id, label`,
    );
  } catch (err) {
    // No predictions table yet: nothing to count.
    if ((err as { errno?: number }).errno !== ER_NO_SUCH_TABLE) throw err;
  }
}

/** Replaces the run's counts, inside the transaction that replaces its rows. */
async function writeCounts(
  conn: PoolConnection,
  table: string,
  batch: PredictionBatch,
): Promise<void> {
  const counts = mysqlTable(countsTable(table));
  await conn.query(`DELETE FROM ${counts} WHERE pipeline = ? AND run_id = ?`, [
    batch.pipeline,
    batch.runId,
  ]);
  const scoredAt = toMysqlDateTime(isoUtc(batch.scoredAt, 'scoredAt'));
  const tuples = labelCounts(batch).map(({ label, rows }) => [
    batch.pipeline,
    batch.runId,
    batch.modelVersion,
    label,
    scoredAt,
    rows,
  ]);
  for (let i = 0; i < tuples.length; i += COUNTS_CHUNK) {
    await conn.query(`INSERT INTO ${counts} (${COUNT_COLUMNS.join(', ')}) VALUES ?`, [
      tuples.slice(i, i + COUNTS_CHUNK),
    ]);
  }
}

/**
 * The rows of a page, run slice by run slice in one statement: the keys
 * come from an index that holds them in row-key order (a deferred join), so
 * skipping deep into a run reads no row it does not return.
 */
async function readSlices(
  conn: PoolConnection,
  table: string,
  query: PredictionQuery,
  slices: RunSlice[],
): Promise<PredictionRowData[]> {
  if (slices.length === 0) return [];
  const quoted = mysqlTable(table);
  // The optimizer prefers the primary key, which orders a run's rows too but
  // reads whole rows to skip them; the narrow indexes skip several times
  // faster. The run's scoring time is what lets scored serve the unfiltered
  // case.
  const keys =
    query.label === undefined
      ? `FROM ${quoted} FORCE INDEX (\`${indexName(table, 'scored')}\`) ` +
        'WHERE pipeline = ? AND scored_at = ? AND run_id = ?'
      : `FROM ${quoted} FORCE INDEX (\`${indexName(table, 'run_label')}\`) ` +
        'WHERE pipeline = ? AND run_id = ? AND label = ?';
  const parts: string[] = [];
  const params: unknown[] = [];
  slices.forEach((s, i) => {
    parts.push(
      `(SELECT pipeline, run_id, row_key, ${i} AS part ${keys} ORDER BY row_key LIMIT ? OFFSET ?)`,
    );
    if (query.label === undefined) params.push(query.pipeline, s.scoredAt, s.runId);
    else params.push(query.pipeline, s.runId, query.label);
    params.push(s.take, s.skip);
  });
  const columns = PREDICTION_COLUMNS.map((c) => `p.${c}`).join(', ');
  const [rows] = await conn.query<RowDataPacket[]>(
    `SELECT ${columns} FROM ${quoted} p JOIN (${parts.join(' UNION ALL ')}) k ` +
      'ON p.pipeline = k.pipeline AND p.run_id = k.run_id AND p.row_key = k.row_key ' +
      'ORDER BY k.part, p.row_key',
    params,
  );
  return rows as PredictionRowData[];
}

/** The batch as LOAD DATA input, in Buffers of at most chunkBytes. */
function* infileChunks(batch: PredictionBatch, chunkBytes: number): Generator<Buffer> {
  const prefix =
    [batch.pipeline, batch.runId, batch.modelVersion].map(escapeInfileField).join('\t') + '\t';
  const suffix = '\t' + toMysqlDateTime(isoUtc(batch.scoredAt, 'scoredAt')) + '\n';

  // Text is gathered into one string per chunk and encoded once: far fewer
  // Buffers than one per row. Lines may straddle chunks; LOAD DATA reads the
  // packets as one stream.
  let text = '';
  for (const row of batch.rows) {
    text +=
      prefix +
      escapeInfileField(row.rowKey) +
      '\t' +
      escapeInfileField(row.label) +
      '\t' +
      String(row.probability) +
      '\t' +
      escapeInfileField(JSON.stringify(row.probabilities)) +
      suffix;
    if (text.length >= chunkBytes) {
      yield* slices(Buffer.from(text, 'utf8'), chunkBytes);
      text = '';
    }
  }
  if (text.length > 0) yield* slices(Buffer.from(text, 'utf8'), chunkBytes);
}

function* slices(buffer: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buffer.length; i += size) yield buffer.subarray(i, i + size);
}

async function warningsOf(conn: PoolConnection): Promise<string> {
  try {
    const [rows] = await conn.query<RowDataPacket[]>('SHOW WARNINGS LIMIT 5');
    if (rows.length === 0) return '';
    return ': ' + rows.map((w) => `${String(w.Message)} (${String(w.Code)})`).join('; ');
  } catch {
    return '';
  }
}

async function rollbackOrDiscard(conn: PoolConnection): Promise<void> {
  try {
    await conn.rollback();
    conn.release();
  } catch {
    // The connection is gone (killed or reset); the server has rolled the
    // transaction back with it. It must not return to the pool.
    conn.destroy();
  }
}

type MysqlRunRow = RunRow;

function toMysqlRunRow(run: RunRecord): MysqlRunRow {
  const row = runToRow(run);
  const dt = (v: string | null) => (v === null ? null : toMysqlDateTime(v));
  return {
    ...row,
    scheduled_at: dt(row.scheduled_at),
    started_at: toMysqlDateTime(row.started_at),
    finished_at: dt(row.finished_at),
  };
}

function fromMysqlRunRow(row: RunRow): RunRow {
  const dt = (v: string | null) => (v === null ? null : fromMysqlDateTime(v));
  return {
    ...row,
    scheduled_at: dt(row.scheduled_at),
    started_at: fromMysqlDateTime(row.started_at),
    finished_at: dt(row.finished_at),
  };
}
