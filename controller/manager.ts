/**
 * The controller process: informers feed the work queue, the queue's workers
 * run reconcile, and, with leader election, only the replica holding the
 * Lease runs workers and may write. Standby replicas keep their caches warm
 * and their queues filled, so a new leader starts working at once.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

import type { KubeConfig } from '@kubernetes/client-node';

import { messageOf } from '../core/errors.js';
import { createLogger, type Logger } from '../core/log.js';
import type { ControllerSettings } from './desired.js';
import {
  clusterApi,
  makeClients,
  NotLeaderError,
  type ClusterApi,
  type RequestRecord,
} from './kube.js';
import { LeaderElector, type LeaseTiming } from './leader.js';
import { ControllerMetrics, startHealthServer, type HealthServer } from './metrics.js';
import { PodSuccessTimes } from './pod-success.js';
import { WorkQueue, type BackoffOptions, type Clock } from './queue.js';
import { Reconciler, type ModelReader } from './reconcile.js';
import { makeInformers, type Informers, type WatchHealth, type WatchOptions } from './watch.js';

export interface ControllerOptions {
  kubeconfig: KubeConfig;
  /** Watch one namespace; all namespaces when undefined. */
  namespace?: string;
  settings: ControllerSettings;
  log?: Logger;
  /** Serve /healthz, /readyz and /metrics here; no server when undefined. */
  metricsPort?: number;
  metricsHost?: string;
  leaderElection?: {
    /** Where the Lease lives. */
    namespace: string;
    name?: string;
    identity?: string;
    timing?: Partial<LeaseTiming>;
  };
  readModel?: ModelReader;
  /** How long a model read is reused while no train Job finished (default 60 s). */
  modelRefreshMs?: number;
  /** Every pipeline is reconciled this often even when nothing changed (default 5 minutes). */
  resyncMs?: number;
  /** Pipelines reconciled at the same time (default 4). */
  workers?: number;
  backoff?: Partial<BackoffOptions>;
  watch?: WatchOptions;
  /** Requests to the API server without an answer by then are abandoned (default 60 s). */
  requestTimeoutMs?: number;
  /** A watch failing longer than this makes /healthz fail, so the process is restarted (default 2 minutes). */
  unhealthyAfterMs?: number;
  clock?: Clock;
  /** Told about every request to the API server but leader election's. */
  onRequest?: (request: RequestRecord) => void;
  /** Stands in for the API server on writes; the informers still read the kubeconfig's. */
  api?: ClusterApi;
}

export interface RunningController {
  readonly identity: string;
  readonly metrics: ControllerMetrics;
  readonly informers: Informers;
  readonly queue: WorkQueue;
  /** The health server's port, when one was asked for. */
  readonly port: number | undefined;
  isLeader(): boolean;
  watches(): WatchHealth[];
  /** Stops workers (finishing passes under way), releases the Lease, stops watches and the server. */
  stop(): Promise<void>;
}

export const DEFAULT_LEASE_NAME = 'mlpipeline-controller';
const UNHEALTHY_AFTER_MS = 2 * 60_000;

