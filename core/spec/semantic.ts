import { describeColumns } from '../columns.js';
import { messageOf } from '../errors.js';
import { closeSync, openSync, readSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { parse } from 'csv-parse/sync';
import { BUILTIN_DATASETS } from '../builtin-datasets.js';
import { validateCron, validateTimeZone } from '../schedule/index.js';
import type { MLPipelineSpec, SourceSpec } from './types.generated.js';
import type { SpecProblem } from './validate.js';

/**
 * What the schema cannot say: that the cron expressions parse, that the time
 * zone exists, and that the features and label are columns of a source whose
 * columns can be known offline (a local CSV file or a built-in data set).
 * MySQL and s3:// sources are checked when the collect stage reads them.
 */
export function checkBeyondSchema(spec: MLPipelineSpec, baseDir: string): SpecProblem[] {
  const problems: SpecProblem[] = checkSchedules(spec);

  problems.push(
    ...checkColumns(spec.source, 'spec.source', baseDir, [
      ...spec.features.map((column, i) => ({ column, path: `spec.features[${i}]` })),
      { column: spec.label, path: 'spec.label' },
    ]),
  );
  if (spec.predict.source) {
    problems.push(
      ...checkColumns(
        spec.predict.source,
        'spec.predict.source',
        baseDir,
        spec.features.map((column, i) => ({ column, path: `spec.features[${i}]` })),
      ),
    );
  }
  return problems;
}

/** That every cron expression parses and fires, and that the time zone exists. */
export function checkSchedules(spec: MLPipelineSpec): SpecProblem[] {
  const problems: SpecProblem[] = [];
  const cronError = validateCron(spec.schedule);
  if (cronError) problems.push({ path: 'spec.schedule', message: cronError });
  const zoneError = validateTimeZone(spec.timeZone);
  if (zoneError) problems.push({ path: 'spec.timeZone', message: zoneError });
  for (const [stage, settings] of Object.entries(spec.stages ?? {})) {
    if (!settings?.schedule) continue;
    const error = validateCron(settings.schedule);
    if (error) problems.push({ path: `spec.stages.${stage}.schedule`, message: error });
  }
  return problems;
}

function checkColumns(
  source: SourceSpec,
  path: string,
  baseDir: string,
  needed: { column: string; path: string }[],
): SpecProblem[] {
  let columns: readonly string[];
  let where: string;
  if (source.builtin) {
    columns = BUILTIN_DATASETS[source.builtin].columns;
    where = `the built-in data set ${source.builtin}`;
  } else if (source.csv && !source.csv.path.startsWith('s3://')) {
    const file = isAbsolute(source.csv.path) ? source.csv.path : resolve(baseDir, source.csv.path);
    try {
      columns = readCsvHeader(file);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const reason =
        code === 'ENOENT'
          ? 'no such file'
          : code === 'EISDIR'
            ? 'it is a folder'
            : messageOf(error);
      return [{ path: `${path}.csv.path`, message: `cannot read ${file}: ${reason}` }];
    }
    where = `the header of ${source.csv.path}`;
  } else {
    return [];
  }
  const have = new Set(columns);
  return needed
    .filter((n) => !have.has(n.column))
    .map((n) => ({
      path: n.path,
      message: `column "${n.column}" is not in ${where} (columns: ${describeColumns(columns)})`,
    }));
}

/** The header line may be long (thousands of columns), but not without end. */
const MAX_HEADER_BYTES = 16 * 1024 * 1024;

/** The column names on the first line of a CSV file, reading only as far as that line. */
export function readCsvHeader(file: string): string[] {
  const fd = openSync(file, 'r');
  try {
    const chunks: Buffer[] = [];
    let read = 0;
    for (;;) {
      const chunk = Buffer.alloc(64 * 1024);
      const length = readSync(fd, chunk, 0, chunk.length, read);
      if (length === 0) break;
      const piece = chunk.subarray(0, length);
      chunks.push(piece);
      read += length;
      if (piece.includes(0x0a)) break;
      if (read > MAX_HEADER_BYTES)
        throw new Error(`no line break in the first ${MAX_HEADER_BYTES} bytes`);
    }
    const text = Buffer.concat(chunks)
      .toString('utf8')
      .replace(/^\uFEFF/, '');
    const firstLine = text.split(/\r?\n/, 1)[0] ?? '';
    const rows: string[][] = parse(firstLine, {});
    const header = rows[0];
    if (!header || header.length === 0) throw new Error('the file has no header line');
    return header.map((c) => c.trim());
  } finally {
    closeSync(fd);
  }
}
