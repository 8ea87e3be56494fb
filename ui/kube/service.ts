/**
 * The API's view of a cluster: MLPipelines and their status from the API
 * server, stage logs from the stage pods, models from each pipeline's S3
 * model store and predictions from its sink database, read with the code the
 * stages write them with. Actions are what a user of kubectl would do: run
 * now is the run-now annotation the controller honours, suspend and resume a
 * merge patch of spec.suspend.
 */
import type { V1Pod } from '@kubernetes/client-node';

import { STAGE_CONTAINER, type ControllerSettings } from '../../controller/desired.js';
import type { MLPipelineResource } from '../../controller/kube.js';
import { s3Location } from '../../controller/model-reader.js';
import {
  ANNOTATION_RUN_NOW,
  LABEL_PIPELINE,
  LABEL_RUN_ID,
  LABEL_STAGE,
} from '../../controller/names.js';
import { secretEnvPrefix, type DeploymentConfig } from '../../core/config.js';
import { messageOf, UserError } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type {
  ArtifactStore,
  PredictionQuery,
  ResultsStore,
  RunRecord,
  StageName,
  StoredPrediction,
} from '../../core/ports.js';
import type { MLPipelineSpec } from '../../core/spec/types.generated.js';
import type { ModelDocument } from '../../jobs/model-version.js';
import {
  ApiError,
  type ConnectionCheck,
  type ModelSummary,
  type PipelineChange,
  type PipelineDetail,
  type PipelineService,
  type PipelineSummary,
  type PredictResult,
} from '../server/service.js';
import type { PipelineCluster } from './cluster.js';
import { modelSummaries, modelVersion, predictOne } from '../server/models.js';
import { readRunFigures, type RunFigures } from './stage-figures.js';
import {
  activeRunIds,
  pipelineSummary,
  requestedRun,
  runNowRefusal,
  runRecords,
  withStageFigures,
} from './views.js';

/** Finished runs whose figures are kept: a few pipelines' worth of history. */
const MAX_CACHED_RUNS = 2000;

/** Readings of a pipeline a run-now request tries while the controller keeps writing its status. */
const RUN_NOW_ATTEMPTS = 3;

/** A stage's log is shown whole up to this size; the end of a longer one is cut. */
export const MAX_LOG_BYTES = 1024 * 1024;

export interface KubernetesServiceOptions {
  cluster: PipelineCluster;
  /** The deployment's store and database settings, from the environment (core/config.ts). */
  config: DeploymentConfig;
  /** The deployment's results database: the default sink of predictions. */
  results: ResultsStore;
  /** The database a prediction sink writes to (jobs/runtime.ts: by its Secret's variables). */
  predictionSinkFor(pipeline: {
    name: string;
    spec: MLPipelineSpec;
  }): Promise<{ store: ResultsStore; table: string }>;
  /** The S3 store at a location; the service keeps one per location. */
  openStore(location: NonNullable<ReturnType<typeof s3Location>>): ArtifactStore & {
    close(): void;
  };
  subscribe(listener: (change: PipelineChange) => void): () => void;
  log: Logger;
  now?: () => Date;
}

export class KubernetesPipelineService implements PipelineService {
  readonly mode = 'kubernetes' as const;
  readonly #options: KubernetesServiceOptions;
  readonly #stores = new Map<string, ArtifactStore & { close(): void }>();
  /** Figures of finished runs, by model store and run id. */
  readonly #figures = new Map<string, RunFigures>();
  readonly #now: () => Date;

  constructor(options: KubernetesServiceOptions) {
    this.#options = options;
    this.#now = options.now ?? (() => new Date());
  }

  async listPipelines(): Promise<PipelineSummary[]> {
    const resources = await this.#options.cluster.listPipelines();
    return resources.map(pipelineSummary).sort((a, b) => a.name.localeCompare(b.name));
  }

  async getPipeline(name: string): Promise<PipelineDetail> {
    const resource = await this.#resource(name);
    return {
      ...pipelineSummary(resource),
      spec: resource.spec,
      modelStore: this.#storeOf(resource)?.location ?? 'none: no S3 model store is set',
      activeRuns: activeRunIds(resource),
    };
  }

