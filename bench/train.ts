/**
 * Benchmark of model fitting: softmax-lbfgs on a million rows against
 * scikit-learn's LogisticRegression on the same rows and split, and
 * ml-logistic-regression on a slice it can handle. Each fit runs in a process
 * of its own so the memory figures are its own.
 *
 * `npx tsx bench/train.ts` prints the Markdown section; benchTrain returns it.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

import { ensureDataset, type DatasetSpec } from './train-data.js';
import type { MeasureCase, MeasureResult } from './train-measure.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MEASURE_SCRIPT = join(ROOT, 'bench', 'train-measure.ts');
const SKLEARN_SCRIPT = join(ROOT, 'bench', 'train_sklearn.py');
/** Debian's interpreter, which has python3-sklearn; the one on PATH may not. */
const PYTHON = '/usr/bin/python3';

const DATASET: DatasetSpec = {
  rows: 1_000_000,
  features: 20,
  classes: 3,
  seed: 7,
  splitSeed: 42,
  testFraction: 0.2,
};
/** The pipeline's defaults for the train stage. */
const PARAMS = {
  learningRate: 0.1,
  numSteps: 2000,
  l2: 1e-4,
  tolerance: 1e-6,
  testFraction: DATASET.testFraction,
  seed: DATASET.splitSeed,
  standardize: true,
};
/** ml-logistic-regression copies the matrix every step: a slice and few steps. */
const SLICE_ROWS = 100_000;
const SLICE_STEPS = 100;
/** Timed runs of each full-size fit; the median is reported. */
const REPEATS = 3;
const RSS_SAMPLE_MS = 20;

interface Run<T extends MeasureResult = MeasureResult> {
  result: T;
  /** Largest VmRSS seen by polling the child from outside. */
  sampledPeakBytes: number | null;
}

interface SklearnResult extends MeasureResult {
  versions: Record<string, string>;
  blas: { api: string; threads: number }[];
}

export async function benchTrain(): Promise<string> {
  const loadBefore = loadavg()[0]!;
  const files = ensureDataset(DATASET);

  const softmax = await repeat(() =>
    runMeasured<MeasureResult>(process.execPath, [
      '--import',
      'tsx',
      MEASURE_SCRIPT,
      JSON.stringify(measureCase('softmax-lbfgs', DATASET.rows, PARAMS.numSteps)),
    ]),
  );
  const sklearnRun = (env: NodeJS.ProcessEnv) => () =>
    runMeasured<SklearnResult>(
      PYTHON,
      [
        SKLEARN_SCRIPT,
        ...['--features', files.features, '--labels', files.labels],
        ...['--train', files.train, '--test', files.test],
        ...['--cols', String(DATASET.features), '--l2', String(PARAMS.l2)],
        ...['--tolerance', String(PARAMS.tolerance), '--max-iter', String(PARAMS.numSteps)],
      ],
      env,
    );
  // This machine may tune OpenBLAS for another CPU; the reference runs untuned.
  const untuned = withoutVariables(['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE']);
  const sklearn = await repeat(sklearnRun(untuned));
  // softmax-lbfgs uses one core: the same reference held to one thread.
  const sklearnOneThread = await repeat(
    sklearnRun({ ...untuned, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1' }),
  );
  const softmaxSlice = await runMeasured<MeasureResult>(process.execPath, [
    '--import',
    'tsx',
    MEASURE_SCRIPT,
    JSON.stringify(measureCase('softmax-lbfgs', SLICE_ROWS, PARAMS.numSteps)),
  ]);
  const library = await runMeasured<MeasureResult>(process.execPath, [
    '--import',
    'tsx',
    MEASURE_SCRIPT,
    JSON.stringify(measureCase('ml-logistic-regression', SLICE_ROWS, SLICE_STEPS)),
  ]);

  return renderSection({
    softmax,
    sklearn,
    sklearnOneThread,
    softmaxSlice,
    library,
    loadBefore,
    loadAfter: loadavg()[0]!,
  });
}

function measureCase(
  algorithm: MeasureCase['algorithm'],
  rows: number,
  numSteps: number,
): MeasureCase {
  return { dataset: DATASET, algorithm, rows, params: { ...PARAMS, numSteps } };
}

/** Runs a measurement REPEATS times: median times, largest memory. */
async function repeat<T extends MeasureResult>(run: () => Promise<Run<T>>): Promise<Run<T>> {
  const runs: Run<T>[] = [];
  for (let i = 0; i < REPEATS; i++) runs.push(await run());
  const byTime = [...runs].sort((a, b) => a.result.endToEndSeconds - b.result.endToEndSeconds);
  const median = byTime[Math.floor(byTime.length / 2)]!;
  const fitTimes = runs.map((r) => r.result.fitSeconds).filter((t): t is number => t !== null);
  return {
    result: {
      ...median.result,
      fitSeconds: fitTimes.length > 0 ? medianOf(fitTimes) : null,
      peakRssBytes: maxOrNull(runs.map((r) => r.result.peakRssBytes)),
    },
    sampledPeakBytes: maxOrNull(runs.map((r) => r.sampledPeakBytes)),
  };
}

/** Spawns a measuring process, polls its RSS, and parses the JSON line it prints. */
function runMeasured<T extends MeasureResult>(
  command: string,
  args: string[],
  env = process.env,
): Promise<Run<T>> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let sampledPeakBytes: number | null = null;
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const sampler = setInterval(() => {
      const rss = childResidentBytes(child.pid);
      if (rss !== null) sampledPeakBytes = Math.max(sampledPeakBytes ?? 0, rss);
    }, RSS_SAMPLE_MS);

    child.on('error', (error) => {
      clearInterval(sampler);
      reject(error);
    });
    child.on('close', (code) => {
      clearInterval(sampler);
      const line = stdout.trim().split('\n').pop() ?? '';
      if (code !== 0 || !line.startsWith('{')) {
        reject(new Error(`${command} ${args[0] ?? ''} exited with ${code}: ${stderr.trim()}`));
        return;
      }
      resolve({ result: JSON.parse(line) as T, sampledPeakBytes });
    });
  });
}

