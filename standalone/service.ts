import type { Logger } from '../core/log.js';
import type { RunRecord, StageName } from '../core/ports.js';
import type { Pipeline } from '../core/spec/load.js';
import { readCurrentPointer, type ModelDocument } from '../jobs/model-version.js';
import type { Runtime } from '../jobs/runtime.js';
import { modelSummaries, modelVersion, predictOne } from '../ui/server/models.js';
import {
  ApiError,
  type ConnectionCheck,
  type ModelSummary,
  type PipelineChange,
  type PipelineDetail,
  type PipelineService,
  type PipelineSummary,
  type PredictResult,
} from '../ui/server/service.js';
import type { ChangeFeed } from './change-feed.js';
import { RunRejectedError, UnknownPipelineError, type Scheduler } from './scheduler.js';
import type { StageLogBook } from './stage-logs.js';
import type { SuspendSwitch } from './suspension.js';

export interface StandaloneServiceOptions {
  pipelines: Pipeline[];
  runtime: Runtime;
  scheduler: Scheduler;
  log: Logger;
  changes: ChangeFeed;
  stageLogs: StageLogBook;
  suspension: SuspendSwitch;
}

/** The API's view of single-container mode: the run store, the model store, the scheduler. */
export class StandaloneService implements PipelineService {
  readonly mode = 'standalone' as const;
  private readonly pipelines: Pipeline[];
  private readonly runtime: Runtime;
  private readonly scheduler: Scheduler;
  private readonly log: Logger;
  readonly #options: StandaloneServiceOptions;

  constructor(options: StandaloneServiceOptions) {
    this.#options = options;
    this.pipelines = options.pipelines;
    this.runtime = options.runtime;
    this.scheduler = options.scheduler;
    this.log = options.log;
  }

  async listPipelines(): Promise<PipelineSummary[]> {
    return Promise.all(this.pipelines.map((p) => this.#summary(p)));
  }

  async getPipeline(name: string): Promise<PipelineDetail> {
    const pipeline = this.#pipeline(name);
    return {
      ...(await this.#summary(pipeline)),
      spec: pipeline.spec,
      modelStore: this.runtime.artifactsFor(pipeline).location,
      activeRuns: this.scheduler.activeRuns(name).map((r) => r.runId),
    };
  }

  listRuns(name: string, limit: number): Promise<RunRecord[]> {
    this.#pipeline(name);
    return this.runtime.results.listRuns(name, limit);
  }

  async getRun(name: string, runId: string): Promise<RunRecord> {
    this.#pipeline(name);
    const run = await this.runtime.results.getRun(name, runId);
    if (!run) throw new ApiError(404, `pipeline ${name} has no run ${runId}`);
    return run;
  }

  listModels(name: string): Promise<ModelSummary[]> {
    return modelSummaries(this.runtime.artifactsFor(this.#pipeline(name)));
  }

  getModel(name: string, version: string): Promise<ModelDocument> {
    return modelVersion(this.runtime.artifactsFor(this.#pipeline(name)), name, version);
  }

  async queryPredictions(
    name: string,
    query: { runId?: string; label?: string; modelVersion?: string; limit: number; offset: number },
  ) {
    const pipeline = this.#pipeline(name);
    const sink = await this.runtime.predictionSinkFor(pipeline);
    return sink.store.queryPredictions(sink.table, { pipeline: name, ...query });
  }

  predict(
    name: string,
    features: Record<string, number>,
    version?: string,
  ): Promise<PredictResult> {
    return predictOne(this.runtime.artifactsFor(this.#pipeline(name)), name, features, version);
  }

  async runNow(name: string): Promise<RunRecord> {
    try {
      return await this.scheduler.runNow(name);
    } catch (error) {
      if (error instanceof UnknownPipelineError) throw new ApiError(404, error.message);
      if (error instanceof RunRejectedError) throw new ApiError(409, error.message);
      throw error;
    }
  }

  async setSuspended(name: string, suspended: boolean): Promise<PipelineSummary> {
    const pipeline = this.#pipeline(name);
    await this.#options.suspension.set(pipeline, suspended);
    this.log.info(
      { pipeline: name, suspended },
      suspended ? 'pipeline suspended' : 'pipeline resumed',
    );
    this.#options.changes.publish({ pipeline: name, kind: 'pipeline' });
    return this.#summary(pipeline);
  }

  async stageLogs(name: string, runId: string, stage: StageName): Promise<string> {
    const pipeline = this.#pipeline(name);
    const text = await this.#options.stageLogs.read(
      runId,
      stage,
      this.runtime.artifactsFor(pipeline),
    );
    if (text !== undefined) return text;
    const run = await this.runtime.results.getRun(name, runId);
    if (!run) throw new ApiError(404, `pipeline ${name} has no run ${runId}`);
    // A stage that never started, or a run from before logs were kept, has none.
    return '';
  }

  checkConnections(): Promise<ConnectionCheck[]> {
    return this.runtime.checkConnections(this.pipelines);
  }

  subscribe(listener: (change: PipelineChange) => void): () => void {
    return this.#options.changes.subscribe(listener);
  }

  async #summary(pipeline: Pipeline): Promise<PipelineSummary> {
    const [runs, pointer] = await Promise.all([
      this.runtime.results.listRuns(pipeline.name, 1),
      readCurrentPointer(this.runtime.artifactsFor(pipeline)).catch((error: unknown) => {
        this.log.warn(
          { pipeline: pipeline.name, err: String(error) },
          'cannot read the current model',
        );
        return undefined;
      }),
    ]);
    const last = runs[0];
    const suspended = this.#options.suspension.isSuspended(pipeline);
    return {
      name: pipeline.name,
      schedule: pipeline.spec.schedule,
      timeZone: pipeline.spec.timeZone,
      suspended,
      nextRunAt: suspended ? undefined : this.scheduler.nextRunAt(pipeline.name)?.toISOString(),
      lastRun: last && {
        runId: last.runId,
        phase: last.phase,
        startedAt: last.startedAt,
        finishedAt: last.finishedAt,
        message: last.message,
      },
      currentModel: pointer && {
        version: pointer.version,
        accuracy: pointer.metrics.accuracy,
        macroF1: pointer.metrics.macroF1,
        promotedAt: pointer.promotedAt,
      },
    };
  }

  #pipeline(name: string): Pipeline {
    const pipeline = this.pipelines.find((p) => p.name === name);
    if (!pipeline) throw new ApiError(404, `no pipeline named "${name}"`);
    return pipeline;
  }
}
