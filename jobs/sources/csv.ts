import { parse } from 'csv-parse/sync';
import { UserError } from '../../core/errors.js';
import type { RawTable } from '../../core/ports.js';

/**
 * Parses CSV text with a header line. Values stay strings, exactly as written,
 * and an empty field is NULL; numbers are read by the clean stage.
 */
export function parseCsv(text: string, where: string): RawTable {
  let records: string[][];
  try {
    records = parse(text, { bom: true, skip_empty_lines: true, relax_column_count: false });
  } catch (error) {
    throw new UserError(`${where}: not valid CSV: ${(error as Error).message}`);
  }
  const [header, ...rows] = records;
  if (!header) throw new UserError(`${where}: the file is empty; a header line is needed`);
  return {
    columns: header.map((c) => c.trim()),
    rows: rows.map((row) => row.map((cell) => (cell === '' ? null : cell))),
  };
}