function childResidentBytes(pid: number | undefined): number | null {
  if (pid === undefined) return null;
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : null;
  } catch {
    return null;
  }
}

function withoutVariables(names: string[]): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of names) delete env[name];
  return env;
}

interface Figures {
  softmax: Run;
  sklearn: Run<SklearnResult>;
  sklearnOneThread: Run<SklearnResult>;
  softmaxSlice: Run;
  library: Run;
  loadBefore: number;
  loadAfter: number;
}

function renderSection(f: Figures): string {
  const matrixBytes = DATASET.rows * DATASET.features * Float64Array.BYTES_PER_ELEMENT;
  const sliceBytes = SLICE_ROWS * DATASET.features * Float64Array.BYTES_PER_ELEMENT;
  const ours = f.softmax.result;
  const reference = f.sklearn.result;
  const oursFit = ours.fitSeconds ?? ours.endToEndSeconds;
  const timeRatio = oursFit / reference.fitSeconds!;
  const oneThreadRatio = oursFit / f.sklearnOneThread.result.fitSeconds!;
  const accuracyGap = ours.accuracy - reference.accuracy;
  const extra = (run: Run): number | null =>
    run.result.peakRssBytes === null ? null : run.result.peakRssBytes - run.result.rssBeforeBytes;
  const oursExtra = extra(f.softmax);
  const cpu = cpus();
  const versions = reference.versions;
  const blas = reference.blas.map((b) => `${b.api} x${b.threads}`).join(', ') || 'not reported';

  const row = (name: string, run: Run, size: string): string =>
    `| ${[
      name,
      size,
      `${run.result.split.train.toLocaleString('en')} / ${run.result.split.test.toLocaleString('en')}`,
      run.result.fitSeconds === null ? '-' : seconds(run.result.fitSeconds),
      seconds(run.result.endToEndSeconds),
      String(run.result.iterations),
      run.result.accuracy.toFixed(4),
      megabytes(run.result.rssBeforeBytes),
      megabytes(run.result.peakRssBytes),
      megabytes(extra(run)),
      megabytes(run.sampledPeakBytes),
    ].join(' | ')} |`;

  return [
    '## Training: softmax-lbfgs, ml-logistic-regression, scikit-learn',
    '',
    `Synthetic Gaussian blobs (seed ${DATASET.seed}): ${DATASET.rows.toLocaleString('en')} rows x ` +
      `${DATASET.features} features x ${DATASET.classes} classes; feature matrix ` +
      `${megabytes(matrixBytes)} MB (float64). Stratified split (seed ${DATASET.splitSeed}, ` +
      `test ${DATASET.testFraction}), standardised on the training rows. Parameters are the train ` +
      `stage's defaults: l2 ${PARAMS.l2}, tolerance ${PARAMS.tolerance}, at most ${PARAMS.numSteps} ` +
      `iterations; ml-logistic-regression: learning rate ${PARAMS.learningRate}, ${SLICE_STEPS} steps, ` +
      `on the first ${SLICE_ROWS.toLocaleString('en')} rows (${megabytes(sliceBytes)} MB).`,
    '',
    '| run | rows | train / test | fit (s) | end to end (s) | iterations | test accuracy | RSS before (MB) | peak RSS (MB) | peak - before (MB) | sampled peak (MB) |',
    '| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
    row('softmax-lbfgs', f.softmax, '1,000,000'),
    row('scikit-learn LogisticRegression (lbfgs, multinomial)', f.sklearn, '1,000,000'),
    row('scikit-learn, one BLAS/OpenMP thread', f.sklearnOneThread, '1,000,000'),
    row('softmax-lbfgs', f.softmaxSlice, SLICE_ROWS.toLocaleString('en')),
    row('ml-logistic-regression', f.library, SLICE_ROWS.toLocaleString('en')),
    '',
    `- Time: softmax-lbfgs fits in ${timeRatio.toFixed(2)}x scikit-learn's time (target <= 2x); ` +
      `${oneThreadRatio.toFixed(2)}x its time on one thread.`,
    `- Accuracy: ${accuracyGap >= 0 ? '+' : ''}${accuracyGap.toFixed(4)} against scikit-learn (target within 0.01).`,
    `- Memory: softmax-lbfgs's end-to-end peak is ${megabytes(oursExtra)} MB above the loaded data, ` +
      `${oursExtra === null ? '-' : (oursExtra / matrixBytes).toFixed(2)}x the feature matrix (target < 2x).`,
    '',
    'How to read it: "fit" is the optimiser alone (softmax-lbfgs: fitSoftmax; scikit-learn: ' +
      'LogisticRegression.fit); "end to end" adds the split, the scaler and test predictions ' +
      `(fitModel; for scikit-learn: indexing, StandardScaler, fit, predict). Full-size rows are the ` +
      `median of ${REPEATS} runs, each in a fresh process, with the largest memory figure. Peak RSS is ` +
      "the kernel's high-water mark during the fit, reset after loading; the sampled peak polls the " +
      `whole process every ${RSS_SAMPLE_MS} ms, data loading included. scikit-learn minimises the same ` +
      'objective: C = 1 / (l2 x training rows) and tol = tolerance x training rows, as it sums the loss ' +
      'that we average.',
    '',
    `Machine: ${cpu[0]?.model ?? 'unknown CPU'}, ${cpu.length} CPUs, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; ` +
      `Node ${process.version}; Python ${versions.python}, scikit-learn ${versions.sklearn}, ` +
      `NumPy ${versions.numpy}, SciPy ${versions.scipy}, BLAS ${blas}. ` +
      `Load average ${f.loadBefore.toFixed(2)} before, ${f.loadAfter.toFixed(2)} after.`,
    '',
  ].join('\n');
}

function seconds(value: number): string {
  return value.toFixed(2);
}

function megabytes(bytes: number | null): string {
  return bytes === null ? '-' : (bytes / 1e6).toFixed(0);
}

function medianOf(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

function maxOrNull(values: (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : Math.max(...known);
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(await benchTrain());
}
