/**
 * Names, label keys and annotation keys of everything the controller creates.
 * Names are derived from the pipeline and the run id, never random, so that a
 * restarted controller or a second replica computes the same name and an
 * "already exists" from the API server means the work is done.
 */
import { createHash } from 'node:crypto';

import type { StageName } from '../core/ports.js';
import { manualRunId } from '../core/schedule/index.js';

export const API_GROUP = 'mlpipeline.dev';
export const API_VERSION = `${API_GROUP}/v1alpha1`;
export const KIND = 'MLPipeline';

/** Every label and annotation the controller owns starts with this. */
export const OWNED_KEY_PREFIX = `${API_GROUP}/`;

export const LABEL_PIPELINE = `${API_GROUP}/pipeline`;
export const LABEL_STAGE = `${API_GROUP}/stage`;
export const LABEL_RUN_ID = `${API_GROUP}/run-id`;

/**
 * On a Job's pod template: the run id, which the pod reads through the
 * downward API as MLP_RUN_ID. An annotation rather than the label alone, so
 * the environment variable does not depend on label value rules.
 */
export const ANNOTATION_RUN_ID = `${API_GROUP}/run-id`;
/** On a Job: the schedule slot of its run (ISO 8601, UTC); absent for manual runs. */
export const ANNOTATION_SCHEDULED_AT = `${API_GROUP}/scheduled-at`;
/**
 * On an MLPipeline: set to an RFC 3339 time to start a run now, as in
 * `kubectl annotate mlp iris mlpipeline.dev/run-now=$(date -u +%FT%TZ) --overwrite`.
 */
export const ANNOTATION_RUN_NOW = `${API_GROUP}/run-now`;

/**
 * A CronJob's Jobs are named `<cronjob>-<11 characters>` by Kubernetes, and
 * Job names must stay within 63, so CronJob names are refused above 52.
 */
export const MAX_CRONJOB_NAME_LENGTH = 52;
/** Job names become the value of the pods' `job-name` label: 63 at most. */
export const MAX_JOB_NAME_LENGTH = 63;
export const MAX_CONFIGMAP_NAME_LENGTH = 253;

const HASH_LENGTH = 8;

function shortHash(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, HASH_LENGTH);
}

/**
 * name itself when it fits, otherwise its start and a hash of all of it: two
 * long names that share a start still get different results, and the same name
 * always gets the same one.
 */
export function fitName(name: string, max: number): string {
  if (name.length <= max) return name;
  const head = name.slice(0, max - HASH_LENGTH - 1).replace(/-+$/, '');
  return `${head}-${shortHash(name)}`;
}

/** The CronJob that holds the Job template of one stage of a pipeline. */
export function cronJobName(pipeline: string, stage: StageName): string {
  return fitName(`${pipeline}-${stage}`, MAX_CRONJOB_NAME_LENGTH);
}

/**
 * The Job of one stage of one run: the same run and stage always give the
 * same name. A name too long is cut in the run id, not the stage, so `kubectl
 * get jobs` still shows which stage it is; the labels keep the whole run id.
 */
export function jobName(runId: string, stage: StageName): string {
  const name = `${runId}-${stage}`;
  if (name.length <= MAX_JOB_NAME_LENGTH) return name;
  const head = runId.slice(0, MAX_JOB_NAME_LENGTH - stage.length - HASH_LENGTH - 2);
  return `${head.replace(/-+$/, '')}-${shortHash(name)}-${stage}`;
}

/** The ConfigMap holding the pipeline document that stage pods read. */
export function configMapName(pipeline: string): string {
  return fitName(`${pipeline}-pipeline`, MAX_CONFIGMAP_NAME_LENGTH);
}

/**
 * The run id a `run-now` annotation value asks for, or undefined when the
 * value is not a time. The id depends on the value only (its time, and a hash
 * of it as the nonce), so seeing the same annotation again, after a restart or
 * on a second replica, names the same run and its Job creation collides
 * instead of starting a second run; a new value starts a new run.
 */
export function runNowRunId(pipeline: string, value: string): string | undefined {
  const trimmed = value.trim();
  // RFC 3339 only (what `date -u +%FT%TZ` prints): Date would also take "1"
  // as the year 2001, and the run would carry that date in its id.
  const parts = RFC3339.exec(trimmed);
  if (parts === null) return undefined;
  const [year, month, day] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  // Date rolls 30 February over into March rather than refusing it.
  if (new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day) return undefined;
  const requestedAt = new Date(trimmed);
  if (Number.isNaN(requestedAt.getTime())) return undefined;
  return manualRunId(pipeline, requestedAt, shortHash(trimmed).slice(0, 6));
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
