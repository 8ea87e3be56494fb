/**
 * What the MySQL and SQLite results stores share: the columns of each table,
 * how a record maps to a row and back, and the checks made before a write, so
 * both stores accept and return exactly the same things.
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

/** Newest run first, then row keys in order: a stable order for paging. */
export const PREDICTION_ORDER = 'scored_at DESC, run_id DESC, row_key ASC';
export const RUN_ORDER = 'started_at DESC, run_id DESC';
