/**
 * Chaining: which Job comes next when a stage's Job finishes, and the Jobs
 * that start runs. Kubernetes never chains Jobs; the controller does, and a
 * Job's name is a function of its run id and stage, so deciding twice (a
 * restart, a second replica, a resync) gives the same Job and the second
 * create fails with "already exists", which counts as done.
 *
 * Jobs are owned by the MLPipeline, not by the CronJob they are built from:
 * deleting the MLPipeline still deletes them (the garbage collector follows
 * the owner reference directly), while replacing a CronJob, say after it was
 * deleted by hand, does not delete the Jobs of runs in progress. It also keeps
 * Kubernetes' CronJob controller from counting or pruning them by stage: runs
 * are pruned whole (see jobsToPrune).
 */
import type { V1CronJob, V1Job, V1OwnerReference, V1Pod } from '@kubernetes/client-node';

import type { StageName } from '../core/ports.js';
import { nextStage, parseRunId } from '../core/schedule/index.js';
import {
  desiredCronJobs,
  ownerReference,
  type ControllerSettings,
  type PipelineObject,
} from './desired.js';
import {
  ANNOTATION_RUN_ID,
  ANNOTATION_SCHEDULED_AT,
  jobName,
  LABEL_RUN_ID,
  LABEL_STAGE,
} from './names.js';
import { jobIdentity, jobPhase } from './runs.js';

/**
 * The Job of one stage of one run from a stage's CronJob: what `kubectl
 * create job --from=cronjob/...` makes (the template's metadata and spec),
 * with the run id in a label and in the pod annotation MLP_RUN_ID is read
 * from, the slot time when the run had one, and owner as the only owner.
 */
export function jobFromTemplate(
  cronJob: V1CronJob,
  runId: string,
  stage: StageName,
  owner: V1OwnerReference,
  scheduledAt?: Date,
): V1Job {
  const template = structuredClone(cronJob.spec?.jobTemplate ?? {});
  const spec = template.spec;
  if (spec === undefined) {
    throw new RangeError(`CronJob ${cronJob.metadata?.name ?? '?'} has no job template`);
  }

  const runLabels = { [LABEL_STAGE]: stage, [LABEL_RUN_ID]: runId };
  const runAnnotations: Record<string, string> = { [ANNOTATION_RUN_ID]: runId };
  if (scheduledAt !== undefined)
    runAnnotations[ANNOTATION_SCHEDULED_AT] = scheduledAt.toISOString();
  const podMetadata = spec.template.metadata ?? {};
  spec.template.metadata = {
    ...podMetadata,
    labels: { ...podMetadata.labels, ...runLabels },
    annotations: { ...podMetadata.annotations, ...runAnnotations },
  };

  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: jobName(runId, stage),
      namespace: cronJob.metadata?.namespace,
      labels: { ...template.metadata?.labels, ...runLabels },
      annotations: { ...template.metadata?.annotations, ...runAnnotations },
      ownerReferences: [owner],
    },
    spec,
  };
}

/** The slot of a scheduled run, read back from its id. */
function slotOf(pipeline: string, runId: string): Date | undefined {
  const parts = parseRunId(runId, pipeline);
  return parts?.kind === 'scheduled' ? parts.scheduledAt : undefined;
}

/** The Job of stage for run runId, built from the stage's desired CronJob. */
export function stageJob(
  pipeline: PipelineObject,
  settings: ControllerSettings,
  runId: string,
  stage: StageName,
): V1Job {
  const cronJob = desiredCronJobs(pipeline, settings).find(
    (candidate) => candidate.spec?.jobTemplate.metadata?.labels?.[LABEL_STAGE] === stage,
  );
  if (cronJob === undefined) throw new RangeError(`no CronJob for stage "${stage}"`);
  return jobFromTemplate(
    cronJob,
    runId,
    stage,
    ownerReference(pipeline),
    slotOf(pipeline.name, runId),
  );
}

export type ChainDecision =
  | { action: 'create'; runId: string; stage: StageName; job: V1Job }
  | {
      action: 'end';
      runId: string;
      stage: StageName;
      phase: 'Succeeded' | 'Failed';
      message: string;
    }
  | { action: 'none'; reason: string };

export interface FinishedJob {
  job: V1Job;
  /** Complete (or success criteria met) rather than failed after its retries. */
  succeeded: boolean;
}

/**
 * What follows a finished Job: the next stage's Job, or the end of the run
 * (succeeded after predict, failed at any failed stage, and then nothing
 * downstream starts). spec.suspend does not stop a run already started.
 */
export function nextJob(
  pipeline: PipelineObject,
  settings: ControllerSettings,
  finished: FinishedJob,
): ChainDecision {
  const identity = jobIdentity(finished.job);
  const name = finished.job.metadata?.name ?? '?';
  if (identity === undefined) {
    return { action: 'none', reason: `Job ${name} has no pipeline, stage or run id label` };
  }
  if (identity.pipeline !== pipeline.name) {
    return { action: 'none', reason: `Job ${name} belongs to pipeline ${identity.pipeline}` };
  }
  const { runId, stage } = identity;

  if (!finished.succeeded) {
    return {
      action: 'end',
      runId,
      stage,
      phase: 'Failed',
      message: `stage ${stage} failed (Job ${name}); the stages after it do not run`,
    };
  }
  const next = nextStage(stage);
  if (next === undefined) {
    return { action: 'end', runId, stage, phase: 'Succeeded', message: `stage ${stage} succeeded` };
  }
  return { action: 'create', runId, stage: next, job: stageJob(pipeline, settings, runId, next) };
}

/**
 * What follows job now, given its pods: nothing while it runs; once it has
 * finished, nextJob. A stage is finished as soon as its pod has succeeded,
 * before the Job controller marks the Job Complete, but has failed only when
 * the Job says so, since until then the Job may retry (see jobPhase).
 */
export function chainStep(
  pipeline: PipelineObject,
  settings: ControllerSettings,
  job: V1Job,
  pods: readonly V1Pod[],
): ChainDecision {
  const phase = jobPhase(job, pods);
  if (phase !== 'Succeeded' && phase !== 'Failed') {
    return { action: 'none', reason: `Job ${job.metadata?.name ?? '?'} is ${phase}` };
  }
  return nextJob(pipeline, settings, { job, succeeded: phase === 'Succeeded' });
}
