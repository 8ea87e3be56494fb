/**
 * The ports the stages and the scheduler talk through. Each has a remote adapter
 * (S3, MySQL) and an embedded one (a folder, SQLite), chosen by configuration.
 */

export const STAGES = ['collect', 'clean', 'train', 'predict'] as const;
export type StageName = (typeof STAGES)[number];

/** A value read from a source: DECIMAL and BIGINT stay strings so nothing is rounded. */
export type Cell = string | number | null;

/** Rows as read from a source, before cleaning. */
export interface RawTable {
  columns: string[];
  rows: Cell[][];
}

/** Objects under one pipeline's prefix: run artifacts and model versions. */
export interface ArtifactStore {
  /** Where the objects live, for status and logs (s3://bucket/prefix or a folder). */
  readonly location: string;
  put(key: string, body: Buffer | string): Promise<void>;
  /** The object's bytes, or undefined when there is none. */
  get(key: string): Promise<Buffer | undefined>;
  /** Keys (relative to the store) that start with prefix. */
  list(prefix: string): Promise<string[]>;
  /** Removes one object; removing one that is not there is not an error. */
  delete(key: string): Promise<void>;
  /** Throws with the underlying error when the store cannot be reached. */
  check(): Promise<void>;
}

export interface PredictionRow {
  rowKey: string;
  label: string;
  probability: number;
  /** Class name to probability; the values sum to 1. */
  probabilities: Record<string, number>;
}

export interface PredictionBatch {
  pipeline: string;
  runId: string;
  modelVersion: string;
  scoredAt: Date;
  rows: PredictionRow[];
}

export interface StoredPrediction extends PredictionRow {
  pipeline: string;
  runId: string;
  modelVersion: string;
  scoredAt: string;
}

export interface PredictionQuery {
  pipeline: string;
  runId?: string;
  label?: string;
  modelVersion?: string;
  limit: number;
  offset: number;
}

/** Replaced: stopped because a newer run started under concurrencyPolicy Replace. */
export type RunPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Skipped' | 'Replaced';
export type StagePhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed' | 'Skipped';
export type RunTrigger = 'schedule' | 'manual' | 'catch-up';

export interface StageRecord {
  stage: StageName;
  phase: StagePhase;
  startedAt?: string;
  finishedAt?: string;
  attempts: number;
  message?: string;
  /** Stage-specific figures (row counts, model version, metrics, rows written). */
  summary?: Record<string, unknown>;
}

export interface RunRecord {
  pipeline: string;
  runId: string;
  trigger: RunTrigger;
  /** The schedule slot in UTC, ISO 8601; absent for manual runs. */
  scheduledAt?: string;
  startStage: StageName;
  phase: RunPhase;
  startedAt: string;
  finishedAt?: string;
  modelVersion?: string;
  message?: string;
  stages: StageRecord[];
}

/**
 * The results database: predictions for BI tools, run history, and the
 * scheduler's memory. MySQL when configured, SQLite otherwise.
 */
export interface ResultsStore {
  readonly kind: 'mysql' | 'sqlite';
  /** Creates missing tables. Safe to call from several processes at once. */
  init(): Promise<void>;
  /**
   * Replaces every row of batch.runId in table with batch.rows, atomically: a
   * reader sees the old rows or the new ones, never a part, and a failure leaves
   * the old rows.
   */
  replacePredictions(table: string, batch: PredictionBatch): Promise<{ rowsWritten: number }>;
  queryPredictions(
    table: string,
    query: PredictionQuery,
  ): Promise<{ total: number; rows: StoredPrediction[] }>;
  /**
   * Records a new run unless one with the same pipeline and id exists. Returns
   * false when it existed: that is how two schedulers on one database never run
   * the same slot twice.
   */
  claimRun(run: RunRecord): Promise<boolean>;
  /** Overwrites a run's record (phase, stages, times, message). */
  saveRun(run: RunRecord): Promise<void>;
  getRun(pipeline: string, runId: string): Promise<RunRecord | undefined>;
  /** Newest first. */
  listRuns(pipeline: string, limit: number): Promise<RunRecord[]>;
  /** Runs of every pipeline still Running, for recovery after a restart. */
  listUnfinishedRuns(): Promise<RunRecord[]>;
  /** Keeps the newest `keep` runs of a pipeline. */
  pruneRuns(pipeline: string, keep: number): Promise<void>;
  /** The last schedule slot handled for a pipeline's schedule key, ISO 8601 UTC. */
  getLastScheduleTime(pipeline: string, scheduleKey: string): Promise<string | undefined>;
  setLastScheduleTime(pipeline: string, scheduleKey: string, at: string): Promise<void>;
  check(): Promise<void>;
  close(): Promise<void>;
}
