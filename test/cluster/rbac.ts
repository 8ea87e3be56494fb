/**
 * The RBAC of deploy/rbac on a test cluster, as the Helm chart installs it
 * in its release namespace: the files name mlpipeline-system, and a suite
 * moves them to its own namespace.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { parseAllDocuments } from 'yaml';

import type { Api } from './api-client.js';

const RBAC_DIR = fileURLToPath(new URL('../../deploy/rbac/', import.meta.url));
/** The namespace deploy/rbac names; the chart replaces it with its release namespace. */
export const RBAC_NAMESPACE = 'mlpipeline-system';

interface RbacObject {
  kind: string;
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  subjects?: { namespace?: string }[];
}

/** Where each kind in deploy/rbac is created, in namespace ns. */
function collectionPath(kind: string, ns: string): string {
  switch (kind) {
    case 'ServiceAccount':
      return `/api/v1/namespaces/${ns}/serviceaccounts`;
    case 'Role':
      return `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`;
    case 'RoleBinding':
      return `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`;
    case 'ClusterRole':
      return '/apis/rbac.authorization.k8s.io/v1/clusterroles';
    case 'ClusterRoleBinding':
      return '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings';
    default:
      throw new Error(`deploy/rbac holds a ${kind}, which the tests do not know how to create`);
  }
}

/** The documents of a deploy/rbac file, moved from the chart's namespace to ns. */
export function rbacObjects(file: string, ns: string): RbacObject[] {
  const text = readFileSync(join(RBAC_DIR, file), 'utf8');
  return parseAllDocuments(text).map((doc) => {
    const obj = doc.toJSON() as RbacObject;
    if (obj.metadata.namespace === RBAC_NAMESPACE) obj.metadata.namespace = ns;
    for (const subject of obj.subjects ?? []) {
      if (subject.namespace === RBAC_NAMESPACE) subject.namespace = ns;
    }
    return obj;
  });
}

/**
 * Creates every object of a deploy/rbac file in ns. Cluster-wide ones that
 * exist already (another suite's, on a cluster the suites share) are replaced,
 * so their subjects name this suite's namespace.
 */
export async function applyRbac(api: Api<unknown>, file: string, ns: string): Promise<void> {
  for (const obj of rbacObjects(file, ns)) {
    const collection = collectionPath(obj.kind, ns);
    const created = await api('POST', collection, obj);
    if (created.status === 201) continue;
    if (created.status === 409 && obj.kind.startsWith('Cluster')) {
      const path = `${collection}/${obj.metadata.name}`;
      const current = (await api('GET', path)).body as RbacObject;
      const replaced = await api('PUT', path, {
        ...obj,
        metadata: { ...obj.metadata, resourceVersion: current.metadata.resourceVersion },
      });
      if (replaced.status === 200) continue;
      throw new Error(`PUT ${path}: ${JSON.stringify(replaced.body)}`);
    }
    throw new Error(`POST ${collection}: ${JSON.stringify(created.body)}`);
  }
}
