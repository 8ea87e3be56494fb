import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { messageOf, UserError } from '../errors.js';
import { validateCron, validateTimeZone } from '../schedule/index.js';
import type { MLPipelineDocument, MLPipelineSpec } from './types.generated.js';
import { checkAgainstSchema, type SpecProblem } from './validate.js';
import { checkBeyondSchema, checkSchedules } from './semantic.js';

/** A validated pipeline with its defaults filled in. */
export interface Pipeline {
  name: string;
  namespace?: string;
  spec: MLPipelineSpec;
  /** Relative CSV paths are read from here: the folder of the pipeline file. */
  baseDir: string;
  file: string;
}

export interface FileProblem extends SpecProblem {
  file: string;
  /** 1-based index of the YAML document in the file. */
  document: number;
}

/** Every problem found in a set of pipeline files; nothing was loaded. */
export class SpecValidationError extends Error {
  override readonly name = 'SpecValidationError';
  constructor(readonly problems: FileProblem[]) {
    super(
      problems
        .map(
          (p) =>
            `${p.file}${p.document > 1 ? `#${p.document}` : ''}: ${p.path || '(document)'}: ${p.message}`,
        )
        .join('\n'),
    );
  }
}

/** Pipeline files under a path: the file itself, or the .yaml/.yml files of a folder (not recursive). */
export function pipelineFiles(path: string): string[] {
  const full = resolve(path);
  if (!isDirectory(full)) return [full];
  return readdirSync(full)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => join(full, name));
}

/**
 * Reads and validates every MLPipeline in a file or folder. Documents of other
 * kinds in a folder are ignored; in a file named on purpose they are errors.
 * Throws SpecValidationError listing all problems of all files.
 */
export interface LoadOptions {
  /**
   * Also check what depends on data outside the file: the columns of a local
   * CSV source (default true). A long-running process turns it off at start,
   * so one pipeline's changed data file fails that pipeline's runs rather
   * than keeping every pipeline from starting.
   */
  dataChecks?: boolean;
}

export function loadPipelines(path: string, options: LoadOptions = {}): Pipeline[] {
  const isDir = isDirectory(resolve(path));
  const problems: FileProblem[] = [];
  const pipelines: Pipeline[] = [];

  for (const file of pipelineFiles(path)) {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      problems.push({ file, document: 1, path: '', message: `cannot read: ${messageOf(error)}` });
      continue;
    }
    parseAllDocuments(text).forEach((doc, i) => {
      const at = { file, document: i + 1 };
      if (doc.errors.length > 0) {
        problems.push(
          ...doc.errors.map((e) => ({ ...at, path: '', message: `YAML: ${e.message}` })),
        );
        return;
      }
      let value: unknown;
      try {
        // The parser caps alias expansion, so a "billion laughs" document stops here.
        value = doc.toJS({ maxAliasCount: 100 });
      } catch (error) {
        problems.push({ ...at, path: '', message: `YAML: ${messageOf(error)}` });
        return;
      }
      if (value === null || value === undefined) return;
      if (isDir && (value as { kind?: unknown }).kind !== 'MLPipeline') return;

      const found = checkPipelineDocument(value, dirname(file), options.dataChecks ?? true);
      if (found.length > 0) {
        problems.push(...found.map((p) => ({ ...at, ...p })));
        return;
      }
      const typed = value as MLPipelineDocument & {
        metadata: { name: string; namespace?: string };
      };
      pipelines.push({
        name: typed.metadata.name,
        namespace: typed.metadata.namespace,
        spec: typed.spec,
        baseDir: dirname(file),
        file,
      });
    });
  }

  problems.push(...duplicateNames(pipelines));
  if (problems.length > 0) throw new SpecValidationError(problems);
  return pipelines;
}

/**
 * Everything `mlpipeline validate` checks for one document: the CRD schema (as
 * the API server applies it, defaults included) and what a schema cannot say.
 * Fills in defaults in place.
 */
export function checkPipelineDocument(
  doc: unknown,
  baseDir: string,
  dataChecks = true,
): SpecProblem[] {
  const problems = checkAgainstSchema(doc);
  const name = (doc as { metadata?: { name?: unknown } } | null)?.metadata?.name;
  if (typeof name !== 'string') problems.push({ path: 'metadata.name', message: 'is required' });
  if (problems.length === 0) {
    const spec = (doc as MLPipelineDocument).spec;
    return dataChecks ? checkBeyondSchema(spec, baseDir) : checkSchedules(spec);
  }
  return [...problems, ...scheduleProblems(doc, problems)];
}

// With schema errors elsewhere the spec cannot be trusted as a whole, but a
// user still wants every problem at once: the schedule and time zone are
// checked on their own when they are strings the schema accepted.
function scheduleProblems(doc: unknown, known: SpecProblem[]): SpecProblem[] {
  const spec = (doc as { spec?: { schedule?: unknown; timeZone?: unknown } } | null)?.spec;
  const out: SpecProblem[] = [];
  const unflagged = (path: string) => !known.some((p) => p.path === path);
  if (typeof spec?.schedule === 'string' && unflagged('spec.schedule')) {
    const error = validateCron(spec.schedule);
    if (error) out.push({ path: 'spec.schedule', message: error });
  }
  if (typeof spec?.timeZone === 'string' && unflagged('spec.timeZone')) {
    const error = validateTimeZone(spec.timeZone);
    if (error) out.push({ path: 'spec.timeZone', message: error });
  }
  return out;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new UserError(`${path}: no such file or folder`);
    }
    throw error;
  }
}

function duplicateNames(pipelines: Pipeline[]): FileProblem[] {
  const seen = new Map<string, Pipeline>();
  const problems: FileProblem[] = [];
  for (const p of pipelines) {
    const key = `${p.namespace ?? ''}/${p.name}`;
    const first = seen.get(key);
    if (first) {
      problems.push({
        file: p.file,
        document: 1,
        path: 'metadata.name',
        message: `pipeline "${p.name}" is already defined in ${first.file}`,
      });
    } else seen.set(key, p);
  }
  return problems;
}