export async function startController(options: ControllerOptions): Promise<RunningController> {
  const log = options.log ?? createLogger();
  const metrics = new ControllerMetrics({ processMetrics: options.metricsPort !== undefined });
  const identity =
    options.leaderElection?.identity ?? `${hostname()}-${randomBytes(3).toString('hex')}`;

  // Leader election first: the write gate of every other client asks it.
  let elector: LeaderElector | undefined;
  const mayWrite = () => elector === undefined || elector.isLeader();
  const clients = makeClients(options.kubeconfig, {
    mayWrite,
    ...(options.requestTimeoutMs !== undefined && { requestTimeoutMs: options.requestTimeoutMs }),
    onRequest: (request) => {
      metrics.apiRequests.inc({ method: request.method });
      options.onRequest?.(request);
    },
  });

  const queue: WorkQueue = new WorkQueue({
    ...(options.clock && { clock: options.clock }),
    ...(options.backoff && { backoff: options.backoff }),
    resyncMs: options.resyncMs ?? 5 * 60_000,
    listKeys: () => informers.keys(),
    concurrency: options.workers ?? 4,
    onPass: (pass) => {
      metrics.queueDepth.set(queue.depth);
      if (pass.error !== undefined) {
        log.warn(
          { pipeline: pass.key, err: messageOf(pass.error), retryInMs: pass.retryInMs },
          'reconcile failed; retrying',
        );
      }
    },
  });
  const now = options.clock ? () => options.clock!.now() : Date.now;
  const podSuccess = new PodSuccessTimes({ now });
  const informers: Informers = makeInformers({
    kc: options.kubeconfig,
    clients,
    ...(options.namespace !== undefined && { namespace: options.namespace }),
    enqueue: (key) => {
      queue.add(key);
      metrics.queueDepth.set(queue.depth);
    },
    onPod: (pod, listed) => podSuccess.observe(pod, listed),
    watch: { log, ...options.watch },
  });

  const reconciler = new Reconciler({
    api: options.api ?? clusterApi(clients),
    caches: informers,
    settings: options.settings,
    log,
    metrics,
    identity,
    ...(options.readModel && { readModel: options.readModel }),
    ...(options.modelRefreshMs !== undefined && { modelRefreshMs: options.modelRefreshMs }),
    podSucceededAt: (pod) => podSuccess.at(pod),
    now: () => new Date(now()),
  });
  const handler = async (key: string) => {
    const done = metrics.reconcileDuration.startTimer();
    try {
      const result = await reconciler.reconcile(key);
      done({ result: 'ok' });
      return result;
    } catch (err) {
      // Leadership moved during the pass: the new leader reconciles this key itself.
      if (err instanceof NotLeaderError) {
        done({ result: 'not-leader' });
        return {};
      }
      done({ result: 'error' });
      metrics.reconcileErrors.inc();
      throw err;
    }
  };

  await informers.start();
  log.info({ namespace: options.namespace ?? '(all)', identity }, 'caches filled');

  if (options.leaderElection !== undefined) {
    const election = options.leaderElection;
    elector = new LeaderElector({
      // Lease requests are not counted with the controller's: they are the price of standing by.
      clients: makeClients(options.kubeconfig),
      namespace: election.namespace,
      name: election.name ?? DEFAULT_LEASE_NAME,
      identity,
      log,
      ...(election.timing && { timing: election.timing }),
      ...(options.clock && { clock: options.clock }),
      onStartedLeading: () => {
        metrics.leader.set(1);
        // Whatever happened while standing by: every pipeline gets a pass.
        queue.resync();
        queue.start(handler);
      },
      onStoppedLeading: () => {
        metrics.leader.set(0);
        void queue.pause();
      },
    });
    elector.start();
  } else {
    metrics.leader.set(1);
    queue.start(handler);
  }

  const watches = () => informers.health();
  let server: HealthServer | undefined;
  if (options.metricsPort !== undefined) {
    server = await startHealthServer({
      port: options.metricsPort,
      ...(options.metricsHost !== undefined && { host: options.metricsHost }),
      metrics,
      live: () => {
        const now = Date.now();
        const failing = watches().filter(
          (w) =>
            !w.synced &&
            w.failingSince !== undefined &&
            now - Date.parse(w.failingSince) > (options.unhealthyAfterMs ?? UNHEALTHY_AFTER_MS),
        );
        return { ok: failing.length === 0, details: { watches: watches() } };
      },
      ready: () => ({
        ok: watches().every((w) => w.synced),
        details: { leader: mayWrite(), watches: watches() },
      }),
    });
    log.info({ port: server.port }, 'serving /healthz, /readyz and /metrics');
  }

  return {
    identity,
    metrics,
    informers,
    queue,
    port: server?.port,
    isLeader: mayWrite,
    watches,
    async stop() {
      await queue.stop();
      await elector?.stop();
      await informers.stop();
      await server?.close();
      log.info({ identity }, 'controller stopped');
    },
  };
}
