/**
 * The synthetic data set of the training benchmark: seeded Gaussian blobs,
 * written once under the system's temporary folder and read back by every
 * measured process, so the TypeScript and scikit-learn runs fit the very same
 * rows with the very same split.
 */
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import type { Matrix } from '../jobs/ml/dataset.js';
import { createGaussian, createRandom } from '../jobs/ml/random.js';
import { stratifiedSplit } from '../jobs/ml/split.js';

/** Part of the file names: bump it when generateBlobs changes, so no stale file is reused. */
const GENERATOR = 'blobs-v1';

export interface DatasetSpec {
  rows: number;
  features: number;
  classes: number;
  seed: number;
  /** Seed and held-out share of the stratified split stored beside the data. */
  splitSeed: number;
  testFraction: number;
}

export interface DatasetFiles {
  /** rows x features float64, little-endian, row-major. */
  features: string;
  /** rows int32 class indices. */
  labels: string;
  /** int32 row indices of each split, ascending. */
  train: string;
  test: string;
}

export function datasetFiles(spec: DatasetSpec): DatasetFiles {
  const dir = join(tmpdir(), 'mlpipeline-bench');
  const name = `${GENERATOR}-${spec.rows}x${spec.features}x${spec.classes}-seed${spec.seed}`;
  const split = `${name}-split${spec.splitSeed}-${spec.testFraction}`;
  return {
    features: join(dir, `${name}.features.f64`),
    labels: join(dir, `${name}.labels.i32`),
    train: join(dir, `${split}.train.i32`),
    test: join(dir, `${split}.test.i32`),
  };
}

/** Writes the data set and its split unless a previous run already did. */
export function ensureDataset(spec: DatasetSpec): DatasetFiles {
  const files = datasetFiles(spec);
  if ([files.features, files.labels, files.train, files.test].every(existsSync)) return files;

  mkdirSync(join(tmpdir(), 'mlpipeline-bench'), { recursive: true });
  const { X, y } = generateBlobs(spec);
  const split = stratifiedSplit(y, spec.classes, spec.testFraction, spec.splitSeed);
  writeAtomically(files.features, X.data);
  writeAtomically(files.labels, y);
  writeAtomically(files.train, split.train);
  writeAtomically(files.test, split.test);
  return files;
}

export function loadFeatures(path: string, rows: number, cols: number): Matrix {
  const data = new Float64Array(rows * cols);
  readInto(path, new Uint8Array(data.buffer));
  return { data, rows, cols };
}

export function loadInt32(path: string): Int32Array {
  const values = new Int32Array(statSync(path).size / Int32Array.BYTES_PER_ELEMENT);
  readInto(path, new Uint8Array(values.buffer));
  return values;
}

/**
 * Three classes (priors 0.5, 0.3, 0.2) around random centres, with noise mixed
 * across features and every feature given its own scale and offset: the
 * classes overlap, so accuracy stays well below 1, and an unstandardised fit
 * would be badly conditioned, as real features often are.
 */
export function generateBlobs(spec: DatasetSpec): { X: Matrix; y: Int32Array } {
  const { rows, features: d, classes: k } = spec;
  const random = createRandom(spec.seed);
  const gaussian = createGaussian(random);

  const centres = Array.from({ length: k }, () =>
    Array.from({ length: d }, () => 0.5 * gaussian()),
  );
  const mixing = Array.from(
    { length: d * d },
    (_, i) => (i % (d + 1) === 0 ? 1 : 0) + (0.5 * gaussian()) / Math.sqrt(d),
  );
  const scales = Array.from({ length: d }, () => 10 ** (4 * random() - 2));
  const offsets = Array.from({ length: d }, () => 100 * random() - 50);
  const priors = cumulative(k === 3 ? [0.5, 0.3, 0.2] : new Array<number>(k).fill(1 / k));

  const data = new Float64Array(rows * d);
  const y = new Int32Array(rows);
  const noise = new Float64Array(d);
  for (let i = 0; i < rows; i++) {
    const u = random();
    const found = priors.findIndex((p) => u < p);
    const label = found === -1 ? k - 1 : found;
    y[i] = label;
    for (let j = 0; j < d; j++) noise[j] = gaussian();
    for (let j = 0; j < d; j++) {
      let value = centres[label]![j]!;
      for (let m = 0; m < d; m++) value += mixing[j * d + m]! * noise[m]!;
      data[i * d + j] = value * scales[j]! + offsets[j]!;
    }
  }
  return { X: { data, rows, cols: d }, y };
}

function cumulative(values: number[]): number[] {
  let total = 0;
  return values.map((v) => (total += v));
}

function readInto(path: string, target: Uint8Array): void {
  const fd = openSync(path, 'r');
  try {
    let offset = 0;
    while (offset < target.length) {
      const read = readSync(fd, target, offset, target.length - offset, null);
      if (read === 0) throw new Error(`${path} ends after ${offset} of ${target.length} bytes`);
      offset += read;
    }
  } finally {
    closeSync(fd);
  }
}

/** A half-written file from an interrupted run must not pass for the data set. */
function writeAtomically(path: string, values: Float64Array | Int32Array): void {
  writeFileSync(
    `${path}.partial`,
    new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  );
  renameSync(`${path}.partial`, path);
}
