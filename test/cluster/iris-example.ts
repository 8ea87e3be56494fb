import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

import { parse } from 'yaml';

const EXAMPLE = fileURLToPath(new URL('../../examples/mysql/iris-mysql.yaml', import.meta.url));

/* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-assignment, @typescript-eslint/no-unsafe-member-access --
   A manifest as a test sends it: the API server fills in the defaults the typed spec requires. */
type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec: any };

/**
 * The MySQL Iris example under another name. It runs once a year unless
 * spec says otherwise, so only the runs a test asks for start.
 */
export function irisManifest(
  name: string,
  options: { spec?: Record<string, unknown>; sourceTable?: string; modelBucket?: string } = {},
): Manifest {
  const example = parse(readFileSync(EXAMPLE, 'utf8')) as Manifest;
  example.metadata = { name };
  example.spec = { ...example.spec, schedule: '0 0 1 1 *', ...options.spec };
  if (options.modelBucket !== undefined)
    example.spec.modelStore = { s3: { bucket: options.modelBucket } };
  if (options.sourceTable !== undefined) example.spec.source.mysql.table = options.sourceTable;
  return example;
}

/**
 * An MLPipeline on the built-in Iris data set, which needs no database or
 * file: for tests and benchmarks of the controller alone. Once a year unless
 * spec says otherwise.
 */
export function builtinIrisManifest(name: string, spec: Record<string, unknown> = {}): Manifest {
  return {
    apiVersion: 'mlpipeline.dev/v1alpha1',
    kind: 'MLPipeline',
    metadata: { name },
    spec: {
      schedule: '0 0 1 1 *',
      source: { builtin: 'iris' },
      features: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'],
      label: 'species',
      ...spec,
    },
  };
}
