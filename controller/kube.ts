/**
 * The one module that talks to the API server for reconcile: typed calls for
 * the objects the controller reads and writes, "not found" as undefined,
 * API errors sorted by what the caller does about them, and every request
 * counted. Writes pass through a gate, so a replica that is not the leader,
 * or has just lost the lease, cannot change anything even from a pass that
 * was already running.
 */
import https from 'node:https';

import {
  ApiException,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  createConfiguration,
  CustomObjectsApi,
  ServerConfiguration,
  type CoreV1Event,
  type KubeConfig,
  type KubernetesObject,
  type RequestContext,
  type SecurityAuthentication,
  type V1ConfigMap,
  type V1CronJob,
  type V1Job,
  type V1ObjectMeta,
} from '@kubernetes/client-node';

import type { MLPipelineSpec } from '../core/spec/types.generated.js';
import { API_GROUP } from './names.js';
import type { MLPipelineStatus } from './status.js';

export const PLURAL = 'mlpipelines';
export const VERSION = 'v1alpha1';

/** An MLPipeline as the API server returns it. */
export interface MLPipelineResource extends KubernetesObject {
  metadata: V1ObjectMeta;
  spec: MLPipelineSpec;
  status?: MLPipelineStatus;
}

/** A write attempted while this replica does not hold the lease. */
export class NotLeaderError extends Error {
  constructor() {
    super('this replica is not the leader: nothing is written');
    this.name = 'NotLeaderError';
  }
}

interface StatusBody {
  reason?: string;
  message?: string;
}

/** The API server's reason (AlreadyExists, Conflict, NotFound, ...), when err is an API error. */
export function apiReason(
  err: unknown,
): { code: number; reason?: string; message?: string } | undefined {
  if (!(err instanceof ApiException)) return undefined;
  const raw: unknown = err.body;
  let body: StatusBody = {};
  if (typeof raw === 'string') {
    try {
      body = JSON.parse(raw) as StatusBody;
    } catch {
      body = { message: raw };
    }
  } else if (raw !== null && typeof raw === 'object') {
    body = raw;
  }
  return { code: err.code, reason: body.reason, message: body.message };
}

export const isNotFound = (err: unknown) => apiReason(err)?.code === 404;
export const isAlreadyExists = (err: unknown) => apiReason(err)?.reason === 'AlreadyExists';
export const isConflict = (err: unknown) => apiReason(err)?.reason === 'Conflict';

