import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

/**
 * The CRD file is the one definition of the spec: the API server validates
 * against it, and the offline validator and the TypeScript types are derived
 * from it here, so the two can never drift apart.
 */

export const API_GROUP = 'mlpipeline.dev';
export const API_VERSION = 'v1alpha1';
export const KIND = 'MLPipeline';

export type OpenApiSchema = Record<string, unknown>;

const CRD_FILE = 'crds/mlpipeline.dev_mlpipelines.yaml';

/** The CRD file: found from core/spec/ when run from source, from dist/core/spec/ when built. */
export function crdPath(): string {
  for (const up of ['../../', '../../../']) {
    const path = fileURLToPath(new URL(up + CRD_FILE, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`cannot find ${CRD_FILE} next to the installed package`);
}

let cached: OpenApiSchema | undefined;

/** The openAPIV3Schema of the served version, as written in the CRD. */
export function loadCrdSchema(): OpenApiSchema {
  if (cached) return cached;
  const crd = parse(readFileSync(crdPath(), 'utf8')) as {
    spec: { versions: { name: string; schema: { openAPIV3Schema: OpenApiSchema } }[] };
  };
  const version = crd.spec.versions.find((v) => v.name === API_VERSION);
  if (!version) throw new Error(`${CRD_FILE} has no version ${API_VERSION}`);
  cached = version.schema.openAPIV3Schema;
  return cached;
}
