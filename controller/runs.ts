/**
 * Runs as they exist in the cluster: a pipeline's Jobs, grouped by the run id
 * label. Status, chaining, concurrency and history pruning all read runs from
 * here, so they agree on what a run's phase is.
 */
import type { V1Job, V1Pod } from '@kubernetes/client-node';

import type { RunPhase, StageName, StagePhase } from '../core/ports.js';
import { isStageName, parseRunId, STAGE_ORDER } from '../core/schedule/index.js';
import { LABEL_PIPELINE, LABEL_RUN_ID, LABEL_STAGE } from './names.js';

export interface JobIdentity {
  pipeline: string;
  stage: StageName;
  runId: string;
}

/** What a Job is, from its labels; undefined for a Job that is not one of ours. */
export function jobIdentity(job: V1Job): JobIdentity | undefined {
  const labels = job.metadata?.labels ?? {};
  const pipeline = labels[LABEL_PIPELINE];
  const stage = labels[LABEL_STAGE];
  const runId = labels[LABEL_RUN_ID];
  if (!pipeline || !runId || stage === undefined || !isStageName(stage)) return undefined;
  return { pipeline, stage, runId };
}

function hasCondition(job: V1Job, type: string): boolean {
  return (job.status?.conditions ?? []).some((c) => c.type === type && c.status === 'True');
}

/** A Job's pods, by Job; what the pod informer holds for the pipeline. */
export type JobPods = (job: V1Job) => readonly V1Pod[];

export const NO_PODS: JobPods = () => [];

/**
 * Groups pods by the Job that made them: the job-name label finds the Job,
 * the controlling owner's uid makes sure it is this Job and not an earlier
 * one of the same name whose pods are still there.
 */
export function jobPods(pods: readonly V1Pod[]): JobPods {
  const byName = new Map<string, V1Pod[]>();
  for (const pod of pods) {
    const labels = pod.metadata?.labels ?? {};
    const name = labels['batch.kubernetes.io/job-name'] ?? labels['job-name'];
    if (name === undefined) continue;
    byName.set(name, [...(byName.get(name) ?? []), pod]);
  }
  return (job) => {
    const named = byName.get(job.metadata?.name ?? '') ?? [];
    const uid = job.metadata?.uid;
    if (uid === undefined) return named;
    return named.filter((pod) =>
      (pod.metadata?.ownerReferences ?? []).some((ref) => ref.controller && ref.uid === uid),
    );
  };
}

/**
 * The pod that finished a Job's work, while the Job itself may not say so
 * yet: the Job controller batches pod updates and sets Complete about a
 * second after the pod ends. Only a Job of one completion is done when one
 * pod succeeds; one with more completions or its own success policy is left
 * to the Job controller.
 */
export function succeededPod(job: V1Job, pods: readonly V1Pod[]): V1Pod | undefined {
  const completions = job.spec?.completions ?? 1;
  if (completions !== 1 || job.spec?.successPolicy !== undefined) return undefined;
  return pods.find((pod) => pod.status?.phase === 'Succeeded');
}

/**
 * A Job's phase. A terminal condition of the Job decides; before it, a pod
 * that succeeded already decides success (see succeededPod). A failed pod
 * never does: the Job may still retry it (backoffLimit), so failure waits
 * for the Job's own Failed condition. SuccessCriteriaMet and FailureTarget
 * come before Complete and Failed, while the Job controller still waits for
 * pods to stop, and already decide the outcome.
 */
export function jobPhase(job: V1Job, pods: readonly V1Pod[] = []): StagePhase {
  if (hasCondition(job, 'Complete') || hasCondition(job, 'SuccessCriteriaMet')) return 'Succeeded';
  if (hasCondition(job, 'Failed') || hasCondition(job, 'FailureTarget')) return 'Failed';
  if (succeededPod(job, pods) !== undefined) return 'Succeeded';
  if ((job.status?.active ?? 0) > 0 || job.status?.startTime !== undefined) return 'Running';
  return 'Pending';
}

