/**
 * What the MySQL and SQLite results stores share: the columns of each table,
 * how a record maps to a row and back, the checks made before a write, and how
 * a page of predictions is cut from per-run counts, so both stores accept and
 * return exactly the same things.
 */
import { UserError } from '../../core/errors.js';
import type {
  PredictionBatch,
  PredictionQuery,
  RunRecord,
  StageRecord,
  StoredPrediction,
} from '../../core/ports.js';

export const RUNS_TABLE = 'mlpipeline_runs';
export const SCHEDULE_TABLE = 'mlpipeline_schedule';

/** Column widths, shared so both stores reject the same values. */
export const LIMITS = { pipeline: 128, runId: 128, modelVersion: 128, rowKey: 255, label: 255 };

export const PREDICTION_COLUMNS = [
  'pipeline',
  'run_id',
  'model_version',
  'row_key',
  'label',
  'probability',
  'probabilities',
  'scored_at',
] as const;

/** Runs still to finish; never pruned, and listed for recovery after a restart. */
export const UNFINISHED_PHASES = ['Pending', 'Running'] as const;

export interface RunRow {
  pipeline: string;
  run_id: string;
  trigger: string;
  scheduled_at: string | null;
  start_stage: string;
  phase: string;
  started_at: string;
  finished_at: string | null;
  model_version: string | null;
  message: string | null;
  stages: string;
}

export interface PredictionRowData {
  pipeline: string;
  run_id: string;
  model_version: string;
  row_key: string;
  label: string;
  probability: number;
  probabilities: string;
  scored_at: string;
}

/**
 * An instant as ISO 8601 UTC with milliseconds, the form both stores return.
 * `what` names the field in the error.
 */
export function isoUtc(value: string | Date, what: string): string {
  const date = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(date.getTime())) {
    throw new UserError(`${what}: "${String(value)}" is not a valid time`);
  }
  return date.toISOString();
}

/** ISO UTC to MySQL DATETIME(3) text (`2026-12-04 15:30:00.000`). */
export function toMysqlDateTime(iso: string): string {
  return iso.slice(0, 23).replace('T', ' ');
}

/** MySQL DATETIME text, read in a UTC session, back to ISO UTC. */
export function fromMysqlDateTime(text: string): string {
  const [date, time = '00:00:00'] = text.split(' ');
  const [hms, fraction = ''] = time.split('.');
  return `${date}T${hms}.${fraction.padEnd(3, '0').slice(0, 3)}Z`;
}

export function checkBatch(batch: PredictionBatch): void {
  checkText(batch.pipeline, 'pipeline', LIMITS.pipeline);
  checkText(batch.runId, 'runId', LIMITS.runId);
  checkText(batch.modelVersion, 'modelVersion', LIMITS.modelVersion);
  isoUtc(batch.scoredAt, 'scoredAt');
  for (let i = 0; i < batch.rows.length; i++) {
    const row = batch.rows[i]!;
    if (typeof row.rowKey !== 'string' || row.rowKey === '') {
      throw new UserError(`prediction ${i}: rowKey must be a non-empty string`);
    }
    if (typeof row.label !== 'string') {
      throw new UserError(`prediction ${i} (row ${row.rowKey}): label must be a string`);
    }
    // A database would store NaN or Infinity as 0 or reject it late; a model
    // that produced one is broken, and the row says which.
    if (typeof row.probability !== 'number' || !Number.isFinite(row.probability)) {
      throw new UserError(
        `prediction ${i} (row ${row.rowKey}): probability ${String(row.probability)} is not a finite number`,
      );
    }
  }
}

export function checkQuery(query: PredictionQuery): void {
  checkText(query.pipeline, 'pipeline', LIMITS.pipeline);
  checkCount(query.limit, 'limit');
  checkCount(query.offset, 'offset');
}

export function checkCount(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new UserError(`${what} must be a non-negative integer, not ${value}`);
  }
}

export function checkRun(run: RunRecord): void {
  checkText(run.pipeline, 'pipeline', LIMITS.pipeline);
  checkText(run.runId, 'runId', LIMITS.runId);
}

function checkText(value: unknown, what: string, max: number): void {
  if (typeof value !== 'string' || value === '') {
    throw new UserError(`${what} must be a non-empty string`);
  }
  if (value.length > max) throw new UserError(`${what} is longer than ${max} characters`);
}

/**
 * The row to store for a run; times as ISO UTC (the MySQL store converts them
 * to DATETIME text).
 */
export function runToRow(run: RunRecord): RunRow {
  return {
    pipeline: run.pipeline,
    run_id: run.runId,
    trigger: run.trigger,
    scheduled_at: run.scheduledAt === undefined ? null : isoUtc(run.scheduledAt, 'scheduledAt'),
    start_stage: run.startStage,
    phase: run.phase,
    started_at: isoUtc(run.startedAt, 'startedAt'),
    finished_at: run.finishedAt === undefined ? null : isoUtc(run.finishedAt, 'finishedAt'),
    model_version: run.modelVersion ?? null,
    message: run.message ?? null,
    stages: JSON.stringify(run.stages),
  };
}

/** The record a stored row stands for; times already ISO UTC. */
export function rowToRun(row: RunRow): RunRecord {
  const run: RunRecord = {
    pipeline: row.pipeline,
    runId: row.run_id,
    trigger: row.trigger as RunRecord['trigger'],
    startStage: row.start_stage as RunRecord['startStage'],
    phase: row.phase as RunRecord['phase'],
    startedAt: row.started_at,
    stages: JSON.parse(row.stages) as StageRecord[],
  };
  if (row.scheduled_at !== null) run.scheduledAt = row.scheduled_at;
  if (row.finished_at !== null) run.finishedAt = row.finished_at;
  if (row.model_version !== null) run.modelVersion = row.model_version;
  if (row.message !== null) run.message = row.message;
  return run;
}

