import { createRandom, shuffle } from './random.js';

export interface Split {
  /** Row indices, ascending, so passes over the rows read memory in order. */
  train: Int32Array;
  test: Int32Array;
}

/**
 * Holds out testFraction of each class's rows, chosen by a seeded shuffle, so
 * the test split has the classes in the proportions of the data and the same
 * seed always picks the same rows.
 *
 * A class with at least 2 rows gets at least one test row and keeps at least
 * one training row; a class with a single row keeps it for training, since a
 * model cannot learn a class it has never seen.
 *
 * @example stratifiedSplit(Int32Array.of(0, 0, 1, 1), 2, 0.5, 42) // one row of each class in test
 */
export function stratifiedSplit(
  y: Int32Array,
  classCount: number,
  testFraction: number,
  seed: number,
): Split {
  if (!Number.isInteger(classCount) || classCount < 1) {
    throw new RangeError(`classCount must be a positive integer, got ${classCount}`);
  }
  if (!(testFraction > 0 && testFraction < 1)) {
    throw new RangeError(`testFraction must be between 0 and 1 (exclusive), got ${testFraction}`);
  }

  // Group rows by class with a counting sort: one array for all classes.
  const counts = new Int32Array(classCount);
  for (let i = 0; i < y.length; i++) {
    const label = y[i]!;
    if (label < 0 || label >= classCount) {
      throw new RangeError(`label ${label} in row ${i} is outside 0..${classCount - 1}`);
    }
    counts[label]!++;
  }
  const starts = new Int32Array(classCount + 1);
  for (let c = 0; c < classCount; c++) starts[c + 1] = starts[c]! + counts[c]!;
  const byClass = new Int32Array(y.length);
  const next = starts.slice(0, classCount);
  for (let i = 0; i < y.length; i++) byClass[next[y[i]!]!++] = i;

  const random = createRandom(seed);
  const isTest = new Uint8Array(y.length);
  let testCount = 0;
  for (let c = 0; c < classCount; c++) {
    const rows = byClass.subarray(starts[c], starts[c + 1]);
    const take = testRowsFor(rows.length, testFraction);
    shuffle(rows, random);
    for (let r = 0; r < take; r++) isTest[rows[r]!] = 1;
    testCount += take;
  }

  const train = new Int32Array(y.length - testCount);
  const test = new Int32Array(testCount);
  let t = 0;
  let s = 0;
  for (let i = 0; i < y.length; i++) {
    if (isTest[i] === 1) test[s++] = i;
    else train[t++] = i;
  }
  return { train, test };
}

function testRowsFor(classRows: number, testFraction: number): number {
  if (classRows < 2) return 0;
  const wanted = Math.round(classRows * testFraction);
  return Math.min(Math.max(wanted, 1), classRows - 1);
}