/** When a succeeded pod's container ended (whole seconds, as the kubelet reports it). */
export function podFinishedAt(pod: V1Pod): string | undefined {
  const ends = (pod.status?.containerStatuses ?? []).flatMap((status) => {
    const at = isoTime(status.state?.terminated?.finishedAt);
    return at === undefined ? [] : [at];
  });
  return ends.sort().at(-1);
}

/** A time from client-node: a Date from an API call, a string from a watch. */
export function isoTime(value: Date | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const at = value instanceof Date ? value : new Date(value);
  return Number.isNaN(at.getTime()) ? undefined : at.toISOString();
}

export interface ObservedRun {
  runId: string;
  /** The slot for a scheduled run, the request time for a manual one; from the id. */
  startedFor?: Date;
  /** The stage the run started at: its schedule's, or its earliest Job's. */
  startStage: StageName;
  jobs: Partial<Record<StageName, V1Job>>;
  phase: RunPhase;
}

function runPhase(jobs: Partial<Record<StageName, V1Job>>, pods: JobPods): RunPhase {
  const phases = STAGE_ORDER.flatMap((stage) => {
    const job = jobs[stage];
    return job === undefined ? [] : [jobPhase(job, pods(job))];
  });
  if (phases.includes('Failed')) return 'Failed';
  // Only predict's success ends a run: a run between two stages is still running.
  if (jobs.predict !== undefined && phases.at(-1) === 'Succeeded') return 'Succeeded';
  if (phases.every((phase) => phase === 'Pending')) return 'Pending';
  return 'Running';
}

function sortTime(run: ObservedRun): number {
  if (run.startedFor !== undefined) return run.startedFor.getTime();
  const created = Object.values(run.jobs).map((job) =>
    new Date(job.metadata?.creationTimestamp ?? 0).getTime(),
  );
  return Math.min(...created);
}

/** The pipeline's runs, newest first; Jobs of other pipelines or without our labels are ignored. */
export function observedRuns(
  pipeline: string,
  jobs: readonly V1Job[],
  pods: JobPods = NO_PODS,
): ObservedRun[] {
  const byRun = new Map<string, Partial<Record<StageName, V1Job>>>();
  for (const job of jobs) {
    const identity = jobIdentity(job);
    if (identity === undefined || identity.pipeline !== pipeline) continue;
    const stages = byRun.get(identity.runId) ?? {};
    stages[identity.stage] = job;
    byRun.set(identity.runId, stages);
  }

  const runs = [...byRun].map(([runId, stageJobs]): ObservedRun => {
    const parts = parseRunId(runId, pipeline);
    const earliest = STAGE_ORDER.find((stage) => stageJobs[stage] !== undefined) ?? 'collect';
    let startedFor: Date | undefined;
    let startStage = earliest;
    if (parts?.kind === 'scheduled') {
      startedFor = parts.scheduledAt;
      startStage = parts.scheduleKey === 'pipeline' ? 'collect' : parts.scheduleKey;
    } else if (parts?.kind === 'manual') {
      startedFor = parts.requestedAt;
    }
    return { runId, startedFor, startStage, jobs: stageJobs, phase: runPhase(stageJobs, pods) };
  });

  return runs.sort(
    (a, b) => sortTime(b) - sortTime(a) || (a.runId < b.runId ? 1 : a.runId > b.runId ? -1 : 0),
  );
}

/** Ids of runs not yet finished, for the concurrency policy. */
export function activeRunIds(runs: readonly ObservedRun[]): string[] {
  return runs
    .filter((run) => run.phase === 'Running' || run.phase === 'Pending')
    .map((run) => run.runId);
}

/**
 * Jobs of finished runs beyond the newest historyLimit runs. Whole runs go,
 * never some of a run's stages, so a run in status is always complete; a run
 * still going is never pruned.
 */
export function jobsToPrune(runs: readonly ObservedRun[], historyLimit: number): V1Job[] {
  return runs
    .slice(historyLimit)
    .filter((run) => run.phase === 'Succeeded' || run.phase === 'Failed')
    .flatMap((run) => STAGE_ORDER.flatMap((stage) => run.jobs[stage] ?? []));
}
