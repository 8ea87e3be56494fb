import type { Logger } from '../core/log.js';
import type { RunRecord, StageName } from '../core/ports.js';
import type { Pipeline } from '../core/spec/load.js';
import {
  listModelVersions,
  readCurrentPointer,
  readModel,
  scoreWithModel,
  type ModelDocument,
} from '../jobs/model-version.js';
import type { Runtime } from '../jobs/runtime.js';
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

  async listModels(name: string): Promise<ModelSummary[]> {
    const store = this.runtime.artifactsFor(this.#pipeline(name));
    const [versions, pointer] = await Promise.all([
      listModelVersions(store),
      readCurrentPointer(store),
    ]);
    const docs = await Promise.all(versions.map((v) => readModel(store, v)));
    return docs
      .filter((d): d is ModelDocument => d !== undefined)
      .map((d) => ({
        version: d.version,
        runId: d.runId,
        trainedAt: d.trainedAt,
        algorithm: d.algorithm,
        accuracy: d.metrics.accuracy,
        macroF1: d.metrics.macroF1,
        rows: d.rows,
        promoted: d.promotion.promoted,
        promotionReason: d.promotion.reason,
        current: pointer?.version === d.version,
      }));
  }

  async getModel(name: string, version: string): Promise<ModelDocument> {
    const doc = await readModel(this.runtime.artifactsFor(this.#pipeline(name)), version);
    if (!doc) throw new ApiError(404, `pipeline ${name} has no model version ${version}`);
    return doc;
  }

  async queryPredictions(
    name: string,
    query: { runId?: string; label?: string; modelVersion?: string; limit: number; offset: number },
  ) {
    const pipeline = this.#pipeline(name);
    const sink = await this.runtime.predictionSinkFor(pipeline);
    return sink.store.queryPredictions(sink.table, { pipeline: name, ...query });
  }

  async predict(
    name: string,
    features: Record<string, number>,
    version?: string,
  ): Promise<PredictResult> {
    const store = this.runtime.artifactsFor(this.#pipeline(name));
    const chosen = version ?? (await readCurrentPointer(store))?.version;
    if (!chosen)
      throw new ApiError(
        409,
        `pipeline ${name} has no promoted model yet; wait for a run to train one`,
      );
    const model = await readModel(store, chosen);
    if (!model) throw new ApiError(404, `pipeline ${name} has no model version ${chosen}`);

    const missing = model.features.filter((f) => features[f] === undefined);
    if (missing.length > 0) throw new ApiError(400, `features: missing ${missing.join(', ')}`);
    const unknown = Object.keys(features).filter((f) => !model.features.includes(f));
    if (unknown.length > 0) {
      throw new ApiError(
        400,
        `features: ${unknown.join(', ')} not used by model ${model.version} (it uses ${model.features.join(', ')})`,
      );
    }
    const proba = scoreWithModel(model, {
      data: Float64Array.from(model.features.map((f) => features[f]!)),
      rows: 1,
      cols: model.features.length,
    });
    if (!proba.every(Number.isFinite)) {
      throw new ApiError(
        400,
        `features: the values are too far outside what model ${model.version} was trained on to score`,
      );
    }
    const probabilities = Object.fromEntries(model.classes.map((c, i) => [c, proba[i]!]));
    const best = model.classes.reduce((a, c) => (probabilities[c]! > probabilities[a]! ? c : a));
    return {
      modelVersion: model.version,
      label: best,
      probability: probabilities[best]!,
      probabilities,
    };
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