/** undefined for a 404; any other error is thrown. */
export async function orUndefined<T>(call: Promise<T>): Promise<T | undefined> {
  try {
    return await call;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export interface RequestRecord {
  method: string;
  url: string;
}

export interface ClientOptions {
  /** Called before every request, for metrics and tests. */
  onRequest?: (request: RequestRecord) => void;
  /** Writes (anything but GET) are refused unless this says yes. */
  mayWrite?: () => boolean;
  /**
   * A request without an answer by then is abandoned (default 60 s), so a
   * connection that died without closing cannot hold a worker forever.
   */
  requestTimeoutMs?: number;
}

const REQUEST_TIMEOUT_MS = 60_000;

/** The generated API clients, sharing one configuration with the counter and the write gate. */
export function makeClients(kc: KubeConfig, options: ClientOptions = {}) {
  const cluster = kc.getCurrentCluster();
  if (cluster === null) throw new Error('the kubeconfig names no current cluster');
  const configuration = createConfiguration({
    baseServer: new ServerConfiguration(cluster.server, {}),
    authMethods: {
      default: keepAliveAuthentication(kc, options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS),
    },
    promiseMiddleware: [
      {
        pre: (context) => {
          const method = String(context.getHttpMethod());
          if (method !== 'GET' && options.mayWrite !== undefined && !options.mayWrite()) {
            return Promise.reject(new NotLeaderError());
          }
          options.onRequest?.({ method, url: context.getUrl() });
          return Promise.resolve(context);
        },
        post: (context) => Promise.resolve(context),
      },
    ],
  });
  return {
    batch: new BatchV1Api(configuration),
    core: new CoreV1Api(configuration),
    custom: new CustomObjectsApi(configuration),
    coordination: new CoordinationV1Api(configuration),
  };
}

export type Clients = ReturnType<typeof makeClients>;

/**
 * The kubeconfig's authentication, over connections that are kept open.
 * client-node gives every request a new agent, so every request pays a new
 * TCP connection, TLS handshake and secure context: most of the controller's
 * CPU with a thousand pipelines. The kubeconfig still authenticates each
 * request (a rotated token is read afresh); its agent is swapped for one
 * kept per TLS identity, replaced when the identity changes. A connection
 * kept open can die without closing, so every request has a time limit.
 */
export function keepAliveAuthentication(
  kc: KubeConfig,
  requestTimeoutMs: number,
): SecurityAuthentication {
  let kept: { identity: string; agent: https.Agent } | undefined;
  return {
    getName: () => 'kubeconfig with kept-alive connections',
    async applySecurityAuthentication(context: RequestContext) {
      await kc.applySecurityAuthentication(context);
      if (context.getSignal() === undefined)
        context.setSignal(AbortSignal.timeout(requestTimeoutMs));
      const fresh = context.getAgent();
      // Proxies and plain HTTP keep the agent the kubeconfig made.
      if (!(fresh instanceof https.Agent) || fresh.constructor !== https.Agent) return;
      const options = (fresh as https.Agent & { options: https.AgentOptions }).options;
      const identity = [
        options.ca,
        options.cert,
        options.key,
        options.pfx,
        options.passphrase,
        options.servername,
        options.rejectUnauthorized,
      ]
        .map(identityText)
        .join('\u0000');
      if (kept?.identity !== identity) {
        kept?.agent.destroy();
        kept = { identity, agent: new https.Agent({ ...options, keepAlive: true }) };
      }
      context.setAgent(kept.agent);
    },
  };
}

/** Text that tells TLS identities apart; Buffers as base64. */
function identityText(part: unknown): string {
  if (part === undefined || part === null) return '';
  if (Array.isArray(part)) return part.map(identityText).join('\n');
  if (Buffer.isBuffer(part)) return part.toString('base64');
  if (typeof part === 'string' || typeof part === 'boolean') return String(part);
  return JSON.stringify(part, (_key, value: unknown) =>
    Buffer.isBuffer(value) ? value.toString('base64') : value,
  );
}

/** What reconcile does to the cluster; tests can stand in a fake. */
export interface ClusterApi {
  getPipeline(namespace: string, name: string): Promise<MLPipelineResource | undefined>;
  replacePipelineStatus(pipeline: MLPipelineResource): Promise<MLPipelineResource>;
  getConfigMap(namespace: string, name: string): Promise<V1ConfigMap | undefined>;
  createConfigMap(body: V1ConfigMap): Promise<V1ConfigMap>;
  replaceConfigMap(body: V1ConfigMap): Promise<V1ConfigMap>;
  getCronJob(namespace: string, name: string): Promise<V1CronJob | undefined>;
  createCronJob(body: V1CronJob): Promise<V1CronJob>;
  replaceCronJob(body: V1CronJob): Promise<V1CronJob>;
  createJob(body: V1Job): Promise<V1Job>;
  /** Deletes a Job and, in the background, its pods. */
  deleteJob(namespace: string, name: string): Promise<void>;
  createEvent(body: CoreV1Event): Promise<void>;
}

function must(meta: V1ObjectMeta | undefined): { name: string; namespace: string } {
  if (!meta?.name || !meta.namespace) throw new TypeError('object without name or namespace');
  return { name: meta.name, namespace: meta.namespace };
}

export function clusterApi(clients: Clients): ClusterApi {
  const { batch, core, custom } = clients;
  const pipelineRef = { group: API_GROUP, version: VERSION, plural: PLURAL };
  return {
    async getPipeline(namespace, name) {
      const found: unknown = await orUndefined(
        custom.getNamespacedCustomObject({ ...pipelineRef, namespace, name }),
      );
      return found as MLPipelineResource | undefined;
    },
    async replacePipelineStatus(pipeline) {
      const written: unknown = await custom.replaceNamespacedCustomObjectStatus({
        ...pipelineRef,
        ...must(pipeline.metadata),
        body: pipeline,
      });
      return written as MLPipelineResource;
    },
    getConfigMap: (namespace, name) =>
      orUndefined(core.readNamespacedConfigMap({ namespace, name })),
    createConfigMap: (body) =>
      core.createNamespacedConfigMap({ namespace: must(body.metadata).namespace, body }),
    replaceConfigMap: (body) => core.replaceNamespacedConfigMap({ ...must(body.metadata), body }),
    getCronJob: (namespace, name) => orUndefined(batch.readNamespacedCronJob({ namespace, name })),
    createCronJob: (body) =>
      batch.createNamespacedCronJob({ namespace: must(body.metadata).namespace, body }),
    replaceCronJob: (body) => batch.replaceNamespacedCronJob({ ...must(body.metadata), body }),
    createJob: (body) =>
      batch.createNamespacedJob({ namespace: must(body.metadata).namespace, body }),
    async deleteJob(namespace, name) {
      try {
        await batch.deleteNamespacedJob({ namespace, name, propagationPolicy: 'Background' });
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    },
    async createEvent(body) {
      const namespace = body.metadata?.namespace;
      if (!namespace) throw new TypeError('event without namespace');
      await core.createNamespacedEvent({ namespace, body });
    },
  };
}