  async listRuns(name: string, limit: number): Promise<RunRecord[]> {
    const resource = await this.#resource(name);
    const jobs = await this.#options.cluster.listJobs(`${LABEL_PIPELINE}=${name}`);
    const runs = runRecords(resource, jobs).slice(0, limit);
    return Promise.all(runs.map((run) => this.#withFigures(resource, run)));
  }

  async getRun(name: string, runId: string): Promise<RunRecord> {
    const resource = await this.#resource(name);
    const jobs = await this.#options.cluster.listJobs(
      `${LABEL_PIPELINE}=${name},${LABEL_RUN_ID}=${runId}`,
    );
    const run = runRecords(resource, jobs).find((r) => r.runId === runId);
    if (!run) throw new ApiError(404, `pipeline ${name} has no run ${runId} in its recent runs`);
    return this.#withFigures(resource, run);
  }

  async listModels(name: string): Promise<ModelSummary[]> {
    return modelSummaries(this.#requireStore(await this.#resource(name)));
  }

  async getModel(name: string, version: string): Promise<ModelDocument> {
    return modelVersion(this.#requireStore(await this.#resource(name)), name, version);
  }

  async queryPredictions(
    name: string,
    query: Omit<PredictionQuery, 'pipeline'>,
  ): Promise<{ total: number; rows: StoredPrediction[] }> {
    const resource = await this.#resource(name);
    const sink = await this.#sink(resource);
    return sink.store.queryPredictions(sink.table, { pipeline: name, ...query });
  }

  async predict(
    name: string,
    features: Record<string, number>,
    version?: string,
  ): Promise<PredictResult> {
    const store = this.#requireStore(await this.#resource(name));
    return predictOne(store, name, features, version);
  }

  /**
   * Sets the run-now annotation, with the resourceVersion read, so that a
   * request is never lost: of two presses at once one wins and the other is
   * refused, and a request the controller has not acted on yet is not
   * overwritten, since its run would then never start. A conflict with a
   * status write of the controller's is tried again on a fresh reading.
   */
  async runNow(name: string): Promise<RunRecord> {
    for (let attempt = 1; ; attempt++) {
      const resource = await this.#resource(name);
      const refusal = runNowRefusal(resource);
      if (refusal !== undefined) throw new ApiError(409, refusal);

      const value = this.#now().toISOString();
      let patched: MLPipelineResource;
      try {
        patched = await this.#patch(name, {
          metadata: {
            resourceVersion: resource.metadata.resourceVersion,
            annotations: { [ANNOTATION_RUN_NOW]: value },
          },
        });
      } catch (error) {
        if (error instanceof ApiError && error.status === 409 && attempt < RUN_NOW_ATTEMPTS)
          continue;
        throw error;
      }
      const run = requestedRun(patched);
      if (run === undefined) throw new Error(`the run-now annotation "${value}" names no run`);
      this.#options.log.info({ pipeline: name, run: run.runId }, 'run requested');
      return run;
    }
  }

  async setSuspended(name: string, suspended: boolean): Promise<PipelineSummary> {
    const patched = await this.#patch(name, { spec: { suspend: suspended } });
    this.#options.log.info({ pipeline: name, suspended }, suspended ? 'suspended' : 'resumed');
    return pipelineSummary(patched);
  }

  /**
   * The stage container's log of every pod the stage's Job started, oldest
   * first, each under a heading when there were retries.
   */
  async stageLogs(name: string, runId: string, stage: StageName): Promise<string> {
    await this.#resource(name);
    const { cluster } = this.#options;
    const pods = await cluster.listPods(
      `${LABEL_PIPELINE}=${name},${LABEL_RUN_ID}=${runId},${LABEL_STAGE}=${stage}`,
    );
    if (pods.length === 0) {
      throw new ApiError(
        404,
        `stage ${stage} of run ${runId} has no pod: it has not started, or its Job was removed with old runs`,
      );
    }
    const ordered = [...pods].sort((a, b) => createdAt(a) - createdAt(b));
    const logs = await Promise.all(
      ordered.map((pod) =>
        cluster.podLog(pod.metadata?.name ?? '', STAGE_CONTAINER, MAX_LOG_BYTES),
      ),
    );
    if (logs.length === 1) return logs[0]!;
    return ordered
      .map((pod, i) => `--- attempt ${i + 1}: pod ${pod.metadata?.name ?? '?'} ---\n${logs[i]!}`)
      .join('\n');
  }

  /**
   * The API server (listing this namespace's MLPipelines, as every view
   * does), the deployment's database, and each pipeline's model store and
   * prediction database, each with its latency and the exact error.
   */
  async checkConnections(): Promise<ConnectionCheck[]> {
    const { cluster, config, results } = this.#options;
    const checks: { name: string; target: string; run: () => Promise<unknown> }[] = [];
    let pipelines: MLPipelineResource[] = [];
    checks.push({
      name: 'Kubernetes API',
      target: `${cluster.server} (namespace ${cluster.namespace})`,
      run: async () => (pipelines = await cluster.listPipelines()),
    });
    const outcomes = [await timed(checks[0]!)];

    const more: typeof checks = [];
    if (config.mysqlEnvPrefix !== undefined) {
      more.push({ name: 'results database', target: 'MYSQL_*', run: () => results.check() });
    }
    const sinks = new Set<string>();
    for (const resource of pipelines) {
      const name = resource.metadata.name ?? '';
      const store = this.#storeOf(resource);
      more.push({
        name: `model store of ${name}`,
        target: store?.location ?? 'none',
        run: () => (store ?? this.#requireStore(resource)).check(),
      });
      const secret = resource.spec.predict.sink?.mysql?.connectionSecretRef?.name;
      if (secret !== undefined && !sinks.has(secret)) {
        sinks.add(secret);
        more.push({
          name: `prediction database ${secret}`,
          target: `${secretEnvPrefix(secret)}_*`,
          run: async () => (await this.#sink(resource)).store.check(),
        });
      }
    }
    outcomes.push(...(await Promise.all(more.map(timed))));
    return outcomes;
  }

  subscribe(listener: (change: PipelineChange) => void): () => void {
    return this.#options.subscribe(listener);
  }

  /** Readiness: the API server answers this server's own request. */
  async ready(): Promise<void> {
    await this.#options.cluster.listPipelines();
  }

  close(): void {
    for (const store of this.#stores.values()) store.close();
    this.#stores.clear();
  }

  async #resource(name: string): Promise<MLPipelineResource> {
    const found = await this.#options.cluster.getPipeline(name);
    if (!found) {
      throw new ApiError(
        404,
        `no pipeline named "${name}" in namespace ${this.#options.cluster.namespace}`,
      );
    }
    return found;
  }

  async #patch(name: string, patch: object): Promise<MLPipelineResource> {
    const patched = await this.#options.cluster.patchPipeline(name, patch);
    if (!patched) {
      throw new ApiError(
        404,
        `no pipeline named "${name}" in namespace ${this.#options.cluster.namespace}`,
      );
    }
    return patched;
  }

  /**
   * The run with each stage's figures from its artifacts. A finished run's
   * artifacts no longer change, so its figures are read once; a store that
   * cannot be read leaves the figures out, not the run.
   */
  async #withFigures(resource: MLPipelineResource, run: RunRecord): Promise<RunRecord> {
    if (run.phase === 'Pending' || run.phase === 'Skipped') return run;
    const store = this.#storeOf(resource);
    if (store === undefined) return run;
    const key = `${store.location}|${run.runId}`;
    let figures = this.#figures.get(key);
    if (figures === undefined) {
      try {
        figures = await readRunFigures(store, run.runId);
      } catch (error) {
        this.#options.log.warn(
          { pipeline: run.pipeline, run: run.runId, err: messageOf(error) },
          'cannot read the figures of a run',
        );
        return run;
      }
      if (run.phase === 'Succeeded' || run.phase === 'Failed') {
        this.#figures.set(key, figures);
        // Oldest first out: the views show the newest runs.
        if (this.#figures.size > MAX_CACHED_RUNS)
          this.#figures.delete(this.#figures.keys().next().value!);
      }
    }
    return withStageFigures(run, figures);
  }

  /** The pipeline's model store, by the rule stage pods follow; undefined when it has none. */
  #storeOf(resource: MLPipelineResource): ArtifactStore | undefined {
    // s3Location reads only the deployment's S3 settings of the controller's.
    const settings = { s3: this.#options.config.s3 } as ControllerSettings;
    const location = s3Location(
      {
        name: resource.metadata.name ?? '',
        namespace: resource.metadata.namespace ?? '',
        uid: resource.metadata.uid ?? '',
        generation: resource.metadata.generation ?? 0,
        spec: resource.spec,
      },
      settings,
    );
    if (location === undefined) return undefined;
    // Keyed by where it points, so a changed spec.modelStore is read at its new place.
    const key = JSON.stringify(location);
    let store = this.#stores.get(key);
    if (store === undefined) {
      store = this.#options.openStore(location);
      this.#stores.set(key, store);
    }
    return store;
  }

  #requireStore(resource: MLPipelineResource): ArtifactStore {
    const store = this.#storeOf(resource);
    if (store === undefined) {
      throw new ApiError(
        503,
        `pipeline ${resource.metadata.name ?? ''} has no model store here: set spec.modelStore.s3, or S3_BUCKET for this server`,
      );
    }
    return store;
  }

