import type { PredictionQuery, RunRecord, StageName, StoredPrediction } from '../../core/ports.js';
import type { MLPipelineSpec } from '../../core/spec/types.generated.js';
import type { ModelDocument } from '../../jobs/model-version.js';

/**
 * What the HTTP API reads and does, whichever mode serves it: the run store and
 * scheduler in one container, or the Kubernetes API (a later backend).
 */
export interface PipelineService {
  readonly mode: 'standalone' | 'kubernetes';
  listPipelines(): Promise<PipelineSummary[]>;
  getPipeline(name: string): Promise<PipelineDetail>;
  listRuns(name: string, limit: number): Promise<RunRecord[]>;
  getRun(name: string, runId: string): Promise<RunRecord>;
  listModels(name: string): Promise<ModelSummary[]>;
  getModel(name: string, version: string): Promise<ModelDocument>;
  queryPredictions(
    name: string,
    query: Omit<PredictionQuery, 'pipeline'>,
  ): Promise<{ total: number; rows: StoredPrediction[] }>;
  predict(name: string, features: Record<string, number>, version?: string): Promise<PredictResult>;
  runNow(name: string): Promise<RunRecord>;
  /** Suspend (true) or resume (false) scheduled runs; returns the pipeline as it now reads. */
  setSuspended(name: string, suspended: boolean): Promise<PipelineSummary>;
  /** The log text of one stage of one run (the pod's log in Kubernetes). */
  stageLogs(name: string, runId: string, stage: StageName): Promise<string>;
  checkConnections(): Promise<ConnectionCheck[]>;
  /**
   * Calls the listener whenever something a view shows may have changed, so the
   * server can push it to browsers; returns the function that stops the calls.
   */
  subscribe(listener: (change: PipelineChange) => void): () => void;
}

/** A hint that a pipeline's runs, models or settings changed; views re-read what they show. */
export interface PipelineChange {
  pipeline: string;
  kind: 'pipeline' | 'run' | 'model';
  runId?: string;
}

export interface PipelineSummary {
  name: string;
  schedule: string;
  timeZone: string;
  suspended: boolean;
  nextRunAt?: string;
  lastRun?: {
    runId: string;
    phase: string;
    startedAt: string;
    finishedAt?: string;
    message?: string;
  };
  currentModel?: { version: string; accuracy: number; macroF1: number; promotedAt: string };
}

export interface PipelineDetail extends PipelineSummary {
  spec: MLPipelineSpec;
  modelStore: string;
  activeRuns: string[];
}

export interface ModelSummary {
  version: string;
  runId: string;
  trainedAt: string;
  algorithm: string;
  accuracy: number;
  macroF1: number;
  rows: { total: number; train: number; test: number };
  promoted: boolean;
  promotionReason: string;
  current: boolean;
}

export interface PredictResult {
  modelVersion: string;
  label: string;
  probability: number;
  probabilities: Record<string, number>;
}

export interface ConnectionCheck {
  name: string;
  target: string;
  ok: boolean;
  latencyMs: number;
  error?: string;
}

/** A failure with an HTTP status and a message meant for the user. */
export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}
