import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Data sets that ship with mlpipeline, for trying it without a database. */
export const BUILTIN_DATASETS = {
  iris: {
    file: 'examples/data/iris.csv',
    columns: ['sepal_length', 'sepal_width', 'petal_length', 'petal_width', 'species'],
  },
} as const;

export type BuiltinName = keyof typeof BUILTIN_DATASETS;

/** The data set's CSV file, found from source (core/) or from the build (dist/core/). */
export function builtinPath(name: BuiltinName): string {
  const file = BUILTIN_DATASETS[name].file;
  for (const up of ['../', '../../']) {
    const path = fileURLToPath(new URL(up + file, import.meta.url));
    if (existsSync(path)) return path;
  }
  throw new Error(`built-in data set ${name} is missing: ${file} was not installed`);
}
