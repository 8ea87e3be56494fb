import { createHash } from 'node:crypto';
import type { ArtifactStore } from '../core/ports.js';
import { artifactKeys } from './artifacts.js';
import type { Evaluation } from './ml/metrics.js';
import { predictProba, type LinearModel } from './ml/model.js';
import { applyScaler, type Scaler } from './ml/scaler.js';
import type { Matrix } from './ml/dataset.js';

/**
 * A trained model as stored: everything needed to score a row without the
 * training code or library, and to explain where it came from.
 */
export interface ModelDocument {
  version: string;
  pipeline: string;
  runId: string;
  trainedAt: string;
  algorithm: string;
  params: Record<string, unknown>;
  features: string[];
  label: string;
  classes: string[];
  scaler: Scaler | null;
  model: LinearModel;
  metrics: Evaluation;
  rows: { total: number; train: number; test: number };
  /** Per feature, the smallest and largest value seen in training (for forms). */
  featureRanges: { min: number; max: number }[];
  promotion: { promoted: boolean; reason: string; previousVersion?: string };
}

/** models/current.json: the promoted version. Written last, after the version itself. */
export interface CurrentModelPointer {
  version: string;
  runId: string;
  promotedAt: string;
  metrics: { accuracy: number; macroF1: number };
}

/**
 * A version name that sorts by training time and cannot collide between runs:
 * `v20261204-153012-3fa2` (UTC time, then a hash of the run id).
 */
export function modelVersionName(trainedAt: Date, runId: string): string {
  const stamp = trainedAt.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);
  const hash = createHash('sha256').update(runId).digest('hex').slice(0, 4);
  return `v${stamp}-${hash}`;
}

export async function readCurrentPointer(
  store: ArtifactStore,
): Promise<CurrentModelPointer | undefined> {
  const bytes = await store.get(artifactKeys.currentModel());
  return bytes ? (JSON.parse(bytes.toString('utf8')) as CurrentModelPointer) : undefined;
}

export async function readModel(
  store: ArtifactStore,
  version: string,
): Promise<ModelDocument | undefined> {
  const bytes = await store.get(artifactKeys.model(version));
  return bytes ? (JSON.parse(bytes.toString('utf8')) as ModelDocument) : undefined;
}

/** The promoted model, or undefined when none has been promoted yet. */
export async function readCurrentModel(store: ArtifactStore): Promise<ModelDocument | undefined> {
  const pointer = await readCurrentPointer(store);
  if (!pointer) return undefined;
  const model = await readModel(store, pointer.version);
  if (!model) {
    throw new Error(
      `${store.location}/${artifactKeys.currentModel()} points at ${pointer.version}, which does not exist`,
    );
  }
  return model;
}

/** Every stored version, newest first. */
export async function listModelVersions(store: ArtifactStore): Promise<string[]> {
  const keys = await store.list('models/');
  return keys
    .map((key) => /^models\/([^/]+)\/model\.json$/.exec(key)?.[1])
    .filter((v): v is string => v !== undefined)
    .sort()
    .reverse();
}

/** Class probabilities for raw (unscaled) feature rows, in the model's feature order. */
export function scoreWithModel(doc: ModelDocument, X: Matrix): Float64Array {
  if (X.cols !== doc.features.length) {
    throw new Error(
      `model ${doc.version} takes ${doc.features.length} features (${doc.features.join(', ')}), got ${X.cols}`,
    );
  }
  const scaled = doc.scaler ? applyScaler(X, doc.scaler) : X;
  return predictProba(doc.model, scaled);
}
