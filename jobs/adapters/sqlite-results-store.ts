/**
 * The embedded results database: one SQLite file, used when no MySQL is
 * configured. Same tables and behaviour as the MySQL store.
 */
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import Database from 'better-sqlite3';
import { UserError } from '../../core/errors.js';
import type {
  PredictionBatch,
  PredictionQuery,
  ResultsStore,
  RunRecord,
  StoredPrediction,
} from '../../core/ports.js';
import {
  checkBatch,
  checkCount,
  checkQuery,
  checkRun,
  COUNT_COLUMNS,
  countsTable,
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
  UNFINISHED_PHASES,
  type PredictionRowData,
  type RunMatches,
  type RunRow,
} from './results-records.js';
import { sqliteTable } from './sql-names.js';

export const SQLITE_FILE_NAME = 'results.sqlite';

export interface SqliteResultsStoreOptions {
  /** The database file; or dataDir, and the file is results.sqlite in it. */
  file?: string;
  dataDir?: string;
  /** How long a writer waits for another process's lock before failing. */
  busyTimeoutMs?: number;
}

const RUN_COLUMNS = [
  'pipeline',
  'run_id',
  'trigger',
  'scheduled_at',
  'start_stage',
  'phase',
  'started_at',
  'finished_at',
  'model_version',
  'message',
  'stages',
] as const;

const DELETE_CHUNK = 500;

export class SqliteResultsStore implements ResultsStore {
  readonly kind = 'sqlite';
  readonly file: string;
  readonly #db: Database.Database;
  readonly #ensuredTables = new Set<string>();

  /** A file path, or options naming the file or the data folder. */
  constructor(fileOrOptions: string | SqliteResultsStoreOptions) {
    const options = typeof fileOrOptions === 'string' ? { file: fileOrOptions } : fileOrOptions;
    const file =
      options.file ?? (options.dataDir ? join(options.dataDir, SQLITE_FILE_NAME) : undefined);
    if (!file) throw new UserError('SqliteResultsStore needs a file or a dataDir');
    mkdirSync(dirname(file), { recursive: true });
    this.file = file;
    // The busy timeout lets a second process (a stage, the UI) wait for the
    // lock instead of failing at once with SQLITE_BUSY.
    this.#db = new Database(file, { timeout: options.busyTimeoutMs ?? 10_000 });
    // WAL lets readers go on while a writer writes; NORMAL sync is durable
    // across a process crash, which is the failure that matters here.
    this.#db.pragma('journal_mode = WAL');
    this.#db.pragma('synchronous = NORMAL');
  }

