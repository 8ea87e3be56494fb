/**
 * Change hints for the live views, from watches on the namespace's
 * MLPipelines and on the Jobs the controller labels. The watches run only
 * while someone listens, and restart themselves with backoff when they fail
 * or go quiet (controller/watch.ts), so a browser left open keeps updating
 * across API server restarts.
 */
import type { KubeConfig, KubernetesListObject, V1Job } from '@kubernetes/client-node';

import { makeClients, PLURAL, VERSION, type MLPipelineResource } from '../../controller/kube.js';
import { API_GROUP, LABEL_PIPELINE } from '../../controller/names.js';
import { ResourceWatch, type WatchHealth, type WatchOptions } from '../../controller/watch.js';
import { messageOf } from '../../core/errors.js';
import type { Logger } from '../../core/log.js';
import type { PipelineChange } from '../server/service.js';
import { jobChange, pipelineChanges } from './views.js';

export type ChangeListener = (change: PipelineChange) => void;

export class PipelineChangeFeed {
  readonly #listeners = new Set<ChangeListener>();
  readonly #seen = new Map<string, MLPipelineResource>();
  readonly #pipelines: ResourceWatch<MLPipelineResource>;
  readonly #jobs: ResourceWatch<V1Job>;
  readonly #log: Logger;
  #running: Promise<void> | undefined;
  #stopping: Promise<void> = Promise.resolve();

  constructor(options: { kc: KubeConfig; namespace: string; log: Logger; watch?: WatchOptions }) {
    const { kc, namespace, log } = options;
    const { batch, custom } = makeClients(kc);
    this.#log = log;
    const watch = { log, ...options.watch };

    this.#pipelines = new ResourceWatch<MLPipelineResource>({
      resource: 'mlpipelines',
      kc,
      path: `/apis/${API_GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}`,
      list: async () => {
        const list: unknown = await custom.listNamespacedCustomObject({
          group: API_GROUP,
          version: VERSION,
          plural: PLURAL,
          namespace,
        });
        return list as KubernetesListObject<MLPipelineResource>;
      },
      onChange: (pipeline, listed) => this.#pipelineSeen(pipeline, listed),
      // Deletions during a watch's gap have no event: every view re-reads.
      onRelist: () => this.#relisted(),
      watch,
    });
    this.#jobs = new ResourceWatch<V1Job>({
      resource: 'jobs',
      kc,
      path: `/apis/batch/v1/namespaces/${namespace}/jobs`,
      labelSelector: LABEL_PIPELINE,
      list: () => batch.listNamespacedJob({ namespace, labelSelector: LABEL_PIPELINE }),
      onChange: (job, listed) => {
        // A listed Job is one that existed before: nothing new to show.
        const change = listed ? undefined : jobChange(job);
        if (change !== undefined) this.#emit(change);
      },
      onRelist: () => undefined,
      watch,
    });
  }

  /** Calls listener on every change until the returned function is called. */
  subscribe(listener: ChangeListener): () => void {
    this.#listeners.add(listener);
    // A feed being stopped finishes stopping before it starts again.
    this.#running ??= this.#stopping.then(() => this.#start());
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) void this.stop();
    };
  }

  stop(): Promise<void> {
    const running = this.#running;
    if (running === undefined) return this.#stopping;
    this.#running = undefined;
    this.#stopping = running.then(async () => {
      await Promise.all([this.#pipelines.stop(), this.#jobs.stop()]);
      this.#seen.clear();
    });
    return this.#stopping;
  }

  health(): WatchHealth[] {
    return this.#running === undefined ? [] : [this.#pipelines.health(), this.#jobs.health()];
  }

  async #start(): Promise<void> {
    // start() resolves after the first list, or after scheduling a retry of a failed one.
    await Promise.all([this.#pipelines.start(), this.#jobs.start()]);
  }

  #pipelineSeen(pipeline: MLPipelineResource, listed: boolean): void {
    const name = pipeline.metadata.name ?? '';
    const before = this.#seen.get(name);
    // The cache drops a deleted object before its handlers run; a listed one exists.
    const exists = listed || this.#pipelines.get(name, pipeline.metadata.namespace) !== undefined;
    const after = exists ? pipeline : undefined;
    if (after === undefined) this.#seen.delete(name);
    else this.#seen.set(name, after);
    // The first sight of each pipeline is what the views already read.
    if (before === undefined && listed) return;
    for (const change of pipelineChanges(before, after)) this.#emit(change);
  }

  #relisted(): void {
    for (const [name, pipeline] of [...this.#seen]) {
      if (this.#pipelines.get(name, pipeline.metadata.namespace) === undefined)
        this.#seen.delete(name);
      this.#emit({ pipeline: name, kind: 'pipeline' });
    }
  }

  #emit(change: PipelineChange): void {
    for (const listener of this.#listeners) {
      try {
        listener(change);
      } catch (error) {
        this.#log.warn(
          { pipeline: change.pipeline, err: messageOf(error) },
          'change listener failed',
        );
      }
    }
  }
}
