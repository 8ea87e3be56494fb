import type { Logger } from '../../core/log.js';
import type { ArtifactStore, RawTable, ResultsStore, StageName } from '../../core/ports.js';
import type { Pipeline } from '../../core/spec/load.js';
import type { SourceSpec } from '../../core/spec/types.generated.js';

/** What a stage may touch: the same in a Job pod and in one container. */
export interface StageContext {
  pipeline: Pipeline;
  runId: string;
  /** The pipeline's model store: run artifacts and model versions. */
  artifacts: ArtifactStore;
  readSource(source: SourceSpec): Promise<RawTable>;
  /** Where predictions go: the sink's database and table. */
  predictionSink(): Promise<{ store: ResultsStore; table: string }>;
  log: Logger;
  now(): Date;
}

/** Figures a stage reports: row counts, model version, metrics, rows written. */
export type StageSummary = Record<string, unknown>;

export type StageFunction = (ctx: StageContext) => Promise<StageSummary>;

export type StageFunctions = Record<StageName, StageFunction>;
