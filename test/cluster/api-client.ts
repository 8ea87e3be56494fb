/**
 * What every cluster test needs besides the control plane itself: a small JSON
 * client for the API server, a poll-until helper, and the skip rule.
 */
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import { fileURLToPath } from 'node:url';

import { parse } from 'yaml';

import {
  clusterBinDir,
  clusterBinariesPresent,
  externalKubeconfig,
  type ControlPlane,
} from './control-plane.js';

/** Skip reason for a cluster suite, or false when it must run. */
export const clusterSkip: string | false =
  externalKubeconfig() === undefined &&
  !clusterBinariesPresent() &&
  process.env.MLP_CLUSTER_REQUIRED !== '1'
    ? `no control-plane binaries in ${clusterBinDir()}: run test/cluster/build.sh`
    : false;

/** Skip reason for a suite that tests the harness's own local kubelet, which an external cluster has not. */
export const localClusterSkip: string | false =
  clusterSkip ||
  (externalKubeconfig() !== undefined &&
    'MLP_TEST_KUBECONFIG names a cluster with its own kubelets');

const CRD_FILE = fileURLToPath(
  new URL('../../crds/mlpipeline.dev_mlpipelines.yaml', import.meta.url),
);
const CRDS = '/apis/apiextensions.k8s.io/v1/customresourcedefinitions';

/**
 * Installs the project's CRD and waits until MLPipelines are served. On a
 * cluster that already has it (an external one, a second suite), the stored
 * CRD is replaced by the project's, so every suite tests the same schema.
 */
export async function ensureCrd(api: Api<unknown>): Promise<void> {
  const crd = parse(readFileSync(CRD_FILE, 'utf8')) as { metadata: { name: string } };
  const created = await api('POST', CRDS, crd);
  if (created.status === 409) {
    const path = `${CRDS}/${crd.metadata.name}`;
    const current = (await api('GET', path)).body as { metadata: { resourceVersion: string } };
    const replaced = await api('PUT', path, {
      ...crd,
      metadata: { ...crd.metadata, resourceVersion: current.metadata.resourceVersion },
    });
    if (replaced.status !== 200) throw new Error(`PUT ${path}: ${JSON.stringify(replaced.body)}`);
  } else if (created.status !== 201) {
    throw new Error(`POST ${CRDS}: ${JSON.stringify(created.body)}`);
  }
  await eventually('the mlpipelines resource to be served', 60_000, async () =>
    (await api('GET', '/apis/mlpipeline.dev/v1alpha1/mlpipelines')).status === 200
      ? true
      : undefined,
  );
}

/**
 * Creates a suite's namespace. On an external cluster a namespace of that
 * name left by an earlier run is deleted first, and the new one is deleted
 * when the suite stops the cluster.
 */
export async function createNamespace(cp: ControlPlane, api: Api<unknown>, name: string) {
  const path = `/api/v1/namespaces/${name}`;
  if (cp.external) {
    await api('DELETE', path);
    await eventually(`namespace ${name} left by an earlier run to go`, 180_000, async () =>
      (await api('GET', path)).status === 404 ? true : undefined,
    );
    cp.atStop(async () => {
      await api('DELETE', path);
    });
  }
  const r = await api('POST', '/api/v1/namespaces', { metadata: { name } });
  if (r.status !== 201) throw new Error(`POST namespace ${name}: ${JSON.stringify(r.body)}`);
}

export interface Reply<Body> {
  status: number;
  body: Body;
  /** Warning headers the API server sent. */
  warnings: string[];
}

export type Api<Body> = (
  method: string,
  path: string,
  body?: unknown,
  contentType?: string,
) => Promise<Reply<Body>>;

/**
 * Requests as the cluster admin (the control plane's client certificate), or
 * as whoever a bearer token belongs to. A reply that is not JSON comes back
 * as `{ message: text }`.
 */
export function apiClient<Body = Record<string, unknown>>(
  cp: ControlPlane,
  token?: string,
): Api<Body> {
  const ca = readFileSync(cp.tls.ca);
  const identity =
    token === undefined ? { cert: readFileSync(cp.tls.cert), key: readFileSync(cp.tls.key) } : {};
  return (method, path, body, contentType = 'application/json') =>
    new Promise((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const headers: Record<string, string> = { accept: 'application/json' };
      if (payload !== undefined) headers['content-type'] = contentType;
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      const req = request(
        new URL(path, cp.server),
        { method, ca, ...identity, headers, timeout: 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let parsed: unknown;
            try {
              parsed = JSON.parse(text);
            } catch {
              parsed = { message: text };
            }
            const w = res.headers.warning;
            const warnings = w === undefined ? [] : Array.isArray(w) ? w : [w];
            resolve({ status: res.statusCode ?? 0, body: parsed as Body, warnings });
          });
        },
      );
      req.on('error', reject);
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: no answer in 30 s`)));
      req.end(payload);
    });
}

/** Polls probe until it returns a value, or fails naming what never came. */
export async function eventually<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  everyMs = 250,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