  init(): Promise<void> {
    return settle(() => this.#createRunTables());
  }

  #createRunTables(): void {
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS ${sqliteTable(RUNS_TABLE)} (
        pipeline TEXT NOT NULL CHECK (length(pipeline) <= ${LIMITS.pipeline}),
        run_id TEXT NOT NULL CHECK (length(run_id) <= ${LIMITS.runId}),
        "trigger" TEXT NOT NULL,
        scheduled_at TEXT,
        start_stage TEXT NOT NULL,
        phase TEXT NOT NULL,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        model_version TEXT,
        message TEXT,
        stages TEXT NOT NULL,
        PRIMARY KEY (pipeline, run_id)
      );
      CREATE INDEX IF NOT EXISTS "${RUNS_TABLE}__started" ON ${sqliteTable(RUNS_TABLE)} (pipeline, started_at);
      CREATE INDEX IF NOT EXISTS "${RUNS_TABLE}__phase" ON ${sqliteTable(RUNS_TABLE)} (phase);
      CREATE TABLE IF NOT EXISTS ${sqliteTable(SCHEDULE_TABLE)} (
        pipeline TEXT NOT NULL,
        schedule_key TEXT NOT NULL,
        last_schedule_time TEXT NOT NULL,
        PRIMARY KEY (pipeline, schedule_key)
      );
    `);
  }

  replacePredictions(table: string, batch: PredictionBatch): Promise<{ rowsWritten: number }> {
    return settle(() => this.#replacePredictions(table, batch));
  }

  #replacePredictions(table: string, batch: PredictionBatch): { rowsWritten: number } {
    const quoted = sqliteTable(table);
    checkBatch(batch);
    this.#ensurePredictionTable(table);

    const counts = sqliteTable(countsTable(table));
    const scoredAt = isoUtc(batch.scoredAt, 'scoredAt');
    const remove = this.#db.prepare(`DELETE FROM ${quoted} WHERE pipeline = ? AND run_id = ?`);
    const removeCounts = this.#db.prepare(
      `DELETE FROM ${counts} WHERE pipeline = ? AND run_id = ?`,
    );
    const insert = this.#db.prepare(
      `INSERT INTO ${quoted} (${PREDICTION_COLUMNS.join(', ')}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const insertCount = this.#db.prepare(
      `INSERT INTO ${counts} (${COUNT_COLUMNS.join(', ')}) VALUES (?, ?, ?, ?, ?, ?)`,
    );
    const replace = this.#db.transaction(() => {
      remove.run(batch.pipeline, batch.runId);
      removeCounts.run(batch.pipeline, batch.runId);
      for (const { label, rows } of labelCounts(batch)) {
        insertCount.run(batch.pipeline, batch.runId, batch.modelVersion, label, scoredAt, rows);
      }
      for (const row of batch.rows) {
        insert.run(
          batch.pipeline,
          batch.runId,
          batch.modelVersion,
          row.rowKey,
          row.label,
          row.probability,
          JSON.stringify(row.probabilities),
          scoredAt,
        );
      }
    });

    try {
      // IMMEDIATE takes the write lock up front: a deferred transaction that
      // read first could fail to upgrade while another process writes.
      replace.immediate();
    } catch (err) {
      const what = `write ${batch.rows.length} predictions of run ${batch.runId} to ${table}`;
      throw new Error(`cannot ${what}: ${(err as Error).message}`, { cause: err });
    }
    return { rowsWritten: batch.rows.length };
  }

  queryPredictions(
    table: string,
    query: PredictionQuery,
  ): Promise<{ total: number; rows: StoredPrediction[] }> {
    return settle(() => this.#queryPredictions(table, query));
  }

  #queryPredictions(
    table: string,
    query: PredictionQuery,
  ): { total: number; rows: StoredPrediction[] } {
    const quoted = sqliteTable(table);
    checkQuery(query);
    if (!this.#tableExists(table)) return { total: 0, rows: [] };
    this.#ensurePredictionTable(table);

    const matches = runMatchesQuery(sqliteTable(countsTable(table)), quoted, query);
    const runs = this.#db.prepare(matches.sql);
    // Keys first, from an index that holds them in order, then the rows for
    // those keys only: skipping deep into a run reads no row it does not return.
    const label = query.label === undefined ? [] : [query.label];
    const sliceRows = this.#db.prepare(
      `SELECT ${PREDICTION_COLUMNS.join(', ')} FROM ${quoted} WHERE rowid IN (` +
        `SELECT rowid FROM ${quoted} WHERE pipeline = ? AND run_id = ?` +
        (label.length > 0 ? ' AND label = ?' : '') +
        ' ORDER BY row_key LIMIT ? OFFSET ?) ORDER BY row_key',
    );

    // One read transaction: the counts and the rows come from the same
    // snapshot, even while another process replaces a run.
    const read = this.#db.transaction(() => {
      const { total, slices } = pageSlices(
        runs.iterate(...matches.params) as IterableIterator<RunMatches>,
        query.offset,
        query.limit,
      );
      const rows = slices.flatMap(
        (s) =>
          sliceRows.all(query.pipeline, s.runId, ...label, s.take, s.skip) as PredictionRowData[],
      );
      return { total, rows: rows.map(rowToPrediction) };
    });
    return read.deferred();
  }

  claimRun(run: RunRecord): Promise<boolean> {
    return settle(() => {
      checkRun(run);
      const result = this.#db
        .prepare(
          `INSERT OR IGNORE INTO ${sqliteTable(RUNS_TABLE)} (${quotedRunColumns()}) ` +
            `VALUES (${RUN_COLUMNS.map(() => '?').join(', ')})`,
        )
        .run(...runValues(runToRow(run)));
      return result.changes === 1;
    });
  }

  saveRun(run: RunRecord): Promise<void> {
    return settle(() => {
      checkRun(run);
      const updates = RUN_COLUMNS.filter((c) => c !== 'pipeline' && c !== 'run_id')
        .map((c) => `"${c}" = excluded."${c}"`)
        .join(', ');
      this.#db
        .prepare(
          `INSERT INTO ${sqliteTable(RUNS_TABLE)} (${quotedRunColumns()}) ` +
            `VALUES (${RUN_COLUMNS.map(() => '?').join(', ')}) ` +
            `ON CONFLICT (pipeline, run_id) DO UPDATE SET ${updates}`,
        )
        .run(...runValues(runToRow(run)));
    });
  }

  getRun(pipeline: string, runId: string): Promise<RunRecord | undefined> {
    return settle(
      () => this.#selectRuns('WHERE pipeline = ? AND run_id = ?', [pipeline, runId])[0],
    );
  }

  listRuns(pipeline: string, limit: number): Promise<RunRecord[]> {
    return settle(() => {
      checkCount(limit, 'limit');
      return this.#selectRuns(`WHERE pipeline = ? ORDER BY ${RUN_ORDER} LIMIT ?`, [
        pipeline,
        limit,
      ]);
    });
  }

  listUnfinishedRuns(): Promise<RunRecord[]> {
    const marks = UNFINISHED_PHASES.map(() => '?').join(', ');
    return settle(() =>
      this.#selectRuns(`WHERE phase IN (${marks}) ORDER BY started_at, pipeline, run_id`, [
        ...UNFINISHED_PHASES,
      ]),
    );
  }

  pruneRuns(pipeline: string, keep: number): Promise<void> {
    return settle(() => {
      checkCount(keep, 'keep');
      const runs = sqliteTable(RUNS_TABLE);
      const phases = UNFINISHED_PHASES.map(() => '?').join(', ');
      this.#db
        .transaction(() => {
          const ids = this.#db
            .prepare(
              `SELECT run_id FROM ${runs} WHERE pipeline = ? ORDER BY ${RUN_ORDER} LIMIT -1 OFFSET ?`,
            )
            .pluck()
            .all(pipeline, keep) as string[];
          for (let i = 0; i < ids.length; i += DELETE_CHUNK) {
            const chunk = ids.slice(i, i + DELETE_CHUNK);
            this.#db
              .prepare(
                `DELETE FROM ${runs} WHERE pipeline = ? ` +
                  `AND run_id IN (${chunk.map(() => '?').join(', ')}) AND phase NOT IN (${phases})`,
              )
              .run(pipeline, ...chunk, ...UNFINISHED_PHASES);
          }
        })
        .immediate();
    });
  }

  getLastScheduleTime(pipeline: string, scheduleKey: string): Promise<string | undefined> {
    return settle(
      () =>
        this.#db
          .prepare(
            `SELECT last_schedule_time FROM ${sqliteTable(SCHEDULE_TABLE)} ` +
              'WHERE pipeline = ? AND schedule_key = ?',
          )
          .pluck()
          .get(pipeline, scheduleKey) as string | undefined,
    );
  }

  setLastScheduleTime(pipeline: string, scheduleKey: string, at: string): Promise<void> {
    return settle(() => {
      this.#db
        .prepare(
          `INSERT INTO ${sqliteTable(SCHEDULE_TABLE)} (pipeline, schedule_key, last_schedule_time) ` +
            'VALUES (?, ?, ?) ON CONFLICT (pipeline, schedule_key) ' +
            'DO UPDATE SET last_schedule_time = excluded.last_schedule_time',
        )
        .run(pipeline, scheduleKey, isoUtc(at, 'last schedule time'));
    });
  }

  check(): Promise<void> {
    return settle(() => {
      this.#db.prepare('SELECT 1').get();
    });
  }

  close(): Promise<void> {
    return settle(() => {
      this.#db.close();
    });
  }

  #selectRuns(tail: string, params: unknown[]): RunRecord[] {
    const rows = this.#db
      .prepare(`SELECT ${quotedRunColumns()} FROM ${sqliteTable(RUNS_TABLE)} ${tail}`)
      .all(...params) as RunRow[];
    return rows.map(rowToRun);
  }

  #tableExists(table: string): boolean {
    if (this.#ensuredTables.has(table)) return true;
    const found = this.#db
      .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?")
      .get(table);
    return found !== undefined;
  }

  #ensurePredictionTable(table: string): void {
    if (this.#ensuredTables.has(table)) return;
    // IMMEDIATE: two processes meeting a table from an earlier version must
    // not both fill its counts.
    this.#db.transaction(() => this.#createPredictionTables(table)).immediate();
    this.#ensuredTables.add(table);
  }

  #createPredictionTables(table: string): void {
    const quoted = sqliteTable(table);
    const counts = sqliteTable(countsTable(table));
    const hadCounts = this.#tableExists(countsTable(table));
    // CHECKs give SQLite, which stores any length, the column widths MySQL
    // enforces, so a value is rejected by both stores or by neither. The
    // primary key serves paging inside a run, run_label paging a run's rows
    // of one label; scored and model serve readers that filter by time or
    // model.
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS ${quoted} (
        pipeline TEXT NOT NULL CHECK (length(pipeline) <= ${LIMITS.pipeline}),
        run_id TEXT NOT NULL CHECK (length(run_id) <= ${LIMITS.runId}),
        model_version TEXT NOT NULL CHECK (length(model_version) <= ${LIMITS.modelVersion}),
        row_key TEXT NOT NULL CHECK (length(row_key) <= ${LIMITS.rowKey}),
        label TEXT NOT NULL CHECK (length(label) <= ${LIMITS.label}),
        probability REAL NOT NULL,
        probabilities TEXT NOT NULL,
        scored_at TEXT NOT NULL,
        PRIMARY KEY (pipeline, run_id, row_key)
      );
    `);
    const present = new Set(
      (
        this.#db.prepare(`SELECT name FROM pragma_table_info(?)`).pluck().all(table) as string[]
      ).map((c) => c.toLowerCase()),
    );
    const missing = PREDICTION_COLUMNS.filter((c) => !present.has(c));
    if (missing.length > 0) {
      throw new UserError(
        `table ${table} exists without the columns ${missing.join(', ')}: ` +
          'it is not a predictions table; choose another sink table or drop it',
      );
    }

    this.#db.exec(`
      CREATE INDEX IF NOT EXISTS "${table}__scored" ON ${quoted} (pipeline, scored_at);
      CREATE INDEX IF NOT EXISTS "${table}__run_label" ON ${quoted} (pipeline, run_id, label, row_key);
      CREATE INDEX IF NOT EXISTS "${table}__model" ON ${quoted} (pipeline, model_version);
      CREATE TABLE IF NOT EXISTS ${counts} (
        pipeline TEXT NOT NULL,
        run_id TEXT NOT NULL,
        model_version TEXT NOT NULL,
        label TEXT NOT NULL,
        scored_at TEXT NOT NULL,
        row_count INTEGER NOT NULL,
        PRIMARY KEY (pipeline, run_id, label)
      );
    `);
    // A table written by an earlier version has rows but no counts yet.
    if (!hadCounts) {
      this.#db.exec(
        `INSERT INTO ${counts} (${COUNT_COLUMNS.join(', ')}) ` +
          'SELECT pipeline, run_id, MAX(model_version), label, MAX(scored_at), COUNT(*) ' +
          `FROM ${quoted} GROUP BY pipeline, run_id, label`,
      );
    }
  }
}

/**
 * better-sqlite3 is synchronous; the port is not. A throw becomes a rejected
 * promise, as it would be from the MySQL store, so callers handle one shape.
 */
function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

function quotedRunColumns(): string {
  return RUN_COLUMNS.map((c) => `"${c}"`).join(', ');
}

function runValues(row: RunRow): unknown[] {
  return RUN_COLUMNS.map((c) => row[c]);
}
