/**
 * One measured fit, in a process of its own so its memory figures are its own:
 * run by bench/train.ts with a JSON case as the only argument, it prints one
 * JSON result line.
 */
import { readFileSync, writeFileSync } from 'node:fs';

import type { Matrix } from '../jobs/ml/dataset.js';
import { fitScaler } from '../jobs/ml/scaler.js';
import { fitSoftmax } from '../jobs/ml/softmax-lbfgs.js';
import { stratifiedSplit } from '../jobs/ml/split.js';
import { fitModel, type Algorithm, type FitOptions } from '../jobs/ml/train.js';
import { ensureDataset, loadFeatures, loadInt32, type DatasetSpec } from './train-data.js';

export interface MeasureCase {
  dataset: DatasetSpec;
  algorithm: Algorithm;
  /** Leading rows of the data set to use: a slice for the slow algorithm. */
  rows: number;
  params: Omit<FitOptions, 'algorithm'>;
}

export interface MeasureResult {
  rows: number;
  split: { train: number; test: number };
  /** fitModel: split, scaler, training, test metrics. */
  endToEndSeconds: number;
  /** The optimiser alone, on the same split and scaler (softmax-lbfgs only). */
  fitSeconds: number | null;
  accuracy: number;
  macroF1: number;
  iterations: number;
  stopReason: string;
  /** Resident set size after loading the data, before fitting. */
  rssBeforeBytes: number;
  /** Largest resident set size while fitModel ran (kernel high-water mark). */
  peakRssBytes: number | null;
}

function measure(testCase: MeasureCase): MeasureResult {
  const files = ensureDataset(testCase.dataset);
  const all = loadFeatures(files.features, testCase.dataset.rows, testCase.dataset.features);
  const X: Matrix = {
    data: all.data.subarray(0, testCase.rows * all.cols),
    rows: testCase.rows,
    cols: all.cols,
  };
  const y = loadInt32(files.labels).subarray(0, testCase.rows);
  const options: FitOptions = { ...testCase.params, algorithm: testCase.algorithm };

  const rssBeforeBytes = residentBytes('VmRSS') ?? process.memoryUsage().rss;
  const peakResets = resetPeakResident();
  let started = performance.now();
  const result = fitModel(X, y, testCase.dataset.classes, options);
  const endToEndSeconds = (performance.now() - started) / 1000;
  const peakRssBytes = peakResets ? residentBytes('VmHWM') : null;

  let fitSeconds: number | null = null;
  if (testCase.algorithm === 'softmax-lbfgs') {
    const split = stratifiedSplit(y, testCase.dataset.classes, options.testFraction, options.seed);
    const scaler = options.standardize ? fitScaler(X, split.train) : null;
    started = performance.now();
    fitSoftmax(
      X,
      y,
      testCase.dataset.classes,
      { l2: options.l2, maxIterations: options.numSteps, tolerance: options.tolerance },
      { rows: split.train, scaler },
    );
    fitSeconds = (performance.now() - started) / 1000;
  }

  return {
    rows: testCase.rows,
    split: result.split,
    endToEndSeconds,
    fitSeconds,
    accuracy: result.metrics.accuracy,
    macroF1: result.metrics.macroF1,
    iterations: result.training.iterations,
    stopReason: result.training.stopReason,
    rssBeforeBytes,
    peakRssBytes,
  };
}

/** A figure from /proc/self/status in bytes, or null off Linux. */
function residentBytes(field: 'VmRSS' | 'VmHWM'): number | null {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(
      readFileSync('/proc/self/status', 'utf8'),
    );
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/**
 * Lowers the high-water mark to the current size (Linux, clear_refs 5), so the
 * peak read afterwards is the fit's and not the data loading's.
 */
function resetPeakResident(): boolean {
  try {
    writeFileSync('/proc/self/clear_refs', '5');
    return true;
  } catch {
    return false;
  }
}

const argument = process.argv[2];
if (argument === undefined) throw new Error('usage: train-measure.ts <case as JSON>');
process.stdout.write(`${JSON.stringify(measure(JSON.parse(argument) as MeasureCase))}\n`);
