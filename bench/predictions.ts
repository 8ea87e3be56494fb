/**
 * How fast predictions reach MySQL: row-by-row INSERTs, multi-row INSERTs, a
 * raw LOAD DATA LOCAL, and the results store's replacePredictions, all into
 * the same predictions table of a MariaDB started for the purpose.
 */
import { Readable } from 'node:stream';
import { pathToFileURL } from 'node:url';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import type { PredictionBatch, PredictionRow } from '../core/ports.js';
import { parseMysqlUrl } from '../jobs/adapters/mysql-config.js';
import { escapeInfileField, MysqlResultsStore } from '../jobs/adapters/mysql-results-store.js';
import { startMariaDb, testInfraDir } from '../test/infra/mariadb.js';

const TABLE = 'bench_predictions';
const ROWS = 100_000;
const ROW_BY_ROW_ROWS = 10_000;
const MULTI_ROW_SIZE = 1_000;
const REPEATS = 3;
const INFILE_CHUNK_BYTES = 64 * 1024;
const TARGET_RATIO = 0.8;

const COLUMNS =
  'pipeline, run_id, model_version, row_key, label, probability, probabilities, scored_at';
const LABELS = ['setosa', 'versicolor', 'virginica'];
const SCORED_AT = new Date('2026-12-04T15:30:00.000Z');
const SCORED_AT_SQL = '2026-12-04 15:30:00.000';

interface Figure {
  method: string;
  rows: number;
  seconds: number;
}

export async function benchPredictions(): Promise<string> {
  const server = await startMariaDb({ dir: testInfraDir('mariadb-bench') });
  const store = new MysqlResultsStore(parseMysqlUrl(server.url));
  let sql: Connection | undefined;
  try {
    sql = await mysql.createConnection(server.url);
    const db = sql;
    const [[version]] = await db.query<RowDataPacket[]>('SELECT VERSION() AS v');
    const rows = makeRows(ROWS);

    // The store creates the table as it is in production: the same columns
    // and indexes for every method.
    await store.replacePredictions(TABLE, batch('setup', []));

    const truncate = async () => {
      await db.query(`TRUNCATE TABLE ${TABLE}`);
    };
    // Each measurement starts from an empty table and times only the write.
    const timed = async (prepare: () => Promise<unknown>, write: () => Promise<unknown>) => {
      await truncate();
      await prepare();
      const started = performance.now();
      await write();
      return (performance.now() - started) / 1000;
    };
    const median = async (
      prepare: () => Promise<unknown>,
      write: (i: number) => Promise<unknown>,
    ) => {
      const times: number[] = [];
      for (let i = 0; i < REPEATS; i++) times.push(await timed(prepare, () => write(i)));
      return mid(times);
    };
    const nothing = () => Promise.resolve();

    const rowByRow: Figure = {
      method: '(a) one INSERT per row, one transaction',
      rows: ROW_BY_ROW_ROWS,
      seconds: await median(nothing, async (i) => {
        await db.beginTransaction();
        for (const row of rows.slice(0, ROW_BY_ROW_ROWS)) {
          await db.query(`INSERT INTO ${TABLE} (${COLUMNS}) VALUES (?)`, [values(`a${i}`, row)]);
        }
        await db.commit();
      }),
    };

    const multiRow: Figure = {
      method: `(b) multi-row INSERT, ${MULTI_ROW_SIZE.toLocaleString('en')} rows a statement, one transaction`,
      rows: ROWS,
      seconds: await median(nothing, async (i) => {
        await db.beginTransaction();
        for (let start = 0; start < ROWS; start += MULTI_ROW_SIZE) {
          const chunk = rows.slice(start, start + MULTI_ROW_SIZE).map((r) => values(`b${i}`, r));
          await db.query(`INSERT INTO ${TABLE} (${COLUMNS}) VALUES ?`, [chunk]);
        }
        await db.commit();
      }),
    };

    // (c) and (d) take turns, so that neither gets the warmer server.
    const rawTimes: number[] = [];
    const storeTimes: number[] = [];
    for (let i = 0; i < REPEATS; i++) {
      const file = infileBuffer(`c${i}`, rows);
      rawTimes.push(
        await timed(nothing, () =>
          db.query({
            sql:
              `LOAD DATA LOCAL INFILE 'bench.tsv' INTO TABLE ${TABLE} CHARACTER SET utf8mb4 ` +
              `FIELDS TERMINATED BY '\\t' ESCAPED BY '\\\\' LINES TERMINATED BY '\\n' (${COLUMNS})`,
            infileStreamFactory: () => Readable.from(chunks(file)),
          }),
        ),
      );
      storeTimes.push(
        await timed(nothing, () => store.replacePredictions(TABLE, batch(`d${i}`, rows))),
      );
    }
    const raw: Figure = {
      method: '(c) raw LOAD DATA LOCAL from a prepared Buffer stream',
      rows: ROWS,
      seconds: mid(rawTimes),
    };
    const ours: Figure = {
      method: '(d) replacePredictions (DELETE + LOAD DATA in one transaction)',
      rows: ROWS,
      seconds: mid(storeTimes),
    };

    // A rerun: the run's 100,000 rows exist and are all replaced.
    const rerun: Figure = {
      method: '(d) replacePredictions rerun, replacing 100,000 existing rows',
      rows: ROWS,
      seconds: await median(
        () => store.replacePredictions(TABLE, batch('rerun', rows)),
        () => store.replacePredictions(TABLE, batch('rerun', rows)),
      ),
    };

    const ratio = rate(ours) / rate(raw);
    const figures = [rowByRow, multiRow, raw, ours, rerun];
    return [
      '## Writing predictions to MySQL',
      '',
      `${String(version!.v)} on 127.0.0.1 (started by test/infra/mariadb.ts, default settings: ` +
        `InnoDB, flush at each commit). Table: the results store's predictions table (primary key ` +
        `plus three secondary indexes), emptied before each measurement; median of ${REPEATS}.`,
      '',
      '| method | rows | seconds | rows/s |',
      '|---|--:|--:|--:|',
      ...figures.map(
        (f) =>
          `| ${f.method} | ${f.rows.toLocaleString('en')} | ${f.seconds.toFixed(3)} | ${Math.round(rate(f)).toLocaleString('en')} |`,
      ),
      '',
      `(a) ran on ${ROW_BY_ROW_ROWS.toLocaleString('en')} rows; at that rate ${ROWS.toLocaleString('en')} ` +
        `rows take about ${(ROWS / rate(rowByRow)).toFixed(1)} s.`,
      '',
      `(d)/(c) = ${ratio.toFixed(2)} (target >= ${TARGET_RATIO}: ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'}).`,
      '',
    ].join('\n');
  } finally {
    await sql?.end();
    await store.close();
    await server.stop();
  }
}

