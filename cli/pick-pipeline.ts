import { loadPipelines, SpecValidationError, type Pipeline } from '../core/spec/load.js';

/** The one pipeline a command acts on, or undefined after printing why not. */
export function pickPipeline(file: string, name: string | undefined): Pipeline | undefined {
  let pipelines: Pipeline[];
  try {
    pipelines = loadPipelines(file);
  } catch (error) {
    console.error(
      error instanceof SpecValidationError ? error.message : `${file}: ${(error as Error).message}`,
    );
    return undefined;
  }
  const match = name ? pipelines.filter((p) => p.name === name) : pipelines;
  if (match.length === 1) return match[0];
  const names = pipelines.map((p) => p.name).join(', ') || 'none';
  console.error(
    name
      ? `${file}: no pipeline named "${name}" (found: ${names})`
      : `${file}: holds ${pipelines.length} pipelines (${names}); choose one with --pipeline`,
  );
  return undefined;
}
