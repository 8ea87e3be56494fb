/**
 * The model views of one pipeline, read from its model store with the same
 * functions the stages write it with: the versions, one version, and a
 * prediction for one row of feature values.
 */
import type { ArtifactStore } from '../../core/ports.js';
import {
  listModelVersions,
  readCurrentPointer,
  readModel,
  scoreWithModel,
  type ModelDocument,
} from '../../jobs/model-version.js';
import { ApiError, type ModelSummary, type PredictResult } from './service.js';

/** Every stored version, newest first, marking the one the pointer names. */
export async function modelSummaries(store: ArtifactStore): Promise<ModelSummary[]> {
  const [versions, pointer] = await Promise.all([
    listModelVersions(store),
    readCurrentPointer(store),
  ]);
  const docs = await Promise.all(versions.map((version) => readModel(store, version)));
  return docs
    .filter((doc): doc is ModelDocument => doc !== undefined)
    .map((doc) => ({
      version: doc.version,
      runId: doc.runId,
      trainedAt: doc.trainedAt,
      algorithm: doc.algorithm,
      accuracy: doc.metrics.accuracy,
      macroF1: doc.metrics.macroF1,
      rows: doc.rows,
      promoted: doc.promotion.promoted,
      promotionReason: doc.promotion.reason,
      current: pointer?.version === doc.version,
    }));
}

export async function modelVersion(
  store: ArtifactStore,
  pipeline: string,
  version: string,
): Promise<ModelDocument> {
  const doc = await readModel(store, version);
  if (!doc) throw new ApiError(404, `pipeline ${pipeline} has no model version ${version}`);
  return doc;
}

/**
 * The label and class probabilities one version (the current one unless
 * named) gives a row; every feature of the model must be given, and no other.
 */
export async function predictOne(
  store: ArtifactStore,
  pipeline: string,
  features: Record<string, number>,
  version?: string,
): Promise<PredictResult> {
  const chosen = version ?? (await readCurrentPointer(store))?.version;
  if (!chosen) {
    throw new ApiError(
      409,
      `pipeline ${pipeline} has no promoted model yet; wait for a run to train one`,
    );
  }
  const model = await modelVersion(store, pipeline, chosen);

  const missing = model.features.filter((f) => features[f] === undefined);
  if (missing.length > 0) throw new ApiError(400, `features: missing ${missing.join(', ')}`);
  const unknown = Object.keys(features).filter((f) => !model.features.includes(f));
  if (unknown.length > 0) {
    throw new ApiError(
      400,
      `features: ${unknown.join(', ')} not used by model ${model.version} (it uses ${model.features.join(', ')})`,
    );
  }

  const proba = scoreWithModel(model, {
    data: Float64Array.from(model.features.map((f) => features[f]!)),
    rows: 1,
    cols: model.features.length,
  });
  if (!proba.every(Number.isFinite)) {
    throw new ApiError(
      400,
      `features: the values are too far outside what model ${model.version} was trained on to score`,
    );
  }
  const probabilities = Object.fromEntries(model.classes.map((c, i) => [c, proba[i]!]));
  const best = model.classes.reduce((a, c) => (probabilities[c]! > probabilities[a]! ? c : a));
  return {
    modelVersion: model.version,
    label: best,
    probability: probabilities[best]!,
    probabilities,
  };
}
