import { loadPipelines, SpecValidationError } from '../core/spec/load.js';

/** Prints every problem with its file and field path; 1 when there is any. */
export function validateCommand(path: string): number {
  try {
    const pipelines = loadPipelines(path);
    if (pipelines.length === 0) {
      console.error(`${path}: no MLPipeline documents found`);
      return 1;
    }
    for (const p of pipelines) console.log(`${p.file}: ${p.name}: valid`);
    return 0;
  } catch (error) {
    if (error instanceof SpecValidationError) {
      console.error(error.message);
      console.error(
        `${error.problems.length} problem${error.problems.length === 1 ? '' : 's'} found`,
      );
      return 1;
    }
    console.error(`${path}: ${(error as Error).message}`);
    return 1;
  }
}
