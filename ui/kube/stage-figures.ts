/**
 * A run's figures per stage (rows read and kept, the model trained, rows
 * written), as single-container mode keeps them in its run records. In a
 * cluster each stage ran in a pod of its own and left them only in the
 * artifacts it wrote, so they are read back from there.
 */
import type { ArtifactStore, StageName } from '../../core/ports.js';
import {
  artifactKeys,
  readPredictionsSummary,
  type CleanMeta,
  type PredictionsSummary,
} from '../../jobs/artifacts.js';
import type { ModelDocument } from '../../jobs/model-version.js';

export type RunFigures = Partial<Record<StageName, Record<string, unknown>>>;

export interface RunArtifacts {
  clean?: CleanMeta;
  /** The model this run trained (runs/<id>/model.json). */
  model?: ModelDocument;
  predictions?: PredictionsSummary;
}

/** The figures each stage's summary holds, from what the stages left in the store. */
export function figuresFrom(artifacts: RunArtifacts): RunFigures {
  const figures: RunFigures = {};
  const { clean, model, predictions } = artifacts;
  if (clean !== undefined) {
    figures.collect = { rowsRead: clean.inputRows };
    figures.clean = {
      rowsIn: clean.inputRows,
      rowsOut: clean.rows,
      dropped: clean.dropped,
      classes: clean.classes,
    };
  }
  if (model !== undefined) {
    figures.train = {
      modelVersion: model.version,
      promoted: model.promotion.promoted,
      promotionReason: model.promotion.reason,
      metrics: model.metrics,
      rowsTrain: model.rows.train,
      rowsTest: model.rows.test,
    };
  }
  if (predictions !== undefined) {
    figures.predict = {
      modelVersion: predictions.modelVersion,
      rowsWritten: predictions.rowsWritten,
      table: predictions.table,
    };
  }
  return figures;
}

async function readJson<T>(store: ArtifactStore, key: string): Promise<T | undefined> {
  const bytes = await store.get(key);
  return bytes === undefined ? undefined : (JSON.parse(bytes.toString('utf8')) as T);
}

/** Reads a run's artifacts (three small objects) and the figures they give. */
export async function readRunFigures(store: ArtifactStore, runId: string): Promise<RunFigures> {
  const [clean, model, predictions] = await Promise.all([
    readJson<CleanMeta>(store, artifactKeys.cleanMeta(runId)),
    readJson<ModelDocument>(store, artifactKeys.runModel(runId)),
    readPredictionsSummary(store, runId),
  ]);
  return figuresFrom({ clean, model, predictions });
}
