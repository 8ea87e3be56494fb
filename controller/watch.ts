/**
 * Informers for what the controller reads: MLPipelines, and the CronJobs,
 * Jobs, ConfigMaps and Pods that carry the pipeline label. Their handlers do
 * one thing, add the owning pipeline's key to the work queue; reconcile reads
 * the informers' caches.
 *
 * client-node's ListWatch stops for good on an error (only an expired
 * resourceVersion makes it list again by itself), and a watch connection can
 * stay open while nothing arrives. So each informer here is restarted with
 * backoff after an error, and restarted when it has been quiet for too long;
 * a restart builds a new ListWatch (a stopped one can still deliver its
 * abort, which would tear down its successor's connection) and lists afresh.
 * The health check reads each informer's state.
 */
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
  type V1ConfigMap,
  type V1CronJob,
  type V1Job,
  type V1Pod,
} from '@kubernetes/client-node';

import { messageOf } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { trimJob, trimMetadata, trimPod } from './cache-trim.js';
import { trimCronJob } from './desired.js';
import { systemClock, type Clock } from './queue.js';
import type { Clients, MLPipelineResource } from './kube.js';
import { PLURAL, VERSION } from './kube.js';
import { API_GROUP, KIND, LABEL_PIPELINE } from './names.js';

export interface WatchHealth {
  resource: string;
  /** Listed and watching since the last error. */
  synced: boolean;
  lastError?: string;
  /** When the informer last failed or went quiet, ISO 8601. */
  lastErrorAt?: string;
  /** While not synced: since when, ISO 8601 (the first failure since it last listed). */
  failingSince?: string;
  restarts: number;
}

export interface WatchOptions {
  clock?: Clock;
  /** A watch with no event for this long is restarted (default 5 minutes). */
  quietMs?: number;
  /** First wait before restarting after an error (default 1 s), doubling up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  log?: Logger;
}

type ListFn<T extends KubernetesObject> = () => Promise<KubernetesListObject<T>>;

/** One informer that restarts itself. */
export class ResourceWatch<T extends KubernetesObject> {
  readonly resource: string;
  readonly #kc: KubeConfig;
  readonly #path: string;
  readonly #list: ListFn<T>;
  readonly #labelSelector: string | undefined;
  readonly #onChange: (obj: T, listed: boolean) => void;
  readonly #onRelist: () => void;
  readonly #trim: ((obj: T) => void) | undefined;
  readonly #clock: Clock;
  readonly #quietMs: number;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #log: Logger | undefined;
  #informer: ListWatch<T> | undefined;
  /** The cache readers see: kept from the last informer until its successor has listed. */
  #cache: ListWatch<T> | undefined;
  #synced = false;
  #stopped = false;
  #failures = 0;
  #restarts = 0;
  #lastError: string | undefined;
  #lastErrorAt: number | undefined;
  #failingSince: number | undefined;
  #lastActivity = 0;
  #timer: unknown;
  #quietTimer: unknown;

  constructor(options: {
    resource: string;
    kc: KubeConfig;
    path: string;
    list: ListFn<T>;
    labelSelector?: string;
    /** listed: the object came with a list, not a watch event, and may have changed long ago. */
    onChange: (obj: T, listed: boolean) => void;
    /** After a restart lists again: deletions during the gap have no event of their own. */
    onRelist: () => void;
    /** Drops what the controller never reads, as the object enters the cache (cache-trim.ts). */
    trim?: (obj: T) => void;
    watch?: WatchOptions;
  }) {
    this.resource = options.resource;
    this.#kc = options.kc;
    this.#path = options.path;
    this.#list = options.list;
    this.#labelSelector = options.labelSelector;
    this.#onChange = options.onChange;
    this.#onRelist = options.onRelist;
    this.#trim = options.trim;
    this.#clock = options.watch?.clock ?? systemClock;
    this.#quietMs = options.watch?.quietMs ?? 5 * 60_000;
    this.#backoffMs = options.watch?.backoffMs ?? 1000;
    this.#maxBackoffMs = options.watch?.maxBackoffMs ?? 60_000;
    this.#log = options.watch?.log;
  }

  /** Resolves once the first list is done, or has failed (a retry is then scheduled). */
  async start(): Promise<void> {
    this.#stopped = false;
    await this.#run(false);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#clock.clearTimeout(this.#timer);
    this.#clock.clearTimeout(this.#quietTimer);
    const informer = this.#informer;
    this.#informer = undefined;
    await informer?.stop();
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#cache?.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.#cache?.list(namespace) ?? [];
  }

