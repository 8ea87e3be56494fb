/**
 * The current model as status shows it, read from the model store's pointer
 * (models/current.json) and the version it names, and a run's predictions
 * from the summary its predict stage left in the same store. Which store a
 * pipeline uses is the caller's choice: S3 in a cluster, any ArtifactStore in
 * tests.
 */
import type { ArtifactStore } from '../core/ports.js';
import { artifactKeys, readPredictionsSummary } from '../jobs/artifacts.js';
import { readCurrentPointer, readModel } from '../jobs/model-version.js';
import type { ControllerSettings, PipelineObject } from './desired.js';
import type { ModelReader } from './reconcile.js';

/** A ModelReader over the store storeFor gives for each pipeline. */
export function modelReader(storeFor: (pipeline: PipelineObject) => ArtifactStore): ModelReader {
  const current = async (pipeline: PipelineObject) => {
    const store = storeFor(pipeline);
    const pointer = await readCurrentPointer(store);
    if (pointer === undefined) return null;
    const model = await readModel(store, pointer.version);
    return {
      version: pointer.version,
      metrics: { ...pointer.metrics },
      trainedAt: model?.trainedAt ?? pointer.promotedAt,
      location: `${store.location.replace(/\/?$/, '/')}${artifactKeys.model(pointer.version)}`,
    };
  };
  const predictions = async (pipeline: PipelineObject, runId: string) => {
    const summary = await readPredictionsSummary(storeFor(pipeline), runId);
    if (summary === undefined) return undefined;
    return {
      runId: summary.runId,
      rows: summary.rowsWritten,
      time: summary.scoredAt,
      table: summary.table,
      modelVersion: summary.modelVersion,
    };
  };
  return Object.assign(current, { predictions });
}

/**
 * Where a pipeline's artifacts live in a cluster, by the rule stage pods
 * follow (jobs/runtime.ts): spec.modelStore.s3, else the deployment's store
 * under a folder named after the pipeline.
 */
export function s3Location(
  pipeline: PipelineObject,
  settings: ControllerSettings,
): { bucket: string; prefix: string; endpoint?: string; region?: string } | undefined {
  const own = pipeline.spec.modelStore?.s3;
  if (own !== undefined) {
    return {
      bucket: own.bucket,
      prefix: own.prefix ?? '',
      endpoint: own.endpoint ?? settings.s3?.endpoint,
      region: own.region ?? settings.s3?.region,
    };
  }
  if (settings.s3 === undefined) return undefined;
  return {
    bucket: settings.s3.bucket,
    prefix: `${settings.s3.prefix}${pipeline.name}/`,
    endpoint: settings.s3.endpoint,
    region: settings.s3.region,
  };
}
