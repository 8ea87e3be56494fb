import type { ArtifactStore, Cell, RawTable } from '../core/ports.js';

/**
 * Where a run's data lives between stages, under the pipeline's prefix, and how
 * it is encoded. Raw rows keep their exact values (JSON lines, so DECIMAL and
 * BIGINT stay strings and NULL stays null); the cleaned matrix is binary, so a
 * million rows load without parsing text.
 */
export const artifactKeys = {
  raw: (runId: string) => `runs/${runId}/raw.jsonl`,
  cleanMeta: (runId: string) => `runs/${runId}/clean.json`,
  cleanData: (runId: string) => `runs/${runId}/clean.bin`,
  runModel: (runId: string) => `runs/${runId}/model.json`,
  runMetrics: (runId: string) => `runs/${runId}/metrics.json`,
  predictions: (runId: string) => `runs/${runId}/predictions.json`,
  model: (version: string) => `models/${version}/model.json`,
  currentModel: () => 'models/current.json',
};

export function encodeRaw(table: RawTable): Buffer {
  const lines = [JSON.stringify({ columns: table.columns })];
  for (const row of table.rows) lines.push(JSON.stringify(row));
  return Buffer.from(lines.join('\n') + '\n');
}

export function decodeRaw(bytes: Buffer): RawTable {
  const text = bytes.toString('utf8');
  const rows: Cell[][] = [];
  let columns: string[] | undefined;
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    if (!line) continue;
    if (columns === undefined) columns = (JSON.parse(line) as { columns: string[] }).columns;
    else rows.push(JSON.parse(line) as Cell[]);
  }
  if (!columns) throw new Error('raw artifact has no header line');
  return { columns, rows };
}

/** The cleaned training set: numeric features and encoded labels. */
export interface CleanData {
  features: string[];
  label: string;
  /** Label values, in the order of their codes 0..k-1. */
  classes: string[];
  rows: number;
  /** rows x features, row-major. */
  X: Float64Array;
  y: Int32Array;
}

export interface CleanMeta {
  features: string[];
  label: string;
  classes: string[];
  rows: number;
  inputRows: number;
  dropped: Record<string, number>;
}

export async function writeClean(
  store: ArtifactStore,
  runId: string,
  data: CleanData,
  meta: CleanMeta,
): Promise<void> {
  const bytes = Buffer.alloc(data.X.byteLength + data.y.byteLength);
  Buffer.from(data.X.buffer, data.X.byteOffset, data.X.byteLength).copy(bytes, 0);
  Buffer.from(data.y.buffer, data.y.byteOffset, data.y.byteLength).copy(bytes, data.X.byteLength);
  // Data first, description last: a reader that finds the description finds the data.
  await store.put(artifactKeys.cleanData(runId), bytes);
  await store.put(artifactKeys.cleanMeta(runId), JSON.stringify(meta, null, 2));
}

export async function readClean(store: ArtifactStore, runId: string): Promise<CleanData> {
  const metaBytes = await store.get(artifactKeys.cleanMeta(runId));
  const bytes = await store.get(artifactKeys.cleanData(runId));
  if (!metaBytes || !bytes) {
    throw new Error(
      `run ${runId} has no cleaned data at ${store.location}/${artifactKeys.cleanMeta(runId)}: ` +
        'the clean stage has not succeeded for this run',
    );
  }
  const meta = JSON.parse(metaBytes.toString('utf8')) as CleanMeta;
  const cells = meta.rows * meta.features.length;
  if (bytes.byteLength !== cells * 8 + meta.rows * 4) {
    throw new Error(
      `cleaned data of run ${runId} is ${bytes.byteLength} bytes, expected ${cells * 8 + meta.rows * 4}`,
    );
  }
  // Copy into fresh, aligned buffers: a Buffer may share an unaligned pool.
  const X = new Float64Array(cells);
  Buffer.from(X.buffer).set(bytes.subarray(0, cells * 8));
  const y = new Int32Array(meta.rows);
  Buffer.from(y.buffer).set(bytes.subarray(cells * 8));
  return {
    features: meta.features,
    label: meta.label,
    classes: meta.classes,
    rows: meta.rows,
    X,
    y,
  };
}

/**
 * What a run's predict stage wrote, left beside its other artifacts once the
 * rows are in the sink: the controller shows it in status without a
 * connection to the results database.
 */
export interface PredictionsSummary {
  runId: string;
  modelVersion: string;
  rowsWritten: number;
  table: string;
  /** ISO 8601. */
  scoredAt: string;
}

export async function writePredictionsSummary(
  store: ArtifactStore,
  summary: PredictionsSummary,
): Promise<void> {
  await store.put(artifactKeys.predictions(summary.runId), JSON.stringify(summary, null, 2));
}

/** The summary of run runId's predictions; undefined when its predict stage wrote none. */
export async function readPredictionsSummary(
  store: ArtifactStore,
  runId: string,
): Promise<PredictionsSummary | undefined> {
  const bytes = await store.get(artifactKeys.predictions(runId));
  if (bytes === undefined) return undefined;
  const summary = JSON.parse(bytes.toString('utf8')) as Partial<PredictionsSummary>;
  if (
    summary.runId !== runId ||
    typeof summary.rowsWritten !== 'number' ||
    typeof summary.scoredAt !== 'string'
  ) {
    throw new Error(
      `${store.location}/${artifactKeys.predictions(runId)} is not a predictions summary of run ${runId}`,
    );
  }
  return summary as PredictionsSummary;
}