  /**
   * Where the pipeline's predictions are. A sink without a Secret writes to
   * the deployment's database, which stage pods only share with this server
   * when both are given one (MLP_DATABASE_SECRET, MYSQL_*).
   */
  async #sink(resource: MLPipelineResource): Promise<{ store: ResultsStore; table: string }> {
    const name = resource.metadata.name ?? '';
    const secret = resource.spec.predict.sink?.mysql?.connectionSecretRef?.name;
    if (secret === undefined && this.#options.config.mysqlEnvPrefix === undefined) {
      throw new ApiError(
        503,
        `pipeline ${name} writes predictions to the deployment's database, and this server has none: set MYSQL_URL (or MYSQL_HOST, MYSQL_USER, MYSQL_PASSWORD, MYSQL_DATABASE)`,
      );
    }
    try {
      return await this.#options.predictionSinkFor({ name, spec: resource.spec });
    } catch (error) {
      // A Secret's variables missing here is this server's setting, not the request's fault.
      if (error instanceof UserError) throw new ApiError(503, messageOf(error));
      throw error;
    }
  }
}

function createdAt(pod: V1Pod): number {
  return new Date(pod.metadata?.creationTimestamp ?? 0).getTime();
}

async function timed(check: {
  name: string;
  target: string;
  run: () => Promise<unknown>;
}): Promise<ConnectionCheck> {
  const started = performance.now();
  const latency = () => Math.round(performance.now() - started);
  try {
    await check.run();
    return { name: check.name, target: check.target, ok: true, latencyMs: latency() };
  } catch (error) {
    return {
      name: check.name,
      target: check.target,
      ok: false,
      latencyMs: latency(),
      error: messageOf(error),
    };
  }
}
