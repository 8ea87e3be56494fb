import { describeColumns } from '../../core/columns.js';
import { UserError } from '../../core/errors.js';
import type { Cell, RawTable } from '../../core/ports.js';
import type { CleanData, CleanMeta } from '../artifacts.js';

export interface CleanOptions {
  features: string[];
  label: string;
  dropMissing: boolean;
  dropDuplicates: boolean;
  minRows: number;
}

/** Why a row was dropped; the counts are reported per reason. */
export type DropReason =
  'missingFeature' | 'nonNumericFeature' | 'missingLabel' | 'labelTooLong' | 'duplicate';

/** Labels are stored in a VARCHAR(255) column of the predictions table. */
export const MAX_LABEL_LENGTH = 255;

/** More distinct labels than this is an identifier column, not a class. */
export const MAX_CLASSES = 1000;

// Number('') is 0 and Number('0x1f') is 31: only plain decimal notation counts.
const NUMERIC = /^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$/;

/** A cell as a finite number, or the reason it is not one. */
export function toFeatureValue(cell: Cell): number | 'missingFeature' | 'nonNumericFeature' {
  if (cell === null) return 'missingFeature';
  if (typeof cell === 'number') return Number.isFinite(cell) ? cell : 'nonNumericFeature';
  const text = cell.trim();
  if (text === '') return 'missingFeature';
  if (!NUMERIC.test(text)) return 'nonNumericFeature';
  const value = Number(text);
  return Number.isFinite(value) ? value : 'nonNumericFeature';
}

/**
 * Turns raw rows into a numeric training set: drops rows with a missing or
 * non-numeric feature or a missing label, drops exact duplicates, and encodes
 * the label values as 0..k-1 in sorted order. Pure; throws UserError when too
 * little is left to train on.
 */
export function cleanTable(
  raw: RawTable,
  options: CleanOptions,
): { data: CleanData; meta: CleanMeta } {
  const featureIndex = options.features.map((name) => columnIndex(raw, name, 'features'));
  const labelIndex = columnIndex(raw, options.label, 'label');
  const d = featureIndex.length;

  const dropped: Record<DropReason, number> = {
    missingFeature: 0,
    nonNumericFeature: 0,
    missingLabel: 0,
    labelTooLong: 0,
    duplicate: 0,
  };
  const kept: { values: number[]; label: string }[] = [];
  const seen = new Set<string>();

  raw.rows.forEach((row, rowNumber) => {
    const values: number[] = [];
    for (let j = 0; j < d; j++) {
      const value = toFeatureValue(row[featureIndex[j]!] ?? null);
      if (typeof value !== 'number') {
        return reject(
          value,
          rowNumber,
          `column ${options.features[j]} is ${describe(row[featureIndex[j]!])}`,
        );
      }
      values.push(value);
    }
    const labelCell = row[labelIndex] ?? null;
    const label = labelCell === null ? '' : String(labelCell).trim();
    if (label === '') return reject('missingLabel', rowNumber, `label ${options.label} is empty`);
    if (label.length > MAX_LABEL_LENGTH) {
      return reject(
        'labelTooLong',
        rowNumber,
        `label ${options.label} is longer than ${MAX_LABEL_LENGTH} characters`,
      );
    }

    if (options.dropDuplicates) {
      const key = values.join(',') + '\u0000' + label;
      if (seen.has(key)) {
        dropped.duplicate++;
        return;
      }
      seen.add(key);
    }
    kept.push({ values, label });
  });

  function reject(reason: DropReason, rowNumber: number, what: string): void {
    if (!options.dropMissing) {
      throw new UserError(
        `clean: row ${rowNumber + 1}: ${what}, and spec.clean.dropMissing is false`,
      );
    }
    dropped[reason]++;
  }

  const summary = Object.entries(dropped)
    .filter(([, n]) => n > 0)
    .map(([reason, n]) => `${n} ${reason}`)
    .join(', ');
  if (kept.length < options.minRows) {
    throw new UserError(
      `clean: ${kept.length} of ${raw.rows.length} rows remain, fewer than spec.clean.minRows (${options.minRows})` +
        (summary ? `; dropped: ${summary}` : ''),
    );
  }

  const classes = [...new Set(kept.map((r) => r.label))].sort((a, b) =>
    a.localeCompare(b, 'en', { numeric: true }),
  );
  if (classes.length < 2) {
    const found = classes.length === 1 ? `only one value ("${classes[0]}")` : 'no values';
    throw new UserError(
      `clean: the label ${options.label} has ${found} after cleaning; ` +
        'a classifier needs at least two classes',
    );
  }
  if (classes.length > MAX_CLASSES) {
    throw new UserError(
      `clean: the label ${options.label} has ${classes.length} distinct values, ` +
        `more than ${MAX_CLASSES}; is it an identifier rather than a class?`,
    );
  }
  const code = new Map(classes.map((c, i) => [c, i]));

  const X = new Float64Array(kept.length * d);
  const y = new Int32Array(kept.length);
  kept.forEach((row, i) => {
    X.set(row.values, i * d);
    y[i] = code.get(row.label)!;
  });

  return {
    data: { features: options.features, label: options.label, classes, rows: kept.length, X, y },
    meta: {
      features: options.features,
      label: options.label,
      classes,
      rows: kept.length,
      inputRows: raw.rows.length,
      dropped,
    },
  };
}

function columnIndex(raw: RawTable, name: string, field: 'features' | 'label'): number {
  const index = raw.columns.indexOf(name);
  if (index === -1) {
    throw new UserError(
      `spec.${field}: column "${name}" is not in the source (columns: ${describeColumns(raw.columns)})`,
    );
  }
  return index;
}

function describe(cell: Cell | undefined): string {
  if (cell === null || cell === undefined) return 'NULL';
  return JSON.stringify(cell).slice(0, 40);
}