export function rowToPrediction(row: PredictionRowData): StoredPrediction {
  return {
    pipeline: row.pipeline,
    runId: row.run_id,
    modelVersion: row.model_version,
    rowKey: row.row_key,
    label: row.label,
    probability: Number(row.probability),
    probabilities: JSON.parse(row.probabilities) as Record<string, number>,
    scoredAt: row.scored_at,
  };
}

/**
 * The WHERE clause shared by both stores' prediction queries; `?` placeholders
 * work in both drivers.
 */
export function predictionFilter(query: PredictionQuery): { where: string; params: string[] } {
  const clauses = ['pipeline = ?'];
  const params = [query.pipeline];
  if (query.runId !== undefined) {
    clauses.push('run_id = ?');
    params.push(query.runId);
  }
  if (query.label !== undefined) {
    clauses.push('label = ?');
    params.push(query.label);
  }
  if (query.modelVersion !== undefined) {
    clauses.push('model_version = ?');
    params.push(query.modelVersion);
  }
  return { where: clauses.join(' AND '), params };
}

/**
 * Pages list predictions newest run first, then by row key: a stable order
 * (scored_at DESC, run_id DESC, row_key ASC). Every row of a run shares its
 * scored_at and model version, so that is runs in this order, each run's rows
 * by row key.
 */
export const RUN_SLICE_ORDER = 'scored_at DESC, run_id DESC';

const COUNTS_SUFFIX = '__counts';

/**
 * The table beside a predictions table that holds, per pipeline, run and
 * label, how many rows the run stored. It is written in the transaction that
 * writes the rows, so the total for any filter is a sum over a few rows per
 * run instead of a count over every prediction.
 */
export function countsTable(table: string): string {
  const parts = table.split('.');
  const base = parts.pop()!;
  return [...parts, base.slice(0, 64 - COUNTS_SUFFIX.length) + COUNTS_SUFFIX].join('.');
}

export const COUNT_COLUMNS = [
  'pipeline',
  'run_id',
  'model_version',
  'label',
  'scored_at',
  'row_count',
] as const;

export interface LabelCount {
  label: string;
  rows: number;
}

/** How many rows of the batch carry each label, labels in first-seen order. */
export function labelCounts(batch: PredictionBatch): LabelCount[] {
  const counts = new Map<string, number>();
  for (const row of batch.rows) counts.set(row.label, (counts.get(row.label) ?? 0) + 1);
  return [...counts].map(([label, rows]) => ({ label, rows }));
}

/** A run's rows that match a filter, as the counts table tells them. */
export interface RunMatches {
  runId: string;
  /** As the store returns it, so it can be passed back as a parameter unchanged. */
  scoredAt: string;
  rowCount: number;
}

/**
 * Each run's count of rows matching the query, runs in RUN_SLICE_ORDER;
 * `counts` and `predictions` are quoted names, `index` forces the predictions
 * index on (pipeline, run_id, label) where the database needs telling. A label
 * whose rows are gone is left out: the README tells BI users to delete old
 * runs' rows with SQL, which the counts cannot see. What this cannot see is a
 * label's rows deleted only in part, or rows written by an earlier version
 * still running during an upgrade: that run's total stays off, and its pages
 * short, until the run is written again. Recounting a run whose slice comes
 * back short would repair the first.
 */
export function runMatchesQuery(
  counts: string,
  predictions: string,
  query: PredictionQuery,
  index = '',
): { sql: string; params: string[] } {
  const { where, params } = predictionFilter(query);
  const sql =
    `SELECT run_id AS runId, scored_at AS scoredAt, SUM(row_count) AS rowCount FROM ${counts} c ` +
    `WHERE ${where} AND EXISTS (SELECT 1 FROM ${predictions} p ${index}` +
    'WHERE p.pipeline = c.pipeline AND p.run_id = c.run_id AND p.label = c.label) ' +
    `GROUP BY scored_at, run_id ORDER BY ${RUN_SLICE_ORDER}`;
  return { sql, params };
}

/** The part of one run's matching rows, by row key, that falls on a page. */
export interface RunSlice {
  runId: string;
  scoredAt: string;
  skip: number;
  take: number;
}

/**
 * Which rows of which runs make up the page at offset: runs in
 * RUN_SLICE_ORDER, each with its count of matching rows, are walked until the
 * page is full. A page spans as few runs as it can, so a deep offset costs a
 * skip inside one run, never across all the rows before it.
 */
export function pageSlices(
  runs: Iterable<RunMatches>,
  offset: number,
  limit: number,
): { total: number; slices: RunSlice[] } {
  let total = 0;
  let skip = offset;
  let wanted = limit;
  const slices: RunSlice[] = [];
  for (const run of runs) {
    total += run.rowCount;
    if (wanted === 0 || run.rowCount === 0) continue;
    if (skip >= run.rowCount) {
      skip -= run.rowCount;
      continue;
    }
    const take = Math.min(run.rowCount - skip, wanted);
    slices.push({ runId: run.runId, scoredAt: run.scoredAt, skip, take });
    wanted -= take;
    skip = 0;
  }
  return { total, slices };
}
export const RUN_ORDER = 'started_at DESC, run_id DESC';