function makeRows(n: number): PredictionRow[] {
  return Array.from({ length: n }, (_, i) => {
    const label = LABELS[i % LABELS.length]!;
    const p = 0.5 + (i % 500) / 1000;
    const rest = (1 - p) / 2;
    const probabilities = Object.fromEntries(LABELS.map((l) => [l, l === label ? p : rest]));
    return { rowKey: `row-${String(i).padStart(6, '0')}`, label, probability: p, probabilities };
  });
}

function batch(runId: string, rows: PredictionRow[]): PredictionBatch {
  return { pipeline: 'bench', runId, modelVersion: 'v1', scoredAt: SCORED_AT, rows };
}

function values(runId: string, row: PredictionRow): unknown[] {
  return [
    'bench',
    runId,
    'v1',
    row.rowKey,
    row.label,
    row.probability,
    JSON.stringify(row.probabilities),
    SCORED_AT_SQL,
  ];
}

/** The whole file, encoded before the clock starts: the baseline does no work per row. */
function infileBuffer(runId: string, rows: PredictionRow[]): Buffer {
  const lines = rows.map(
    (r) =>
      `bench\t${runId}\tv1\t${escapeInfileField(r.rowKey)}\t${escapeInfileField(r.label)}\t` +
      `${r.probability}\t${escapeInfileField(JSON.stringify(r.probabilities))}\t${SCORED_AT_SQL}\n`,
  );
  return Buffer.from(lines.join(''), 'utf8');
}

function* chunks(file: Buffer): Generator<Buffer> {
  for (let i = 0; i < file.length; i += INFILE_CHUNK_BYTES)
    yield file.subarray(i, i + INFILE_CHUNK_BYTES);
}

function rate(f: Figure): number {
  return f.rows / f.seconds;
}

function mid(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write((await benchPredictions()) + '\n');
}