  health(): WatchHealth {
    const health: WatchHealth = {
      resource: this.resource,
      synced: this.#synced,
      restarts: this.#restarts,
    };
    if (this.#lastError !== undefined) health.lastError = this.#lastError;
    if (this.#lastErrorAt !== undefined)
      health.lastErrorAt = new Date(this.#lastErrorAt).toISOString();
    if (!this.#synced && this.#failingSince !== undefined)
      health.failingSince = new Date(this.#failingSince).toISOString();
    return health;
  }

  async #run(restart: boolean): Promise<void> {
    if (this.#stopped) return;
    const informer = new ListWatch<T>(
      this.#path,
      new Watch(this.#kc),
      this.#list,
      false,
      this.#labelSelector,
    );
    this.#informer = informer;
    let failed = false;
    // Until start resolves, what arrives is the list's replay of objects as they are.
    let listing = true;
    const mine = () => this.#informer === informer && !this.#stopped;
    const activity = () => {
      if (mine()) this.#lastActivity = this.#clock.now();
    };
    const change = (obj: T) => {
      // The cache holds this very object: what is trimmed here is never kept.
      trimMetadata(obj);
      this.#trim?.(obj);
      activity();
      if (mine()) this.#onChange(obj, listing);
    };
    informer.on('add', change);
    informer.on('update', change);
    informer.on('delete', change);
    informer.on('connect', activity);
    informer.on('error', (err: unknown) => {
      failed = true;
      if (mine()) this.#fail(messageOf(err ?? 'the watch ended with an error'));
    });

    await informer.start();
    listing = false;
    if (!mine() || failed) return;
    this.#cache = informer;
    this.#synced = true;
    this.#failingSince = undefined;
    this.#failures = 0;
    this.#lastActivity = this.#clock.now();
    this.#armQuietTimer();
    if (restart) this.#onRelist();
  }

  #fail(message: string): void {
    this.#synced = false;
    this.#failingSince ??= this.#clock.now();
    this.#lastError = message;
    this.#lastErrorAt = this.#clock.now();
    this.#failures++;
    const delay = Math.min(this.#maxBackoffMs, this.#backoffMs * 2 ** (this.#failures - 1));
    this.#log?.warn(
      { resource: this.resource, err: message, retryInMs: delay },
      'watch failed; restarting',
    );
    this.#restartAfter(delay);
  }

  #restartAfter(delay: number): void {
    this.#clock.clearTimeout(this.#timer);
    this.#clock.clearTimeout(this.#quietTimer);
    const old = this.#informer;
    this.#informer = undefined;
    void old?.stop();
    this.#timer = this.#clock.setTimeout(() => {
      this.#restarts++;
      this.#run(true).catch((err: unknown) => this.#fail(messageOf(err)));
    }, delay);
  }

  #armQuietTimer(): void {
    this.#clock.clearTimeout(this.#quietTimer);
    this.#quietTimer = this.#clock.setTimeout(
      () => {
        if (this.#stopped) return;
        const quietFor = this.#clock.now() - this.#lastActivity;
        if (quietFor < this.#quietMs) {
          this.#armQuietTimer();
          return;
        }
        this.#log?.info(
          { resource: this.resource, quietForMs: quietFor },
          'watch quiet; restarting',
        );
        this.#restartAfter(0);
      },
      Math.max(1, this.#quietMs - (this.#clock.now() - this.#lastActivity)),
    );
  }
}

/** The pipeline a child object belongs to: its controlling MLPipeline owner, else its label. */
export function pipelineKeyOf(obj: KubernetesObject): string | undefined {
  const meta = obj.metadata;
  const namespace = meta?.namespace;
  if (!namespace) return undefined;
  const owner = (meta.ownerReferences ?? []).find(
    (ref) => ref.controller && ref.kind === KIND && ref.apiVersion.startsWith(`${API_GROUP}/`),
  );
  const name = owner?.name ?? meta.labels?.[LABEL_PIPELINE];
  return name ? `${namespace}/${name}` : undefined;
}

export function parseKey(key: string): { namespace: string; name: string } {
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

export interface Informers {
  pipelines: ResourceWatch<MLPipelineResource>;
  cronJobs: ResourceWatch<V1CronJob>;
  jobs: ResourceWatch<V1Job>;
  configMaps: ResourceWatch<V1ConfigMap>;
  pods: ResourceWatch<V1Pod>;
  all: ResourceWatch<KubernetesObject>[];
  /** Every pipeline's key, from the cache. */
  keys(): string[];
  start(): Promise<void>;
  stop(): Promise<void>;
  health(): WatchHealth[];
}

/**
 * The five informers, in one namespace or in all (namespace undefined); each
 * change adds the owning pipeline's key through enqueue.
 */
export function makeInformers(options: {
  kc: KubeConfig;
  clients: Clients;
  namespace?: string;
  enqueue: (key: string) => void;
  /** Told of every pod change before its pipeline is enqueued; listed as for ResourceWatch. */
  onPod?: (pod: V1Pod, listed: boolean) => void;
  watch?: WatchOptions;
}): Informers {
  const { kc, clients, namespace, enqueue } = options;
  const selector = LABEL_PIPELINE;
  const scoped = (group: string, plural: string) =>
    namespace === undefined ? `${group}/${plural}` : `${group}/namespaces/${namespace}/${plural}`;

  // keys and enqueueAll run only after the informers below exist.
  const keys = () =>
    pipelines
      .list()
      .flatMap((p) =>
        p.metadata.namespace && p.metadata.name
          ? [`${p.metadata.namespace}/${p.metadata.name}`]
          : [],
      );
  const enqueueAll = () => keys().forEach(enqueue);
  const enqueueOwner = (obj: KubernetesObject) => {
    const key = pipelineKeyOf(obj);
    if (key !== undefined) enqueue(key);
  };

  const pipelines = new ResourceWatch<MLPipelineResource>({
    resource: 'mlpipelines',
    kc,
    path: scoped(`/apis/${API_GROUP}/${VERSION}`, PLURAL),
    list: async () => {
      const ref = { group: API_GROUP, version: VERSION, plural: PLURAL };
      const list: unknown =
        namespace === undefined
          ? await clients.custom.listClusterCustomObject(ref)
          : await clients.custom.listNamespacedCustomObject({ ...ref, namespace });
      return list as KubernetesListObject<MLPipelineResource>;
    },
    onChange: (p) => {
      if (p.metadata.namespace && p.metadata.name)
        enqueue(`${p.metadata.namespace}/${p.metadata.name}`);
    },
    onRelist: enqueueAll,
    watch: options.watch,
  });

  const child = <T extends KubernetesObject>(
    resource: string,
    path: string,
    list: ListFn<T>,
    trim?: (obj: T) => void,
    onChange: (obj: T, listed: boolean) => void = enqueueOwner,
  ): ResourceWatch<T> =>
    new ResourceWatch<T>({
      resource,
      kc,
      path,
      list,
      labelSelector: selector,
      onChange,
      onRelist: enqueueAll,
      ...(trim && { trim }),
      watch: options.watch,
    });

  const { batch, core } = clients;
  const cronJobs = child<V1CronJob>(
    'cronjobs',
    scoped('/apis/batch/v1', 'cronjobs'),
    () =>
      namespace === undefined
        ? batch.listCronJobForAllNamespaces({ labelSelector: selector })
        : batch.listNamespacedCronJob({ namespace, labelSelector: selector }),
    trimCronJob,
  );
  const jobs = child<V1Job>(
    'jobs',
    scoped('/apis/batch/v1', 'jobs'),
    () =>
      namespace === undefined
        ? batch.listJobForAllNamespaces({ labelSelector: selector })
        : batch.listNamespacedJob({ namespace, labelSelector: selector }),
    trimJob,
  );
  const configMaps = child<V1ConfigMap>('configmaps', scoped('/api/v1', 'configmaps'), () =>
    namespace === undefined
      ? core.listConfigMapForAllNamespaces({ labelSelector: selector })
      : core.listNamespacedConfigMap({ namespace, labelSelector: selector }),
  );
  const onPod = options.onPod;
  const pods = child<V1Pod>(
    'pods',
    scoped('/api/v1', 'pods'),
    () =>
      namespace === undefined
        ? core.listPodForAllNamespaces({ labelSelector: selector })
        : core.listNamespacedPod({ namespace, labelSelector: selector }),
    trimPod,
    (pod, listed) => {
      onPod?.(pod, listed);
      enqueueOwner(pod);
    },
  );

  const all = [pipelines, cronJobs, jobs, configMaps, pods] as ResourceWatch<KubernetesObject>[];
  return {
    pipelines,
    cronJobs,
    jobs,
    configMaps,
    pods,
    all,
    keys,
    // Children first: when the pipelines' adds reach the queue, their caches are already filled.
    async start() {
      await Promise.all([cronJobs, jobs, configMaps, pods].map((w) => w.start()));
      await pipelines.start();
    },
    async stop() {
      await Promise.all(all.map((w) => w.stop()));
    },
    health: () => all.map((w) => w.health()),
  };
}
