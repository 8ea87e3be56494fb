/**
 * The one module of the UI that talks to the API server: MLPipelines, the
 * Jobs and pods the controller labels, pod logs, all in one namespace. Every
 * failure of a call becomes an ApiError a page can show: what was asked, and
 * the API server's own words.
 */
import {
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
  type V1Job,
  type V1Pod,
} from '@kubernetes/client-node';

import {
  apiReason,
  makeClients,
  PLURAL,
  VERSION,
  type MLPipelineResource,
} from '../../controller/kube.js';
import { API_GROUP } from '../../controller/names.js';
import { messageOf } from '../../core/errors.js';
import { ApiError } from '../server/service.js';

const PIPELINES = { group: API_GROUP, version: VERSION, plural: PLURAL };
const MERGE_PATCH = setHeaderOptions('Content-Type', PatchStrategy.MergePatch);

export interface PipelineCluster {
  readonly namespace: string;
  /** The API server's address, for the connections view. */
  readonly server: string;
  listPipelines(): Promise<MLPipelineResource[]>;
  /** undefined when there is no such pipeline. */
  getPipeline(name: string): Promise<MLPipelineResource | undefined>;
  /** A JSON merge patch (RFC 7386); undefined when there is no such pipeline. */
  patchPipeline(name: string, patch: object): Promise<MLPipelineResource | undefined>;
  listJobs(labelSelector: string): Promise<V1Job[]>;
  listPods(labelSelector: string): Promise<V1Pod[]>;
  /** The log of one container, at most limitBytes of it. */
  podLog(pod: string, container: string, limitBytes: number): Promise<string>;
}

/**
 * A failure of an API call as the page shows it. A conflict, or a 400 about
 * the object as it stands (a container still waiting to start has no log),
 * is 409: the user can try again later. Anything else is this server's
 * trouble with the cluster (502), not the request's.
 */
export function clusterError(what: string, error: unknown): ApiError {
  const reason = apiReason(error);
  if (reason === undefined) return new ApiError(502, `${what}: ${messageOf(error)}`);
  const detail = reason.message ?? reason.reason ?? `HTTP ${reason.code}`;
  const status = reason.code === 409 || reason.code === 400 ? 409 : 502;
  return new ApiError(status, `${what}: ${detail}`);
}

export function pipelineCluster(kc: KubeConfig, namespace: string): PipelineCluster {
  const { batch, core, custom } = makeClients(kc);
  const server = kc.getCurrentCluster()?.server ?? '';

  async function call<T>(what: string, request: () => Promise<T>): Promise<T> {
    try {
      return await request();
    } catch (error) {
      throw clusterError(what, error);
    }
  }

  async function orMissing<T>(what: string, request: () => Promise<T>): Promise<T | undefined> {
    try {
      return await request();
    } catch (error) {
      if (apiReason(error)?.code === 404) return undefined;
      throw clusterError(what, error);
    }
  }

  return {
    namespace,
    server,
    async listPipelines() {
      let list: unknown;
      try {
        list = await custom.listNamespacedCustomObject({ ...PIPELINES, namespace });
      } catch (error) {
        // A list finds nothing to miss but the resource type itself.
        const what =
          apiReason(error)?.code === 404
            ? 'listing MLPipelines (is the CRD installed? kubectl apply -f crds/)'
            : 'listing MLPipelines';
        throw clusterError(what, error);
      }
      return (list as { items: MLPipelineResource[] }).items;
    },
    async getPipeline(name) {
      const found: unknown = await orMissing(`reading MLPipeline ${name}`, () =>
        custom.getNamespacedCustomObject({ ...PIPELINES, namespace, name }),
      );
      return found as MLPipelineResource | undefined;
    },
    async patchPipeline(name, patch) {
      const patched: unknown = await orMissing(`changing MLPipeline ${name}`, () =>
        custom.patchNamespacedCustomObject(
          { ...PIPELINES, namespace, name, body: patch },
          MERGE_PATCH,
        ),
      );
      return patched as MLPipelineResource | undefined;
    },
    async listJobs(labelSelector) {
      const list = await call('listing Jobs', () =>
        batch.listNamespacedJob({ namespace, labelSelector }),
      );
      return list.items;
    },
    async listPods(labelSelector) {
      const list = await call('listing pods', () =>
        core.listNamespacedPod({ namespace, labelSelector }),
      );
      return list.items;
    },
    podLog(pod, container, limitBytes) {
      return call(`reading the log of pod ${pod}`, () =>
        core.readNamespacedPodLog({ namespace, name: pod, container, limitBytes }),
      );
    },
  };
}
